// The five meta channels and publishing: reply shapes, error strings and advice
// (PROTOCOL.md §2, §3, §8).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>

#include "protocol_fixture.hpp"

namespace encke::bayeux::test {
namespace {

TEST_F(ProtocolTest, HandshakeRepliesWithClientIdVersionTypesAndRetryAdvice) {
    auto c = http();
    auto r =
        send(c, R"([{"id":"1","channel":"/meta/handshake","version":"1.0","minimumVersion":"1.0",
                          "supportedConnectionTypes":["long-polling"]}])");
    json_probe p(r.body());
    ASSERT_EQ(p.size(), 1u) << p.text();
    auto m = p[0];
    EXPECT_EQ(field(m, "id"), R"("1")");
    EXPECT_EQ(field(m, "channel"), R"("/meta/handshake")");
    EXPECT_EQ(field(m, "successful"), "true");
    EXPECT_EQ(field(m, "version"), R"("1.0")");
    EXPECT_EQ(field(m, "supportedConnectionTypes"),
              R"(["websocket","long-polling","callback-polling"])");
    EXPECT_EQ(field(m, "advice"), default_advice);
    EXPECT_FALSE(has(m, "error"));
    EXPECT_FALSE(has(m, "ext"));
    EXPECT_EQ(str(m, "clientId"), r.out.created);
    EXPECT_FALSE(r.out.held);
    EXPECT_EQ(proto().session_count(), 1u);
    EXPECT_EQ(proto().stats().handshakes.load(), 1u);
    EXPECT_EQ(proto().stats().sessions.load(), 1);
}

TEST_F(ProtocolTest, HandshakeClientIdsAreDistinctBase36WithShardPrefix) {
    auto a = http(), b = http();
    handshake(a);
    handshake(b);
    EXPECT_NE(a.id, b.id);
    for (auto& id : {a.id, b.id}) {
        ASSERT_EQ(id.size(), 26u);
        EXPECT_TRUE(std::all_of(id.begin(), id.end(), [](char ch) {
            return std::isdigit(static_cast<unsigned char>(ch)) || (ch >= 'a' && ch <= 'z');
        })) << id;
        EXPECT_EQ(id[0], '0');
        EXPECT_EQ(protocol::shard_of(id), 0);
    }
}

TEST_F(ProtocolTest, ShardIndexIsEncodedInTheClientId) {
    protocol other(cfg, clock, 11);
    std::vector<json::message> msgs;
    ASSERT_EQ(parser.parse(R"({"channel":"/meta/handshake","version":"1.0"})", msgs),
              json::parse_error::none);
    outcome out;
    other.handle(msgs, request_context{}, out);
    ASSERT_EQ(out.created.size(), 26u);
    EXPECT_EQ(out.created[0], 'b');
    EXPECT_EQ(protocol::shard_of(out.created), 11);
    EXPECT_EQ(protocol::shard_of("short"), -1);
    EXPECT_EQ(protocol::shard_of(""), -1);
    EXPECT_EQ(protocol::shard_of(std::string(26, '!')), -1);
}

TEST_F(ProtocolTest, HandshakeEchoesNumericIdWithItsType) {
    auto r = send(http(), R"({"id":7,"channel":"/meta/handshake","version":"1.0"})");
    json_probe p(r.body());
    EXPECT_EQ(field(p[0], "id"), "7");
}

TEST_F(ProtocolTest, HandshakeAdviceReflectsSettings) {
    cfg.timeout_ms = 20000;
    cfg.interval_ms = 500;
    cfg.max_interval_ms = 15000;
    auto c = http();
    json_probe p(handshake(c).body());
    EXPECT_EQ(field(p[0], "advice"),
              R"({"reconnect":"retry","interval":500,"timeout":20000,"maxInterval":15000})");
}

