#include "auth/token.hpp"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <simdjson.h>

#include <array>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>

#include "json/writer.hpp"

namespace encke::auth {

namespace {

constexpr std::string_view token_invalid = "403::token_invalid";
constexpr std::string_view token_expired = "403::token_expired";

// A credential arrives in a handshake before anyone is known; the caps bound the work (and the
// memory) an anonymous client can make us spend on it. JWTs carry more claims than our tokens.
constexpr std::size_t max_token_bytes = 4096;
constexpr std::size_t max_jwt_bytes = 8192;

constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();

constexpr char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<std::int8_t, 256> b64_table = [] {
    std::array<std::int8_t, 256> t{};
    t.fill(-1);
    for (int i = 0; i < 64; ++i)
        t[static_cast<unsigned char>(b64_alphabet[i])] = static_cast<std::int8_t>(i);
    return t;
}();

verdict refuse(std::string_view error) {
    return verdict{false, {}, std::string(error)};
}

verdict accept(std::string_view user) {
    return verdict{true, std::string(user), {}};
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
    std::int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return b > 0 ? int64_max : int64_min;
    return r;
}

std::int64_t saturating_sub(std::int64_t a, std::int64_t b) {
    std::int64_t r;
    if (__builtin_sub_overflow(a, b, &r)) return b > 0 ? int64_min : int64_max;
    return r;
}

// The raw 32-byte MAC. OpenSSL 3's one-shot HMAC() is not deprecated (HMAC_CTX is).
std::string hmac_sha256(std::string_view key, std::string_view data) {
    static const unsigned char empty = 0;  // HMAC() wants a non-null key even when it is empty
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    const void* k = key.empty() ? static_cast<const void*>(&empty) : key.data();
    if (key.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
        HMAC(EVP_sha256(), k, static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(), md,
             &len) == nullptr) {
        ERR_clear_error();
        return {};  // never equal to a presented signature: base64url of nothing is ""
    }
    return std::string(reinterpret_cast<const char*>(md), len);
}

// Parses `text` as one JSON object. The parser owns the result, so callers finish with one
// document before parsing the next.
bool parse_object(simdjson::dom::parser& parser, std::string_view text,
                  simdjson::dom::object& out) {
    simdjson::dom::element root;
    if (parser.parse(text.data(), text.size()).get(root)) return false;
    return root.get_object().get(out) == simdjson::SUCCESS;
}

// A JWT NumericDate: seconds, possibly fractional. Clamped into int64 so that later arithmetic
// cannot overflow; fractions round towards the stricter side (`up` for nbf, down for exp).
bool numeric_date(simdjson::dom::element v, bool up, std::int64_t& out) {
    switch (v.type()) {
        case simdjson::dom::element_type::INT64:
            return v.get_int64().get(out) == simdjson::SUCCESS;
        case simdjson::dom::element_type::UINT64:
            out = int64_max;  // beyond int64: the far future
            return true;
        case simdjson::dom::element_type::DOUBLE: {
            double d = 0;
            if (v.get_double().get(d) || !std::isfinite(d)) return false;
            d = up ? std::ceil(d) : std::floor(d);
            if (d >= 9.2e18)
                out = int64_max;
            else if (d <= -9.2e18)
                out = int64_min;
            else
                out = static_cast<std::int64_t>(d);
            return true;
        }
        default:
            return false;
    }
}

// Records the first sighting of a claim; a second one is refused rather than resolved, since
// two parsers of the same token could otherwise disagree about who it names.
bool first_time(bool& seen) {
    if (seen) return false;
    seen = true;
    return true;
}

struct pkey_deleter {
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;

pkey_ptr load_rsa_public_key(std::string_view pem) {
    if (pem.empty()) throw std::invalid_argument("jwt RS256: no public key (set public_key_file)");
    if (pem.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
        throw std::invalid_argument("jwt RS256: public key file is too large");
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    pkey_ptr key(bio ? PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr) : nullptr);
    BIO_free(bio);
    ERR_clear_error();  // leftovers on this thread's queue would confuse later TLS calls
    if (!key)
        throw std::invalid_argument(
            "jwt RS256: the public key is not a PEM public key (-----BEGIN PUBLIC KEY-----)");
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA)
        throw std::invalid_argument("jwt RS256: the public key is not an RSA key");
    // Shorter RSA keys are factorable by a determined attacker (NIST SP 800-131A).
    if (EVP_PKEY_get_bits(key.get()) < 2048)
        throw std::invalid_argument("jwt RS256: the RSA public key is shorter than 2048 bits");
    return key;
}

bool rsa_sha256_verify(EVP_PKEY* key, std::string_view data, std::string_view sig) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    bool ok =
        ctx != nullptr && EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), nullptr, key) == 1 &&
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
        EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                         reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() * 4 + 2) / 3);
    auto byte = [&](std::size_t i) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i]));
    };
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        std::uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
        out.push_back(b64_alphabet[v >> 18]);
        out.push_back(b64_alphabet[(v >> 12) & 63]);
        out.push_back(b64_alphabet[(v >> 6) & 63]);
        out.push_back(b64_alphabet[v & 63]);
    }
    std::size_t rest = bytes.size() - i;
    if (rest > 0) {
        std::uint32_t v = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
        out.push_back(b64_alphabet[v >> 18]);
        out.push_back(b64_alphabet[(v >> 12) & 63]);
        if (rest == 2) out.push_back(b64_alphabet[(v >> 6) & 63]);
    }
    return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
    // Padding, when present, must be exactly what the length calls for.
    if (!text.empty() && text.back() == '=') {
        if (text.size() % 4 != 0) return std::nullopt;
        text.remove_suffix(1);
        if (!text.empty() && text.back() == '=') text.remove_suffix(1);
    }
    if (text.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(text.size() / 4 * 3 + 2);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char ch : text) {
        std::int8_t v = b64_table[static_cast<unsigned char>(ch)];
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFF));
        }
    }
    // Non-zero leftover bits mean a second spelling of the same bytes: refused, so that a
    // signature has exactly one text form.
    if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
    return out;
}

