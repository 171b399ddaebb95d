// The [auth], [[channel]], [channels] and [api] settings: each key is read into the config, and
// each mistake is one config_error naming the file and the key.
#include <gtest/gtest.h>

#include <algorithm>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "server/config.hpp"

namespace encke::node {
namespace {

namespace fs = std::filesystem;

const std::string example_path = ENCKE_SOURCE_DIR "/encke.toml.example";
const std::string secret16 = "0123456789abcdef";

class AuthConfigTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("encke-auth-config-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // Writes `text` to a file in this test's directory and returns its path.
    std::string write(const std::string& name, const std::string& text) {
        auto p = dir_ / name;
        std::ofstream(p, std::ios::binary) << text;
        return p.string();
    }

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
        EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
        EXPECT_NE(msg.find("test.toml"), std::string::npos) << "file not named: " << msg;
        for (auto part : parts)
            EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
    }

    fs::path dir_;
};

TEST_F(AuthConfigTest, CommentedExampleBlocksAreTheDefaults) {
    // The example documents [auth], [channels], [[channel]] and [api] as commented blocks; with
    // their setting lines uncommented they must parse, and every value but the sample rules must be
    // the built-in default.
    std::ifstream in(example_path);
    std::string line, text;
    bool inside = false;
    // A setting line: "# [table]", "# [[table]]" or "# key = ..." (key of a-z and '_').
    // (No std::regex: GCC 12 warns inside it under -O1 with sanitizers, and warnings are errors.)
    auto setting = [](std::string_view l) {
        if (!l.starts_with("# ")) return false;
        l.remove_prefix(2);
        auto lower = [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; };
        if (l.starts_with("[")) {
            auto name = l.substr(l.starts_with("[[") ? 2 : 1);
            auto end = name.find(']');
            return end != std::string_view::npos && end > 0 &&
                   std::all_of(name.begin(), name.begin() + static_cast<std::ptrdiff_t>(end), lower);
        }
        auto eq = l.find(" = ");
        return eq != std::string_view::npos && eq > 0 &&
               std::all_of(l.begin(), l.begin() + static_cast<std::ptrdiff_t>(eq), lower);
    };
    int settings = 0;
    while (std::getline(in, line)) {
        if (line.starts_with("# [auth]")) inside = true;
        if (inside && setting(line)) {
            text += line.substr(2) + "\n";
            ++settings;
        }
    }
    ASSERT_TRUE(inside) << "no '# [auth]' block in " << example_path;
    EXPECT_GE(settings, 25);
    config c;
    try {
        c = parse_config(text, "example [auth] blocks");
    } catch (const config_error& e) {
        FAIL() << e.what() << "\n" << text;
    }
    ASSERT_EQ(c.auth.rules.size(), 2u);
    EXPECT_EQ(c.auth.rules[0],
              (auth::channel_rule{"/users/{user}/**", auth::who::owner, auth::who::authenticated}));
    EXPECT_EQ(c.auth.rules[1], (auth::channel_rule{"/admin/**", auth::who::none, auth::who::none}));
    c.auth.rules.clear();
    EXPECT_TRUE(c.auth == auth::settings{}) << "an [auth] or [channels] value differs";
    EXPECT_TRUE(c == config{});
}

TEST_F(AuthConfigTest, EveryAuthKeyIsRead) {
    auto c = parse_config(R"(
[auth]
mode = "jwt"
ext_field = "credentials"
allow_anonymous = true
secret = "0123456789abcdefXYZ"
algorithm = "HS256"
issuer = "https://issuer.example"
audience = "encke"
leeway_s = 0
webhook_url = "https://app.example/auth"
webhook_timeout_ms = 100
webhook_cache_ms = 3600000
webhook_headers = ["Cookie", "Authorization", "X-Forwarded-For"]
identity_ext_key = "user_id-2"
)",
                          "t.toml");
    EXPECT_EQ(c.auth.kind, auth::mode::jwt);
    EXPECT_EQ(c.auth.ext_field, "credentials");
    EXPECT_TRUE(c.auth.allow_anonymous);
    EXPECT_EQ(c.auth.secret, "0123456789abcdefXYZ");
    EXPECT_EQ(c.auth.algorithm, "HS256");
    EXPECT_EQ(c.auth.issuer, "https://issuer.example");
    EXPECT_EQ(c.auth.audience, "encke");
    EXPECT_EQ(c.auth.leeway_s, 0);
    EXPECT_EQ(c.auth.webhook_url, "https://app.example/auth");
    EXPECT_EQ(c.auth.webhook_timeout_ms, 100);
    EXPECT_EQ(c.auth.webhook_cache_ms, 3600000);
    EXPECT_EQ(c.auth.webhook_headers,
              (std::vector<std::string>{"Cookie", "Authorization", "X-Forwarded-For"}));
    EXPECT_EQ(c.bayeux.identity_ext_key, "user_id-2");
}