TEST_F(ProtocolTest, HandshakeWithoutCommonConnectionTypeIs301WithNoneAdvice) {
    auto r = send(http(), R"([{"id":"1","channel":"/meta/handshake","version":"1.0",
                               "supportedConnectionTypes":["flash","iframe"]}])");
    json_probe p(r.body());
    ASSERT_EQ(p.size(), 1u);
    auto m = p[0];
    EXPECT_EQ(field(m, "successful"), "false");
    EXPECT_EQ(field(m, "error"), R"("301:flash,iframe:Connection types not supported")");
    EXPECT_EQ(field(m, "advice"), R"({"reconnect":"none"})");
    EXPECT_EQ(field(m, "supportedConnectionTypes"),
              R"(["websocket","long-polling","callback-polling"])");
    EXPECT_FALSE(has(m, "clientId"));
    EXPECT_TRUE(r.out.created.empty());
    EXPECT_EQ(proto().session_count(), 0u);
}

TEST_F(ProtocolTest, HandshakeNeedsOnlyOneKnownConnectionType) {
    auto r = send(http(), R"([{"id":"1","channel":"/meta/handshake","version":"1.0",
                               "supportedConnectionTypes":["flash","callback-polling"]}])");
    json_probe p(r.body());
    EXPECT_EQ(field(p[0], "successful"), "true");
}

TEST_F(ProtocolTest, FirstConnectReplyCarriesIdAndFullAdvice) {
    auto c = http();
    handshake(c);
    auto r = connect(c);
    EXPECT_FALSE(r.out.held);
    json_probe p(r.body());
    ASSERT_EQ(p.size(), 1u);
    auto m = p[0];
    EXPECT_EQ(field(m, "id"), r.id);
    EXPECT_EQ(field(m, "channel"), R"("/meta/connect")");
    EXPECT_EQ(field(m, "successful"), "true");
    EXPECT_EQ(field(m, "advice"), default_advice);
    EXPECT_FALSE(has(m, "data"));
    EXPECT_FALSE(has(m, "ext"));
}

TEST_F(ProtocolTest, ConnectWithUnknownClientIs402WithHandshakeAdvice) {
    auto r = send(http(),
                  R"([{"id":"8","channel":"/meta/connect","clientId":"0nosuchclient000000000000a",
                               "connectionType":"long-polling"}])");
    json_probe p(r.body());
    ASSERT_EQ(p.size(), 1u);
    auto m = p[0];
    EXPECT_EQ(field(m, "id"), R"("8")");
    EXPECT_EQ(field(m, "channel"), R"("/meta/connect")");
    EXPECT_EQ(field(m, "successful"), "false");
    EXPECT_EQ(field(m, "error"), R"("402::session_unknown")");
    EXPECT_EQ(field(m, "advice"), R"({"reconnect":"handshake","interval":0})");
    EXPECT_FALSE(r.out.held);
}

TEST_F(ProtocolTest, ConnectWithoutClientIdIs402) {
    auto r =
        send(http(), R"([{"id":"8","channel":"/meta/connect","connectionType":"long-polling"}])");
    json_probe p(r.body());
    EXPECT_EQ(field(p[0], "error"), R"("402::session_unknown")");
    EXPECT_EQ(field(p[0], "advice"), R"({"reconnect":"handshake","interval":0})");
}

