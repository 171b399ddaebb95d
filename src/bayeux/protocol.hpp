#pragma once
// The Bayeux state machine of one shard (PROTOCOL.md). Pure: it is driven by calls and a clock and
// reaches connections only through `sink`, so it is unit-tested without sockets. Not thread-safe:
// every call comes from the owning shard's thread.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bayeux/channel_index.hpp"
#include "bayeux/policy.hpp"
#include "bayeux/session.hpp"
#include "bayeux/settings.hpp"
#include "bayeux/sink.hpp"
#include "json/batch.hpp"
#include "util/clock.hpp"
#include "util/string_hash.hpp"

namespace encke::bayeux {

// Where a broadcast publish goes: the engine (memory: every shard of this node; redis: every node).
class publisher {
public:
    virtual ~publisher() = default;
    // `origin` is the publishing session's id (for broadcast_to_publisher = false), or "".
    virtual void publish(std::string_view channel, frame message, std::string_view origin) = 0;
};

// Where a publish goes instead of the fan-out when a bridge route takes its channel (the broker
// is then the source of truth: subscribers get the message back only through an inbound route).
class forwarder {
public:
    virtual ~forwarder() = default;
    // Called on a shard's thread. When a route takes `channel`, starts sending `data` to its
    // broker and returns true; `done` is later called on the SAME shard's thread, never inside
    // this call, with "" once the broker confirmed the message or a Bayeux error text.
    // Returns false when no route takes the channel.
    virtual bool forward(std::string_view channel, std::string_view data,
                         std::function<void(std::string_view error)> done) = 0;
};

struct request_context {
    transport_kind kind = transport_kind::long_polling;
    // HTTP: the browser cookie of the request, or the one issued with this response.
    std::string browser_id;
    bool cookie_sent = false;  // the request carried the cookie (it was not issued just now)
    sink_ptr out;              // the connection, for a held connect or a WebSocket binding
    std::vector<header> headers;  // handshakes: the request headers the policy asked for
};

struct outcome {
    std::vector<frame> parts;  // the response: members of one JSON array, in order
    bool held = false;         // HTTP: the response goes through ctx.out later (a held connect,
                               // or publish replies that wait for a broker's confirmation)
    std::string created;       // the clientId a handshake in this batch created, if any
};

// Counters readable from any thread (health and metrics).
struct counters {
    std::atomic<std::int64_t> sessions{0};
    std::atomic<std::uint64_t> handshakes{0};
    std::atomic<std::uint64_t> published{0};
    std::atomic<std::uint64_t> delivered{0};
    std::atomic<std::uint64_t> sessions_expired{0};
    std::atomic<std::uint64_t> sessions_overflowed{0};
    std::atomic<std::uint64_t> refused{0};
    std::atomic<std::uint64_t> handshakes_refused{0};
    std::atomic<std::uint64_t> private_delivered{0};  // deliver_to(): messages to one session
};

class protocol {
public:
    // The shard index (< 36) is encoded as the first character of every clientId it issues.
    protocol(const settings& s, const util::clock& clock, unsigned shard_index);
    ~protocol();

    void set_publisher(publisher* p) noexcept { publisher_ = p; }
    // Bridge routes for publishes (optional; set before the shard starts).
    void set_forwarder(forwarder* f) noexcept { forwarder_ = f; }
    // The application's decisions (optional; set before the shard starts). Without one, every
    // handshake, subscription and publish the protocol accepts is allowed.
    void set_policy(policy* p) noexcept { policy_ = p; }
    // Called (at most once until flush() runs) when deliveries are waiting to be written; the
    // shard posts flush() so that everything queued in one loop turn leaves in one write.
    void set_flush_request(std::function<void()> f) { request_flush_ = std::move(f); }

    // Handles one batch from one connection. Replies are appended to `out.parts` in the order
    // of the messages, with queued deliveries placed before a connect reply.
    void handle(std::span<const json::message> batch, const request_context& ctx, outcome& out);

    // A batch that could not be parsed or is too large: one error reply per message is not
    // possible, so the caller answers with this single message.
    static std::string error_body(std::string_view error);

    // A broadcast message for this shard's subscribers of `channel`. Each subscribed session
    // gets exactly one copy, however many of its patterns match. Cost: depth(channel) look-ups
    // plus one queue append per matching subscription; no allocation per subscriber.
    void deliver_local(std::string_view channel, const frame& message, std::string_view origin);

    // A message for one session whatever its subscriptions (a private delivery): queued like a
    // broadcast one. Returns false when this shard has no such session.
    bool deliver_to(std::string_view client_id, const frame& message);

    // Writes what was queued to sessions that have a held connect or a WebSocket.
    void flush();

    // Completes held connects whose time is up and removes sessions idle past maxInterval.
    // Call every 100 ms or so.
    void tick();

