// Held connects, fan-out, the multiple-clients rule, session expiry and the queue bound
// (PROTOCOL.md §2.2, §3.2-§3.6, §4.2, §6, §8).
#include <gtest/gtest.h>

#include "protocol_fixture.hpp"

namespace encke::bayeux::test {
namespace {

using std::chrono::milliseconds;

TEST_F(ProtocolTest, FirstConnectAfterHandshakeIsNotHeld) {
    auto c = http();
    handshake(c);
    auto r = connect(c);
    EXPECT_FALSE(r.out.held);
    EXPECT_EQ(json_probe(r.body()).size(), 1u);
}

TEST_F(ProtocolTest, LaterConnectIsHeld) {
    auto c = ready(http());
    auto r = connect(c);
    EXPECT_TRUE(r.out.held);
    EXPECT_TRUE(r.out.parts.empty());
    proto().tick();
    EXPECT_TRUE(r.conn->sent.empty());
    EXPECT_TRUE(r.conn->failed.empty());
}

TEST_F(ProtocolTest, HeldConnectIsCompletedByADeliveryOnFlush) {
    auto sub = ready_subscriber(R"("/chat/room")");
    auto held = connect(sub);
    ASSERT_TRUE(held.out.held);

    auto pubc = ready(http());
    publish(pubc, "/chat/room", R"({"text":"hi"})");
    EXPECT_EQ(flush_requests, 1);
    EXPECT_TRUE(held.conn->sent.empty());  // nothing is written inside the fan-out

    proto().flush();
    ASSERT_EQ(held.conn->sent.size(), 1u);
    json_probe p(held.conn->sent[0]);
    ASSERT_EQ(p.size(), 2u) << p.text();
    EXPECT_EQ(simdjson::minify(p[0]), R"({"channel":"/chat/room","data":{"text":"hi"}})");
    EXPECT_EQ(field(p[1], "id"), held.id);
    EXPECT_EQ(field(p[1], "channel"), R"("/meta/connect")");
    EXPECT_EQ(field(p[1], "successful"), "true");
    EXPECT_EQ(field(p[1], "advice"), default_advice);
    EXPECT_EQ(proto().stats().delivered.load(), 1u);
}

// A long-polling subscriber answered by a delivery reconnects at once: its old hold's deadline
// entry is stale from then on. They must not pile up for timeout_ms (rate × timeout entries).
TEST_F(ProtocolTest, HoldsAnsweredEarlyDoNotPileUpUntilTheirDeadline) {
    auto sub = ready_subscriber(R"("/chat/room")");
    auto pubc = ready(http());
    for (int i = 0; i < 20000; ++i) {
        auto held = connect(sub);
        ASSERT_TRUE(held.out.held);
        publish(pubc, "/chat/room", std::to_string(i));
        proto().flush();
        ASSERT_EQ(held.conn->sent.size(), 1u) << i;
    }
    EXPECT_LE(proto().hold_timer_count(), 2 * proto().session_count() + 1024);
    // The live hold still times out.
    auto last = connect(sub);
    ASSERT_TRUE(last.out.held);
    advance(util::millis(30000));
    ASSERT_EQ(last.conn->sent.size(), 1u);
    EXPECT_EQ(field(json_probe(last.conn->sent[0])[0], "successful"), "true");
}

TEST_F(ProtocolTest, DeliveriesLeaveInPublishOrderWithTheConnectReplyLast) {
    auto sub = ready_subscriber(R"("/q")");
    auto held = connect(sub);
    auto pubc = ready(http());
    publish(pubc, "/q", "1");
    publish(pubc, "/q", "2");
    publish(pubc, "/q", "3");
    EXPECT_EQ(flush_requests, 1);  // one write per loop turn
    proto().flush();
    ASSERT_EQ(held.conn->sent.size(), 1u);
    json_probe p(held.conn->sent[0]);
    ASSERT_EQ(p.size(), 4u);
    EXPECT_EQ(field(p[0], "data"), "1");
    EXPECT_EQ(field(p[1], "data"), "2");
    EXPECT_EQ(field(p[2], "data"), "3");
    EXPECT_EQ(field(p[3], "channel"), R"("/meta/connect")");

    connect(sub);  // held again: the next delivery asks for a new flush
    publish(pubc, "/q", "4");
    EXPECT_EQ(flush_requests, 2);
}

TEST_F(ProtocolTest, DeliveryDropsIdAndClientIdAndKeepsExtAndOtherFields) {
    auto sub = ready_subscriber(R"("/chat/room")");
    auto held = connect(sub);
    auto pubc = ready(http());
    auto ack = send(pubc, R"([{"id":"12","channel":"/chat/room","clientId":"$C",
                               "data":{ "text" : "caf\u00e9 😀" },"ext":{"binary":{}},
                               "x-extra":[1, 2.0e+1],"successful":true,"error":"x"}])");
    EXPECT_EQ(ack.body(), R"([{"id":"12","channel":"/chat/room","successful":true}])");
    proto().flush();
    ASSERT_EQ(held.conn->sent.size(), 1u);
    const auto& text = held.conn->sent[0];
    auto end = text.find(R"(,{"id":)");
    ASSERT_NE(end, std::string::npos) << text;
    EXPECT_EQ(
        text.substr(0, end),
        R"([{"channel":"/chat/room","data":{ "text" : "caf\u00e9 😀" },"ext":{"binary":{}},"x-extra":[1, 2.0e+1]})");
}