bool valid_user_id(std::string_view user) noexcept {
    if (user.empty() || user.size() > 128) return false;
    for (char c : user) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!ok) {
            switch (c) {
                case '!':
                case '#':
                case '$':
                case '(':
                case ')':
                case '+':
                case '-':
                case '.':
                case '@':
                case '_':
                case '~':
                    ok = true;
                    break;
                default:
                    break;
            }
        }
        if (!ok) return false;
    }
    return true;
}

bool equal_secret(std::string_view a, std::string_view b) noexcept {
    // Compared as SHA-256 digests: the time taken then tells neither the content nor the length
    // of the secret (an API key's length is as private as the key).
    std::array<unsigned char, 32> da{}, db{};
    unsigned int na = 0, nb = 0;
    if (!EVP_Digest(a.data(), a.size(), da.data(), &na, EVP_sha256(), nullptr) ||
        !EVP_Digest(b.data(), b.size(), db.data(), &nb, EVP_sha256(), nullptr)) {
        ERR_clear_error();
        return false;
    }
    return CRYPTO_memcmp(da.data(), db.data(), da.size()) == 0;
}

namespace {
// `{"sub":<user>,"exp":<expires>` — the claims both formats start with (the object left open).
std::string sub_exp_claims(std::string_view user, std::int64_t expires_unix) {
    std::string json = "{";
    json::append_key(json, "sub");
    json::append_string(json, user);
    json.push_back(',');
    json::append_key(json, "exp");
    json::append_int(json, expires_unix);
    return json;
}
}  // namespace

std::string issue_token(std::string_view secret, std::string_view user, std::int64_t expires_unix) {
    std::string json = sub_exp_claims(user, expires_unix);
    json.push_back('}');
    std::string token = base64url_encode(json);
    std::string sig = base64url_encode(hmac_sha256(secret, token));
    token.push_back('.');
    token += sig;
    return token;
}