TEST_F(ProtocolTest, SubscribeEchoesStringSubscription) {
    auto c = http();
    handshake(c);  // subscribing before the first connect is allowed
    json_probe p(subscribe(c, R"("/a/*")").body());
    ASSERT_EQ(p.size(), 1u);
    auto m = p[0];
    EXPECT_EQ(field(m, "id"), R"("s")");
    EXPECT_EQ(field(m, "channel"), R"("/meta/subscribe")");
    EXPECT_EQ(field(m, "successful"), "true");
    EXPECT_EQ(field(m, "subscription"), R"("/a/*")");
    EXPECT_FALSE(has(m, "error"));
    EXPECT_FALSE(has(m, "advice"));
}

TEST_F(ProtocolTest, SubscribeEchoesArraySubscription) {
    auto c = http();
    handshake(c);
    json_probe p(subscribe(c, R"(["/a","/b/**"])").body());
    EXPECT_EQ(field(p[0], "successful"), "true");
    EXPECT_EQ(field(p[0], "subscription"), R"(["/a","/b/**"])");
}

TEST_F(ProtocolTest, SubscribeWithoutSubscriptionIs403Missing) {
    auto c = http();
    handshake(c);
    json_probe p(send(c, R"([{"id":"s","channel":"/meta/subscribe","clientId":"$C"}])").body());
    EXPECT_EQ(field(p[0], "successful"), "false");
    EXPECT_EQ(field(p[0], "error"), R"("403::subscription_missing")");
    EXPECT_EQ(field(p[0], "id"), R"("s")");
}

TEST_F(ProtocolTest, SubscribeWithMalformedSubscriptionIs403Invalid) {
    auto c = http();
    handshake(c);
    for (auto bad : {"42", "[]", R"(["/a",1])", "{}"}) {
        json_probe p(subscribe(c, bad).body());
        EXPECT_EQ(field(p[0], "successful"), "false") << bad;
        EXPECT_EQ(field(p[0], "error"), R"("403::subscription_invalid")") << bad;
    }
}

TEST_F(ProtocolTest, SubscribeToInvalidChannelNameIs405) {
    auto c = http();
    handshake(c);
    for (auto bad : {R"("foo")", R"("/a/*/b")", R"("/a//b")", R"("/a/")", R"(["/ok","/a/**/b"])"}) {
        json_probe p(subscribe(c, bad).body());
        EXPECT_EQ(field(p[0], "successful"), "false") << bad;
        EXPECT_EQ(field(p[0], "error"), R"("405::channel_invalid")") << bad;
        EXPECT_EQ(field(p[0], "subscription"), bad);
    }
}

TEST_F(ProtocolTest, SubscribeToMetaChannelIs403) {
    auto c = http();
    handshake(c);
    for (auto meta :
         {R"("/meta/connect")", R"("/meta/foo")", R"("/meta/**")", R"(["/a","/meta/*"])"}) {
        json_probe p(subscribe(c, meta).body());
        EXPECT_EQ(field(p[0], "successful"), "false") << meta;
        EXPECT_EQ(field(p[0], "error"), R"("403:denied_by_security_policy:subscribe_denied")")
            << meta;
    }
}

TEST_F(ProtocolTest, SubscribeToServiceChannelSucceeds) {
    auto c = http();
    handshake(c);
    json_probe p(subscribe(c, R"("/service/echo")").body());
    EXPECT_EQ(field(p[0], "successful"), "true");
    EXPECT_EQ(field(p[0], "subscription"), R"("/service/echo")");
}

TEST_F(ProtocolTest, SubscribeTwiceSucceedsBothTimes) {
    auto c = http();
    handshake(c);
    for (int i = 0; i < 2; ++i) {
        json_probe p(subscribe(c, R"("/a")").body());
        EXPECT_EQ(field(p[0], "successful"), "true");
    }
}

TEST_F(ProtocolTest, SubscribeWithUnknownSessionIs402WithoutAdvice) {
    auto c = http();
    c.id = "0unknownunknownunknownunkn";
    json_probe p(subscribe(c, R"("/a")").body());
    EXPECT_EQ(field(p[0], "channel"), R"("/meta/subscribe")");
    EXPECT_EQ(field(p[0], "successful"), "false");
    EXPECT_EQ(field(p[0], "error"), R"("402::session_unknown")");
    EXPECT_FALSE(has(p[0], "advice"));
}

TEST_F(ProtocolTest, UnsubscribeIsIdempotent) {
    auto c = http();
    handshake(c);
    json_probe never(unsubscribe(c, R"("/never/subscribed")").body());
    EXPECT_EQ(field(never[0], "channel"), R"("/meta/unsubscribe")");
    EXPECT_EQ(field(never[0], "successful"), "true");
    EXPECT_EQ(field(never[0], "subscription"), R"("/never/subscribed")");
    subscribe(c, R"("/a")");
    for (int i = 0; i < 2; ++i) {
        json_probe p(unsubscribe(c, R"("/a")").body());
        EXPECT_EQ(field(p[0], "successful"), "true");
    }
}

TEST_F(ProtocolTest, UnsubscribeErrorsMirrorSubscribe) {
    auto c = http();
    handshake(c);
    json_probe missing(
        send(c, R"([{"id":"u","channel":"/meta/unsubscribe","clientId":"$C"}])").body());
    EXPECT_EQ(field(missing[0], "error"), R"("403::subscription_missing")");
    json_probe invalid(unsubscribe(c, R"("a/b")").body());
    EXPECT_EQ(field(invalid[0], "error"), R"("405::channel_invalid")");
    json_probe meta(unsubscribe(c, R"("/meta/connect")").body());
    EXPECT_EQ(field(meta[0], "successful"), "false");
    EXPECT_EQ(field(meta[0], "error").substr(0, 4), "\"403");
}

TEST_F(ProtocolTest, PublishAckIsIdChannelSuccessfulWithoutData) {
    auto c = http();
    handshake(c);
    auto r = send(c, R"([{"id":"9","channel":"/a/b","clientId":"$C","data":{"text":"hi"}}])");
    EXPECT_EQ(r.body(), R"([{"id":"9","channel":"/a/b","successful":true}])");
    EXPECT_EQ(proto().stats().published.load(), 1u);
}

TEST_F(ProtocolTest, PublishAckKeepsNumericId) {
    auto c = http();
    handshake(c);
    auto r = send(c, R"([{"id":9,"channel":"/a/b","clientId":"$C","data":1}])");
    EXPECT_EQ(r.body(), R"([{"id":9,"channel":"/a/b","successful":true}])");
}

TEST_F(ProtocolTest, PublishToWildcardIs405) {
    auto c = http();
    handshake(c);
    for (auto ch : {"/a/*", "/a/**", "/*", "/**"}) {
        json_probe p(publish(c, ch).body());
        EXPECT_EQ(field(p[0], "successful"), "false") << ch;
        EXPECT_EQ(field(p[0], "error"), R"("405::channel_invalid")") << ch;
        EXPECT_EQ(str(p[0], "channel"), ch);
    }
    EXPECT_EQ(pub.count, 0);
}

TEST_F(ProtocolTest, PublishToInvalidChannelIs405) {
    auto c = http();
    handshake(c);
    for (auto ch : {"/a//b", "/a/", "nochannel", "/a/*/b"}) {
        json_probe p(publish(c, ch).body());
        EXPECT_EQ(field(p[0], "error"), R"("405::channel_invalid")") << ch;
    }
}

TEST_F(ProtocolTest, PublishToMetaChannelIs403) {
    auto c = http();
    handshake(c);
    json_probe p(publish(c, "/meta/foo").body());
    EXPECT_EQ(field(p[0], "successful"), "false");
    EXPECT_EQ(field(p[0], "error"), R"("403:denied_by_security_policy:publish_denied")");
    EXPECT_EQ(pub.count, 0);
}

TEST_F(ProtocolTest, PublishWithoutDataIs402DataMissing) {
    auto c = http();
    handshake(c);
    json_probe p(send(c, R"([{"id":"9","channel":"/a/b","clientId":"$C"}])").body());
    EXPECT_EQ(field(p[0], "id"), R"("9")");
    EXPECT_EQ(field(p[0], "successful"), "false");
    EXPECT_EQ(field(p[0], "error"), R"("402:data:Missing required parameter")");
    EXPECT_EQ(pub.count, 0);
}

TEST_F(ProtocolTest, PublishWithNullDataIsAccepted) {
    auto c = http();
    handshake(c);
    json_probe p(publish(c, "/a", "null").body());
    EXPECT_EQ(field(p[0], "successful"), "true");
}

TEST_F(ProtocolTest, PublishWithUnknownSessionIs402) {
    auto ghost = http();
    ghost.id = "0unknownunknownunknownunkn";
    json_probe p(publish(ghost, "/a").body());
    EXPECT_EQ(field(p[0], "successful"), "false");
    EXPECT_EQ(field(p[0], "error"), R"("402::session_unknown")");
    EXPECT_FALSE(has(p[0], "advice"));
    json_probe none(send(http(), R"([{"id":"1","channel":"/a","data":1}])").body());
    EXPECT_EQ(field(none[0], "error"), R"("402::session_unknown")");
    EXPECT_EQ(pub.count, 0);
}

TEST_F(ProtocolTest, PublishToServiceChannelIsAcknowledged) {
    auto c = http();
    handshake(c);
    auto r = publish(c, "/service/echo");
    EXPECT_EQ(r.body(), R"([{"id":"p","channel":"/service/echo","successful":true}])");
    EXPECT_EQ(pub.count, 0);  // never handed to the engine
}

TEST_F(ProtocolTest, DisconnectRepliesSuccessAndEndsTheSession) {
    auto c = ready(http());
    json_probe p(send(c, R"([{"id":"d","channel":"/meta/disconnect","clientId":"$C"}])").body());
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(field(p[0], "id"), R"("d")");
    EXPECT_EQ(field(p[0], "channel"), R"("/meta/disconnect")");
    EXPECT_EQ(field(p[0], "successful"), "true");
    EXPECT_EQ(proto().session_count(), 0u);
    EXPECT_EQ(proto().stats().sessions.load(), 0);

    json_probe after(connect(c).body());
    EXPECT_EQ(field(after[0], "successful"), "false");
    EXPECT_EQ(field(after[0], "error"), R"("402::session_unknown")");
    EXPECT_EQ(field(after[0], "advice"), R"({"reconnect":"handshake","interval":0})");
}

TEST_F(ProtocolTest, DisconnectWithUnknownSessionIs402) {
    json_probe p(
        send(http(), R"([{"id":"d","channel":"/meta/disconnect","clientId":"nope"}])").body());
    EXPECT_EQ(field(p[0], "channel"), R"("/meta/disconnect")");
    EXPECT_EQ(field(p[0], "error"), R"("402::session_unknown")");
}

TEST_F(ProtocolTest, MessageWithoutChannelIs400ChannelMissing) {
    json_probe p(send(http(), R"([{"id":"x","data":1}])").body());
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(field(p[0], "id"), R"("x")");
    EXPECT_EQ(field(p[0], "channel"), R"("/meta/unsuccessful")");
    EXPECT_EQ(field(p[0], "successful"), "false");
    EXPECT_EQ(field(p[0], "error"), R"("400::channel_missing")");
}

TEST_F(ProtocolTest, NonStringChannelIs405ChannelInvalid) {
    json_probe p(send(http(), R"([{"id":"x","channel":["/a"]}])").body());
    EXPECT_EQ(field(p[0], "channel"), R"("/meta/unsuccessful")");
    EXPECT_EQ(field(p[0], "error"), R"("405::channel_invalid")");
}

TEST_F(ProtocolTest, ErrorBodyIsOneUnsuccessfulMessage) {
    json_probe p(protocol::error_body("400::invalid_json"));
    ASSERT_TRUE(p.ok()) << p.text();
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(field(p[0], "channel"), R"("/meta/unsuccessful")");
    EXPECT_EQ(field(p[0], "successful"), "false");
    EXPECT_EQ(field(p[0], "error"), R"("400::invalid_json")");
    json_probe escaped(protocol::error_body("a\"b"));
    EXPECT_EQ(str(escaped[0], "error"), "a\"b");
}

TEST_F(ProtocolTest, RepliesFollowTheOrderOfTheBatch) {
    auto c = http();
    handshake(c);
    auto r = send(c, R"([{"id":"1","channel":"/meta/subscribe","clientId":"$C","subscription":"/a"},
                         {"id":"2","channel":"/b","clientId":"$C","data":1},
                         {"id":"3","channel":"/meta/unsubscribe","clientId":"$C","subscription":"/a"},
                         {"channel":"/c","clientId":"$C","data":2}])");
    json_probe p(r.body());
    ASSERT_EQ(p.size(), 4u) << p.text();
    EXPECT_EQ(field(p[0], "id"), R"("1")");
    EXPECT_EQ(field(p[1], "id"), R"("2")");
    EXPECT_EQ(field(p[2], "id"), R"("3")");
    EXPECT_FALSE(has(p[3], "id"));  // a message without id gets a reply without id
    EXPECT_EQ(field(p[3], "channel"), R"("/c")");
    EXPECT_EQ(field(p[3], "successful"), "true");
}

TEST_F(ProtocolTest, TooManyMessagesInABatchRefusesEveryMessage) {
    cfg.max_messages_per_batch = 2;
    auto r = send(http(), R"([{"id":"1","channel":"/meta/handshake","version":"1.0"},
                              {"id":"2","channel":"/a","data":1},
                              {"id":3}])");
    json_probe p(r.body());
    ASSERT_EQ(p.size(), 3u) << p.text();
    EXPECT_EQ(field(p[0], "id"), R"("1")");
    EXPECT_EQ(field(p[0], "channel"), R"("/meta/handshake")");
    EXPECT_EQ(field(p[1], "channel"), R"("/a")");
    EXPECT_EQ(field(p[2], "id"), "3");
    EXPECT_EQ(field(p[2], "channel"), R"("/meta/unsuccessful")");
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(field(p[i], "successful"), "false");
        EXPECT_EQ(field(p[i], "error"), R"("400::too_many_messages")");
    }
    EXPECT_TRUE(r.out.created.empty());
    EXPECT_EQ(proto().session_count(), 0u);
    EXPECT_EQ(proto().stats().refused.load(), 3u);
}