TEST_F(ProtocolTest, ExtKeysListedInStripExtKeysAreRemovedBeforeFanOut) {
    // encke.toml.example: strip_ext_keys = "Keys removed from a published message's ext before
    // it is fanned out (e.g. credentials)".
    cfg.strip_ext_keys = {"token"};
    auto sub = ready_subscriber(R"("/a")");
    auto held = connect(sub);
    auto pubc = ready(http());
    send(pubc,
         R"([{"channel":"/a","clientId":"$C","data":1,"ext":{"token":"secret","keep":true}}])");
    proto().flush();
    ASSERT_EQ(held.conn->sent.size(), 1u);
    json_probe p(held.conn->sent[0]);
    EXPECT_EQ(field(p[0], "ext"), R"({"keep":true})") << p.text();
}

TEST_F(ProtocolTest, HeldConnectIsCompletedByTimeout) {
    auto c = ready(http());
    auto held = connect(c);
    ASSERT_TRUE(held.out.held);
    advance(milliseconds(cfg.timeout_ms - 1));
    EXPECT_TRUE(held.conn->sent.empty());
    advance(milliseconds(1));
    ASSERT_EQ(held.conn->sent.size(), 1u);
    json_probe p(held.conn->sent[0]);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(field(p[0], "id"), held.id);
    EXPECT_EQ(field(p[0], "successful"), "true");
    EXPECT_EQ(field(p[0], "advice"), default_advice);
    advance(milliseconds(cfg.timeout_ms));
    EXPECT_EQ(held.conn->sent.size(), 1u);  // answered exactly once
}

TEST_F(ProtocolTest, TimedOutConnectEchoesNumericId) {
    auto c = ready(http());
    auto held = send(
        c,
        R"([{"id":77,"channel":"/meta/connect","clientId":"$C","connectionType":"long-polling"}])");
    ASSERT_TRUE(held.out.held);
    advance(milliseconds(cfg.timeout_ms));
    ASSERT_EQ(held.conn->sent.size(), 1u);
    EXPECT_EQ(field(json_probe(held.conn->sent[0])[0], "id"), "77");
}

TEST_F(ProtocolTest, ClientAdviceTimeoutZeroAnswersAtOnce) {
    auto c = ready(http());
    auto r = connect(c, R"(,"advice":{"timeout":0})");
    EXPECT_FALSE(r.out.held);
    json_probe p(r.body());
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(field(p[0], "successful"), "true");
    EXPECT_EQ(field(p[0], "advice"), default_advice);
}