verdict verify_token(std::string_view secret, std::string_view token, std::int64_t now_unix) {
    // An empty secret would let anyone mint tokens; config refuses it, and so do we.
    if (secret.empty() || token.empty() || token.size() > max_token_bytes)
        return refuse(token_invalid);
    auto dot = token.find('.');
    if (dot == std::string_view::npos || token.find('.', dot + 1) != std::string_view::npos)
        return refuse(token_invalid);
    std::string_view payload = token.substr(0, dot);
    std::string_view sig = token.substr(dot + 1);
    if (payload.empty() || sig.empty()) return refuse(token_invalid);

    // Signature first: nothing the client wrote is parsed until we know we wrote it.
    if (!equal_secret(base64url_encode(hmac_sha256(secret, payload)), sig))
        return refuse(token_invalid);

    auto json = base64url_decode(payload);
    if (!json) return refuse(token_invalid);
    simdjson::dom::parser parser;
    simdjson::dom::object obj;
    if (!parse_object(parser, *json, obj)) return refuse(token_invalid);
    std::string_view sub;
    std::int64_t exp = 0;
    bool seen_sub = false, seen_exp = false;
    for (auto field : obj) {
        if (field.key == "sub") {
            if (!first_time(seen_sub) || field.value.get_string().get(sub))
                return refuse(token_invalid);
        } else if (field.key == "exp") {
            if (!first_time(seen_exp) || field.value.get_int64().get(exp))
                return refuse(token_invalid);
        }
    }
    if (!seen_sub || !seen_exp || !valid_user_id(sub)) return refuse(token_invalid);
    if (exp <= now_unix) return refuse(token_expired);
    return accept(sub);
}

// --- JWT ---------------------------------------------------------------------------------------

struct jwt_verifier::impl {
    bool rs256 = false;
    std::string secret;  // HS256
    pkey_ptr key;        // RS256
    std::string issuer;
    std::string audience;
    std::int64_t leeway_s = 0;

    bool signature_ok(std::string_view signed_part, std::string_view sig) const;
    verdict claims(std::string_view payload_json, std::int64_t now) const;
};

bool jwt_verifier::impl::signature_ok(std::string_view signed_part, std::string_view sig) const {
    if (!rs256) return equal_secret(base64url_encode(hmac_sha256(secret, signed_part)), sig);
    auto raw = base64url_decode(sig);
    return raw && rsa_sha256_verify(key.get(), signed_part, *raw);
}

verdict jwt_verifier::impl::claims(std::string_view payload_json, std::int64_t now) const {
    simdjson::dom::parser parser;
    simdjson::dom::object obj;
    if (!parse_object(parser, payload_json, obj)) return refuse(token_invalid);
    std::string_view sub;
    std::int64_t exp = 0, nbf = int64_min;
    bool seen_sub = false, seen_exp = false, seen_nbf = false, seen_iss = false, seen_aud = false;
    bool iss_ok = issuer.empty(), aud_ok = audience.empty();
    for (auto field : obj) {
        auto v = field.value;
        if (field.key == "sub") {
            if (!first_time(seen_sub) || v.get_string().get(sub)) return refuse(token_invalid);
        } else if (field.key == "exp") {
            if (!first_time(seen_exp) || !numeric_date(v, false, exp)) return refuse(token_invalid);
        } else if (field.key == "nbf") {
            if (!first_time(seen_nbf) || !numeric_date(v, true, nbf)) return refuse(token_invalid);
        } else if (field.key == "iss") {
            if (!first_time(seen_iss)) return refuse(token_invalid);
            std::string_view iss;
            if (!issuer.empty() && v.get_string().get(iss) == simdjson::SUCCESS)
                iss_ok = iss == issuer;
        } else if (field.key == "aud") {
            if (!first_time(seen_aud)) return refuse(token_invalid);
            if (audience.empty()) continue;
            std::string_view aud;
            simdjson::dom::array list;
            if (v.get_string().get(aud) == simdjson::SUCCESS) {
                aud_ok = aud == audience;
            } else if (v.get_array().get(list) == simdjson::SUCCESS) {
                for (auto item : list) {
                    if (item.get_string().get(aud)) return refuse(token_invalid);
                    if (aud == audience) aud_ok = true;
                }
            } else {
                return refuse(token_invalid);
            }
        }
    }
    if (!seen_sub || !seen_exp || !valid_user_id(sub) || !iss_ok || !aud_ok)
        return refuse(token_invalid);
    if (nbf > saturating_add(now, leeway_s)) return refuse(token_invalid);
    if (exp <= saturating_sub(now, leeway_s)) return refuse(token_expired);
    return accept(sub);
}

