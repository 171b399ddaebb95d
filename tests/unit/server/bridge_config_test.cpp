// [[bridge]] configuration: a working bridge parses into connector options and routes; every
// mistake is refused at start-up with one line naming the bridge, the route and the problem.
#include <gtest/gtest.h>

#include <cstdlib>

#include "server/config.hpp"

namespace encke::node {
namespace {

std::string error_of(const std::string& text) {
    try {
        parse_config(text, "test.toml");
    } catch (const config_error& e) {
        return e.what();
    }
    return {};
}

const std::string good = R"(
[[bridge]]
name = "activemq"
url  = "stomp://127.0.0.1:61613"
login = "encke"
passcode = "secret"
client_id = "encke-1"
heartbeat_ms = 5000
prefetch = 50
ack = "client-individual"

[[bridge.route]]
from = "/topic/prices.>"
to   = "/prices"
headers = ["message-id"]
durable = true
non_json = "refuse"
max_bytes = 1000

[[bridge.route]]
from = "/orders/**"
to   = "/queue/orders"
persistent = false

[[bridge]]
name = "rabbit"
url  = "amqp://[::1]"

[[bridge.route]]
from = "prices"
to   = "/amqp/prices"
direction = "in"
)";

TEST(BridgeConfig, ParsesBridgesAndRoutes) {
    auto c = parse_config(good, "test.toml");
    ASSERT_EQ(c.bridges.size(), 2u);
    auto& b = c.bridges[0];
    EXPECT_EQ(b.name, "activemq");
    EXPECT_EQ(b.connector.scheme, "stomp");
    EXPECT_EQ(b.connector.host, "127.0.0.1");
    EXPECT_EQ(b.connector.port, 61613);
    EXPECT_EQ(b.connector.login, "encke");
    EXPECT_EQ(b.connector.heartbeat.count(), 5000);
    EXPECT_EQ(b.connector.prefetch, 50u);
    EXPECT_EQ(b.connector.ack_mode, "client-individual");
    ASSERT_EQ(b.routes.size(), 2u);
    EXPECT_EQ(b.routes[0].dir, bridge::direction::inbound);
    EXPECT_TRUE(b.routes[0].durable);
    EXPECT_EQ(b.routes[0].subscription, "activemq:/topic/prices.>");
    EXPECT_TRUE(b.routes[0].refuse_non_json);
    EXPECT_EQ(b.routes[0].max_bytes, 1000u);
    EXPECT_EQ(b.routes[1].dir, bridge::direction::outbound);
    EXPECT_FALSE(b.routes[1].persistent);
    auto& r = c.bridges[1];
    EXPECT_EQ(r.connector.scheme, "amqp");
    EXPECT_EQ(r.connector.host, "::1");
    EXPECT_EQ(r.connector.port, 5672) << "the scheme's default port";
    EXPECT_TRUE(r.routes[0].fixed);
}

TEST(BridgeConfig, PasscodeFromTheEnvironment) {
    ::setenv("ENCKE_TEST_PASSCODE", "from-env", 1);
    auto c = parse_config("[[bridge]]\nname=\"b\"\nurl=\"stomp://h\"\npasscode_env=\"ENCKE_TEST_PASSCODE\"\n"
                          "[[bridge.route]]\nfrom=\"/topic/a\"\nto=\"/a\"\n", "t");
    EXPECT_EQ(c.bridges[0].connector.passcode, "from-env");
    EXPECT_NE(error_of("[[bridge]]\nname=\"b\"\nurl=\"stomp://h\"\npasscode_env=\"ENCKE_NO_SUCH_VAR_X\"\n"
                       "[[bridge.route]]\nfrom=\"/topic/a\"\nto=\"/a\"\n").find("ENCKE_NO_SUCH_VAR_X is not set"),
              std::string::npos);
}

struct bad_case {
    const char* text;
    const char* expect;
};

class BadBridgeConfig : public ::testing::TestWithParam<bad_case> {};

TEST_P(BadBridgeConfig, IsRefusedWithOneLine) {
    auto msg = error_of(GetParam().text);
    ASSERT_FALSE(msg.empty()) << "accepted: " << GetParam().text;
    EXPECT_NE(msg.find(GetParam().expect), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
}

#define ROUTE "[[bridge.route]]\nfrom=\"/topic/a.>\"\nto=\"/a\"\n"
INSTANTIATE_TEST_SUITE_P(
    Cases, BadBridgeConfig,
    ::testing::Values(
        bad_case{"[bridge]\nname=\"x\"\n", "[[bridge]]"},
        bad_case{"[[bridge]]\nurl=\"stomp://h\"\n" ROUTE, "name: is required"},
        bad_case{"[[bridge]]\nname=\"a b\"\nurl=\"stomp://h\"\n" ROUTE, "name"},
        bad_case{"[[bridge]]\nname=\"a\"\nurl=\"stomp://h\"\n" ROUTE "[[bridge]]\nname=\"a\"\nurl=\"stomp://h\"\n" ROUTE, "used by two bridges"},
        bad_case{"[[bridge]]\nname=\"a\"\n" ROUTE, "url: is required"},
        bad_case{"[[bridge]]\nname=\"a\"\nurl=\"http://h\"\n" ROUTE, "scheme 'http'"},
        bad_case{"[[bridge]]\nname=\"a\"\nurl=\"stomp://u:p@h\"\n" ROUTE, "credentials"},
        bad_case{"[[bridge]]\nname=\"a\"\nurl=\"stomp://h:99999\"\n" ROUTE, "bad port"},
        bad_case{"[[bridge]]\nname=\"a\"\nurl=\"stomp://h\"\n", "has no [[bridge.route]]"},
        bad_case{"[[bridge]]\nname=\"a\"\nurl=\"stomp://h\"\nwat=1\n" ROUTE, "bridge a.wat: unknown key"},
        bad_case{"[[bridge]]\nname=\"a\"\nurl=\"stomp://h\"\nack=\"auto\"\n" ROUTE, "client-individual"},
        bad_case{"[[bridge]]\nname=\"a\"\nurl=\"stomp://h\"\nprefetch=0\n" ROUTE, "between 1 and"},
        bad_case{"[[bridge]]\nname=\"a\"\nurl=\"stomp://h\"\nheartbeat_ms=500\n" ROUTE, "at least 1000"},
        bad_case{"[[bridge]]\nname=\"a\"\nurl=\"stomp://h\"\nreconnect_min_ms=5000\nreconnect_max_ms=1000\n" ROUTE, "must not exceed"},
        bad_case{"[[bridge]]\nname=\"a\"\nurl=\"stomp://h\"\n[[bridge.route]]\nfrom=\"/a\"\nto=\"/b\"\n", "cannot tell the direction"},
        bad_case{"[[bridge]]\nname=\"a\"\nurl=\"stomp://h\"\n[[bridge.route]]\nfrom=\"/topic/a\"\n", "needs both from and to"},
        bad_case{"[[bridge]]\nname=\"a\"\nurl=\"stomp://h\"\n[[bridge.route]]\nfrom=\"/topic/a.>.b\"\nto=\"/a\"\n", "route[0]: from \"/topic/a.>.b\""},
        bad_case{"[[bridge]]\nname=\"a\"\nurl=\"stomp://h\"\n[[bridge.route]]\nfrom=\"/topic/a\"\nto=\"/a/**\"\n", "not a valid channel"},
        bad_case{"[[bridge]]\nname=\"a\"\nurl=\"stomp://h\"\n[[bridge.route]]\nfrom=\"/topic/a\"\nto=\"/a\"\ndurable=true\n", "client_id"},
        bad_case{"[[bridge]]\nname=\"a\"\nurl=\"stomp://h\"\n[[bridge.route]]\nfrom=\"/o/**\"\nto=\"/queue/o\"\nnon_json=\"refuse\"\n", "apply to routes from the broker"},
        bad_case{"[[bridge]]\nname=\"a\"\nurl=\"stomp://h\"\n[[bridge.route]]\nfrom=\"/topic/a\"\nto=\"/a\"\npersistent=true\n", "routes to the broker"},
        bad_case{"[[bridge]]\nname=\"a\"\nurl=\"stomp://h\"\n[[bridge.route]]\nfrom=\"/topic/a\"\nto=\"/a\"\nnon_json=\"drop\"\n", "\"string\" or \"refuse\""},
        bad_case{"[[bridge]]\nname=\"a\"\nurl=\"stomp://h\"\n[[bridge.route]]\nfrom=\"/topic/a\"\nto=\"/a\"\nhow=1\n", "route[0].how: unknown key"}));
#undef ROUTE

}  // namespace
}  // namespace encke::node
