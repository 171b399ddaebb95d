// The directory of sessions, users and subscriptions that presence queries and private
// deliveries read.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "engine/directory.hpp"

namespace encke::engine {
namespace {

std::vector<std::string> ids(std::vector<session_entry> v) {
    std::vector<std::string> out;
    for (auto& e : v) out.push_back(e.id + ":" + e.user);
    std::sort(out.begin(), out.end());
    return out;
}

TEST(Directory, SessionsOfAUserComeAndGo) {
    directory d;
    d.add_session("a1", "alice");
    d.add_session("a2", "alice");
    d.add_session("b1", "bob");
    d.add_session("x1", "");
    EXPECT_EQ(d.sessions_of("alice").size(), 2u);
    EXPECT_TRUE(d.sessions_of("").empty()) << "anonymous sessions have no user to address";
    EXPECT_EQ(d.session_count(), 4u);
    EXPECT_EQ(d.user_count(), 2u);
    EXPECT_EQ(d.user_of("x1"), std::optional<std::string>(""));
    EXPECT_EQ(d.user_of("zz"), std::nullopt);
    d.remove_session("a1", "alice");
    EXPECT_EQ(d.sessions_of("alice"), std::vector<std::string>{"a2"});
    d.remove_session("a2", "alice");
    EXPECT_TRUE(d.sessions_of("alice").empty());
    EXPECT_EQ(d.user_count(), 1u);
    d.remove_session("a2", "alice");  // twice: nothing happens
    EXPECT_EQ(d.session_count(), 2u);
}

TEST(Directory, SubscribersByNameAndWildcardEachOnce) {
    directory d;
    d.subscribe("a1", "alice", "/chat/lobby");
    d.subscribe("a1", "alice", "/chat/*");
    d.subscribe("b1", "bob", "/**");
    d.subscribe("c1", "carol", "/chat/other");
    EXPECT_EQ(ids(d.subscribers_of("/chat/lobby")), (std::vector<std::string>{"a1:alice", "b1:bob"}));
    d.unsubscribe("a1", "/chat/lobby");
    EXPECT_EQ(ids(d.subscribers_of("/chat/lobby")), (std::vector<std::string>{"a1:alice", "b1:bob"}));
    d.unsubscribe("a1", "/chat/*");
    d.unsubscribe("b1", "/**");
    EXPECT_TRUE(d.subscribers_of("/chat/lobby").empty());
}

TEST(Directory, ManyThreadsAtOnce) {
    directory d;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&d, t] {
            for (int i = 0; i < 2000; ++i) {
                std::string id = std::to_string(t) + "-" + std::to_string(i);
                d.add_session(id, "u" + std::to_string(t));
                d.subscribe(id, "u", "/c");
                (void)d.subscribers_of("/c");
                d.unsubscribe(id, "/c");
                d.remove_session(id, "u" + std::to_string(t));
            }
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(d.session_count(), 0u);
    EXPECT_EQ(d.user_count(), 0u);
    EXPECT_TRUE(d.subscribers_of("/c").empty());
}

}  // namespace
}  // namespace encke::engine
