// JWTs (`auth = "jwt"`): HS256 and RS256 compact JWS, the algorithm pinned by configuration, and
// the exp / nbf / iss / aud / sub claims.
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include "auth/token.hpp"

namespace encke::auth {
namespace {

constexpr std::string_view secret = "jwt-test-secret";
constexpr std::int64_t now = 1'700'000'000;

std::string hmac(std::string_view key, std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
    return std::string(reinterpret_cast<char*>(md), len);
}

// A compact JWS signed with HMAC-SHA256 straight from OpenSSL, whatever the header says.
std::string hs_jwt(std::string_view header, std::string_view payload,
                   std::string_view key = secret) {
    std::string signing = base64url_encode(header) + "." + base64url_encode(payload);
    return signing + "." + base64url_encode(hmac(key, signing));
}

std::string hs(std::string_view payload) {
    return hs_jwt(R"({"alg":"HS256","typ":"JWT"})", payload);
}

settings hs_settings() {
    settings s;
    s.kind = mode::jwt;
    s.algorithm = "HS256";
    s.secret = std::string(secret);
    return s;
}

void expect_invalid(const verdict& v) {
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.error, "403::token_invalid");
    EXPECT_EQ(v.user, "");
}

void expect_expired(const verdict& v) {
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.error, "403::token_expired");
}

void expect_user(const verdict& v, std::string_view user) {
    EXPECT_TRUE(v.ok) << v.error;
    EXPECT_EQ(v.user, user);
    EXPECT_EQ(v.error, "");
}

TEST(JwtHs256, RoundTripWithIssueJwt) {
    jwt_verifier v(hs_settings());
    expect_user(v.verify(issue_jwt_hs256(secret, "alice", now + 60), now), "alice");

    auto s = hs_settings();
    s.issuer = "https://id.example";
    s.audience = "encke";
    jwt_verifier strict(s);
    auto t = issue_jwt_hs256(secret, "bob", now + 60, "https://id.example", "encke");
    expect_user(strict.verify(t, now), "bob");
    // iss and aud are required once configured.
    expect_invalid(strict.verify(issue_jwt_hs256(secret, "bob", now + 60), now));
}

TEST(JwtHs256, IssuedTokenHasTheStandardShape) {
    auto t = issue_jwt_hs256(secret, "alice", now + 60, "me", "you");
    auto d1 = t.find('.'), d2 = t.find('.', d1 + 1);
    ASSERT_NE(d2, std::string::npos);
    EXPECT_EQ(base64url_decode(t.substr(0, d1)), R"({"alg":"HS256","typ":"JWT"})");
    auto payload = base64url_decode(t.substr(d1 + 1, d2 - d1 - 1));
    ASSERT_TRUE(payload);
    EXPECT_NE(payload->find(R"("sub":"alice")"), std::string::npos);
    EXPECT_NE(payload->find(R"("exp":1700000060)"), std::string::npos);
    EXPECT_NE(payload->find(R"("iat":)"), std::string::npos);
    EXPECT_NE(payload->find(R"("iss":"me")"), std::string::npos);
    EXPECT_NE(payload->find(R"("aud":"you")"), std::string::npos);
    EXPECT_EQ(base64url_decode(t.substr(d2 + 1)), hmac(secret, t.substr(0, d2)));
}

TEST(JwtHs256, KnownAnswerVector) {
    // Built in the shell: H and P are base64url of the JSON below, and the signature is
    // printf %s "$H.$P" | openssl dgst -sha256 -hmac jwt-kat-secret -binary | base64url.
    // Header {"alg":"HS256","typ":"JWT"}; payload {"sub":"carol@example.org","exp":2000000000,
    // "iss":"https://id.example","aud":["other","encke"]}.
    constexpr std::string_view token =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiJjYXJvbEBleGFtcGxlLm9yZyIsImV4cCI6MjAwMDAwMDAwMCwiaXNzIjoiaHR0cHM6Ly9pZC5leGFtcG"
        "xlIiwiYXVkIjpbIm90aGVyIiwiZW5ja2UiXX0."
        "fr1w7k2wq0ByDjM16qPkX6qonSNJX22oEsjC-cqGegA";
    auto s = hs_settings();
    s.secret = "jwt-kat-secret";
    s.issuer = "https://id.example";
    s.audience = "encke";
    expect_user(jwt_verifier(s).verify(token, now), "carol@example.org");
    s.secret = "jwt-kat-secreT";
    expect_invalid(jwt_verifier(s).verify(token, now));
}