TEST_F(AuthConfigTest, EveryModeIsRead) {
    EXPECT_EQ(parse_config("[auth]\nmode = \"none\"\n", "t").auth.kind, auth::mode::none);
    EXPECT_EQ(parse_config("[auth]\nmode = \"token\"\nsecret = \"" + secret16 + "\"\n", "t").auth.kind,
              auth::mode::token);
    EXPECT_EQ(parse_config("[auth]\nmode = \"jwt\"\nsecret = \"" + secret16 + "\"\n", "t").auth.kind,
              auth::mode::jwt);
    EXPECT_EQ(parse_config("[auth]\nmode = \"webhook\"\nwebhook_url = \"http://127.0.0.1:9000/auth\"\n", "t")
                  .auth.kind,
              auth::mode::webhook);
    expect_error("[auth]\nmode = \"hmac\"\n", {"auth.mode", "none, token, jwt, webhook", "hmac"});
    expect_error("[auth]\nmode = 1\n", {"auth.mode", "string"});
}

TEST_F(AuthConfigTest, SecretFileIsReadWithTrailingWhitespaceTrimmed) {
    auto path = write("secret", "  s3cret-with-16-bytes \t\r\n\n");
    auto c = parse_config("[auth]\nmode = \"token\"\nsecret_file = \"" + path + "\"\n", "t");
    EXPECT_EQ(c.auth.secret, "  s3cret-with-16-bytes");
}

TEST_F(AuthConfigTest, SecretFileMistakesAreNamed) {
    expect_error("[auth]\nsecret_file = \"" + (dir_ / "missing").string() + "\"\n",
                 {"auth.secret_file", "missing", "no such file"});
    expect_error("[auth]\nsecret_file = \"" + dir_.string() + "\"\n", {"auth.secret_file", "not a file"});
    expect_error("[auth]\nsecret_file = \"\"\n", {"auth.secret_file", "empty"});
    expect_error("[auth]\nsecret_file = \"" + write("blank", "\n \n") + "\"\n",
                 {"auth.secret_file", "holds no secret"});
    expect_error("[auth]\nsecret_file = \"" + write("empty", "") + "\"\n",
                 {"auth.secret_file", "holds no secret"});
}

TEST_F(AuthConfigTest, SecretAndSecretFileTogetherAreRefused) {
    auto path = write("secret", secret16);
    expect_error("[auth]\nsecret = \"" + secret16 + "\"\nsecret_file = \"" + path + "\"\n",
                 {"auth.secret_file", "not both"});
    expect_error("[auth]\nsecret_file = \"" + path + "\"\nsecret = \"" + secret16 + "\"\n",
                 {"auth.secret_file", "not both"});
}

