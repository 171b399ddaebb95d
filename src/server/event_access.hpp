#pragma once
// How the server layer fills and reads the public event objects (include/encke/events.hpp),
// whose members are private to applications.
#include <atomic>
#include <functional>
#include <span>
#include <string>

#include "bayeux/policy.hpp"
#include "encke/events.hpp"
#include "server/post_gate.hpp"

namespace encke::detail {

// One service request's answer, however many responder copies there are: the first wins; the
// last copy gone without an answer fails the request.
struct responder_state {
    std::function<void(std::string_view error, std::string_view data)> done;  // on `shard` only
    std::shared_ptr<node::post_gate> gate;
    unsigned shard = 0;
    std::atomic<bool> answered{false};
    // True while the handler of this request runs: an answer given then (on the shard) goes into
    // the reply being built. Any other answer is posted, to arrive once that reply is complete.
    std::atomic<bool> in_handler{false};

    void answer(std::string error, std::string data);
    ~responder_state();
};

struct event_access {
    static void init(handshake_event& e, std::string_view ext, std::string_view transport,
                     const std::span<const bayeux::header>* headers, std::string user) {
        e.ext_ = ext;
        e.transport_ = transport;
        e.headers_ = headers;
        e.user_ = std::move(user);
    }
    template <class E>
    static bool refused(const E& e) { return e.refused_; }
    template <class E>
    static const std::string& reason(const E& e) { return e.refusal_; }
    static std::string& user(handshake_event& e) { return e.user_; }

    static void init(subscribe_event& e, session_view s, std::string_view channel, bool delivery = false) {
        e.session_ = s;
        e.channel_ = channel;
        e.delivery_ = delivery;
    }
    static void init(publish_event& e, session_view s, std::string_view channel, std::string_view data) {
        e.session_ = s;
        e.channel_ = channel;
        e.data_ = data;
    }
    static bool replaced(const publish_event& e) { return e.replaced_; }
    static std::string& replacement(publish_event& e) { return e.replacement_; }

    static void init(service_request& e, session_view s, std::string_view channel, std::string_view data,
                     std::shared_ptr<responder_state> st) {
        e.session_ = s;
        e.channel_ = channel;
        e.data_ = data;
        e.responder_.state_ = std::move(st);
    }
};

}  // namespace encke::detail
