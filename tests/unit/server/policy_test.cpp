// node::app_policy behind a real protocol: the C++ hooks of include/encke/ as the protocol sees
// them (service replies at once, later, within the same batch, at shutdown, after the server is
// gone), a subscribe hook that also guards wildcard deliveries, and hooks that throw.
#include "../bayeux/protocol_fixture.hpp"
#include "engine/directory.hpp"
#include "server/policy.hpp"

namespace encke::bayeux::test {
namespace {

class AppPolicyTest : public ProtocolTest {
  protected:
    void TearDown() override { engine::engine::bind_thread(nullptr, -1); }

    // Builds the policy with `h` and binds this thread as shard 0 of a one-shard engine whose
    // posts wait in `posted` until run_posted().
    void install(node::hooks h, auth::settings a = {}) {
        eng = std::make_unique<engine::memory_engine>(std::vector<engine::shard_port>{
            {[this](std::function<void()> f) { posted.push_back(std::move(f)); }, &proto()}});
        engine::engine::bind_thread(eng.get(), 0);
        gate = std::make_shared<node::post_gate>(eng.get());
        pol = std::make_unique<node::app_policy>(a, std::move(h), dir, gate);
        proto().set_policy(pol.get());
    }
    void run_posted() {
        while (!posted.empty()) {
            auto f = std::move(posted.front());
            posted.erase(posted.begin());
            f();
        }
    }

