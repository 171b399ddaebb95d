// Configuration: the example file documents the built-in defaults, and every bad value is a
// config_error that names the key.
#include "server/config.hpp"

#include <gtest/gtest.h>
#include <toml++/toml.h>

#include <sstream>
#include <string>

namespace encke::node {
namespace {

const std::string example_path = ENCKE_SOURCE_DIR "/encke.toml.example";

class ConfigTest : public ::testing::Test {
  protected:
    // The config_error message for `text`, or "" when it parses.
    static std::string error_of(std::string_view text) {
        try {
            parse_config(text, "test.toml");
        } catch (const config_error& e) {
            return e.what();
        }
        return {};
    }
    static void expect_error(std::string_view text, std::initializer_list<std::string_view> parts) {
        auto msg = error_of(text);
        ASSERT_FALSE(msg.empty()) << "accepted: " << text;
        for (auto part : parts)
            EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
    }
};

TEST_F(ConfigTest, ExampleFileEqualsTheBuiltInDefaults) {
    config parsed = load_config_file(example_path);
    config defaults;
    // Per part first, so a failure says where to look; then the whole, with every field.
    EXPECT_EQ(parsed.listen, defaults.listen);
    EXPECT_EQ(parsed.threads, defaults.threads);
    EXPECT_EQ(parsed.log_level, defaults.log_level);
    EXPECT_TRUE(parsed.http == defaults.http) << "a [server]/[websocket]/[cors] value differs";
    EXPECT_TRUE(parsed.bayeux == defaults.bayeux) << "a [bayeux] value differs";
    EXPECT_TRUE(parsed == defaults);
}

TEST_F(ConfigTest, EveryKeyOfTheExampleChangesTheConfig) {
    // No key in the example is dead: moving any one of them off its default changes the result.
    auto root = toml::parse_file(example_path);
    int keys = 0;
    for (auto& [section, node] : root) {
        ASSERT_TRUE(node.is_table()) << section.str();
        for (auto& [key, value] : *node.as_table()) {
            ++keys;
            toml::table copy = root;
            auto& slot = *(*copy[section.str()].as_table())[key.str()].node();
            std::string name = std::string(section.str()) + "." + std::string(key.str());
            if (auto* i = slot.as_integer())
                *i = i->get() + 1;
            else if (auto* b = slot.as_boolean())
                *b = !b->get();
            else if (auto* a = slot.as_array()) {
                a->clear();
                a->push_back("https://x.example");
            } else if (auto* s = slot.as_string()) {
                if (name == "server.listen")
                    *s = "127.0.0.1:9";
                else if (name == "log.level")
                    *s = "debug";
                else
                    *s = s->get() + "x";
            } else {
                FAIL() << name << " has an unexpected type";
            }
            std::ostringstream text;
            text << copy;
            config c;
            try {
                c = parse_config(text.str(), name);
            } catch (const config_error& e) {
                ADD_FAILURE() << name << ": " << e.what();
                continue;
            }
            EXPECT_FALSE(c == config{}) << name << " has no effect";
        }
    }
    EXPECT_GE(keys, 28);
}

TEST_F(ConfigTest, EmptyTextGivesTheDefaults) {
    EXPECT_TRUE(parse_config("", "empty.toml") == config{});
}

TEST_F(ConfigTest, ValuesOverrideDefaults) {
    auto c = parse_config(R"(
[server]
listen = "0.0.0.0:9090"
threads = 4
[bayeux]
timeout_ms = 20000
broadcast_to_publisher = false
strip_ext_keys = ["token", "password"]
[websocket]
idle_timeout_ms = 45000
[cors]
allowed_origins = ["https://app.example"]
[log]
level = "warn"
)",
                          "t.toml");
    EXPECT_EQ(c.listen, "0.0.0.0:9090");
    EXPECT_EQ(c.threads, 4u);
    EXPECT_EQ(c.bayeux.timeout_ms, 20000);
    EXPECT_FALSE(c.bayeux.broadcast_to_publisher);
    EXPECT_EQ(c.bayeux.strip_ext_keys, (std::vector<std::string>{"token", "password"}));
    EXPECT_EQ(c.http.ws_idle_timeout_ms, 45000);
    EXPECT_EQ(c.http.allowed_origins, std::vector<std::string>{"https://app.example"});
    EXPECT_EQ(c.log_level, "warn");
    EXPECT_EQ(c.bayeux.interval_ms,
              bayeux::settings{}.interval_ms);  // untouched keys keep defaults
}

TEST_F(ConfigTest, UnknownKeyIsNamed) {
    expect_error("[bayeux]\ntimeoutms = 1\n", {"test.toml", "bayeux.timeoutms", "unknown key"});
}

TEST_F(ConfigTest, UnknownSectionIsNamed) {
    expect_error("[bayuex]\ntimeout_ms = 1\n", {"test.toml", "bayuex"});
}

TEST_F(ConfigTest, TopLevelKeyIsRejected) {
    expect_error("listen = \"127.0.0.1:1\"\n", {"listen"});
}

TEST_F(ConfigTest, SectionThatIsNotATableIsRejected) {
    expect_error("bayeux = 1\n", {"bayeux"});
}

TEST_F(ConfigTest, NestedTableIsAnUnknownKey) {
    expect_error("[bayeux.extra]\na = 1\n", {"bayeux.extra"});
}

TEST_F(ConfigTest, WrongTypeIsNamed) {
    expect_error("[bayeux]\ntimeout_ms = \"30s\"\n", {"test.toml", "bayeux.timeout_ms", "integer"});
    expect_error("[bayeux]\ntimeout_ms = 1.5\n", {"bayeux.timeout_ms", "integer"});
    expect_error("[bayeux]\nbroadcast_to_publisher = 1\n",
                 {"bayeux.broadcast_to_publisher", "true or false"});
    expect_error("[server]\nlisten = 8080\n", {"server.listen", "string"});
    expect_error("[bayeux]\nstrip_ext_keys = \"token\"\n", {"bayeux.strip_ext_keys", "array"});
    expect_error("[bayeux]\nstrip_ext_keys = [1]\n", {"bayeux.strip_ext_keys", "array of strings"});
    expect_error("[cors]\nallowed_origins = [\"*\", 2]\n", {"cors.allowed_origins"});
}

TEST_F(ConfigTest, OutOfRangeIsNamedWithTheBounds) {
    expect_error("[server]\nthreads = 37\n",
                 {"test.toml", "server.threads", "between 0 and 36", "37"});
    expect_error("[bayeux]\ninterval_ms = -1\n", {"bayeux.interval_ms"});
    expect_error("[bayeux]\nmax_interval_ms = 0\n", {"bayeux.max_interval_ms"});
    expect_error("[bayeux]\nmax_json_depth = 2\n", {"bayeux.max_json_depth"});
    expect_error("[bayeux]\nmax_messages_per_batch = 0\n", {"bayeux.max_messages_per_batch"});
    expect_error("[bayeux]\nmax_queue_bytes = 10\n", {"bayeux.max_queue_bytes"});
    expect_error("[server]\nmax_body_bytes = 0\n", {"server.max_body_bytes"});
    expect_error("[websocket]\nidle_timeout_ms = 10\n", {"websocket.idle_timeout_ms"});
    expect_error("[bayeux]\nduplicate_connect_status = 399\n", {"bayeux.duplicate_connect_status"});
    expect_error("[bayeux]\nduplicate_connect_status = 600\n", {"bayeux.duplicate_connect_status"});
}

TEST_F(ConfigTest, Status408IsRefusedForSupersededConnects) {
    expect_error("[bayeux]\nduplicate_connect_status = 408\n",
                 {"bayeux.duplicate_connect_status", "408"});
    EXPECT_EQ(parse_config("[bayeux]\nduplicate_connect_status = 409\n", "t")
                  .bayeux.duplicate_connect_status,
              409);
}

TEST_F(ConfigTest, BadListenAddressIsNamed) {
    for (auto bad : {"localhost", "127.0.0.1:", ":8080", "127.0.0.1:80a", "127.0.0.1:70000",
                     "127.0.0.1:123456"})
        expect_error(std::string("[server]\nlisten = \"") + bad + "\"\n",
                     {"test.toml", "server.listen", bad});
}

TEST_F(ConfigTest, SplitListenSeparatesHostAndPort) {
    EXPECT_EQ(split_listen("127.0.0.1:8080"),
              (std::pair<std::string, unsigned short>{"127.0.0.1", 8080}));
    EXPECT_EQ(split_listen("0.0.0.0:0"), (std::pair<std::string, unsigned short>{"0.0.0.0", 0}));
    EXPECT_EQ(split_listen("[::1]:443"), (std::pair<std::string, unsigned short>{"::1", 443}));
    EXPECT_EQ(split_listen("example.org:65535").second, 65535);
    EXPECT_THROW(split_listen("example.org:65536"), config_error);
    EXPECT_THROW(split_listen("example.org"), config_error);
    EXPECT_THROW(split_listen(""), config_error);
}

TEST_F(ConfigTest, BadPathIsNamed) {
    for (auto bad : {"cometd", "/cometd/", "/", "/a?b", "/a b"})
        expect_error(std::string("[bayeux]\npath = \"") + bad + "\"\n", {"bayeux.path"});
    EXPECT_EQ(parse_config("[bayeux]\npath = \"/bayeux/v1\"\n", "t").bayeux.path, "/bayeux/v1");
}

TEST_F(ConfigTest, BadCookieNameIsNamed) {
    for (auto bad : {"", "a=b", "a;b", "a b"})
        expect_error(std::string("[bayeux]\nbrowser_cookie = \"") + bad + "\"\n",
                     {"bayeux.browser_cookie"});
}

TEST_F(ConfigTest, BadLogLevelIsNamed) {
    expect_error("[log]\nlevel = \"verbose\"\n", {"log.level"});
    for (auto ok : {"trace", "debug", "info", "warn", "error", "off"})
        EXPECT_EQ(parse_config(std::string("[log]\nlevel = \"") + ok + "\"\n", "t").log_level, ok);
}

TEST_F(ConfigTest, TomlSyntaxErrorNamesFileAndLine) {
    expect_error("[server]\n\nthreads = = 3\n", {"test.toml:3"});
}

TEST_F(ConfigTest, MissingFileIsAConfigError) {
    try {
        load_config_file("/nonexistent/encke.toml");
        FAIL() << "no error";
    } catch (const config_error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/encke.toml"), std::string::npos)
            << e.what();
    }
}

TEST_F(ConfigTest, WebSocketIdleTimeoutMustExceedTheConnectHold) {
    expect_error("[bayeux]\ntimeout_ms = 60000\n",
                 {"websocket.idle_timeout_ms", "bayeux.timeout_ms"});
    expect_error("[websocket]\nidle_timeout_ms = 30000\n", {"websocket.idle_timeout_ms"});
    auto c =
        parse_config("[bayeux]\ntimeout_ms = 60000\n[websocket]\nidle_timeout_ms = 60001\n", "t");
    EXPECT_EQ(c.bayeux.timeout_ms, 60000);
}

TEST_F(ConfigTest, ValidateChecksCrossFieldRules) {
    config c;
    EXPECT_NO_THROW(validate(c));
    c.http.ws_idle_timeout_ms = c.bayeux.timeout_ms;
    EXPECT_THROW(validate(c), config_error);
    c = config{};
    c.threads = 37;
    EXPECT_THROW(validate(c), config_error);
    c = config{};
    c.listen = "nowhere";
    EXPECT_THROW(validate(c), config_error);
}

}  // namespace
}  // namespace encke::node
