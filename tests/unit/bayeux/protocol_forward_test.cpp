// Publishes that a bridge route takes: they go to the forwarder instead of the fan-out, and the
// publisher's reply waits for the broker — in place in the HTTP response, or as its own
// WebSocket frame.
#include "protocol_fixture.hpp"

namespace encke::bayeux::test {
namespace {

// A forwarder that takes channels under /orders/ and keeps the completions for the test to call.
class fake_forwarder final : public forwarder {
  public:
    bool forward(std::string_view channel, std::string_view data,
                 std::function<void(std::string_view)> done) override {
        if (!channel.starts_with("/orders/")) return false;
        sent.push_back(std::string(channel) + " " + std::string(data));
        pending.push_back(std::move(done));
        return true;
    }
    std::vector<std::string> sent;
    std::vector<std::function<void(std::string_view)>> pending;
};

class ForwardTest : public ProtocolTest {
  protected:
    void SetUp() override { proto().set_forwarder(&fwd); }
    fake_forwarder fwd;
};

TEST_F(ForwardTest, HttpResponseWaitsForTheBrokerAndKeepsReplyOrder) {
    auto c = ready(http());
    auto r = send(c, R"([{"id":"a","channel":"/orders/eu","clientId":"$C","data":{"q":1}},)"
                     R"({"id":"b","channel":"/meta/subscribe","clientId":"$C","subscription":"/x"},)"
                     R"({"id":"c","channel":"/orders/us","clientId":"$C","data":2}])");
    EXPECT_TRUE(r.out.held) << "the response waits";
    EXPECT_TRUE(r.out.parts.empty());
    ASSERT_EQ(fwd.sent.size(), 2u);
    EXPECT_EQ(fwd.sent[0], R"(/orders/eu {"q":1})");
    fwd.pending[1]("503::broker_unavailable");
    EXPECT_TRUE(r.conn->sent.empty()) << "one reply is still missing";
    fwd.pending[0]("");
    ASSERT_EQ(r.conn->sent.size(), 1u);
    json_probe j(r.conn->sent[0]);
    ASSERT_EQ(j.size(), 3u) << j.text();
    EXPECT_EQ(str(j[0], "id"), "a");
    EXPECT_EQ(field(j[0], "successful"), "true");
    EXPECT_EQ(str(j[1], "id"), "b");
    EXPECT_EQ(str(j[2], "id"), "c");
    EXPECT_EQ(field(j[2], "successful"), "false");
    EXPECT_EQ(str(j[2], "error"), "503::broker_unavailable");
}

TEST_F(ForwardTest, WebSocketReplyIsItsOwnFrameWhenTheBrokerConfirms) {
    auto c = ready(websocket());
    auto r = publish(c, "/orders/eu", R"({"q":1})");
    EXPECT_FALSE(r.out.held);
    EXPECT_TRUE(r.out.parts.empty());
    ASSERT_EQ(fwd.pending.size(), 1u);
    EXPECT_TRUE(c.socket->sent.empty());
    fwd.pending[0]("");
    ASSERT_EQ(c.socket->sent.size(), 1u);
    json_probe j(c.socket->sent[0]);
    EXPECT_EQ(str(j[0], "id"), "p");
    EXPECT_EQ(str(j[0], "channel"), "/orders/eu");
    EXPECT_EQ(field(j[0], "successful"), "true");
}

TEST_F(ForwardTest, ForwardedPublishesAreNotFannedOutLocally) {
    auto sub = ready_subscriber(R"("/orders/**")", websocket());
    auto c = ready(websocket());
    publish(c, "/orders/eu");
    fwd.pending[0]("");
    EXPECT_EQ(pub.count, 0) << "the broker is the source of truth; inbound routes bring it back";
    for (auto& s : sub.socket->sent) EXPECT_EQ(s.find("\"data\""), std::string::npos) << s;
}

TEST_F(ForwardTest, ChannelsNoRouteTakesFanOutAsBefore) {
    auto c = ready(http());
    auto r = publish(c, "/chat/room");
    EXPECT_FALSE(r.out.held);
    EXPECT_EQ(pub.count, 1);
    EXPECT_TRUE(fwd.sent.empty());
    json_probe j(r.body());
    EXPECT_EQ(field(j[0], "successful"), "true");
}

TEST_F(ForwardTest, AConnectionThatIsGoneGetsNothing) {
    auto c = ready(websocket());
    publish(c, "/orders/eu");
    c.socket->is_open = false;
    fwd.pending[0]("");
    EXPECT_TRUE(c.socket->sent.empty());
    auto h = ready(http());
    auto r = publish(h, "/orders/eu");
    r.conn->is_open = false;
    fwd.pending[1]("");
    EXPECT_TRUE(r.conn->sent.empty());
}

TEST_F(ForwardTest, InvalidPublishesAreRefusedBeforeForwarding) {
    auto c = ready(http());
    auto r = send(c, R"([{"id":"p","channel":"/orders/eu","clientId":"$C"}])");
    EXPECT_FALSE(r.out.held);
    EXPECT_TRUE(fwd.sent.empty());
    json_probe j(r.body());
    EXPECT_EQ(str(j[0], "error"), "402:data:Missing required parameter");
}

}  // namespace
}  // namespace encke::bayeux::test