    std::unique_ptr<engine::memory_engine> eng;
    std::shared_ptr<node::post_gate> gate;
    engine::directory dir;
    std::unique_ptr<node::app_policy> pol;
    std::vector<std::function<void()>> posted;
    std::vector<encke::responder> waiting;
};

node::hooks wait_and_release(std::vector<encke::responder>& waiting) {
    node::hooks h;
    h.services["/service/wait"] = [&waiting](encke::service_request& r) { waiting.push_back(r.defer()); };
    h.services["/service/release"] = [&waiting](encke::service_request& r) {
        for (auto& w : waiting) w.reply(R"({"released":true})");
        waiting.clear();
        r.reply(R"({"count":1})");
    };
    return h;
}

TEST_F(AppPolicyTest, DeferredReplyAnsweredLaterInTheSameBatch) {
    install(wait_and_release(waiting));
    auto c = ready(http());
    auto r = send(c, R"([{"id":"1","channel":"/service/wait","clientId":"$C","data":{}},)"
                     R"({"id":"2","channel":"/service/release","clientId":"$C","data":{}}])");
    EXPECT_TRUE(r.out.held) << "the first reply was not known when the batch ended";
    EXPECT_TRUE(r.conn->sent.empty());
    run_posted();
    ASSERT_EQ(r.conn->sent.size(), 1u);
    json_probe j(r.conn->sent[0]);
    ASSERT_EQ(j.size(), 2u) << j.text();
    EXPECT_EQ(str(j[0], "id"), "1");
    EXPECT_EQ(at(j[0], "/data/released"), "true");
    EXPECT_EQ(str(j[1], "id"), "2");
    EXPECT_EQ(at(j[1], "/data/count"), "1");
}

TEST_F(AppPolicyTest, ShutdownAnswersWhatIsStillWaiting) {
    install(wait_and_release(waiting));
    auto c = ready(http());
    auto r = send(c, R"([{"id":"1","channel":"/service/wait","clientId":"$C","data":{}}])");
    ASSERT_TRUE(r.out.held);
    proto().shutdown();
    ASSERT_EQ(r.conn->sent.size(), 1u);
    json_probe j(r.conn->sent[0]);
    EXPECT_EQ(str(j[0], "error"), "503::shutting_down");
    waiting.front().reply("1");  // too late: ignored
    run_posted();
    EXPECT_EQ(r.conn->sent.size(), 1u);
}

TEST_F(AppPolicyTest, AResponderOutlivingTheServerIsHarmless) {
    install(wait_and_release(waiting));
    auto c = ready(websocket());
    send(c, R"([{"id":"1","channel":"/service/wait","clientId":"$C","data":{}}])");
    ASSERT_EQ(waiting.size(), 1u);
    gate->close();  // what node::server does once its threads are gone
    waiting.front().reply("1");
    waiting.clear();  // the last copy: would fail the request, but there is nowhere to send it
    EXPECT_TRUE(posted.empty());
}

TEST_F(AppPolicyTest, UnansweredRequestFailsWhenTheLastResponderGoes) {
    node::hooks h;
    h.services["/service/forget"] = [](encke::service_request&) {};
    install(std::move(h));
    auto c = ready(http());
    json_probe j(send(c, R"([{"id":"1","channel":"/service/forget","clientId":"$C","data":1}])").body());
    EXPECT_EQ(str(j[0], "error"), "500::no_reply");
}

TEST_F(AppPolicyTest, SubscribeHookAlsoGuardsWildcards) {
    int asked = 0;
    node::hooks h;
    h.subscribe = [&asked](encke::subscribe_event& e) {
        ++asked;
        if (e.channel() == "/admin/secret") e.refuse("admins_only");
    };
    install(std::move(h));
    auto c = ready(http());
    json_probe no(subscribe(c, R"("/admin/secret")").body());
    EXPECT_EQ(str(no[0], "error"), "403::admins_only");
    json_probe yes(subscribe(c, R"("/admin/*")").body());
    EXPECT_EQ(field(yes[0], "successful"), "true");
    asked = 0;
    auto p = ready(http());
    for (int i = 0; i < 3; ++i) {
        publish(p, "/admin/secret", R"({"pw":"hunter2"})");
        publish(p, "/admin/open", R"({"n":1})");
    }
    auto r = connect(c, R"(,"advice":{"timeout":0})");
    EXPECT_EQ(r.body().find("hunter2"), std::string::npos) << r.body();
    json_probe d(r.body());
    EXPECT_EQ(d.size(), 4u) << "three /admin/open deliveries and the connect reply: " << d.text();
    EXPECT_EQ(asked, 2) << "asked once per channel, then remembered";
}

TEST_F(AppPolicyTest, AHookThatPublishesDuringAWildcardCheckBreaksNothing) {
    // The hook runs after the walk of the index: its own publish (inline on this shard) walks it
    // again without disturbing the first one.
    int delivery_checks = 0;
    node::hooks h;
    h.subscribe = [this, &delivery_checks](encke::subscribe_event& e) {
        if (!e.delivery_check()) return;
        ++delivery_checks;
        eng->publish("/audit/checked/with/a/long/enough/name/to/leave/small/strings",
                     make_frame(R"({"channel":"/audit","data":1})"), {});
        if (e.channel() == "/a/secret") e.refuse("no");
    };
    install(std::move(h));
    auto s1 = ready(http());
    auto s2 = ready(http());
    subscribe(s1, R"("/a/*")");
    subscribe(s2, R"("/a/*")");
    auto p = ready(http());
    publish(p, "/a/secret", R"({"pw":"hunter2"})");
    publish(p, "/a/open", R"({"n":1})");
    EXPECT_EQ(delivery_checks, 4) << "each session asked once per channel";
    for (auto* c : {&s1, &s2}) {
        auto r = connect(*c, R"(,"advice":{"timeout":0})");
        EXPECT_EQ(r.body().find("hunter2"), std::string::npos) << r.body();
        EXPECT_EQ(json_probe(r.body()).size(), 2u) << "/a/open once, and the connect reply: " << r.body();
    }
}

TEST_F(AppPolicyTest, AWildcardCheckThatThrewIsAskedAgain) {
    int calls = 0;
    node::hooks h;
    h.subscribe = [&calls](encke::subscribe_event& e) {
        if (e.delivery_check() && ++calls == 1) throw std::runtime_error("database down");
    };
    install(std::move(h));
    auto c = ready(http());
    subscribe(c, R"("/feed/*")");
    auto p = ready(http());
    publish(p, "/feed/a", R"({"n":1})");
    publish(p, "/feed/a", R"({"n":2})");
    publish(p, "/feed/a", R"({"n":3})");
    EXPECT_EQ(calls, 2) << "the failure was not remembered; the allow was";
    auto r = connect(c, R"(,"advice":{"timeout":0})");
    EXPECT_EQ(r.body().find(R"({"n":1})"), std::string::npos);
    EXPECT_NE(r.body().find(R"({"n":2})"), std::string::npos) << r.body();
    EXPECT_NE(r.body().find(R"({"n":3})"), std::string::npos) << r.body();
}

TEST_F(AppPolicyTest, ThrowingHooksRefuseAndAreCounted) {
    node::hooks h;
    h.handshake = [](encke::handshake_event& e) {
        if (e.ext_string("boom")) throw std::runtime_error("boom");
    };
    h.publish = [](encke::publish_event&) { throw 42; };
    install(std::move(h));
    auto bad = http();
    json_probe hs(send(bad, R"([{"id":"1","channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"],"ext":{"boom":"x"}}])").body());
    EXPECT_EQ(str(hs[0], "error"), "500::hook_failed");
    auto c = ready(http());
    json_probe p(publish(c, "/x").body());
    EXPECT_EQ(str(p[0], "error"), "500::hook_failed");
    EXPECT_NE(pol->health_json().find("\"hooks_failed\":2"), std::string::npos) << pol->health_json();
}

TEST_F(AppPolicyTest, RefusedEntryLeavesTheWholeSubscribeUnapplied) {
    node::hooks h;
    h.subscribe = [](encke::subscribe_event& e) {
        if (e.channel() == "/no") e.refuse("no");
    };
    install(std::move(h));
    auto c = ready(http());
    json_probe j(subscribe(c, R"(["/yes","/no"])").body());
    EXPECT_EQ(field(j[0], "successful"), "false");
    auto p = ready(http());
    publish(p, "/yes");
    auto r = connect(c, R"(,"advice":{"timeout":0})");
    EXPECT_EQ(json_probe(r.body()).size(), 1u) << "/yes was not subscribed either: " << r.body();
}

}  // namespace
}  // namespace encke::bayeux::test