jwt_verifier::jwt_verifier(const settings& s) : impl_(nullptr) {
    // Built aside so that a throw below frees it (the destructor does not run for a throwing
    // constructor).
    auto p = std::make_unique<impl>();
    if (s.algorithm == "HS256") {
        if (s.secret.empty()) throw std::invalid_argument("jwt HS256: the secret is empty");
        p->secret = s.secret;
    } else if (s.algorithm == "RS256") {
        p->rs256 = true;
        p->key = load_rsa_public_key(s.public_key_pem);
    } else {
        throw std::invalid_argument("jwt: unknown algorithm '" + s.algorithm +
                                    "' (expected HS256 or RS256)");
    }
    p->issuer = s.issuer;
    p->audience = s.audience;
    p->leeway_s = s.leeway_s < 0 ? 0 : s.leeway_s;
    impl_ = p.release();
}

jwt_verifier::~jwt_verifier() {
    delete impl_;
}

verdict jwt_verifier::verify(std::string_view token, std::int64_t now_unix) const {
    if (token.empty() || token.size() > max_jwt_bytes) return refuse(token_invalid);
    auto d1 = token.find('.');
    if (d1 == std::string_view::npos) return refuse(token_invalid);
    auto d2 = token.find('.', d1 + 1);
    if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
        return refuse(token_invalid);
    std::string_view header_b64 = token.substr(0, d1);
    std::string_view payload_b64 = token.substr(d1 + 1, d2 - d1 - 1);
    std::string_view sig = token.substr(d2 + 1);
    if (header_b64.empty() || payload_b64.empty() || sig.empty()) return refuse(token_invalid);

    // The header is read before the signature is checked (it names the algorithm), so it is
    // trusted for nothing except matching the one algorithm we were configured with: that is
    // what defeats "alg":"none" and HS256-signed-with-the-RSA-public-key tokens.
    {
        auto header = base64url_decode(header_b64);
        if (!header) return refuse(token_invalid);
        simdjson::dom::parser parser;
        simdjson::dom::object obj;
        if (!parse_object(parser, *header, obj)) return refuse(token_invalid);
        std::string_view alg;
        bool seen_alg = false;
        for (auto field : obj) {
            if (field.key == "alg") {
                if (!first_time(seen_alg) || field.value.get_string().get(alg))
                    return refuse(token_invalid);
            } else if (field.key == "crit") {
                return refuse(token_invalid);  // RFC 7515 §4.1.11: we understand no extensions
            }
        }
        if (!seen_alg || alg != (impl_->rs256 ? "RS256" : "HS256")) return refuse(token_invalid);
    }

    if (!impl_->signature_ok(token.substr(0, d2), sig)) return refuse(token_invalid);
    auto payload = base64url_decode(payload_b64);
    if (!payload) return refuse(token_invalid);
    return impl_->claims(*payload, now_unix);
}

std::string issue_jwt_hs256(std::string_view secret, std::string_view user,
                            std::int64_t expires_unix, std::string_view issuer,
                            std::string_view audience) {
    // iat is informational (verify() does not read it), so the wall clock is harmless here.
    std::int64_t iat = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    std::string json = sub_exp_claims(user, expires_unix);
    json.push_back(',');
    json::append_key(json, "iat");
    json::append_int(json, iat);
    if (!issuer.empty()) {
        json.push_back(',');
        json::append_key(json, "iss");
        json::append_string(json, issuer);
    }
    if (!audience.empty()) {
        json.push_back(',');
        json::append_key(json, "aud");
        json::append_string(json, audience);
    }
    json.push_back('}');
    std::string token = base64url_encode(R"({"alg":"HS256","typ":"JWT"})");
    token.push_back('.');
    token += base64url_encode(json);
    std::string sig = base64url_encode(hmac_sha256(secret, token));
    token.push_back('.');
    token += sig;
    return token;
}

}  // namespace encke::auth