TEST_F(AuthConfigTest, TokenModeNeedsASecretOfAtLeast16Bytes) {
    expect_error("[auth]\nmode = \"token\"\n", {"auth.secret", "16 bytes", "token"});
    expect_error("[auth]\nmode = \"token\"\nsecret = \"0123456789abcde\"\n", {"auth.secret", "got 15"});
    EXPECT_EQ(parse_config("[auth]\nmode = \"token\"\nsecret = \"" + secret16 + "\"\n", "t").auth.secret,
              secret16);
}

TEST_F(AuthConfigTest, JwtHs256NeedsASecretAndRs256APublicKey) {
    expect_error("[auth]\nmode = \"jwt\"\n", {"auth.secret", "16 bytes", "HS256"});
    expect_error("[auth]\nmode = \"jwt\"\nalgorithm = \"RS256\"\n", {"auth.public_key_file", "RS256"});
    expect_error("[auth]\nalgorithm = \"ES256\"\n", {"auth.algorithm", "ES256"});
    auto pem = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n";
    auto c = parse_config("[auth]\nmode = \"jwt\"\nalgorithm = \"RS256\"\npublic_key_file = \"" +
                              write("key.pem", pem) + "\"\n",
                          "t");
    EXPECT_EQ(c.auth.algorithm, "RS256");
    EXPECT_EQ(c.auth.public_key_pem, pem);
}

TEST_F(AuthConfigTest, PublicKeyFileMistakesAreNamed) {
    expect_error("[auth]\npublic_key_file = \"" + (dir_ / "nokey.pem").string() + "\"\n",
                 {"auth.public_key_file", "nokey.pem"});
    expect_error("[auth]\npublic_key_file = \"" + write("key.txt", "not a key") + "\"\n",
                 {"auth.public_key_file", "PEM"});
}

TEST_F(AuthConfigTest, WebhookModeNeedsAnHttpUrl) {
    expect_error("[auth]\nmode = \"webhook\"\n", {"auth.webhook_url", "webhook"});
    expect_error("[auth]\nwebhook_url = \"ftp://app.example/auth\"\n", {"auth.webhook_url", "http://"});
    expect_error("[auth]\nwebhook_url = \"127.0.0.1:9000\"\n", {"auth.webhook_url"});
}

TEST_F(AuthConfigTest, OutOfRangeNumbersAreNamedWithTheBounds) {
    expect_error("[auth]\nleeway_s = 3601\n", {"auth.leeway_s", "between 0 and 3600"});
    expect_error("[auth]\nleeway_s = -1\n", {"auth.leeway_s"});
    expect_error("[auth]\nwebhook_timeout_ms = 99\n", {"auth.webhook_timeout_ms", "between 100 and 60000"});
    expect_error("[auth]\nwebhook_timeout_ms = 60001\n", {"auth.webhook_timeout_ms"});
    expect_error("[auth]\nwebhook_cache_ms = -1\n", {"auth.webhook_cache_ms", "between 0 and 3600000"});
    expect_error("[auth]\nwebhook_cache_ms = 3600001\n", {"auth.webhook_cache_ms"});
}

TEST_F(AuthConfigTest, WrongTypesAreNamed) {
    expect_error("[auth]\nallow_anonymous = \"yes\"\n", {"auth.allow_anonymous", "true or false"});
    expect_error("[auth]\nsecret = 1234\n", {"auth.secret", "string"});
    expect_error("[auth]\nleeway_s = \"30s\"\n", {"auth.leeway_s", "integer"});
    expect_error("[auth]\nwebhook_headers = \"Cookie\"\n", {"auth.webhook_headers", "array"});
    expect_error("[auth]\nissuer = []\n", {"auth.issuer", "string"});
    expect_error("auth = 1\n", {"auth"});
}

TEST_F(AuthConfigTest, UnknownKeysAreNamed) {
    expect_error("[auth]\nsecrets = \"x\"\n", {"auth.secrets", "unknown key"});
    expect_error("[channels]\ndefault = \"anyone\"\n", {"channels.default", "unknown key"});
    expect_error("[api]\nkey = \"0123456789abcdef\"\n", {"api.key", "unknown key"});
    expect_error("[[channel]]\npattern = \"/a\"\nread = \"anyone\"\n", {"channel[0].read", "unknown key"});
}

