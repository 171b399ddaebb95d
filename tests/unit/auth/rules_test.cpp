// Channel rules: first match wins, defaults otherwise, `*` / `**` / `{user}` patterns, and
// wildcard subscriptions judged as the literal names they are.
#include "auth/rules.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace encke::auth {
namespace {

channel_rule rule(std::string pattern, who subscribe, who publish) {
    return channel_rule{std::move(pattern), subscribe, publish};
}

// A typical deployment: private per-user channels, a chat anyone signed in may use, a
// read-only news feed, an admin area closed to clients.
rules typical() {
    return rules({rule("/users/{user}/**", who::owner, who::owner),
                  rule("/chat/*", who::authenticated, who::authenticated),
                  rule("/news", who::anyone, who::none), rule("/admin/**", who::none, who::none)},
                 who::authenticated, who::none);
}

std::string throw_message(std::vector<channel_rule> list) {
    try {
        rules r(std::move(list), who::anyone, who::anyone);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "(no exception)";
}

TEST(Rules, NoRulesAndAnyoneDefaultsIsOpen) {
    rules r;
    EXPECT_TRUE(r.open());
    EXPECT_TRUE(r.may_subscribe("", "/anything"));
    EXPECT_TRUE(r.may_publish("", "/anything/at/all"));
    EXPECT_FALSE(rules({}, who::authenticated, who::anyone).open());
    EXPECT_FALSE(rules({}, who::anyone, who::none).open());
    EXPECT_FALSE(rules({rule("/a", who::anyone, who::anyone)}, who::anyone, who::anyone).open());
}

TEST(Rules, OwnerRequiresTheUserBoundToTheUserSegment) {
    auto r = typical();
    EXPECT_FALSE(r.open());
    EXPECT_TRUE(r.may_subscribe("alice", "/users/alice/inbox"));
    EXPECT_TRUE(r.may_publish("alice", "/users/alice/inbox/deep/er"));
    EXPECT_FALSE(r.may_subscribe("bob", "/users/alice/inbox"));
    EXPECT_FALSE(r.may_publish("bob", "/users/alice/inbox"));
    EXPECT_FALSE(r.may_subscribe("", "/users/alice/inbox"));
    EXPECT_FALSE(r.may_subscribe("alic", "/users/alice/inbox")) << "whole segment, not a prefix";
    EXPECT_FALSE(r.may_subscribe("alice2", "/users/alice/inbox"));
}

TEST(Rules, AuthenticatedNeedsAUser) {
    auto r = typical();
    EXPECT_TRUE(r.may_subscribe("alice", "/chat/lobby"));
    EXPECT_TRUE(r.may_publish("bob", "/chat/lobby"));
    EXPECT_FALSE(r.may_subscribe("", "/chat/lobby"));
    EXPECT_FALSE(r.may_publish("", "/chat/lobby"));
}

TEST(Rules, NoneAndAnyone) {
    auto r = typical();
    EXPECT_TRUE(r.may_subscribe("", "/news"));
    EXPECT_TRUE(r.may_subscribe("alice", "/news"));
    EXPECT_FALSE(r.may_publish("alice", "/news"));
    EXPECT_FALSE(r.may_subscribe("alice", "/admin/x"));
    EXPECT_FALSE(r.may_publish("alice", "/admin/x/y"));
}

TEST(Rules, DefaultsDecideWhenNoRuleMatches) {
    auto r = typical();
    EXPECT_TRUE(r.may_subscribe("alice", "/other"));
    EXPECT_FALSE(r.may_subscribe("", "/other"));
    EXPECT_FALSE(r.may_publish("alice", "/other"));
    EXPECT_TRUE(r.may_subscribe("alice", "/news/more")) << "'/news' matches only itself";
    EXPECT_FALSE(r.may_subscribe("", "/news/more"));
    EXPECT_TRUE(r.may_subscribe("alice", "/admin")) << "'/admin/**' needs a segment after /admin";
}

TEST(Rules, FirstMatchWins) {
    rules r({rule("/a/public", who::anyone, who::anyone), rule("/a/**", who::none, who::none),
             rule("/a/public", who::none, who::none)},
            who::anyone, who::anyone);
    EXPECT_TRUE(r.may_subscribe("", "/a/public"));
    EXPECT_TRUE(r.may_publish("", "/a/public"));
    EXPECT_FALSE(r.may_subscribe("", "/a/private"));

    rules reversed(
        {rule("/a/**", who::none, who::none), rule("/a/public", who::anyone, who::anyone)},
        who::anyone, who::anyone);
    EXPECT_FALSE(reversed.may_subscribe("", "/a/public"));
}

TEST(Rules, StarIsOneSegmentDoubleStarIsOneOrMore) {
    rules r({rule("/one/*", who::none, who::none), rule("/many/**", who::none, who::none),
             rule("/mid/*/end", who::none, who::none)},
            who::anyone, who::anyone);
    EXPECT_FALSE(r.may_subscribe("", "/one/a"));
    EXPECT_TRUE(r.may_subscribe("", "/one/a/b"));
    EXPECT_TRUE(r.may_subscribe("", "/one"));
    EXPECT_FALSE(r.may_subscribe("", "/many/a"));
    EXPECT_FALSE(r.may_subscribe("", "/many/a/b/c"));
    EXPECT_TRUE(r.may_subscribe("", "/many"));
    EXPECT_FALSE(r.may_subscribe("", "/mid/x/end"));
    EXPECT_TRUE(r.may_subscribe("", "/mid/x/y/end"));
    EXPECT_TRUE(r.may_subscribe("", "/mid/x/endx"));
    EXPECT_TRUE(r.may_subscribe("", "/onex/a")) << "literal segments compare whole";
}

TEST(Rules, RootDoubleStarMatchesEverything) {
    rules r(
        {rule("/public/**", who::anyone, who::anyone), rule("/**", who::authenticated, who::none)},
        who::anyone, who::anyone);
    EXPECT_TRUE(r.may_subscribe("", "/public/x"));
    EXPECT_FALSE(r.may_subscribe("", "/x"));
    EXPECT_TRUE(r.may_subscribe("u", "/x/y/z"));
    EXPECT_FALSE(r.may_publish("u", "/x"));
}

TEST(Rules, UserSegmentBindsInTheMiddleOfAPattern) {
    rules r({rule("/rooms/*/{user}/typing", who::anyone, who::owner)}, who::none, who::none);
    EXPECT_TRUE(r.may_publish("carol", "/rooms/42/carol/typing"));
    EXPECT_FALSE(r.may_publish("dave", "/rooms/42/carol/typing"));
    EXPECT_FALSE(r.may_publish("42", "/rooms/42/carol/typing")) << "bound to {user}, not to *";
    EXPECT_TRUE(r.may_subscribe("", "/rooms/42/carol/typing"));
    EXPECT_FALSE(r.may_subscribe("", "/rooms/42/carol"));
}

TEST(Rules, WildcardSubscriptionsAreJudgedLiterally) {
    auto r = typical();
    // `/users/*` has two segments, the second the text "*": the owner rule needs three, so the
    // defaults decide (authenticated).
    EXPECT_TRUE(r.may_subscribe("alice", "/users/*"));
    EXPECT_FALSE(r.may_subscribe("", "/users/*"));
    EXPECT_TRUE(r.may_subscribe("alice", "/users/**"));
    // `/users/bob/*` matches the owner rule with {user} bound to bob.
    EXPECT_TRUE(r.may_subscribe("bob", "/users/bob/*"));
    EXPECT_TRUE(r.may_subscribe("bob", "/users/bob/**"));
    EXPECT_FALSE(r.may_subscribe("alice", "/users/bob/*"));
    // `{user}` bound to the text "*" belongs to nobody: '*' is not in any valid user id.
    EXPECT_FALSE(r.may_subscribe("alice", "/users/*/inbox"));
    EXPECT_FALSE(r.may_subscribe("*", "/users/*/inbox")) << "'*' is not a valid user id";
    EXPECT_FALSE(r.may_subscribe("*", "/users/*/**"));
}

TEST(Rules, MalformedChannelsAreRefusedUnlessOpen) {
    auto r = typical();
    for (std::string_view bad : {"", "/", "users/alice/x", "/users//x", "/users/alice/", "//"})
        EXPECT_FALSE(r.may_subscribe("alice", bad)) << bad;
}

TEST(Rules, BadPatternsThrowNamingTheRule) {
    EXPECT_EQ(throw_message({rule("users/{user}", who::owner, who::owner)}),
              "channel rule 'users/{user}': must start with '/'");
    EXPECT_EQ(throw_message({rule("", who::anyone, who::anyone)}),
              "channel rule '': must start with '/'");
    EXPECT_EQ(throw_message({rule("/", who::anyone, who::anyone)}),
              "channel rule '/': empty segment");
    EXPECT_EQ(throw_message({rule("/a//b", who::anyone, who::anyone)}),
              "channel rule '/a//b': empty segment");
    EXPECT_EQ(throw_message({rule("/a/", who::anyone, who::anyone)}),
              "channel rule '/a/': empty segment");
    EXPECT_EQ(throw_message({rule("/a/**/b", who::anyone, who::anyone)}),
              "channel rule '/a/**/b': '**' must be the last segment");
    EXPECT_EQ(throw_message({rule("/{user}/{user}", who::anyone, who::anyone)}),
              "channel rule '/{user}/{user}': '{user}' may appear only once");
    EXPECT_EQ(throw_message({rule("/u/{id}", who::anyone, who::anyone)}),
              "channel rule '/u/{id}': '{' and '}' are allowed only as the whole segment '{user}'");
    EXPECT_EQ(
        throw_message({rule("/u/x{user}", who::anyone, who::anyone)}),
        "channel rule '/u/x{user}': '{' and '}' are allowed only as the whole segment '{user}'");
    EXPECT_EQ(throw_message({rule("/u/a*", who::anyone, who::anyone)}),
              "channel rule '/u/a*': '*' is allowed only as a whole segment '*' or '**'");
    EXPECT_EQ(throw_message({rule("/u/***", who::anyone, who::anyone)}),
              "channel rule '/u/***': '*' is allowed only as a whole segment '*' or '**'");
    EXPECT_EQ(throw_message({rule("/chat/*", who::owner, who::anyone)}),
              "channel rule '/chat/*': 'owner' needs a '{user}' segment in the pattern");
    EXPECT_EQ(throw_message({rule("/chat/*", who::anyone, who::owner)}),
              "channel rule '/chat/*': 'owner' needs a '{user}' segment in the pattern");
    EXPECT_EQ(throw_message(
                  {rule("/ok/**", who::anyone, who::anyone), rule("/bad//", who::none, who::none)}),
              "channel rule '/bad//': empty segment")
        << "the offending rule is named, not the first";
    EXPECT_EQ(throw_message({rule("/users/{user}/**", who::owner, who::authenticated)}),
              "(no exception)");
}

TEST(Rules, OwnerIsNotADefault) {
    EXPECT_THROW(rules({}, who::owner, who::anyone), std::invalid_argument);
    EXPECT_THROW(rules({}, who::anyone, who::owner), std::invalid_argument);
}

}  // namespace
}  // namespace encke::auth
