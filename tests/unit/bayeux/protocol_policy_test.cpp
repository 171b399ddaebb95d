// The protocol asking a policy (bayeux/policy.hpp): handshakes decided at once or later, refused
// subscriptions and publishes, replaced data, service calls answered at once or later, wildcard
// deliveries filtered, the server-written identity in ext, and private deliveries.
#include "protocol_fixture.hpp"

namespace encke::bayeux::test {
namespace {

// A policy the tests steer: handshakes decide by the ext text, or wait when `hold` is set.
class fake_policy final : public policy {
  public:
    void handshake(const handshake_request& r, std::function<void(handshake_result)> done) override {
        last_ext = std::string(r.ext);
        if (hold) {
            held.push_back(std::move(done));
            return;
        }
        if (r.ext.find("\"bad\"") != std::string_view::npos) return done({"403::bad_credentials", {}});
        auto at = r.ext.find("\"as\":\"");
        std::string user;
        if (at != std::string_view::npos) {
            auto from = at + 6;
            user = std::string(r.ext.substr(from, r.ext.find('"', from) - from));
        }
        done({{}, user});
    }
    std::string subscribe(const session_info& s, std::string_view sub) override {
        // Like a rule on /private/{user}: a wildcard is judged as written, so "/private/*" passes.
        if (sub.starts_with("/private/") && !sub.ends_with("*") && sub.substr(9) != s.user)
            return "403::subscribe_denied";
        return {};
    }
    bool filters_wildcards() const noexcept override { return true; }
    bool wildcard_checks_call_application() const noexcept override { return false; }
    receive_verdict may_receive(const session_info& s, std::string_view channel) override {
        ++may_receive_calls;
        return !channel.starts_with("/private/") || channel.substr(9) == s.user ? receive_verdict::allow
                                                                                 : receive_verdict::deny;
    }
    std::string publish(const session_info&, std::string_view channel, std::string_view data,
                        std::string& replacement) override {
        if (channel == "/refused") return "403::nope";
        if (data == R"("replace me")") replacement = R"({"replaced":true})";
        return {};
    }
    bool service(const session_info& s, std::string_view channel, std::string_view data,
                 std::function<void(std::string_view, std::string_view)> done) override {
        if (channel == "/service/now") {
            done({}, "{\"user\":\"" + std::string(s.user) + "\",\"echo\":" + std::string(data) + "}");
            return true;
        }
        if (channel == "/service/later") {
            later.push_back(std::move(done));
            return true;
        }
        return false;
    }
    void session_added(const session_info& s) override { events.push_back("+" + std::string(s.user)); }
    void session_removed(const session_info& s) override { events.push_back("-" + std::string(s.user)); }
    void subscribed(const session_info&, std::string_view sub) override { events.push_back("s" + std::string(sub)); }
    void unsubscribed(const session_info&, std::string_view sub) override { events.push_back("u" + std::string(sub)); }

    bool hold = false;
    std::vector<std::function<void(handshake_result)>> held;
    std::vector<std::function<void(std::string_view, std::string_view)>> later;
    std::vector<std::string> events;
    std::string last_ext;
    int may_receive_calls = 0;
};

class PolicyTest : public ProtocolTest {
  protected:
    void SetUp() override { proto().set_policy(&pol); }

