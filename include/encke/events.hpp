#pragma once
// The events an application's hooks receive (docs/embedding.md).
//
// Thread rules: a hook runs on one of the server's event-loop threads, and several hooks may run
// at once on different threads, so a hook must be thread-safe. It must not block: it holds up
// every connection of its thread. An event object is valid only during the call; copy what you
// keep. Views (std::string_view) point into the request and die with the event.
//
// Errors: a hook that throws is a refusal (the client sees "500::hook_failed") and is counted in
// /healthz as "hooks_failed"; it never stops the server.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "encke/export.hpp"

namespace encke {

namespace detail {
struct event_access;
struct responder_state;
}  // namespace detail

// A Bayeux session as the hooks see it.
struct session_view {
    std::string_view id;    // the clientId
    std::string_view user;  // the authenticated user id; "" for an anonymous session
};

// A snapshot of a session, for presence queries.
struct session_info {
    std::string id;
    std::string user;
    bool operator==(const session_info&) const = default;
};

// A handshake. Runs after the configured [auth] mode has accepted it (user() is then what the
// token, JWT or webhook said). Allow by returning; attach or change the identity with
// set_user(); refuse with refuse().
class ENCKE_API handshake_event {
public:
    // The handshake's `ext` object as raw JSON, or "" when it has none.
    std::string_view ext() const noexcept { return ext_; }
    // The top-level member `key` of `ext` when it is a JSON string (unescaped); nullopt otherwise.
    std::optional<std::string> ext_string(std::string_view key) const;
    // A request header named in [auth] webhook_headers (matched case-insensitively), or "".
    std::string_view header(std::string_view name) const noexcept;
    // "websocket", "long-polling" or "callback-polling".
    std::string_view transport() const noexcept { return transport_; }

    const std::string& user() const noexcept { return user_; }
    // Attaches the user id other parties address this session by. Throws std::invalid_argument
    // unless it is 1-128 characters of letters, digits and !#$()+-.@_~ (so it can be a channel
    // segment, as in /users/{user}/**).
    void set_user(std::string user);
    // Refuses the handshake: the client gets "403::<reason>" and advice reconnect:"none". The
    // reason should be short, e.g. "bad_credentials".
    void refuse(std::string reason) { refusal_ = std::move(reason); refused_ = true; }
    bool refused() const noexcept { return refused_; }

private:
    friend struct detail::event_access;
    std::string_view ext_;
    std::string_view transport_;
    const void* headers_ = nullptr;  // the request's headers (internal type)
    std::string user_;
    std::string refusal_;
    bool refused_ = false;
};

// A subscription (a channel or a wildcard pattern such as "/chat/*", as the client wrote it).
// Runs after the [[channel]] rules have allowed it. In a message that subscribes to several
// channels, one refusal refuses them all (the hook may have been asked about the others).
//
// The hook is also asked about each concrete channel a wildcard subscription would deliver, with
// delivery_check() true: what it refuses by name, no wildcard delivers, so a hook that refuses
// "/admin/secret" also keeps it out of "/admin/*" and "/**". That answer is kept per session and
// channel (up to 32 channels of at most 128 bytes; an answer that threw is not kept): a hook
// whose answers change over time should refuse wildcard subscriptions instead. Side effects meant
// for real subscriptions ("X joined") belong behind `if (!e.delivery_check())`.
class ENCKE_API subscribe_event {
public:
    const session_view& session() const noexcept { return session_; }
    std::string_view channel() const noexcept { return channel_; }
    // True when asked about a wildcard delivery rather than a subscribe message.
    bool delivery_check() const noexcept { return delivery_; }
    // The client gets "403::<reason>".
    void refuse(std::string reason) { refusal_ = std::move(reason); refused_ = true; }
    bool refused() const noexcept { return refused_; }

private:
    friend struct detail::event_access;
    session_view session_;
    std::string_view channel_;
    std::string refusal_;
    bool refused_ = false;
    bool delivery_ = false;
};

// A publish from a client, to a broadcast or a service channel. Runs after the [[channel]] rules
// have allowed it and before anything is delivered.
class ENCKE_API publish_event {
public:
    const session_view& session() const noexcept { return session_; }
    std::string_view channel() const noexcept { return channel_; }
    // The message's `data` as raw JSON (after an earlier replace_data(), the replacement).
    std::string_view data() const noexcept { return replaced_ ? std::string_view(replacement_) : data_; }
    // The client gets "403::<reason>"; nobody receives the message.
    void refuse(std::string reason) { refusal_ = std::move(reason); refused_ = true; }
    bool refused() const noexcept { return refused_; }
    // Delivers `json` instead of the client's data. Throws std::invalid_argument when `json` is
    // not one valid JSON value.
    void replace_data(std::string json);

private:
    friend struct detail::event_access;
    session_view session_;
    std::string_view channel_;
    std::string_view data_;
    std::string replacement_;
    bool replaced_ = false;
    std::string refusal_;
    bool refused_ = false;
};

// Answers one service request later, from any thread (see service_request::defer()). Copyable;
// the first reply() or fail() wins, later ones are ignored. When the last copy is destroyed
// unanswered, the client gets "500::no_reply".
class ENCKE_API responder {
public:
    // The client's callback gets {successful:true, data:<json>}. Throws std::invalid_argument
    // when `json` is not one valid JSON value (the request stays unanswered).
    void reply(std::string json) const;
    // The client gets "403::<reason>".
    void fail(std::string reason) const;

private:
    friend struct detail::event_access;
    std::shared_ptr<detail::responder_state> state_;
};

// A message a client published to a service channel this application handles (a CometD remote
// call: cometd.remoteCall("echo", data, callback) publishes to /service/echo). Answer with
// reply() or fail() before returning, or take a responder with defer() and answer later.
class ENCKE_API service_request {
public:
    const session_view& session() const noexcept { return session_; }
    std::string_view channel() const noexcept { return channel_; }
    std::string_view data() const noexcept { return data_; }
    void reply(std::string json);
    void fail(std::string reason);
    responder defer();

private:
    friend struct detail::event_access;
    session_view session_;
    std::string_view channel_;
    std::string_view data_;
    responder responder_;
};

}  // namespace encke