TEST_F(ProtocolTest, BatchAtTheLimitIsProcessed) {
    cfg.max_messages_per_batch = 2;
    auto c = http();
    handshake(c);
    json_probe p(send(c, R"([{"id":"1","channel":"/a","clientId":"$C","data":1},
                             {"id":"2","channel":"/a","clientId":"$C","data":2}])")
                     .body());
    ASSERT_EQ(p.size(), 2u);
    EXPECT_EQ(field(p[0], "successful"), "true");
    EXPECT_EQ(field(p[1], "successful"), "true");
}

TEST_F(ProtocolTest, DifferentBrowserCookieDoesNotContinueTheSession) {
    auto c = http("browser-1");
    handshake(c);
    auto thief = c;
    thief.browser = "browser-2";
    json_probe p(connect(thief).body());
    EXPECT_EQ(field(p[0], "error"), R"("402::session_unknown")");
    json_probe ok(connect(c).body());
    EXPECT_EQ(field(ok[0], "successful"), "true");
}

TEST_F(ProtocolTest, MissingCookieIsAcceptedUnlessRequired) {
    auto c = http("browser-1");
    handshake(c);
    auto cookieless = c;
    cookieless.browser.clear();
    json_probe p(connect(cookieless).body());
    EXPECT_EQ(field(p[0], "successful"), "true");
}

TEST_F(ProtocolTest, MissingCookieIsRefusedWhenRequired) {
    cfg.require_browser_cookie = true;
    auto c = http("browser-1");
    handshake(c);
    auto cookieless = c;
    cookieless.browser.clear();
    json_probe p(connect(cookieless).body());
    EXPECT_EQ(field(p[0], "error"), R"("402::session_unknown")");
}

TEST_F(ProtocolTest, SessionCreatedOverHttpContinuesOverWebSocket) {
    auto c = http("browser-1");
    handshake(c);
    auto ws = websocket();
    ws.id = c.id;
    json_probe p(connect(ws).body());
    EXPECT_EQ(field(p[0], "successful"), "true");
}

}  // namespace
}  // namespace encke::bayeux::test