TEST_F(ProtocolTest, NegativeClientAdviceTimeoutAnswersAtOnce) {
    auto c = ready(http());
    EXPECT_FALSE(connect(c, R"(,"advice":{"timeout":-5})").out.held);
}

TEST_F(ProtocolTest, ClientAdviceTimeoutSetsTheHoldTime) {
    auto c = ready(http());
    auto held = connect(c, R"(,"advice":{"timeout":2000})");
    ASSERT_TRUE(held.out.held);
    advance(milliseconds(1999));
    EXPECT_TRUE(held.conn->sent.empty());
    advance(milliseconds(1));
    EXPECT_EQ(held.conn->sent.size(), 1u);
}

TEST_F(ProtocolTest, HugeClientAdviceTimeoutIsNotAnsweredAtOnce) {
    // A client-chosen timeout must not overflow the deadline arithmetic (which would wrap it
    // into the past, or be undefined behaviour).
    auto c = ready(http());
    auto held = connect(c, R"(,"advice":{"timeout":9223372036854775807})");
    ASSERT_TRUE(held.out.held);
    advance(milliseconds(1000));
    EXPECT_TRUE(held.conn->sent.empty()) << testing::PrintToString(held.conn->sent);
}

TEST_F(ProtocolTest, ConnectBatchedWithAnotherMessageIsNotHeld) {
    auto c = ready(http());
    auto r = send(c, R"([{"id":"s","channel":"/meta/subscribe","clientId":"$C","subscription":"/a"},
                         {"id":"c","channel":"/meta/connect","clientId":"$C","connectionType":"long-polling"}])");
    EXPECT_FALSE(r.out.held);
    json_probe p(r.body());
    ASSERT_EQ(p.size(), 2u);
    EXPECT_EQ(field(p[0], "channel"), R"("/meta/subscribe")");
    EXPECT_EQ(field(p[1], "channel"), R"("/meta/connect")");
    EXPECT_EQ(field(p[1], "successful"), "true");
}

TEST_F(ProtocolTest, QueuedMessagesMakeTheConnectReturnAtOnce) {
    auto sub = ready_subscriber(R"("/a")");
    auto pubc = ready(http());
    publish(pubc, "/a", R"("m1")");
    proto().flush();  // the subscriber has no held connect: nothing to write yet
    auto r = connect(sub);
    EXPECT_FALSE(r.out.held);
    json_probe p(r.body());
    ASSERT_EQ(p.size(), 2u) << p.text();
    EXPECT_EQ(simdjson::minify(p[0]), R"({"channel":"/a","data":"m1"})");
    EXPECT_EQ(field(p[1], "channel"), R"("/meta/connect")");
    // Sent once: the next connect is held again.
    EXPECT_TRUE(connect(sub).out.held);
}

TEST_F(ProtocolTest, SecondHttpConnectSupersedesTheHeldOneWithStatus500) {
    auto c = ready(http());
    auto first = connect(c);
    ASSERT_TRUE(first.out.held);
    auto second = connect(c);
    EXPECT_TRUE(second.out.held);
    EXPECT_EQ(first.conn->failed, std::vector<int>{500});
    EXPECT_TRUE(first.conn->sent.empty());
    advance(milliseconds(cfg.timeout_ms));
    EXPECT_TRUE(first.conn->sent.empty());
    ASSERT_EQ(second.conn->sent.size(), 1u);
    EXPECT_EQ(field(json_probe(second.conn->sent[0])[0], "id"), second.id);
}

TEST_F(ProtocolTest, SupersededConnectStatusIsConfigurable) {
    cfg.duplicate_connect_status = 409;
    auto c = ready(http());
    auto first = connect(c);
    connect(c);
    EXPECT_EQ(first.conn->failed, std::vector<int>{409});
}