TEST_F(AuthConfigTest, WebhookHeadersMustBeHeaderNames) {
    for (auto bad : {"", "Set Cookie", "X:Y", "Cookie\\n"})
        expect_error(std::string("[auth]\nwebhook_headers = [\"Cookie\", \"") + bad + "\"]\n",
                     {"auth.webhook_headers", "not a header name"});
}

TEST_F(AuthConfigTest, ExtFieldAndIdentityExtKeyMustBeUsableNames) {
    expect_error("[auth]\next_field = \"\"\n", {"auth.ext_field", "empty"});
    for (auto bad : {"", "user id", "user.id", "\xc3\xa9"})
        expect_error(std::string("[auth]\nidentity_ext_key = \"") + bad + "\"\n",
                     {"auth.identity_ext_key", "letters, digits"});
}

TEST_F(AuthConfigTest, ChannelRulesAreReadInOrder) {
    auto c = parse_config(R"(
[[channel]]
pattern = "/users/{user}/**"
subscribe = "owner"
publish = "authenticated"

[[channel]]
pattern = "/chat/*"
subscribe = "authenticated"

[[channel]]
pattern = "/news"
publish = "none"
subscribe = "anyone"

[channels]
subscribe = "authenticated"
publish = "none"
)",
                          "t");
    ASSERT_EQ(c.auth.rules.size(), 3u);
    EXPECT_EQ(c.auth.rules[0],
              (auth::channel_rule{"/users/{user}/**", auth::who::owner, auth::who::authenticated}));
    // An omitted permission is `anyone`, the channel_rule default.
    EXPECT_EQ(c.auth.rules[1], (auth::channel_rule{"/chat/*", auth::who::authenticated, auth::who::anyone}));
    EXPECT_EQ(c.auth.rules[2], (auth::channel_rule{"/news", auth::who::anyone, auth::who::none}));
    EXPECT_EQ(c.auth.default_subscribe, auth::who::authenticated);
    EXPECT_EQ(c.auth.default_publish, auth::who::none);
}

TEST_F(AuthConfigTest, ChannelRuleMistakesAreNamed) {
    expect_error("[[channel]]\nsubscribe = \"anyone\"\n", {"channel[0].pattern", "required"});
    expect_error("[channel]\npattern = \"/a\"\n", {"channel", "[[channel]]"});
    expect_error("[[channel]]\npattern = \"/a\"\n[[channel]]\npattern = \"/b\"\nsubscribe = \"everyone\"\n",
                 {"channel[1].subscribe", "anyone, authenticated, none, owner", "everyone"});
    expect_error("[[channel]]\npattern = \"/a\"\npublish = true\n", {"channel[0].publish", "string"});
    expect_error("[[channel]]\npattern = 3\n", {"channel[0].pattern", "string"});
}

TEST_F(AuthConfigTest, PatternMustBeAChannelPath) {
    for (auto bad : {"", "/", "users/x", "/a//b", "/a/", "/a/**/b", "/a/{user}/{user}", "/a/{usr}",
                     "/a/x{user}", "/a/b*", "/a/b\\tc"})
        expect_error(std::string("[[channel]]\npattern = \"") + bad + "\"\n", {"channel[0].pattern"});
    for (auto ok : {"/a", "/a/*", "/a/**", "/*/b", "/users/{user}", "/users/{user}/**", "/**"})
        EXPECT_NO_THROW(parse_config(std::string("[[channel]]\npattern = \"") + ok + "\"\n", "t")) << ok;
}

