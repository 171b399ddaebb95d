// The per-shard subscription index.
#include "bayeux/channel_index.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "bayeux/session.hpp"

namespace encke::bayeux {
namespace {

class ChannelIndexTest : public ::testing::Test {
  protected:
    // How many times each session is visited for a publish on `channel`.
    std::map<std::string, int> visits(std::string_view channel) {
        std::map<std::string, int> out;
        index.for_each_subscriber(channel, [&](session* s) { ++out[s->id()]; });
        return out;
    }

    channel_index index;
    session a{"a"}, b{"b"}, c{"c"};
};

TEST_F(ChannelIndexTest, EmptyIndexVisitsNobody) {
    EXPECT_TRUE(visits("/a/b").empty());
    EXPECT_EQ(index.pattern_count(), 0u);
}

TEST_F(ChannelIndexTest, ExactSubscriberIsVisited) {
    index.add("/chat/room", &a);
    EXPECT_EQ(visits("/chat/room"), (std::map<std::string, int>{{"a", 1}}));
    EXPECT_TRUE(visits("/chat/other").empty());
    EXPECT_TRUE(visits("/chat").empty());
}

TEST_F(ChannelIndexTest, VisitsSubscribersOfEveryMatchingPattern) {
    index.add("/a/b/c", &a);
    index.add("/a/b/*", &b);
    index.add("/a/**", &c);
    EXPECT_EQ(visits("/a/b/c"), (std::map<std::string, int>{{"a", 1}, {"b", 1}, {"c", 1}}));
    EXPECT_EQ(visits("/a/b/d"), (std::map<std::string, int>{{"b", 1}, {"c", 1}}));
    EXPECT_EQ(visits("/a/x"), (std::map<std::string, int>{{"c", 1}}));
    EXPECT_TRUE(visits("/a").empty());
}

TEST_F(ChannelIndexTest, RootDoubleStarSubscriberSeesEverything) {
    index.add("/**", &a);
    EXPECT_EQ(visits("/x"), (std::map<std::string, int>{{"a", 1}}));
    EXPECT_EQ(visits("/x/y/z"), (std::map<std::string, int>{{"a", 1}}));
}

TEST_F(ChannelIndexTest, SessionWithOverlappingPatternsIsVisitedOncePerPattern) {
    // The index reports every match; de-duplication per publish is the protocol's job.
    index.add("/a/*", &a);
    index.add("/a/b", &a);
    index.add("/**", &a);
    EXPECT_EQ(visits("/a/b"), (std::map<std::string, int>{{"a", 3}}));
}

TEST_F(ChannelIndexTest, NonMatchingPatternsAreNotVisited) {
    index.add("/a/*", &a);       // one segment only
    index.add("/a/b/c/**", &b);  // deeper than the channel
    index.add("/b/**", &c);
    EXPECT_TRUE(visits("/a/b/c").empty());
}

TEST_F(ChannelIndexTest, RemoveStopsVisits) {
    index.add("/a", &a);
    index.add("/a", &b);
    EXPECT_TRUE(index.remove("/a", &a));
    EXPECT_EQ(visits("/a"), (std::map<std::string, int>{{"b", 1}}));
    EXPECT_EQ(index.pattern_count(), 1u);
}

TEST_F(ChannelIndexTest, RemovingTheLastSubscriberForgetsThePattern) {
    index.add("/a", &a);
    index.add("/b/*", &a);
    EXPECT_EQ(index.pattern_count(), 2u);
    EXPECT_TRUE(index.remove("/a", &a));
    EXPECT_EQ(index.pattern_count(), 1u);
    EXPECT_TRUE(index.remove("/b/*", &a));
    EXPECT_EQ(index.pattern_count(), 0u);
    EXPECT_TRUE(visits("/a").empty());
}

TEST_F(ChannelIndexTest, RemoveOfUnknownSubscriptionReturnsFalse) {
    EXPECT_FALSE(index.remove("/a", &a));
    index.add("/a", &a);
    EXPECT_FALSE(index.remove("/a", &b));
    EXPECT_FALSE(index.remove("/a/*", &a));
    EXPECT_TRUE(index.remove("/a", &a));
    EXPECT_FALSE(index.remove("/a", &a));
}

TEST_F(ChannelIndexTest, RemoveKeepsTheOtherSubscribersOfThePattern) {
    index.add("/p", &a);
    index.add("/p", &b);
    index.add("/p", &c);
    EXPECT_TRUE(index.remove("/p", &a));  // swapped with the last: order must not matter
    EXPECT_EQ(visits("/p"), (std::map<std::string, int>{{"b", 1}, {"c", 1}}));
    EXPECT_TRUE(index.remove("/p", &c));
    EXPECT_EQ(visits("/p"), (std::map<std::string, int>{{"b", 1}}));
}

}  // namespace
}  // namespace encke::bayeux
