#pragma once
// The [auth] and [[channel]] settings (docs/security.md): how a handshake proves who it is, and
// who may subscribe and publish where. Defaults and reasons are documented in encke.toml.example.
#include <cstdint>
#include <string>
#include <vector>

namespace encke::auth {

enum class mode { none, token, jwt, webhook };

// "none", "token", "jwt" or "webhook": the [auth] mode as written in the configuration.
constexpr const char* to_string(mode m) noexcept {
    switch (m) {
        case mode::token: return "token";
        case mode::jwt: return "jwt";
        case mode::webhook: return "webhook";
        case mode::none: break;
    }
    return "none";
}

// Who a channel rule lets in. `owner`: the session's user equals the `{user}` segment of the
// rule's pattern (a rule whose pattern has no `{user}` segment cannot use it).
enum class who { anyone, authenticated, none, owner };

struct channel_rule {
    std::string pattern;  // `/users/{user}/**`, `/chat/*`, `/admin/**`, `/news`
    who subscribe = who::anyone;
    who publish = who::anyone;
    bool operator==(const channel_rule&) const = default;
};

struct settings {
    mode kind = mode::none;
    // The handshake `ext` member that carries the token or JWT (a JSON string).
    std::string ext_field = "token";
    // token / jwt: a handshake without credentials still gets a session, with no user (channel
    // rules then decide what it may do). Off: it is refused with 403::token_missing. (In webhook
    // mode the application decides: it answers 200 {} for an anonymous session.)
    bool allow_anonymous = false;
    // token and jwt HS256: the shared secret (from `secret` or `secret_file`).
    std::string secret;
    // jwt: "HS256" or "RS256"; RS256 verifies with the PEM public key read from public_key_file.
    std::string algorithm = "HS256";
    std::string public_key_pem;
    std::string issuer;    // jwt: when set, the `iss` claim must equal it
    std::string audience;  // jwt: when set, the `aud` claim must equal it (or contain it)
    std::int64_t leeway_s = 30;  // clock skew allowed on exp / nbf
    // webhook: POST {"ext":..., "headers":{...}, "transport":...} to url.
    std::string webhook_url;
    std::int64_t webhook_timeout_ms = 2000;
    std::int64_t webhook_cache_ms = 5000;
    std::vector<std::string> webhook_headers;  // request headers passed on, e.g. "Cookie"
    // Channel rules: the first whose pattern matches decides; no match: the defaults.
    std::vector<channel_rule> rules;
    who default_subscribe = who::anyone;
    who default_publish = who::anyone;

    bool operator==(const settings&) const = default;
};

}  // namespace encke::auth