TEST_F(AuthConfigTest, OwnerNeedsAUserSegment) {
    expect_error("[[channel]]\npattern = \"/users/*\"\nsubscribe = \"owner\"\n",
                 {"channel[0].subscribe", "owner", "{user}", "/users/*"});
    expect_error("[[channel]]\npattern = \"/a/{user}\"\n[[channel]]\npattern = \"/b\"\npublish = \"owner\"\n",
                 {"channel[1].publish", "{user}"});
    expect_error("[channels]\nsubscribe = \"owner\"\n", {"channels.subscribe", "{user}"});
    expect_error("[channels]\npublish = \"owner\"\n", {"channels.publish", "{user}"});
}

TEST_F(AuthConfigTest, RepeatedPatternIsRefused) {
    expect_error("[[channel]]\npattern = \"/a/*\"\n[[channel]]\npattern = \"/a/*\"\nsubscribe = \"none\"\n",
                 {"channel[1].pattern", "channel[0]", "never"});
}

TEST_F(AuthConfigTest, ApiKeysAreRead) {
    auto c = parse_config("[api]\nkeys = [\"0123456789abcdef\", \"fedcba9876543210-2\"]\n", "t");
    EXPECT_EQ(c.http.api_keys, (std::vector<std::string>{"0123456789abcdef", "fedcba9876543210-2"}));
}

TEST_F(AuthConfigTest, ShortOrSpacedApiKeyIsRefusedWithoutEchoingIt) {
    auto msg = error_of("[api]\nkeys = [\"0123456789abcdef\", \"short-key\"]\n");
    EXPECT_NE(msg.find("api.keys[1]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("16 characters"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("short-key"), std::string::npos) << "the key leaked into: " << msg;
    expect_error("[api]\nkeys = [\"0123456789 abcdef\"]\n", {"api.keys[0]", "visible ASCII"});
    expect_error("[api]\nkeys = \"0123456789abcdef\"\n", {"api.keys", "array"});
}

TEST_F(AuthConfigTest, KeyFileIsReadLineByLine) {
    auto path = write("keys", "# rotated 2024-05\n0123456789abcdef\n\n   \n  fedcba9876543210  \r\n# old\n");
    auto c = parse_config("[api]\nkey_file = \"" + path + "\"\n", "t");
    EXPECT_EQ(c.http.api_keys, (std::vector<std::string>{"0123456789abcdef", "fedcba9876543210"}));
    // Both given: every key counts.
    c = parse_config("[api]\nkeys = [\"aaaaaaaaaaaaaaaa\"]\nkey_file = \"" + path + "\"\n", "t");
    EXPECT_EQ(c.http.api_keys.size(), 3u);
}

TEST_F(AuthConfigTest, KeyFileMistakesAreNamed) {
    expect_error("[api]\nkey_file = \"" + (dir_ / "nokeys").string() + "\"\n", {"api.key_file", "nokeys"});
    expect_error("[api]\nkey_file = \"" + write("empty", "# nothing yet\n\n") + "\"\n",
                 {"api.key_file", "holds no keys"});
    auto msg = error_of("[api]\nkey_file = \"" + write("short", "0123456789abcdef\nshort\n") + "\"\n");
    EXPECT_NE(msg.find("api.key_file"), std::string::npos) << msg;
    EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("short\n"), std::string::npos) << msg;
}

TEST_F(AuthConfigTest, ValidateChecksAConfigBuiltInCode) {
    config c;
    EXPECT_NO_THROW(validate(c));
    c.auth.kind = auth::mode::token;
    EXPECT_THROW(validate(c), config_error);
    c.auth.secret = secret16;
    EXPECT_NO_THROW(validate(c));
    c.auth.rules.push_back({"/users/*", auth::who::owner, auth::who::anyone});
    EXPECT_THROW(validate(c), config_error);
    c.auth.rules.back().pattern = "/users/{user}";
    EXPECT_NO_THROW(validate(c));
    c.http.api_keys.push_back("short");
    EXPECT_THROW(validate(c), config_error);
    c.http.api_keys.clear();
    c.bayeux.identity_ext_key = "";
    EXPECT_THROW(validate(c), config_error);
}

}  // namespace
}  // namespace encke::node
