// Channel names, kinds and wildcard matching (PROTOCOL.md §1.4, §3.1, §3.2).
#include "bayeux/channel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace encke::bayeux {
namespace {

class ChannelTest : public ::testing::Test {
  protected:
    static std::vector<std::string> expansion(std::string_view channel) {
        std::vector<std::string> out;
        std::string buf;
        for_each_matching_pattern(channel, buf, [&](std::string_view p) { out.emplace_back(p); });
        return out;
    }
};

TEST_F(ChannelTest, AcceptsSpecNames) {
    EXPECT_TRUE(is_valid_channel("/a"));
    EXPECT_TRUE(is_valid_channel("/chat/room"));
    EXPECT_TRUE(is_valid_channel("/Foo/bar9/BAZ"));
    // Every extra character of the spec grammar: - _ ! ~ ( ) $ @
    EXPECT_TRUE(is_valid_channel("/a-b_c!d~e(f)g$h@i"));
}

TEST_F(ChannelTest, AcceptsCometdExtraCharacters) {
    // CometD's validator also allows space # + . { }
    EXPECT_TRUE(is_valid_channel("/a b"));
    EXPECT_TRUE(is_valid_channel("/a#b"));
    EXPECT_TRUE(is_valid_channel("/a+b"));
    EXPECT_TRUE(is_valid_channel("/a.b"));
    EXPECT_TRUE(is_valid_channel("/room/{id}"));
}

TEST_F(ChannelTest, RejectsMissingLeadingSlashAndTooShortNames) {
    EXPECT_FALSE(is_valid_channel(""));
    EXPECT_FALSE(is_valid_channel("/"));
    EXPECT_FALSE(is_valid_channel("foo"));
    EXPECT_FALSE(is_valid_channel("foo/bar"));
}

TEST_F(ChannelTest, RejectsEmptySegmentsAndTrailingSlash) {
    EXPECT_FALSE(is_valid_channel("//a"));
    EXPECT_FALSE(is_valid_channel("/a//b"));
    EXPECT_FALSE(is_valid_channel("/a/"));
    EXPECT_FALSE(is_valid_channel("/a/b/"));
}

TEST_F(ChannelTest, RejectsCharactersOutsideTheCometdSet) {
    for (std::string bad : {"/a?b", "/a&b", "/a%b", "/a:b", "/a\"b", "/a\\b", "/a<b", "/a'b",
                            "/a,b", "/a;b", "/a=b", "/a\tb", "/caf\xc3\xa9"})
        EXPECT_FALSE(is_valid_channel(bad)) << bad;
    EXPECT_FALSE(is_valid_channel(std::string_view("/a\0b", 4)));
}

TEST_F(ChannelTest, AcceptsWildcardsOnlyAsTheWholeFinalSegment) {
    EXPECT_TRUE(is_valid_channel("/*"));
    EXPECT_TRUE(is_valid_channel("/**"));
    EXPECT_TRUE(is_valid_channel("/a/*"));
    EXPECT_TRUE(is_valid_channel("/a/b/**"));
    EXPECT_FALSE(is_valid_channel("/a/*/b"));
    EXPECT_FALSE(is_valid_channel("/a/**/b"));
    EXPECT_FALSE(is_valid_channel("/*/a"));
    EXPECT_FALSE(is_valid_channel("/a*"));
    EXPECT_FALSE(is_valid_channel("/a/b*"));
    EXPECT_FALSE(is_valid_channel("/a/***"));
    EXPECT_FALSE(is_valid_channel("/a/*/"));
}

TEST_F(ChannelTest, IsWildcardRecognisesBothForms) {
    EXPECT_TRUE(is_wildcard("/a/*"));
    EXPECT_TRUE(is_wildcard("/a/**"));
    EXPECT_TRUE(is_wildcard("/*"));
    EXPECT_TRUE(is_wildcard("/**"));
    EXPECT_FALSE(is_wildcard("/a"));
    EXPECT_FALSE(is_wildcard("/a/b"));
}

TEST_F(ChannelTest, KindIsDecidedByTheFirstSegment) {
    EXPECT_EQ(kind_of("/meta/connect"), channel_kind::meta);
    EXPECT_EQ(kind_of("/meta/foo/bar"), channel_kind::meta);
    EXPECT_EQ(kind_of("/meta"), channel_kind::meta);
    EXPECT_EQ(kind_of("/meta/*"), channel_kind::meta);
    EXPECT_EQ(kind_of("/service/echo"), channel_kind::service);
    EXPECT_EQ(kind_of("/service"), channel_kind::service);
    EXPECT_EQ(kind_of("/service/**"), channel_kind::service);
    EXPECT_EQ(kind_of("/chat/room"), channel_kind::broadcast);
    EXPECT_EQ(kind_of("/metadata"), channel_kind::broadcast);
    EXPECT_EQ(kind_of("/metadata/x"), channel_kind::broadcast);
    EXPECT_EQ(kind_of("/services/x"), channel_kind::broadcast);
    EXPECT_EQ(kind_of("/a/meta"), channel_kind::broadcast);
    EXPECT_EQ(kind_of("/**"), channel_kind::broadcast);
}

TEST_F(ChannelTest, ExactPatternMatchesOnlyItself) {
    EXPECT_TRUE(matches("/a/b", "/a/b"));
    EXPECT_FALSE(matches("/a/b", "/a/bc"));
    EXPECT_FALSE(matches("/a/b", "/a"));
    EXPECT_FALSE(matches("/a/b", "/a/b/c"));
}

TEST_F(ChannelTest, SingleStarMatchesExactlyOneMoreSegment) {
    EXPECT_TRUE(matches("/a/*", "/a/b"));
    EXPECT_TRUE(matches("/a/*", "/a/boo"));
    EXPECT_FALSE(matches("/a/*", "/a"));
    EXPECT_FALSE(matches("/a/*", "/ab"));
    EXPECT_FALSE(matches("/a/*", "/a/b/c"));
    EXPECT_FALSE(matches("/a/*", "/b/a"));
    EXPECT_TRUE(matches("/*", "/a"));
    EXPECT_FALSE(matches("/*", "/a/b"));
}

TEST_F(ChannelTest, DoubleStarMatchesDeepChannels) {
    EXPECT_TRUE(matches("/a/**", "/a/b"));
    EXPECT_TRUE(matches("/a/**", "/a/b/c"));
    EXPECT_TRUE(matches("/a/**", "/a/b/c/d/e"));
    EXPECT_FALSE(matches("/a/**", "/a"));
    EXPECT_FALSE(matches("/a/**", "/ab/c"));
    EXPECT_FALSE(matches("/a/**", "/b/a/c"));
}

TEST_F(ChannelTest, RootDoubleStarMatchesEveryChannel) {
    for (auto ch : {"/a", "/a/b", "/a/b/c", "/meta/connect", "/service/x", "/x/y/z/w"})
        EXPECT_TRUE(matches("/**", ch)) << ch;
}

TEST_F(ChannelTest, ExpansionOfDeepChannelIsThePatternListOfTheProtocol) {
    // PROTOCOL.md §3.2: a message on /a/b/c goes to /a/b/c, /a/b/*, /a/b/**, /a/** and /**.
    std::vector<std::string> want{"/a/b/c", "/a/b/*", "/a/b/**", "/a/**", "/**"};
    auto got = expansion("/a/b/c");
    EXPECT_EQ(got, want);
}

TEST_F(ChannelTest, ExpansionOfTopLevelChannel) {
    std::vector<std::string> want{"/a", "/*", "/**"};
    EXPECT_EQ(expansion("/a"), want);
}

TEST_F(ChannelTest, ExpansionOfTwoSegmentChannel) {
    std::vector<std::string> want{"/a/b", "/a/*", "/a/**", "/**"};
    EXPECT_EQ(expansion("/a/b"), want);
}

TEST_F(ChannelTest, ExpansionAgreesWithMatchesForEveryPattern) {
    // Property: a pattern is in the expansion of a channel exactly when matches() says so.
    const std::vector<std::string> channels{"/a",  "/b",     "/a/b",     "/a/c",
                                            "/ab", "/a/b/c", "/a/b/c/d", "/x/a/b"};
    std::vector<std::string> patterns{"/*", "/**"};
    for (auto& c : channels) {
        patterns.push_back(c);
        patterns.push_back(c + "/*");
        patterns.push_back(c + "/**");
    }
    for (auto& c : channels) {
        auto exp = expansion(c);
        for (auto& p : patterns) {
            bool in = std::find(exp.begin(), exp.end(), p) != exp.end();
            EXPECT_EQ(in, matches(p, c)) << "pattern " << p << " channel " << c;
        }
    }
}

TEST_F(ChannelTest, ExpansionReusesTheBufferAcrossCalls) {
    std::string buf = "garbage that must not leak into the patterns";
    std::vector<std::string> got;
    for_each_matching_pattern("/q/r", buf, [&](std::string_view p) { got.emplace_back(p); });
    std::vector<std::string> want{"/q/r", "/q/*", "/q/**", "/**"};
    EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace encke::bayeux
