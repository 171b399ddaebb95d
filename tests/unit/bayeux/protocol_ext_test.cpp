// The acknowledgement and timesync extensions (PROTOCOL.md §5.2, §5.3, §8 item 40).
#include <gtest/gtest.h>

#include "protocol_fixture.hpp"

namespace encke::bayeux::test {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view ack_on = R"({"ack":true})";

std::string ack_ext(int n) {
    return R"(,"ext":{"ack":)" + std::to_string(n) + "}";
}

TEST_F(ProtocolTest, HandshakeWithAckTrueIsConfirmed) {
    auto c = http();
    json_probe p(handshake(c, ack_on).body());
    EXPECT_EQ(field(p[0], "successful"), "true");
    EXPECT_EQ(field(p[0], "ext"), R"({"ack":true})");
}

TEST_F(ProtocolTest, HandshakeWithAckFalseHasNoAck) {
    auto c = http();
    json_probe p(handshake(c, R"({"ack":false})").body());
    EXPECT_FALSE(has(p[0], "ext")) << p.text();
    json_probe r(connect(c, ack_ext(0)).body());
    EXPECT_FALSE(has(r[0], "ext")) << r.text();
}

TEST_F(ProtocolTest, ConnectRepliesCarryIncreasingAckNumbers) {
    auto c = http();
    handshake(c, ack_on);
    json_probe first(connect(c, ack_ext(0)).body());
    EXPECT_EQ(at(first[0], "/ext/ack"), "1");
    for (int n = 2; n <= 4; ++n) {
        auto held = connect(c, ack_ext(n - 1));
        ASSERT_TRUE(held.out.held) << n;
        advance(milliseconds(cfg.timeout_ms));
        ASSERT_EQ(held.conn->sent.size(), 1u);
        json_probe p(held.conn->sent[0]);
        ASSERT_EQ(p.size(), 1u);
        EXPECT_EQ(at(p[0], "/ext/ack"), std::to_string(n));  // even with no messages
        EXPECT_EQ(field(p[0], "successful"), "true");
    }
}

TEST_F(ProtocolTest, OldAckResendsUnacknowledgedMessagesAtOnce) {
    // The exchange of PROTOCOL.md §5.2.
    auto c = http();
    handshake(c, ack_on);
    subscribe(c, R"("/news")");
    json_probe r1(connect(c, R"(,"advice":{"timeout":0})" + ack_ext(0)).body());
    ASSERT_EQ(at(r1[0], "/ext/ack"), "1");

    auto held = connect(c, ack_ext(1));
    ASSERT_TRUE(held.out.held);
    auto pubc = ready(http());
    publish(pubc, "/news", R"("m1")");
    proto().flush();
    ASSERT_EQ(held.conn->sent.size(), 1u);
    json_probe r2(held.conn->sent[0]);
    ASSERT_EQ(r2.size(), 2u) << r2.text();
    EXPECT_EQ(simdjson::minify(r2[0]), R"({"channel":"/news","data":"m1"})");
    EXPECT_EQ(at(r2[1], "/ext/ack"), "2");

    // That response was lost: the client still acknowledges 1, and gets m1 again at once.
    auto again = connect(c, ack_ext(1));
    EXPECT_FALSE(again.out.held);
    json_probe r3(again.body());
    ASSERT_EQ(r3.size(), 2u) << r3.text();
    EXPECT_EQ(simdjson::minify(r3[0]), R"({"channel":"/news","data":"m1"})");
    EXPECT_EQ(at(r3[1], "/ext/ack"), "3");
}

TEST_F(ProtocolTest, AcknowledgedMessagesAreNeverSentAgain) {
    auto c = http();
    handshake(c, ack_on);
    subscribe(c, R"("/news")");
    connect(c, ack_ext(0));
    auto held = connect(c, ack_ext(1));
    auto pubc = ready(http());
    publish(pubc, "/news", R"("m1")");
    proto().flush();
    ASSERT_EQ(held.conn->sent.size(), 1u);  // m1 in batch 2

    auto next = connect(c, ack_ext(2));
    ASSERT_TRUE(next.out.held);
    publish(pubc, "/news", R"("m2")");
    proto().flush();
    ASSERT_EQ(next.conn->sent.size(), 1u);
    json_probe p(next.conn->sent[0]);
    ASSERT_EQ(p.size(), 2u) << p.text();
    EXPECT_EQ(field(p[0], "data"), R"("m2")");
    EXPECT_EQ(at(p[1], "/ext/ack"), "3");

    auto last = connect(c, ack_ext(3));
    EXPECT_TRUE(last.out.held);
    advance(milliseconds(cfg.timeout_ms));
    ASSERT_EQ(last.conn->sent.size(), 1u);
    EXPECT_EQ(json_probe(last.conn->sent[0]).size(), 1u) << last.conn->sent[0];
}

TEST_F(ProtocolTest, AckBeyondTheLastBatchDoesNotDropUnsentMessages) {
    auto c = http();
    handshake(c, ack_on);
    subscribe(c, R"("/news")");
    connect(c, ack_ext(0));
    auto pubc = ready(http());
    publish(pubc, "/news", R"("m1")");  // queued while no connect is held
    auto r = connect(c, ack_ext(100));
    EXPECT_FALSE(r.out.held);
    json_probe p(r.body());
    ASSERT_EQ(p.size(), 2u) << p.text();
    EXPECT_EQ(field(p[0], "data"), R"("m1")");
}

TEST_F(ProtocolTest, AckModeOverWebSocketDeliversOnlyWithConnectReplies) {
    auto c = websocket();
    handshake(c, ack_on);
    subscribe(c, R"("/news")");
    connect(c, ack_ext(0));
    auto held = connect(c, ack_ext(1));
    auto pubc = ready(http());
    publish(pubc, "/news", R"("m1")");
    proto().flush();
    ASSERT_EQ(c.socket->sent.size(), 1u);
    json_probe p(c.socket->sent[0]);
    ASSERT_EQ(p.size(), 2u) << p.text();
    EXPECT_EQ(field(p[0], "data"), R"("m1")");
    EXPECT_EQ(field(p[1], "id"), held.id);
    EXPECT_EQ(at(p[1], "/ext/ack"), "2");
}

TEST_F(ProtocolTest, AckModeWebSocketWithoutHeldConnectGetsNoPush) {
    auto c = websocket();
    handshake(c, ack_on);
    subscribe(c, R"("/news")");
    connect(c, ack_ext(0));
    auto pubc = ready(http());
    publish(pubc, "/news", R"("m1")");
    proto().flush();
    EXPECT_TRUE(c.socket->sent.empty());
    json_probe p(connect(c, ack_ext(1)).body());
    ASSERT_EQ(p.size(), 2u);
    EXPECT_EQ(field(p[0], "data"), R"("m1")");
}

constexpr std::int64_t epoch_at_start = 1'700'003'600'000;  // manual_clock starts at 1 h

TEST_F(ProtocolTest, TimesyncOnHandshakeRepliesTcTsPAndA) {
    ASSERT_EQ(clock.epoch_ms(), epoch_at_start);
    auto c = http();
    json_probe p(handshake(c, R"({"timesync":{"tc":1700003599990,"l":5,"o":0}})").body());
    EXPECT_EQ(at(p[0], "/ext/timesync"), R"({"tc":1700003599990,"ts":1700003600000,"p":0,"a":-5})");
}

TEST_F(ProtocolTest, HandshakeWithAckAndTimesyncRepliesBoth) {
    auto c = http();
    json_probe p(
        handshake(c, R"({"ack":true,"timesync":{"tc":1700003600000,"l":0,"o":0}})").body());
    EXPECT_EQ(field(p[0], "ext"),
              R"({"ack":true,"timesync":{"tc":1700003600000,"ts":1700003600000,"p":0,"a":0}})");
}

TEST_F(ProtocolTest, TimesyncOnImmediateConnect) {
    auto c = http();
    handshake(c);
    json_probe p(connect(c, R"(,"ext":{"timesync":{"tc":1700003600100,"l":20,"o":-30}})").body());
    EXPECT_EQ(at(p[0], "/ext/timesync"), R"({"tc":1700003600100,"ts":1700003600000,"p":0,"a":90})");
}

TEST_F(ProtocolTest, TimesyncOnHeldConnectReportsTheHoldTime) {
    auto c = ready(http());
    clock.advance(milliseconds(40));
    auto held = connect(c, R"(,"ext":{"timesync":{"tc":1700003600000,"l":0,"o":0}})");
    ASSERT_TRUE(held.out.held);
    advance(milliseconds(cfg.timeout_ms));
    ASSERT_EQ(held.conn->sent.size(), 1u);
    json_probe p(held.conn->sent[0]);
    EXPECT_EQ(at(p[0], "/ext/timesync"),
              R"({"tc":1700003600000,"ts":1700003600040,"p":30000,"a":-40})");
}

TEST_F(ProtocolTest, TimesyncOnAckedConnectSharesTheExtObject) {
    auto c = http();
    handshake(c, ack_on);
    json_probe p(
        connect(c, R"(,"ext":{"ack":0,"timesync":{"tc":1700003600000,"l":0,"o":0}})").body());
    EXPECT_EQ(field(p[0], "ext"),
              R"({"ack":1,"timesync":{"tc":1700003600000,"ts":1700003600000,"p":0,"a":0}})");
}

TEST_F(ProtocolTest, TimesyncOnSubscribeAndDisconnect) {
    auto c = http();
    handshake(c);
    const std::string ts = R"("ext":{"timesync":{"tc":1700003600000,"l":0,"o":0}})";
    json_probe s(
        send(c, R"([{"id":"s","channel":"/meta/subscribe","clientId":"$C","subscription":"/a",)" +
                    ts + "}]")
            .body());
    EXPECT_EQ(at(s[0], "/ext/timesync/ts"), "1700003600000");
    json_probe d(
        send(c, R"([{"id":"d","channel":"/meta/disconnect","clientId":"$C",)" + ts + "}]").body());
    EXPECT_EQ(at(d[0], "/ext/timesync/ts"), "1700003600000");
}

TEST_F(ProtocolTest, TimesyncWithExtremeValuesDoesNotOverflow) {
    // tc + o + l - ts is computed from client-supplied numbers; it must not overflow (undefined
    // behaviour, and with wrapping a huge positive offset is reported as a negative one).
    auto c = http();
    json_probe p(
        handshake(c, R"({"timesync":{"tc":9223372036854775807,"l":0,"o":9223372036854775807}})")
            .body());
    EXPECT_EQ(field(p[0], "successful"), "true");
    auto a = at(p[0], "/ext/timesync/a");
    if (!a.empty()) {
        EXPECT_NE(a[0], '-') << p.text();
    }
}

}  // namespace
}  // namespace encke::bayeux::test
