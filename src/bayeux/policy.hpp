#pragma once
// What the application decides (DESIGN.md "Application hooks"): who a handshake is, what a session
// may subscribe to and publish, what a service channel answers. The protocol asks; the server layer
// implements it from the [auth] configuration and the C++ hooks of include/encke/.
//
// Called on a shard's thread, concurrently from several shards: an implementation is thread-safe.
// It never throws: a failing hook is a refusal (the implementation catches and counts).
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "bayeux/session.hpp"

namespace encke::bayeux {

struct header {
    std::string name;  // as configured (e.g. "Cookie")
    std::string value;
};

// What a policy sees of a session.
struct session_info {
    std::string_view id;
    std::string_view user;  // "" for an anonymous session
    transport_kind kind = transport_kind::long_polling;
};

struct handshake_request {
    std::string_view ext;              // the handshake's raw `ext` JSON, or ""
    std::span<const header> headers;   // the configured request headers that were present
    transport_kind kind = transport_kind::long_polling;
    unsigned shard = 0;                // the calling shard (where `done` must run)
};

struct handshake_result {
    std::string error;  // "" allows; otherwise a Bayeux error such as "403::token_expired"
    std::string user;   // allowed: the session's user id ("" anonymous)
};

// may_receive()'s answer; deny_once: refused this time, ask again next time (the check failed).
enum class receive_verdict { allow, deny, deny_once };

class policy {
public:
    virtual ~policy() = default;

    // Decides a handshake. `done` runs exactly once on the calling shard's thread: inside this
    // call (a token check) or later (a webhook answer).
    virtual void handshake(const handshake_request& r, std::function<void(handshake_result)> done) = 0;

    // "" allows subscribing to `subscription` (a channel or a wildcard pattern, as written);
    // otherwise a Bayeux error.
    virtual std::string subscribe(const session_info& s, std::string_view subscription) = 0;

    // True when deliveries through wildcard subscriptions must be checked with may_receive().
    virtual bool filters_wildcards() const noexcept = 0;
    // True when may_receive() runs application code. The protocol then asks outside its walk of
    // the subscription index (application code may publish, which walks it again) and keeps the
    // answer per session and channel. Otherwise it asks inline, per delivery: the check must then
    // be cheap and must not call back into the protocol.
    virtual bool wildcard_checks_call_application() const noexcept = 0;
    // May `s` receive `channel` through one of its wildcard subscriptions? (It may when it could
    // subscribe to `channel` directly.)
    virtual receive_verdict may_receive(const session_info& s, std::string_view channel) = 0;

    // A publish to a broadcast or service channel. "" allows; otherwise a Bayeux error. The
    // policy may replace the data with other JSON by filling `replacement`.
    virtual std::string publish(const session_info& s, std::string_view channel, std::string_view data,
                                std::string& replacement) = 0;

    // A publish to a service channel that a handler answers: returns false when none does.
    // Otherwise `done(error, data)` runs exactly once on the calling shard's thread, inside this
    // call or later: error "" and the answer's JSON, or a Bayeux error.
    virtual bool service(const session_info& s, std::string_view channel, std::string_view data,
                         std::function<void(std::string_view error, std::string_view data)> done) = 0;

    // Session life and subscriptions, for presence and for the application's session hooks.
    virtual void session_added(const session_info& s) = 0;
    virtual void session_removed(const session_info& s) = 0;
    virtual void subscribed(const session_info& s, std::string_view subscription) = 0;
    virtual void unsubscribed(const session_info& s, std::string_view subscription) = 0;
};

}  // namespace encke::bayeux
