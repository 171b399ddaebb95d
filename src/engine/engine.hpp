#pragma once
// Where publishes go. The memory engine reaches every shard of this node; a Redis engine (later)
// reaches every node. Both sit behind bayeux::publisher, so the protocol does not know which.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "bayeux/protocol.hpp"

namespace encke::engine {

// A shard as an engine sees it: a way to run a task on its thread, and its protocol.
struct shard_port {
    std::function<void(std::function<void()>)> post;
    bayeux::protocol* protocol = nullptr;
};

class engine : public bayeux::publisher {
public:
    // Marks the calling thread as shard `index` of `owner` (so work for it runs inline, not posted).
    static void bind_thread(const engine* owner, int index) noexcept;
    // The shard of THIS engine that the calling thread runs, or -1 (another engine's shard, when
    // a process embeds two servers, counts as none).
    int current_shard() const noexcept;

    // Messages from outside the protocol (a broker bridge), callable from any thread: in order,
    // with one hand-over per shard. `accepted` runs (on some shard's thread) once every shard of
    // this node has queued them for its subscribers: the point from which Encke answers for them.
    struct injected {
        std::string channel;
        bayeux::frame message;
    };
    virtual void inject(std::vector<injected> batch, std::function<void()> accepted) = 0;
    // Runs f on shard `index`'s thread (posted). For answers that must go back to a shard.
    virtual void post_to(unsigned index, std::function<void()> f) = 0;
    virtual std::size_t shard_count() const noexcept = 0;
};

// One node, state in memory. A publish is handed to each shard in the order it was made, so
// per-publisher order holds on every shard; the frame is shared, never copied.
class memory_engine final : public engine {
public:
    explicit memory_engine(std::vector<shard_port> shards) : shards_(std::move(shards)) {}
    void publish(std::string_view channel, bayeux::frame message, std::string_view origin) override;
    void inject(std::vector<injected> batch, std::function<void()> accepted) override;
    void post_to(unsigned index, std::function<void()> f) override { shards_.at(index).post(std::move(f)); }
    std::size_t shard_count() const noexcept override { return shards_.size(); }

private:
    std::vector<shard_port> shards_;
};

}  // namespace encke::engine