TEST_F(ProtocolTest, SecondWebSocketConnectLeavesTheFirstUnanswered) {
    auto c = ready(websocket());
    auto first = connect(c);
    EXPECT_FALSE(first.out.held);  // WebSocket: nothing for the transport to hold
    EXPECT_TRUE(first.out.parts.empty());
    auto second = connect(c);
    EXPECT_TRUE(c.socket->failed.empty());
    EXPECT_TRUE(c.socket->sent.empty());
    advance(milliseconds(cfg.timeout_ms));
    ASSERT_EQ(c.socket->sent.size(), 1u);
    EXPECT_EQ(field(json_probe(c.socket->sent[0])[0], "id"), second.id);
}

TEST_F(ProtocolTest, WebSocketDeliveryIsPushedWhileTheConnectStaysHeld) {
    auto sub = ready_subscriber(R"("/a")", websocket());
    auto held = connect(sub);
    auto pubc = ready(http());
    publish(pubc, "/a", R"("m1")");
    proto().flush();
    ASSERT_EQ(sub.socket->sent.size(), 1u);
    EXPECT_EQ(sub.socket->sent[0], R"([{"channel":"/a","data":"m1"}])");
    advance(milliseconds(cfg.timeout_ms));
    ASSERT_EQ(sub.socket->sent.size(), 2u);
    json_probe p(sub.socket->sent[1]);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(field(p[0], "id"), held.id);
    EXPECT_EQ(field(p[0], "channel"), R"("/meta/connect")");
}

TEST_F(ProtocolTest, WebSocketWithoutHeldConnectStillReceivesDeliveries) {
    auto sub = ready_subscriber(R"("/a")", websocket());
    auto pubc = ready(http());
    publish(pubc, "/a", "1");
    proto().flush();
    ASSERT_EQ(sub.socket->sent.size(), 1u);
    EXPECT_EQ(sub.socket->sent[0], R"([{"channel":"/a","data":1}])");
}