TEST(JwtHs256, AlgNoneIsInvalid) {
    jwt_verifier v(hs_settings());
    std::string payload = base64url_encode(R"({"sub":"alice","exp":1700000060})");
    std::string none = base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + payload;
    expect_invalid(v.verify(none + ".", now));
    expect_invalid(v.verify(none + ".c2ln", now));
    // Even with a valid HMAC over it, the header must name the configured algorithm.
    expect_invalid(
        v.verify(hs_jwt(R"({"alg":"none"})", R"({"sub":"alice","exp":1700000060})"), now));
}

TEST(JwtHs256, AlgMustMatchExactly) {
    jwt_verifier v(hs_settings());
    constexpr std::string_view claims = R"({"sub":"alice","exp":1700000060})";
    expect_user(v.verify(hs_jwt(R"({"alg":"HS256"})", claims), now), "alice");
    for (std::string_view header :
         {R"({"alg":"hs256"})", R"({"alg":"HS256 "})", R"({"alg":"HS384"})", R"({"alg":"RS256"})",
          R"({"typ":"JWT"})", R"({"alg":null})", R"({"alg":"HS256","alg":"none"})", R"(["HS256"])",
          "not json"})
        expect_invalid(v.verify(hs_jwt(header, claims), now));
}

TEST(JwtHs256, CriticalHeaderExtensionsAreRefused) {
    jwt_verifier v(hs_settings());
    expect_invalid(v.verify(hs_jwt(R"({"alg":"HS256","crit":["b64"],"b64":false})",
                                   R"({"sub":"alice","exp":1700000060})"),
                            now));
}

TEST(JwtHs256, WrongSecretOrTamperingIsInvalid) {
    jwt_verifier v(hs_settings());
    expect_invalid(v.verify(issue_jwt_hs256("other-secret", "alice", now + 60), now));

    auto t = issue_jwt_hs256(secret, "alice", now + 60);
    auto d1 = t.find('.'), d2 = t.find('.', d1 + 1);
    auto forged = t.substr(0, d1 + 1) + base64url_encode(R"({"sub":"admin","exp":1700000060})") +
                  t.substr(d2);
    expect_invalid(v.verify(forged, now));
    std::string flipped = t;
    flipped[d2 + 5] = flipped[d2 + 5] == 'A' ? 'B' : 'A';
    expect_invalid(v.verify(flipped, now));
}

TEST(JwtHs256, ExpiryHonoursLeeway) {
    auto s = hs_settings();
    s.leeway_s = 30;
    jwt_verifier lenient(s);
    s.leeway_s = 0;
    jwt_verifier exact(s);

    auto ten_ago = issue_jwt_hs256(secret, "alice", now - 10);
    expect_user(lenient.verify(ten_ago, now), "alice");
    expect_expired(exact.verify(ten_ago, now));

    // Expired once exp + leeway <= now.
    expect_expired(lenient.verify(issue_jwt_hs256(secret, "alice", now - 30), now));
    expect_user(lenient.verify(issue_jwt_hs256(secret, "alice", now - 29), now), "alice");
    expect_expired(exact.verify(issue_jwt_hs256(secret, "alice", now), now));
    expect_user(exact.verify(issue_jwt_hs256(secret, "alice", now + 1), now), "alice");
}

TEST(JwtHs256, NotBeforeInTheFutureIsInvalid) {
    auto s = hs_settings();
    s.leeway_s = 30;
    jwt_verifier v(s);
    expect_user(v.verify(hs(R"({"sub":"alice","exp":1700000600,"nbf":1700000030})"), now), "alice");
    expect_invalid(v.verify(hs(R"({"sub":"alice","exp":1700000600,"nbf":1700000031})"), now));
    expect_invalid(v.verify(hs(R"({"sub":"alice","exp":1700000600,"nbf":1700000100})"), now));
    expect_invalid(v.verify(hs(R"({"sub":"alice","exp":1700000600,"nbf":"soon"})"), now));
}

TEST(JwtHs256, NumericDatesMayBeFractional) {
    jwt_verifier v(hs_settings());
    expect_user(v.verify(hs(R"({"sub":"alice","exp":1700000060.5,"nbf":1699999999.5})"), now),
                "alice");
    expect_user(v.verify(hs(R"({"sub":"alice","exp":18446744073709551615})"), now), "alice");
}

