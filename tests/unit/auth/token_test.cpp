// Encke tokens (`auth = "token"`): base64url, user ids, constant-time comparison, and the
// issue/verify round trip with every way a token can be wrong.
#include "auth/token.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

namespace encke::auth {
namespace {

constexpr std::string_view secret = "encke-test-secret";
constexpr std::int64_t now = 1'700'000'000;

// Signs arbitrary payload JSON the way issue_token does, so tests can build tokens that
// issue_token would never produce (missing claims, odd types). The MAC comes straight from
// OpenSSL, not from the code under test.
std::string sign(std::string_view key, std::string_view json) {
    std::string token = base64url_encode(json);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(token.data()), token.size(), md, &len);
    return token + "." + base64url_encode(std::string(reinterpret_cast<char*>(md), len));
}

verdict check(std::string_view token) {
    return verify_token(secret, token, now);
}

void expect_invalid(const verdict& v) {
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.error, "403::token_invalid");
    EXPECT_EQ(v.user, "");
}

TEST(TokenBase64url, Rfc4648Vectors) {
    EXPECT_EQ(base64url_encode(""), "");
    EXPECT_EQ(base64url_encode("f"), "Zg");
    EXPECT_EQ(base64url_encode("fo"), "Zm8");
    EXPECT_EQ(base64url_encode("foo"), "Zm9v");
    EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
    EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
    EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(base64url_decode("Zm9vYmFy"), "foobar");
    EXPECT_EQ(base64url_decode("Zm9vYmE"), "fooba");
    EXPECT_EQ(base64url_decode("Zg"), "f");
    EXPECT_EQ(base64url_decode(""), "");
}

TEST(TokenBase64url, UsesTheUrlAlphabet) {
    EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
    EXPECT_EQ(base64url_decode("-_8"), "\xfb\xff");
    EXPECT_EQ(base64url_decode("+/8"), std::nullopt) << "standard alphabet is not base64url";
}

TEST(TokenBase64url, ToleratesCorrectPaddingOnly) {
    EXPECT_EQ(base64url_decode("Zg=="), "f");
    EXPECT_EQ(base64url_decode("Zm8="), "fo");
    EXPECT_EQ(base64url_decode("Zg="), std::nullopt);
    EXPECT_EQ(base64url_decode("Zg==="), std::nullopt);
    EXPECT_EQ(base64url_decode("Zm8=="), std::nullopt);
    EXPECT_EQ(base64url_decode("Zm9v===="), std::nullopt);
    EXPECT_EQ(base64url_decode("Z=g="), std::nullopt);
    EXPECT_EQ(base64url_decode("="), std::nullopt);
}

TEST(TokenBase64url, RejectsOtherBytesAndImpossibleLengths) {
    EXPECT_EQ(base64url_decode("Zm9 v"), std::nullopt);
    EXPECT_EQ(base64url_decode("Zm9v\n"), std::nullopt);
    EXPECT_EQ(base64url_decode("Zm.v"), std::nullopt);
    EXPECT_EQ(base64url_decode(std::string_view("Zm\0v", 4)), std::nullopt);
    EXPECT_EQ(base64url_decode("Zm9vY"), std::nullopt) << "5 characters cannot encode whole bytes";
    EXPECT_EQ(base64url_decode("\xc3\xa9"), std::nullopt);
}

TEST(TokenBase64url, RejectsNonZeroTrailingBits) {
    EXPECT_EQ(base64url_decode("Zg"), "f");
    EXPECT_EQ(base64url_decode("Zh"), std::nullopt) << "same byte, second spelling";
    EXPECT_EQ(base64url_decode("Zm8"), "fo");
    EXPECT_EQ(base64url_decode("Zm9"), std::nullopt);
}

TEST(TokenBase64url, RoundTripsEveryByteAtEveryLength) {
    std::string all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
    for (std::size_t n = 0; n <= all.size(); n += 1) {
        std::string_view in(all.data(), n);
        auto enc = base64url_encode(in);
        EXPECT_EQ(enc.find_first_of("+/="), std::string::npos);
        EXPECT_EQ(base64url_decode(enc), in) << n;
    }
}

TEST(TokenUserId, AcceptsLettersDigitsAndTheListedPunctuation) {
    EXPECT_TRUE(valid_user_id("alice"));
    EXPECT_TRUE(valid_user_id("A1"));
    EXPECT_TRUE(valid_user_id("bob@example.org"));
    EXPECT_TRUE(valid_user_id("!#$()+-.@_~"));
    EXPECT_TRUE(valid_user_id(std::string(128, 'x')));
}

TEST(TokenUserId, RejectsWhatCannotBeAChannelSegment) {
    EXPECT_FALSE(valid_user_id(""));
    EXPECT_FALSE(valid_user_id(std::string(129, 'x')));
    for (std::string_view bad :
         {"a/b", "a*", "a b", "{user}", "a}", "a\"b", "a\\b", "a,b", "a%b", "caf\xc3\xa9", "a\nb"})
        EXPECT_FALSE(valid_user_id(bad)) << bad;
    EXPECT_FALSE(valid_user_id(std::string_view("a\0b", 3)));
}