TEST_F(ProtocolTest, OneCopyPerClientWithOverlappingSubscriptions) {
    auto sub = ready_subscriber(R"(["/a/*","/a/b","/**","/a/**"])", websocket());
    auto pubc = ready(http());
    publish(pubc, "/a/b", "1");
    proto().flush();
    ASSERT_EQ(sub.socket->sent.size(), 1u);
    EXPECT_EQ(sub.socket->sent[0], R"([{"channel":"/a/b","data":1}])");
}

TEST_F(ProtocolTest, SubscribingTwiceStillDeliversOneCopy) {
    auto sub = ready_subscriber(R"("/a")", websocket());
    subscribe(sub, R"("/a")");
    auto pubc = ready(http());
    publish(pubc, "/a", "1");
    proto().flush();
    EXPECT_EQ(sub.socket->sent, std::vector<std::string>{R"([{"channel":"/a","data":1}])"});
}

TEST_F(ProtocolTest, WildcardSubscriptionsReceiveTheProtocolsChannels) {
    auto one = ready_subscriber(R"("/a/*")", websocket());
    auto deep = ready_subscriber(R"("/a/**")", websocket());
    auto all = ready_subscriber(R"("/**")", websocket());
    auto pubc = ready(http());
    for (auto ch : {"/a", "/a/b", "/a/b/c", "/ab"}) publish(pubc, ch, "0");
    proto().flush();
    auto channels = [](const fake_sink& s) {
        std::vector<std::string> out;
        for (auto& frame_text : s.sent) {
            json_probe p(frame_text);
            for (std::size_t i = 0; i < p.size(); ++i) out.push_back(str(p[i], "channel"));
        }
        return out;
    };
    EXPECT_EQ(channels(*one.socket), (std::vector<std::string>{"/a/b"}));
    EXPECT_EQ(channels(*deep.socket), (std::vector<std::string>{"/a/b", "/a/b/c"}));
    EXPECT_EQ(channels(*all.socket), (std::vector<std::string>{"/a", "/a/b", "/a/b/c", "/ab"}));
}

TEST_F(ProtocolTest, PublisherReceivesItsOwnMessageByDefault) {
    auto c = ready_subscriber(R"("/a")", websocket());
    publish(c, "/a", "1");
    proto().flush();
    EXPECT_EQ(c.socket->sent, std::vector<std::string>{R"([{"channel":"/a","data":1}])"});
}

TEST_F(ProtocolTest, BroadcastToPublisherFalseSkipsOnlyThePublisher) {
    cfg.broadcast_to_publisher = false;
    auto self = ready_subscriber(R"("/a")", websocket());
    auto other = ready_subscriber(R"("/a")", websocket());
    publish(self, "/a", "1");
    proto().flush();
    EXPECT_TRUE(self.socket->sent.empty());
    EXPECT_EQ(other.socket->sent, std::vector<std::string>{R"([{"channel":"/a","data":1}])"});
}

TEST_F(ProtocolTest, ServiceChannelPublishIsNotDelivered) {
    auto svc = ready_subscriber(R"("/service/echo")", websocket());
    auto all = ready_subscriber(R"("/**")", websocket());
    auto pubc = ready(http());
    EXPECT_EQ(publish(pubc, "/service/echo").body(),
              R"([{"id":"p","channel":"/service/echo","successful":true}])");
    proto().flush();
    EXPECT_TRUE(svc.socket->sent.empty());
    EXPECT_TRUE(all.socket->sent.empty());
    EXPECT_EQ(flush_requests, 0);
}

TEST_F(ProtocolTest, UnsubscribeStopsDeliveries) {
    auto sub = ready_subscriber(R"(["/a","/b"])", websocket());
    unsubscribe(sub, R"("/a")");
    auto pubc = ready(http());
    publish(pubc, "/a", "1");
    publish(pubc, "/b", "2");
    proto().flush();
    EXPECT_EQ(sub.socket->sent, std::vector<std::string>{R"([{"channel":"/b","data":2}])"});
}

TEST_F(ProtocolTest, SecondSessionOfTheSameBrowserGetsMultipleClientsAdvice) {
    auto first = ready(http("browser-1"));
    auto held = connect(first);
    ASSERT_TRUE(held.out.held);

    auto second = ready(http("browser-1"));
    auto r = connect(second);
    EXPECT_FALSE(r.out.held);
    json_probe p(r.body());
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(field(p[0], "successful"), "true");
    EXPECT_EQ(
        field(p[0], "advice"),
        R"({"multiple-clients":true,"reconnect":"retry","interval":2000,"timeout":30000,"maxInterval":10000})");
}

TEST_F(ProtocolTest, MultipleClientsRuleIsPerBrowser) {
    auto first = ready(http("browser-1"));
    ASSERT_TRUE(connect(first).out.held);
    auto other_browser = ready(http("browser-2"));
    EXPECT_TRUE(connect(other_browser).out.held);
    auto no_cookie = ready(http());
    EXPECT_TRUE(connect(no_cookie).out.held);
}

TEST_F(ProtocolTest, BrowserMayHoldAgainOnceItsHeldConnectEnds) {
    auto first = ready(http("browser-1"));
    ASSERT_TRUE(connect(first, R"(,"advice":{"timeout":2000})").out.held);
    auto second = ready(http("browser-1"));
    advance(milliseconds(2000));  // the first hold ends
    EXPECT_TRUE(connect(second).out.held);
    EXPECT_FALSE(connect(first).out.held);  // and now the first one is the extra session
}

TEST_F(ProtocolTest, MaxSessionsPerBrowserZeroDisablesTheRule) {
    cfg.max_sessions_per_browser = 0;
    auto first = ready(http("browser-1"));
    auto second = ready(http("browser-1"));
    EXPECT_TRUE(connect(first).out.held);
    EXPECT_TRUE(connect(second).out.held);
}

TEST_F(ProtocolTest, DisconnectCompletesTheHeldConnectWithNoneAdvice) {
    auto c = ready_subscriber(R"("/a")");
    auto held = connect(c);
    auto pubc = ready(http());
    publish(pubc, "/a", "1");  // queued; the disconnect below comes before the flush
    send(c, R"([{"id":"d","channel":"/meta/disconnect","clientId":"$C"}])");
    ASSERT_EQ(held.conn->sent.size(), 1u);
    json_probe p(held.conn->sent[0]);
    ASSERT_EQ(p.size(), 1u) << p.text();
    EXPECT_EQ(field(p[0], "id"), held.id);
    EXPECT_EQ(field(p[0], "advice"), R"({"reconnect":"none"})");
    proto().flush();
    EXPECT_EQ(held.conn->sent.size(), 1u);
}

TEST_F(ProtocolTest, SessionExpiresAfterIntervalPlusMaxIntervalWithoutConnect) {
    auto c = ready(http());
    proto().tick();
    advance(milliseconds(cfg.interval_ms + cfg.max_interval_ms - 1));
    EXPECT_EQ(proto().session_count(), 1u);
    advance(milliseconds(1001));  // the sweep runs once a second
    EXPECT_EQ(proto().session_count(), 0u);
    EXPECT_EQ(proto().stats().sessions_expired.load(), 1u);
    json_probe p(connect(c).body());
    EXPECT_EQ(field(p[0], "error"), R"("402::session_unknown")");
    EXPECT_EQ(field(p[0], "advice"), R"({"reconnect":"handshake","interval":0})");
}

TEST_F(ProtocolTest, HandshakenSessionWithoutConnectExpiresToo) {
    auto c = http();
    handshake(c);
    advance(milliseconds(cfg.interval_ms + cfg.max_interval_ms + 1000));
    EXPECT_EQ(proto().session_count(), 0u);
}

TEST_F(ProtocolTest, SessionIsNeverExpiredWhileItsConnectIsHeld) {
    // The hold (timeout_ms) is longer than interval + maxInterval, so only the held connect keeps
    // the session alive.
    ASSERT_GT(cfg.timeout_ms, cfg.interval_ms + cfg.max_interval_ms + 2000);
    auto c = ready(http());
    auto held = connect(c);
    ASSERT_TRUE(held.out.held);
    advance(milliseconds(cfg.timeout_ms - 1000));
    EXPECT_EQ(proto().session_count(), 1u);
    EXPECT_TRUE(held.conn->sent.empty());
    advance(milliseconds(1000));
    ASSERT_EQ(held.conn->sent.size(), 1u);
    EXPECT_EQ(proto().session_count(), 1u);
    // Expiry counts again from the end of the hold.
    advance(milliseconds(cfg.interval_ms + cfg.max_interval_ms + 1000));
    EXPECT_EQ(proto().session_count(), 0u);
}

TEST_F(ProtocolTest, ClientAdviceCannotLengthenTheHold) {
    auto c = ready(http());
    auto held = connect(c, R"(,"advice":{"timeout":120000})");
    ASSERT_TRUE(held.out.held);
    advance(milliseconds(cfg.timeout_ms));
    EXPECT_EQ(held.conn->sent.size(), 1u);
}

TEST_F(ProtocolTest, OtherMessagesKeepTheSessionAlive) {
    auto c = ready(http());
    advance(milliseconds(9000));
    subscribe(c, R"("/a")");
    advance(milliseconds(9000));
    EXPECT_EQ(proto().session_count(), 1u);
}

TEST_F(ProtocolTest, OverflowingSubscriberIsRemovedAndItsHeldConnectToldToHandshake) {
    cfg.max_queue_bytes = 100;
    auto slow = ready_subscriber(R"(["/a","/b"])");
    auto held = connect(slow);
    ASSERT_TRUE(held.out.held);
    auto fast = ready_subscriber(R"("/b")", websocket());
    auto pubc = ready(http());
    std::string payload = "\"" + std::string(40, 'x') + "\"";  // each delivery is ~65 bytes
    publish(pubc, "/a", payload);  // queued for slow (no flush in between)
    publish(pubc, "/b", payload);  // slow would pass 100 bytes
    // Removal is deferred to the flush (never inside a fan-out).
    EXPECT_EQ(held.conn->sent.size(), 0u);
    proto().flush();
    ASSERT_EQ(held.conn->sent.size(), 1u);
    json_probe p(held.conn->sent[0]);
    ASSERT_EQ(p.size(), 1u) << p.text();
    EXPECT_EQ(field(p[0], "id"), held.id);
    EXPECT_EQ(field(p[0], "successful"), "false");
    EXPECT_EQ(field(p[0], "error"), R"("402::session_unknown")");
    EXPECT_EQ(field(p[0], "advice"), R"({"reconnect":"handshake","interval":0})");
    EXPECT_EQ(proto().stats().sessions_overflowed.load(), 1u);

    EXPECT_EQ(held.conn->sent.size(), 1u);
    ASSERT_EQ(fast.socket->sent.size(), 1u);
    EXPECT_EQ(fast.socket->sent[0], R"([{"channel":"/b","data":)" + payload + "}]");
    json_probe again(connect(slow).body());
    EXPECT_EQ(field(again[0], "error"), R"("402::session_unknown")");
}

TEST_F(ProtocolTest, OverflowOfOneSubscriberDoesNotStopTheOthers) {
    cfg.max_queue_bytes = 200;
    auto slow = ready_subscriber(R"("/a")");  // never connects again
    auto fast = ready_subscriber(R"("/a")", websocket());
    auto pubc = ready(http());
    for (int i = 0; i < 10; ++i) {
        publish(pubc, "/a", "\"" + std::string(30, 'a' + i) + "\"");
        proto().flush();
    }
    EXPECT_EQ(fast.socket->sent.size(), 10u);
    EXPECT_EQ(proto().stats().sessions_overflowed.load(), 1u);
    EXPECT_EQ(proto().session_count(), 2u);
    json_probe p(connect(slow).body());
    EXPECT_EQ(field(p[0], "error"), R"("402::session_unknown")");
}

TEST_F(ProtocolTest, MessageLargerThanTheBoundRemovesTheSubscriber) {
    cfg.max_queue_bytes = 50;
    auto sub = ready_subscriber(R"("/a")");
    auto pubc = ready(http());
    publish(pubc, "/a", "\"" + std::string(100, 'x') + "\"");
    proto().flush();
    EXPECT_EQ(proto().stats().sessions_overflowed.load(), 1u);
    EXPECT_EQ(proto().session_count(), 1u);
}

TEST_F(ProtocolTest, PublisherOverflowingItsOwnQueueIsRemovedAfterTheBatch) {
    cfg.max_queue_bytes = 100;
    auto c = ready_subscriber(R"("/a")");  // never drains: it does not connect again
    auto r = send(c, R"([{"id":"1","channel":"/a","clientId":"$C","data":")" +
                         std::string(40, 'x') + R"("},
                         {"id":"2","channel":"/a","clientId":"$C","data":")" +
                         std::string(40, 'y') + R"("},
                         {"id":"3","channel":"/a","clientId":"$C","data":"z"}])");
    json_probe p(r.body());
    ASSERT_EQ(p.size(), 3u) << p.text();
    EXPECT_EQ(field(p[0], "successful"), "true");
    EXPECT_EQ(field(p[1], "successful"), "true");  // published; its own copy did not fit
    // The session is cut off at the next flush, not in the middle of its own publish.
    EXPECT_EQ(field(p[2], "successful"), "true");
    EXPECT_EQ(proto().session_count(), 1u);
    proto().flush();
    EXPECT_EQ(proto().session_count(), 0u);
    EXPECT_EQ(proto().stats().sessions_overflowed.load(), 1u);
}

TEST_F(ProtocolTest, MessagesAfterADisconnectInTheSameBatchAreRefused) {
    auto c = ready(http());
    json_probe p(send(c, R"([{"id":"d","channel":"/meta/disconnect","clientId":"$C"},
                             {"id":"p","channel":"/a","clientId":"$C","data":1}])")
                     .body());
    ASSERT_EQ(p.size(), 2u);
    EXPECT_EQ(field(p[0], "successful"), "true");
    EXPECT_EQ(field(p[1], "error"), R"("402::session_unknown")");
}

TEST_F(ProtocolTest, DetachedHeldConnectIsNeverAnswered) {
    auto c = ready(http("browser-1"));
    auto held = connect(c, R"(,"advice":{"timeout":2000})");
    ASSERT_TRUE(held.out.held);
    proto().detach(c.id, held.conn.get());
    advance(milliseconds(2000));
    EXPECT_TRUE(held.conn->sent.empty());
    // The browser's hold slot was released and the session lives on.
    auto again = connect(c);
    EXPECT_TRUE(again.out.held);
}

TEST_F(ProtocolTest, DetachOfAnotherConnectionKeepsTheHold) {
    auto c = ready(http());
    auto held = connect(c);
    fake_sink other(false);
    proto().detach(c.id, &other);
    proto().detach("no-such-session", held.conn.get());
    advance(milliseconds(cfg.timeout_ms));
    EXPECT_EQ(held.conn->sent.size(), 1u);
}

TEST_F(ProtocolTest, DetachedWebSocketNoLongerReceivesPushes) {
    auto sub = ready_subscriber(R"("/a")", websocket());
    proto().detach(sub.id, sub.socket.get());
    auto pubc = ready(http());
    publish(pubc, "/a", "1");
    proto().flush();
    EXPECT_TRUE(sub.socket->sent.empty());
    // The message waits for the next connect.
    auto http_again = http();
    http_again.id = sub.id;
    json_probe p(connect(http_again).body());
    ASSERT_EQ(p.size(), 2u);
    EXPECT_EQ(field(p[0], "data"), "1");
}

TEST_F(ProtocolTest, ShutdownAnswersHeldConnectsWithRetry) {
    auto c = ready(http());
    auto held = connect(c);
    proto().shutdown();
    ASSERT_EQ(held.conn->sent.size(), 1u);
    json_probe p(held.conn->sent[0]);
    EXPECT_EQ(field(p[0], "id"), held.id);
    EXPECT_EQ(field(p[0], "successful"), "true");
    EXPECT_EQ(at(p[0], "/advice/reconnect"), R"("retry")");
}

}  // namespace
}  // namespace encke::bayeux::test

namespace encke::bayeux::test {
namespace {

TEST_F(ProtocolTest, MessagesForAGoneConnectionStayQueuedForTheNextConnect) {
    auto c = ready_subscriber(R"("/a")");
    auto held = connect(c);
    ASSERT_TRUE(held.out.held);
    held.conn->is_open = false;  // the client went away; the transport has not said so yet
    auto pubc = ready(http());
    publish(pubc, "/a", R"("kept")");
    proto().flush();
    // The dead request is completed without the message...
    ASSERT_EQ(held.conn->sent.size(), 1u);
    EXPECT_EQ(held.conn->sent[0].find("kept"), std::string::npos) << held.conn->sent[0];
    // ...which the next connect carries.
    auto next = connect(c);
    EXPECT_NE(next.body().find(R"({"channel":"/a","data":"kept"})"), std::string::npos) << next.body();
}

TEST_F(ProtocolTest, ConnectsAreAnsweredAtOnceAfterShutdown) {
    auto c = ready(http());
    proto().shutdown();
    auto r = connect(c);
    EXPECT_FALSE(r.out.held);
    json_probe p(r.body());
    EXPECT_EQ(field(p[0], "successful"), "true");
}

TEST_F(ProtocolTest, SubscriptionsPerSessionAreBounded) {
    cfg.max_subscriptions_per_session = 2;
    auto c = ready(http());
    EXPECT_EQ(field(json_probe(subscribe(c, R"("/a")").body())[0], "successful"), "true");
    EXPECT_EQ(field(json_probe(subscribe(c, R"("/b")").body())[0], "successful"), "true");
    // Re-subscribing to a channel it has is not a new subscription.
    EXPECT_EQ(field(json_probe(subscribe(c, R"("/a")").body())[0], "successful"), "true");
    json_probe p(subscribe(c, R"("/c")").body());
    EXPECT_EQ(field(p[0], "successful"), "false");
    EXPECT_EQ(field(p[0], "error"), R"("403::too_many_subscriptions")");
}

}  // namespace
}  // namespace encke::bayeux::test