TEST(JwtHs256, IssuerMustMatchWhenConfigured) {
    auto s = hs_settings();
    s.issuer = "https://id.example";
    jwt_verifier v(s);
    expect_user(v.verify(hs(R"({"sub":"a","exp":1700000060,"iss":"https://id.example"})"), now),
                "a");
    expect_invalid(
        v.verify(hs(R"({"sub":"a","exp":1700000060,"iss":"https://evil.example"})"), now));
    expect_invalid(
        v.verify(hs(R"({"sub":"a","exp":1700000060,"iss":["https://id.example"]})"), now));
    expect_invalid(v.verify(hs(R"({"sub":"a","exp":1700000060})"), now));

    jwt_verifier any(hs_settings());
    expect_user(any.verify(hs(R"({"sub":"a","exp":1700000060,"iss":"whoever"})"), now), "a");
}

TEST(JwtHs256, AudienceMayBeAStringOrAnArray) {
    auto s = hs_settings();
    s.audience = "encke";
    jwt_verifier v(s);
    expect_user(v.verify(hs(R"({"sub":"a","exp":1700000060,"aud":"encke"})"), now), "a");
    expect_user(v.verify(hs(R"({"sub":"a","exp":1700000060,"aud":["api","encke"]})"), now), "a");
    expect_invalid(v.verify(hs(R"({"sub":"a","exp":1700000060,"aud":"api"})"), now));
    expect_invalid(v.verify(hs(R"({"sub":"a","exp":1700000060,"aud":["api","encke2"]})"), now));
    expect_invalid(v.verify(hs(R"({"sub":"a","exp":1700000060,"aud":[]})"), now));
    expect_invalid(v.verify(hs(R"({"sub":"a","exp":1700000060,"aud":["encke",7]})"), now));
    expect_invalid(v.verify(hs(R"({"sub":"a","exp":1700000060})"), now));
}

TEST(JwtHs256, SubAndExpAreRequired) {
    jwt_verifier v(hs_settings());
    for (std::string_view claims : {
             R"({"exp":1700000060})",
             R"({"sub":"alice"})",
             R"({"sub":"a/b","exp":1700000060})",
             R"({"sub":"","exp":1700000060})",
             R"({"sub":42,"exp":1700000060})",
             R"({"sub":"alice","exp":"1700000060"})",
             R"({"sub":"alice","exp":1700000060,"sub":"admin"})",
             R"({"sub":"alice","exp":1700000060,"exp":9999999999})",
             R"(["alice"])",
         })
        expect_invalid(v.verify(hs(claims), now));
}

TEST(JwtHs256, MalformedShapesAreInvalid) {
    jwt_verifier v(hs_settings());
    auto t = issue_jwt_hs256(secret, "alice", now + 60);
    auto d1 = t.find('.');
    for (const std::string& bad :
         {std::string(), std::string(".."), t.substr(0, t.rfind('.')), t + ".", t + ".x",
          t.substr(d1), "x" + t, t + std::string(9000, 'A')})
        expect_invalid(v.verify(bad, now));
}

TEST(JwtHs256, LongerThan8192BytesIsInvalid) {
    // Both are correctly signed: only the size tells them apart.
    jwt_verifier v(hs_settings());
    auto padded = [](std::size_t n) {
        return hs(R"({"sub":"alice","exp":1700000060,"pad":")" + std::string(n, 'p') + "\"}");
    };
    auto small = padded(5900);
    ASSERT_LE(small.size(), 8192u);
    expect_user(v.verify(small, now), "alice");
    auto big = padded(6200);
    ASSERT_GT(big.size(), 8192u);
    expect_invalid(v.verify(big, now));
}

TEST(JwtHs256, ConstructorRefusesBadSettings) {
    auto s = hs_settings();
    s.secret.clear();
    EXPECT_THROW(jwt_verifier{s}, std::invalid_argument);
    for (std::string alg : {"none", "hs256", "HS384", "ES256", ""}) {
        s = hs_settings();
        s.algorithm = alg;
        EXPECT_THROW(jwt_verifier{s}, std::invalid_argument) << alg;
    }
}

// --- RS256 -------------------------------------------------------------------------------------

struct pkey_free {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

std::string public_pem(EVP_PKEY* key) {
    BIO* bio = BIO_new(BIO_s_mem());
    EXPECT_EQ(PEM_write_bio_PUBKEY(bio, key), 1);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(len));
    BIO_free(bio);
    return pem;
}

std::string rs_sign(EVP_PKEY* key, std::string_view data) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::size_t len = 0;
    EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key), 1);
    EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &len,
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()),
              1);
    std::string sig(len, '\0');
    EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()),
              1);
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    return sig;
}

class JwtRs256 : public ::testing::Test {
  protected:
    // RSA key generation takes a noticeable fraction of a second: once for the suite.
    static void SetUpTestSuite() {
        key_ = EVP_RSA_gen(2048);
        other_ = EVP_RSA_gen(2048);
        ASSERT_NE(key_, nullptr);
        ASSERT_NE(other_, nullptr);
        pem_ = new std::string(public_pem(key_));
    }
    static void TearDownTestSuite() {
        EVP_PKEY_free(key_);
        EVP_PKEY_free(other_);
        delete pem_;
    }