TEST(TokenEqualSecret, ComparesContentAndLength) {
    EXPECT_TRUE(equal_secret("", ""));
    EXPECT_TRUE(equal_secret("abc", "abc"));
    EXPECT_FALSE(equal_secret("abc", "abd"));
    EXPECT_FALSE(equal_secret("abc", "ab"));
    EXPECT_FALSE(equal_secret("", "a"));
    EXPECT_FALSE(equal_secret(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST(Token, RoundTrip) {
    auto t = issue_token(secret, "alice", now + 60);
    auto v = check(t);
    EXPECT_TRUE(v.ok);
    EXPECT_EQ(v.user, "alice");
    EXPECT_EQ(v.error, "");
    EXPECT_EQ(t.find_first_of("+/="), std::string::npos) << "URL-safe without escaping";
}

TEST(Token, KnownAnswerVector) {
    // Computed with: P=$(printf %s '{"sub":"alice","exp":1700000000}' | base64url);
    // printf %s "$P" | openssl dgst -sha256 -hmac encke-test-secret -binary | base64url
    constexpr std::string_view expected =
        "eyJzdWIiOiJhbGljZSIsImV4cCI6MTcwMDAwMDAwMH0.MCCH5QCf0d3OiembAw8K8ghP15XTRlYZBlNteCs1z88";
    EXPECT_EQ(issue_token(secret, "alice", 1'700'000'000), expected);
    auto v = verify_token(secret, expected, 1'699'999'999);
    EXPECT_TRUE(v.ok);
    EXPECT_EQ(v.user, "alice");
}

TEST(Token, ExpiresAtExp) {
    EXPECT_TRUE(check(issue_token(secret, "alice", now + 1)).ok);
    for (std::int64_t exp : {now, now - 1, std::int64_t{0}}) {
        auto v = check(issue_token(secret, "alice", exp));
        EXPECT_FALSE(v.ok);
        EXPECT_EQ(v.error, "403::token_expired") << exp;
    }
}

TEST(Token, FlippedSignatureByteIsInvalid) {
    auto t = issue_token(secret, "alice", now + 60);
    auto dot = t.find('.');
    for (std::size_t i : {dot + 1, dot + 10, t.size() - 1}) {
        std::string bad = t;
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        expect_invalid(check(bad));
    }
}

TEST(Token, TamperedPayloadIsInvalid) {
    auto t = issue_token(secret, "alice", now + 60);
    auto dot = t.find('.');
    auto forged = base64url_encode(R"({"sub":"admin","exp":1700000060})") + t.substr(dot);
    expect_invalid(check(forged));
    auto later = base64url_encode(R"({"sub":"alice","exp":9999999999})") + t.substr(dot);
    expect_invalid(check(later));
}

TEST(Token, WrongOrEmptySecretIsInvalid) {
    auto t = issue_token(secret, "alice", now + 60);
    expect_invalid(verify_token("another-secret", t, now));
    expect_invalid(verify_token("", issue_token("", "alice", now + 60), now));
}

TEST(Token, MissingOrBadClaimsAreInvalid) {
    EXPECT_TRUE(check(sign(secret, R"({"sub":"alice","exp":1700000060})")).ok) << "control";
    EXPECT_TRUE(check(sign(secret, R"({"exp":1700000060,"x":[1],"sub":"alice"})")).ok)
        << "order and unknown members do not matter";
    for (std::string_view json : {
             R"({"exp":1700000060})",                              // no sub
             R"({"sub":"alice"})",                                 // no exp
             R"({"sub":"a/b","exp":1700000060})",                  // '/' in the user id
             R"({"sub":"","exp":1700000060})",                     // empty user id
             R"({"sub":7,"exp":1700000060})",                      // sub not a string
             R"({"sub":"alice","exp":"1700000060"})",              // exp not a number
             R"({"sub":"alice","exp":1700000060.5})",              // exp not an integer
             R"({"sub":"alice","exp":18446744073709551615})",      // exp beyond int64
             R"({"sub":"alice","sub":"admin","exp":1700000060})",  // two subs
             R"(["alice",1700000060])",                            // not an object
             R"({"sub":"alice","exp":1700000060)",                 // not JSON
             "",
         })
        expect_invalid(check(sign(secret, json)));
}

TEST(Token, UserIdIsEscapedNotInjected) {
    // A caller passing a hostile id gets a token whose payload is still one JSON string, which
    // verify then refuses as an invalid user id rather than reading an injected claim.
    auto t = issue_token(secret, R"(x","sub":"admin)", now + 60);
    auto json = base64url_decode(t.substr(0, t.find('.')));
    ASSERT_TRUE(json);
    EXPECT_EQ(*json, R"({"sub":"x\",\"sub\":\"admin","exp":1700000060})");
    expect_invalid(check(t));
}

TEST(Token, MalformedShapesAreInvalid) {
    auto t = issue_token(secret, "alice", now + 60);
    auto dot = t.find('.');
    for (const std::string& bad :
         {std::string(), std::string("."), t.substr(0, dot), t.substr(0, dot + 1), t.substr(dot),
          t + ".", t + ".x", t.substr(0, dot) + "." + t.substr(dot + 1) + "=", " " + t, t + " "})
        expect_invalid(check(bad));
}

TEST(Token, LongerThan4096BytesIsInvalid) {
    // Both tokens are correctly signed: only the size tells them apart.
    auto padded = [](std::size_t n) {
        return R"({"sub":"alice","exp":1700000060,"pad":")" + std::string(n, 'p') + "\"}";
    };
    auto small = sign(secret, padded(2900));
    ASSERT_LE(small.size(), 4096u);
    EXPECT_TRUE(check(small).ok);
    auto big = sign(secret, padded(3100));
    ASSERT_GT(big.size(), 4096u);
    expect_invalid(check(big));
}

}  // namespace
}  // namespace encke::auth