    // A connection went away: forget it as the session's socket or held connect.
    void detach(std::string_view client_id, const sink* gone);

    // Server stopping: answer every held connect now (advice retry: the client comes back, gets
    // 402 and re-handshakes on the new process).
    void shutdown();

    std::size_t session_count() const noexcept { return sessions_.size(); }
    // Entries in the hold-deadline heap, stale ones included (bounded; for tests).
    std::size_t hold_timer_count() const noexcept { return timers_.size(); }
    const counters& stats() const noexcept { return stats_; }
    const settings& config() const noexcept { return settings_; }
    // The shard that issued `client_id`, or -1.
    static int shard_of(std::string_view client_id) noexcept;

private:
    using session_ptr = std::shared_ptr<session>;
    enum class end_reason { normal, disconnected, overflow, shutdown };

    struct deferred_replies;
    struct handshake_args {
        std::string id;  // raw JSON of the request id
        bool ack = false;
        timesync_stamp ts;
    };
    void handshake(const json::message& m, const request_context& ctx, outcome& out,
                   std::shared_ptr<deferred_replies>& deferred);
    std::string open_session(const handshake_args& a, const request_context& ctx, std::string user,
                             std::string* created);
    std::string refuse_handshake(const handshake_args& a, std::string_view error);
    // A reply that will be known later (a webhook, a broker, a service handler): reserves its place
    // and returns how to fill it, on this shard's thread.
    // `fallback` makes the reply a stopping server sends instead.
    std::function<void(std::string)> defer_reply(const request_context& ctx, outcome& out,
                                                 std::shared_ptr<deferred_replies>& deferred,
                                                 std::function<std::string()> fallback);
    struct pending_reply {
        std::function<void(std::string)> fill;
        std::function<std::string()> fallback;
        bool done = false;
    };
    // Wildcard deliveries an application decides: its remembered answer, and asking it.
    std::optional<bool> remembered_verdict(const session& s, std::string_view channel) const;
    bool ask_application(session& s, std::string_view channel);
    static session_info info(const session& s) noexcept { return {s.id(), s.user, s.kind}; }
    void connect(const json::message& m, const request_context& ctx, bool alone, outcome& out);
    void subscribe(const json::message& m, session& s, bool unsubscribe, outcome& out);
    void disconnect(const json::message& m, session& s, outcome& out);
    void publish(const json::message& m, session& s, const request_context& ctx, outcome& out,
                 std::shared_ptr<deferred_replies>& deferred);

    session* find(const json::message& m, const request_context& ctx);
    void take_deliverable(session& s, std::vector<frame>& parts);
    std::string connect_reply(session& s, std::string_view id, std::string_view advice,
                              const timesync_stamp& ts);
    timesync_stamp stamp(const json::message& m) const;
    void complete_held(session& s, end_reason why);
    held_connect release_hold(session& s);
    void remove(session& s, end_reason why);
    void mark_dirty(session& s);
    void enqueue(session& s, const frame& message);
    void drop_acknowledged(session& s, std::int64_t upto);
    std::string reply_head(const json::message& m, std::string_view channel, bool ok) const;
    // `,"ext":{...}` of a delivery: the publisher's ext without the stripped keys, with the
    // server's identity member when the session has a user.
    void append_delivery_ext(std::string& d, std::string_view ext, std::string_view user) const;
    void timesync_ext(std::string& r, const json::message& m) const;

    settings settings_;
    const util::clock& clock_;
    unsigned shard_;
    publisher* publisher_ = nullptr;
    forwarder* forwarder_ = nullptr;
    policy* policy_ = nullptr;
    std::function<void()> request_flush_;
    bool flush_requested_ = false;
    bool stopping_ = false;

    std::unordered_map<std::string, session_ptr, util::string_hash, std::equal_to<>> sessions_;
    channel_index index_;
    std::vector<session_ptr> dirty_;
    std::vector<session_ptr> doomed_;
    std::unordered_map<std::string, std::int64_t> browser_holds_;
    std::uint64_t fanout_epoch_ = 0;
    std::uint64_t generation_ = 0;

    struct hold_timer {
        util::time_point deadline;
        std::uint64_t generation;
        std::weak_ptr<session> s;
        bool operator>(const hold_timer& o) const { return deadline > o.deadline; }
    };
    std::vector<hold_timer> timers_;  // min-heap on deadline; stale entries skipped by generation
    void compact_timers();
    util::time_point next_sweep_{};

    std::vector<std::shared_ptr<pending_reply>> pending_;  // deferred replies not yet answered
    std::vector<std::string> strip_keys_;  // strip_ext_keys and the identity key
    std::string advice_retry_;     // {"reconnect":"retry",...} for handshake and connect replies
    std::string advice_multiple_;  // the multiple-clients variant
    counters stats_;
};

}  // namespace encke::bayeux
