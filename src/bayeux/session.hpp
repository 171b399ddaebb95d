#pragma once
// One Bayeux client session, owned by one shard's protocol. Not thread-safe: only the owning
// shard's thread touches it.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "bayeux/sink.hpp"
#include "util/clock.hpp"
#include "util/string_hash.hpp"

namespace encke::bayeux {

enum class transport_kind { long_polling, callback_polling, websocket };

struct queued_message {
    frame data;
    std::uint64_t batch;  // ack extension: the batch it was queued in (0 when acks are off)
};

// A session's outbound queue: a vector read from `head_`. Cheaper than std::deque, which
// allocates ~600 bytes for an empty queue (most sessions' queue is empty most of the time).
class message_queue {
public:
    using iterator = std::vector<queued_message>::iterator;
    bool empty() const noexcept { return head_ == items_.size(); }
    std::size_t size() const noexcept { return items_.size() - head_; }
    queued_message& front() noexcept { return items_[head_]; }
    iterator begin() noexcept { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
    iterator end() noexcept { return items_.end(); }
    void push_back(queued_message m) { items_.push_back(std::move(m)); }
    void pop_front() {
        items_[head_++].data.reset();
        if (head_ == items_.size()) {
            clear();
        } else if (head_ >= 32 && head_ * 2 >= items_.size()) {
            items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
    }
    void clear() {
        head_ = 0;
        if (items_.capacity() > 16) std::vector<queued_message>().swap(items_);
        else items_.clear();
    }

private:
    std::vector<queued_message> items_;
    std::size_t head_ = 0;
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

class session : public std::enable_shared_from_this<session> {
public:
    explicit session(std::string id) : id_(std::move(id)) {}

    const std::string& id() const noexcept { return id_; }

    std::string browser_id;                    // cookie value seen or issued at handshake
    std::string user;                          // authenticated user id ("" anonymous)
    transport_kind kind = transport_kind::long_polling;  // of the latest handshake or connect
    std::unordered_set<std::string> subscriptions;
    message_queue queue;                       // waiting for delivery (and, with acks, for an ack)
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
    bool removed = false;                      // no longer in the protocol's session map
    // Wildcard deliveries the policy was asked about: channel → may receive (allocated on the
    // first such question only).
    using verdicts = std::unordered_map<std::string, bool, util::string_hash, std::equal_to<>>;
    std::unique_ptr<verdicts> receive_verdicts;

    // Something to write: new messages, or in ack mode ones not yet acknowledged.
    bool has_deliverable() const noexcept { return !queue.empty(); }

private:
    std::string id_;
};

}  // namespace encke::bayeux
