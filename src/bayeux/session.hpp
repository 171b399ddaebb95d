#pragma once
// One Bayeux client session, owned by one shard's protocol. Not thread-safe: only the owning
// shard's thread touches it.
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_set>

#include "bayeux/sink.hpp"
#include "util/clock.hpp"

namespace encke::bayeux {

enum class transport_kind { long_polling, callback_polling, websocket };

struct queued_message {
    frame data;
    std::uint64_t batch;  // ack extension: the batch it was queued in (0 when acks are off)
};

// A request's timesync extension ({tc, l, o}) and when it arrived (ts), for the reply.
struct timesync_stamp {
    bool present = false;
    std::int64_t tc = 0, l = 0, o = 0, ts = 0;
};

// The /meta/connect that is being held until something is to be delivered or it times out.
struct held_connect {
    sink_ptr out;
    std::string id;  // raw JSON of the request id ("" when absent)
    util::time_point deadline;
    std::uint64_t generation = 0;  // matches the timer entry that may complete it
    std::string browser;  // non-empty: counted under this browser id (multiple-clients rule)
    timesync_stamp timesync;
};

class session {
public:
    explicit session(std::string id) : id_(std::move(id)) {}

    const std::string& id() const noexcept { return id_; }

    std::string browser_id;                    // cookie value seen or issued at handshake
    std::unordered_set<std::string> subscriptions;
    std::deque<queued_message> queue;          // waiting for delivery (and, with acks, for an ack)
    std::size_t queued_bytes = 0;
    std::size_t unsent = 0;                    // ack mode: the newest `unsent` entries were never sent
    bool ack = false;                          // the ack extension is on for this session
    std::uint64_t ack_batch = 1;               // ack mode: the batch now being filled
    bool connected = false;                    // has sent a /meta/connect
    std::optional<held_connect> held;
    sink_ptr socket;                           // WebSocket bound to the session, if any
    util::time_point expires_at{};
    std::uint64_t fanout_epoch = 0;            // de-duplicates deliveries within one publish
    std::uint64_t hold_generation = 0;
    bool dirty = false;                        // in the protocol's flush list
    bool doomed = false;                       // queued for removal (outbound queue over its bound)

    // Something to write: new messages, or in ack mode ones not yet acknowledged.
    bool has_deliverable() const noexcept { return !queue.empty(); }

private:
    std::string id_;
};

}  // namespace encke::bayeux
