#pragma once
// Signed tokens for `auth = "token"` and JWTs for `auth = "jwt"` (docs/security.md). Pure
// functions over OpenSSL; thread-safe.
//
// An Encke token is `<payload>.<signature>`: payload = base64url of the JSON object
// {"sub":"<user>","exp":<unix seconds>}, signature = base64url of HMAC-SHA256(secret, payload).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "auth/settings.hpp"

namespace encke::auth {

// The outcome of checking a credential. `error` is a whole Bayeux error string such as
// "403::token_expired" ("" when ok).
struct verdict {
    bool ok = false;
    std::string user;  // ok: the authenticated user id ("" for an allowed anonymous session)
    std::string error;
};

// RFC 4648 §5 without padding. decode accepts input with or without '=' padding; nullopt when
// the text is not base64url.
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

// A user id must be usable as a channel segment (so `/users/{user}/**` works): 1-128 bytes of
// letters, digits and `!#$()+-.@_~` (no '/', '*', space, '{' or '}').
bool valid_user_id(std::string_view user) noexcept;

// Comparison in time that depends on neither secret's content nor length (for API keys and
// signatures).
bool equal_secret(std::string_view a, std::string_view b) noexcept;

// "token" mode.
std::string issue_token(std::string_view secret, std::string_view user, std::int64_t expires_unix);
// Errors: 403::token_invalid (malformed, bad signature, bad user id), 403::token_expired.
verdict verify_token(std::string_view secret, std::string_view token, std::int64_t now_unix);

// "jwt" mode. The constructor throws std::invalid_argument with a one-line reason (unknown
// algorithm, empty secret, unreadable PEM key). verify() checks: three parts, header alg equal to
// the configured one (never "none", never HS256 when RS256 is configured), the signature, `exp`
// (required) and `nbf` with leeway, `iss`/`aud` when configured, and `sub` as a valid user id.
// Errors: 403::token_invalid, 403::token_expired.
class jwt_verifier {
public:
    explicit jwt_verifier(const settings& s);
    ~jwt_verifier();
    jwt_verifier(const jwt_verifier&) = delete;
    jwt_verifier& operator=(const jwt_verifier&) = delete;
    verdict verify(std::string_view token, std::int64_t now_unix) const;

private:
    struct impl;
    impl* impl_;
};

// An HS256 JWT with sub, exp, iat (and iss/aud when non-empty): for `encke token` and tests.
std::string issue_jwt_hs256(std::string_view secret, std::string_view user, std::int64_t expires_unix,
                            std::string_view issuer = {}, std::string_view audience = {});

}  // namespace encke::auth