    client as(std::string user, client c = http()) {
        return ready(std::move(c), R"({"as":")" + user + R"("})");
    }
    // Deliveries a client's next connect returns (its first connect is done).
    std::vector<std::string> deliveries(const client& c) {
        std::vector<std::string> out;
        auto r = connect(c, R"(,"advice":{"timeout":0})");
        json_probe j(r.body());
        for (std::size_t i = 0; i < j.size(); ++i)
            if (str(j[i], "channel") != "/meta/connect") out.push_back(simdjson::minify(j[i]));
        return out;
    }
    fake_policy pol;
};

TEST_F(PolicyTest, RefusedHandshakeHasTheReasonAndAdviceNone) {
    auto c = http();
    auto r = send(c, R"([{"id":"1","channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"],"ext":{"bad":1}}])");
    json_probe j(r.body());
    EXPECT_EQ(field(j[0], "successful"), "false");
    EXPECT_EQ(str(j[0], "error"), "403::bad_credentials");
    EXPECT_EQ(at(j[0], "/advice/reconnect"), "\"none\"");
    EXPECT_FALSE(has(j[0], "clientId"));
    EXPECT_TRUE(r.out.created.empty());
    EXPECT_EQ(proto().session_count(), 0u);
    EXPECT_EQ(proto().stats().handshakes_refused.load(), 1u);
}

TEST_F(PolicyTest, HandshakeDecidedLaterHoldsTheHttpResponse) {
    pol.hold = true;
    auto c = http();
    auto r = send(c, R"([{"id":"1","channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"],"ext":{"k":"v"}}])");
    EXPECT_TRUE(r.out.held);
    EXPECT_TRUE(r.out.parts.empty());
    EXPECT_EQ(pol.last_ext, R"({"k":"v"})");
    ASSERT_EQ(pol.held.size(), 1u);
    EXPECT_TRUE(r.conn->sent.empty());
    pol.held[0]({{}, "alice"});
    ASSERT_EQ(r.conn->sent.size(), 1u);
    json_probe j(r.conn->sent[0]);
    EXPECT_EQ(field(j[0], "successful"), "true");
    EXPECT_EQ(str(j[0], "id"), "1");
    EXPECT_EQ(proto().session_count(), 1u);
    ASSERT_EQ(pol.events.size(), 1u);
    EXPECT_EQ(pol.events[0], "+alice");
}

TEST_F(PolicyTest, HandshakeRefusedLaterOnAWebSocketIsItsOwnFrame) {
    pol.hold = true;
    auto c = websocket();
    auto r = send(c, R"([{"id":"1","channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["websocket"]}])");
    EXPECT_FALSE(r.out.held);
    EXPECT_TRUE(r.out.parts.empty());
    pol.held[0]({"503::auth_unavailable", {}});
    ASSERT_EQ(c.socket->sent.size(), 1u);
    json_probe j(c.socket->sent[0]);
    EXPECT_EQ(str(j[0], "error"), "503::auth_unavailable");
    EXPECT_EQ(at(j[0], "/advice/reconnect"), "\"handshake\"") << "an unavailable authenticator is retried";
    EXPECT_EQ(proto().session_count(), 0u);
}

TEST_F(PolicyTest, LateAnswerToAConnectionThatIsGoneSendsNothing) {
    pol.hold = true;
    auto c = http();
    auto r = send(c, R"([{"id":"1","channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}])");
    r.conn->is_open = false;
    pol.held[0]({{}, "alice"});
    EXPECT_TRUE(r.conn->sent.empty());
}

TEST_F(PolicyTest, SubscribeRefusalAndLifeEvents) {
    auto c = as("alice");
    json_probe bad(subscribe(c, R"("/private/bob")").body());
    EXPECT_EQ(str(bad[0], "error"), "403::subscribe_denied");
    json_probe ok(subscribe(c, R"(["/private/alice","/news"])").body());
    EXPECT_EQ(field(ok[0], "successful"), "true");
    unsubscribe(c, R"("/news")");
    send(c, R"([{"id":"d","channel":"/meta/disconnect","clientId":"$C"}])");
    std::vector<std::string> want{"+alice", "s/private/alice", "s/news", "u/news", "u/private/alice", "-alice"};
    EXPECT_EQ(pol.events, want);
}

