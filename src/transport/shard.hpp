#pragma once
// A shard: one thread, one io_context, one protocol instance with the sessions it owns. Work for
// another shard's sessions is posted to that shard; nothing on the delivery path takes a lock.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "bayeux/protocol.hpp"
#include "engine/engine.hpp"
#include "json/batch.hpp"
#include "transport/settings.hpp"
#include "transport/static_files.hpp"

namespace encke::transport {

class shard;

// Something the server must close on shutdown.
class connection {
public:
    virtual ~connection() = default;
    virtual void shutdown() = 0;
    // Called once a second on the shard's thread (idle checks that need no timer of their own).
    virtual void on_second(util::time_point) {}
};

// Everything the shards share. Immutable after start, except the atomics.
struct context {
    settings http;
    bayeux::settings bayeux;
    static_files files;
    std::vector<std::unique_ptr<shard>> shards;
    std::unique_ptr<engine::engine> engine;
    std::atomic<std::int64_t> connections{0};
    std::atomic<std::uint64_t> connections_refused{0};
    // Broadcasts the server itself made (POST /api/publish, the C++ API's publish()).
    std::atomic<std::uint64_t> published_by_server{0};
    std::atomic<bool> stopping{false};
    // The broker bridges' part of /healthz (a JSON array), when there are bridges.
    std::function<std::string()> bridges_health;
    // The application policy's part of /healthz (a JSON object's members), when there is one.
    std::function<std::string()> policy_health;
    // Request headers a handshake hands to the policy (the webhook's `headers`).
    std::vector<std::string> handshake_headers;
    // POST /api/publish: set by the server; answers a request's body (on the calling shard).
    struct api_result {
        int status;
        std::string body;
    };
    std::function<api_result(std::string_view authorization, std::string_view body)> api_publish;
    util::time_point started = util::steady::now();

    context(settings h, bayeux::settings b) : http(std::move(h)), bayeux(std::move(b)), files(http.web_root) {}
};

// Holds one unit of the connection count for as long as the socket lives (it moves from the
// HTTP connection to the WebSocket connection on upgrade).
class connection_slot {
public:
    explicit connection_slot(context& c) : ctx_(&c) {}
    connection_slot(connection_slot&& o) noexcept : ctx_(std::exchange(o.ctx_, nullptr)) {}
    connection_slot& operator=(connection_slot&&) = delete;
    ~connection_slot() {
        if (ctx_) ctx_->connections.fetch_sub(1, std::memory_order_relaxed);
    }

private:
    context* ctx_;
};

class shard {
public:
    shard(context& ctx, unsigned index, const util::clock& clock);

    context& ctx;
    const unsigned index;
    // Declared first so it is destroyed last: destroying the io_context and the protocol can
    // destroy connections, which remove themselves from this set.
    std::unordered_set<connection*> connections;
    boost::asio::io_context ioc{1};
    bayeux::protocol protocol;
    json::batch_parser parser;
    // Where WebSocket connections read to: an idle connection keeps no buffer of its own.
    std::vector<char> read_scratch = std::vector<char>(65536);

    // Starts the 100 ms protocol tick.
    void start();
    // Answers held connects, closes every connection, stops the tick. On this shard's thread.
    void shutdown();

    // Runs f on this shard's thread: inline when already there, posted otherwise.
    void run_here(std::function<void()> f);

    // Which shard owns the batch: the shard of its first clientId; for a batch without one (a
    // handshake), `handshake_shard`.
    static unsigned owner(std::span<const json::message> batch, unsigned handshake_shard,
                          std::size_t shard_count);

private:
    void on_tick();
    boost::asio::steady_timer tick_{ioc};
    bool stopped_ = false;
    unsigned ticks_ = 0;
};

// Where a handshake creates its session: the shard chosen by the browser id when there is one,
// so that all sessions of one browser share a shard and the multiple-clients count needs no
// lock; otherwise the connection's own shard.
unsigned shard_for_browser(std::string_view browser_id, const shard& local);

// The result of one batch: on the connection's shard once the owning shard has handled it.
using batch_done = std::function<void(bayeux::outcome&&)>;

// Parses `body` (already parsed into `msgs` on shard `local`), hands it to the owning shard,
// and calls `done` back on `local`. `msgs` views must stay valid only during this call.
void dispatch_batch(shard& local, std::span<const json::message> msgs, std::string body,
                    unsigned handshake_shard, bayeux::request_context ctx, batch_done done);

}  // namespace encke::transport