    static settings rs_settings() {
        settings s;
        s.kind = mode::jwt;
        s.algorithm = "RS256";
        s.public_key_pem = *pem_;
        return s;
    }

    static std::string rs_jwt(std::string_view claims, EVP_PKEY* key = key_,
                              std::string_view header = R"({"alg":"RS256","typ":"JWT"})") {
        std::string signing = base64url_encode(header) + "." + base64url_encode(claims);
        return signing + "." + base64url_encode(rs_sign(key, signing));
    }

    static inline EVP_PKEY* key_ = nullptr;
    static inline EVP_PKEY* other_ = nullptr;
    static inline std::string* pem_ = nullptr;
};

TEST_F(JwtRs256, SignedWithThePrivateKeyVerifies) {
    ASSERT_NE(pem_->find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
    jwt_verifier v(rs_settings());
    expect_user(v.verify(rs_jwt(R"({"sub":"dave","exp":1700000060})"), now), "dave");
    expect_expired(v.verify(rs_jwt(R"({"sub":"dave","exp":1699999000})"), now));
}

TEST_F(JwtRs256, TamperedTokenIsInvalid) {
    jwt_verifier v(rs_settings());
    auto t = rs_jwt(R"({"sub":"dave","exp":1700000060})");
    auto d1 = t.find('.'), d2 = t.find('.', d1 + 1);
    auto forged =
        t.substr(0, d1 + 1) + base64url_encode(R"({"sub":"root","exp":1700000060})") + t.substr(d2);
    expect_invalid(v.verify(forged, now));
    std::string flipped = t;
    flipped[d2 + 20] = flipped[d2 + 20] == 'A' ? 'B' : 'A';
    expect_invalid(v.verify(flipped, now));
    expect_invalid(v.verify(t.substr(0, t.size() - 4), now));  // truncated signature
}

TEST_F(JwtRs256, SignedByAnotherKeyIsInvalid) {
    jwt_verifier v(rs_settings());
    expect_invalid(v.verify(rs_jwt(R"({"sub":"dave","exp":1700000060})", other_), now));
}

TEST_F(JwtRs256, Hs256SignedWithThePublicKeyIsRefused) {
    // The classic alg-confusion forgery: the attacker knows the public key and uses its PEM text
    // as an HMAC secret. A verifier that trusted the header's alg would accept it.
    jwt_verifier v(rs_settings());
    auto forged =
        hs_jwt(R"({"alg":"HS256","typ":"JWT"})", R"({"sub":"root","exp":1700000060})", *pem_);
    expect_invalid(v.verify(forged, now));
    expect_invalid(v.verify(issue_jwt_hs256(*pem_, "root", now + 60), now));
}

TEST_F(JwtRs256, Rs256TokenIsRefusedByAnHs256Verifier) {
    jwt_verifier v(hs_settings());
    expect_invalid(v.verify(rs_jwt(R"({"sub":"dave","exp":1700000060})"), now));
}

TEST_F(JwtRs256, HeaderMustSayRs256) {
    jwt_verifier v(rs_settings());
    expect_invalid(
        v.verify(rs_jwt(R"({"sub":"dave","exp":1700000060})", key_, R"({"alg":"RS512"})"), now));
    expect_invalid(
        v.verify(rs_jwt(R"({"sub":"dave","exp":1700000060})", key_, R"({"alg":"none"})"), now));
}

TEST_F(JwtRs256, ConstructorRefusesKeysItCannotUse) {
    auto s = rs_settings();
    s.public_key_pem = "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n";
    EXPECT_THROW(jwt_verifier{s}, std::invalid_argument);
    s.public_key_pem = "not a pem at all";
    EXPECT_THROW(jwt_verifier{s}, std::invalid_argument);
    s.public_key_pem.clear();
    EXPECT_THROW(jwt_verifier{s}, std::invalid_argument);

    pkey_ptr ec(EVP_EC_gen("P-256"));
    ASSERT_TRUE(ec);
    s.public_key_pem = public_pem(ec.get());
    EXPECT_THROW(jwt_verifier{s}, std::invalid_argument) << "not an RSA key";

    pkey_ptr small(EVP_RSA_gen(1024));
    ASSERT_TRUE(small);
    s.public_key_pem = public_pem(small.get());
    EXPECT_THROW(jwt_verifier{s}, std::invalid_argument) << "shorter than 2048 bits";
}

}  // namespace
}  // namespace encke::auth