TEST_F(PolicyTest, WildcardsNeverReachWhatTheSessionCouldNotSubscribeTo) {
    auto alice = as("alice");
    auto bob = as("bob");
    subscribe(alice, R"("/**")");
    subscribe(bob, R"(["/private/*","/private/bob"])");
    auto pub = as("carol");
    publish(pub, "/private/alice", R"({"n":1})");
    publish(pub, "/private/bob", R"({"n":2})");
    auto a = deliveries(alice);
    ASSERT_EQ(a.size(), 1u) << pol.may_receive_calls;
    EXPECT_NE(a[0].find(R"("channel":"/private/alice")"), std::string::npos) << a[0];
    auto b = deliveries(bob);
    ASSERT_EQ(b.size(), 1u) << "the exact subscription delivers once, the wildcard adds nothing";
    EXPECT_NE(b[0].find(R"("channel":"/private/bob")"), std::string::npos) << b[0];
}

TEST_F(PolicyTest, IdentityIsTheServersAndReplacesWhatTheClientClaims) {
    auto alice = as("alice");
    subscribe(alice, R"("/room")");
    auto bob = as("bob");
    auto anon = ready(http(), R"({})");
    send(bob, R"([{"channel":"/room","clientId":"$C","data":1,"ext":{"user":"alice","x":[1]}}])");
    send(bob, R"([{"channel":"/room","clientId":"$C","data":2,"ext":{"\u0075ser":"alice"}}])");
    send(anon, R"([{"channel":"/room","clientId":"$C","data":3,"ext":{"user":"alice"}}])");
    send(anon, R"([{"channel":"/room","clientId":"$C","data":4,"ext":{"keep":true}}])");
    auto r = connect(alice, R"(,"advice":{"timeout":0})");
    json_probe j(r.body());
    ASSERT_EQ(j.size(), 5u) << j.text();
    EXPECT_EQ(at(j[0], "/ext/user"), "\"bob\"");
    EXPECT_EQ(at(j[0], "/ext/x"), "[1]");
    EXPECT_EQ(at(j[1], "/ext/user"), "\"bob\"") << "an escaped key is the same key";
    EXPECT_EQ(j.text().find("alice"), std::string::npos) << "nobody is delivered as alice: " << j.text();
    EXPECT_EQ(at(j[3], "/ext/keep"), "true");
}

TEST_F(PolicyTest, PublishRefusedOrReplaced) {
    auto alice = as("alice");
    subscribe(alice, R"(["/refused","/open"])");
    json_probe no(publish(alice, "/refused").body());
    EXPECT_EQ(str(no[0], "error"), "403::nope");
    publish(alice, "/open", R"("replace me")");
    auto d = deliveries(alice);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_NE(d[0].find(R"("data":{"replaced":true})"), std::string::npos) << d[0];
    EXPECT_EQ(d[0].find("/refused"), std::string::npos);
}

TEST_F(PolicyTest, ServiceAnsweredAtOnceCarriesTheAnswerAsData) {
    auto alice = as("alice");
    json_probe j(send(alice, R"([{"id":"7","channel":"/service/now","clientId":"$C","data":{"q":1}}])").body());
    EXPECT_EQ(str(j[0], "id"), "7");
    EXPECT_EQ(field(j[0], "successful"), "true");
    EXPECT_EQ(at(j[0], "/data/user"), "\"alice\"");
    EXPECT_EQ(at(j[0], "/data/echo/q"), "1");
    json_probe plain(send(alice, R"([{"id":"8","channel":"/service/nobody","clientId":"$C","data":1}])").body());
    EXPECT_EQ(field(plain[0], "successful"), "true");
    EXPECT_FALSE(has(plain[0], "data")) << "nothing handles it: a plain acknowledgement";
}

TEST_F(PolicyTest, ServiceAnsweredLaterOverHttpAndWebSocket) {
    auto h = as("alice");
    auto r = send(h, R"([{"id":"9","channel":"/service/later","clientId":"$C","data":1}])");
    EXPECT_TRUE(r.out.held);
    auto w = as("bob", websocket());
    auto rw = send(w, R"([{"id":"10","channel":"/service/later","clientId":"$C","data":2}])");
    EXPECT_TRUE(rw.out.parts.empty());
    ASSERT_EQ(pol.later.size(), 2u);
    pol.later[1]("", R"({"ok":2})");
    pol.later[0]("403::not_now", "");
    ASSERT_EQ(r.conn->sent.size(), 1u);
    json_probe j(r.conn->sent[0]);
    EXPECT_EQ(str(j[0], "error"), "403::not_now");
    ASSERT_FALSE(w.socket->sent.empty());
    json_probe jw(w.socket->sent.back());
    EXPECT_EQ(str(jw[0], "id"), "10");
    EXPECT_EQ(at(jw[0], "/data/ok"), "2");
}

TEST_F(PolicyTest, DeliverToOneSessionWhateverItSubscribes) {
    auto alice = as("alice");
    auto bob = as("bob");
    EXPECT_TRUE(proto().deliver_to(alice.id, make_frame(R"({"channel":"/private/alice","data":"psst"})")));
    EXPECT_FALSE(proto().deliver_to("0nosuchsession000000000000", make_frame(R"({"channel":"/x","data":1})")));
    auto a = deliveries(alice);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_NE(a[0].find("psst"), std::string::npos);
    EXPECT_TRUE(deliveries(bob).empty());
    EXPECT_EQ(proto().stats().private_delivered.load(), 1u);
}

}  // namespace
}  // namespace encke::bayeux::test
