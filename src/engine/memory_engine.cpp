#include <atomic>
#include <memory>
#include <string>

#include "engine/engine.hpp"

namespace encke::engine {

namespace {
thread_local const engine* this_owner = nullptr;
thread_local int this_shard = -1;
}  // namespace

void engine::bind_thread(const engine* owner, int index) noexcept {
    this_owner = owner;
    this_shard = index;
}
int engine::current_shard() const noexcept { return this_owner == this ? this_shard : -1; }

void memory_engine::publish(std::string_view channel, bayeux::frame message,
                            std::string_view origin_view) {
    // Copied first: delivering on this shard may end the publishing session (its own queue can
    // overflow), and `origin_view` points into it.
    std::string origin(origin_view);
    int here = current_shard();
    for (std::size_t i = 0; i < shards_.size(); ++i) {
        auto& sh = shards_[i];
        if (static_cast<int>(i) == here) {
            sh.protocol->deliver_local(channel, message, origin);
        } else {
            sh.post([p = sh.protocol, ch = std::string(channel), message, o = origin] {
                p->deliver_local(ch, message, o);
            });
        }
    }
}

void memory_engine::inject(std::vector<injected> batch, std::function<void()> accepted) {
    // Always posted, also from a shard: the caller is a bridge's thread, or expects to be.
    struct countdown {
        std::atomic<std::size_t> left;
        std::function<void()> accepted;
        std::vector<injected> batch;
    };
    auto c = std::make_shared<countdown>();
    c->left.store(shards_.size(), std::memory_order_relaxed);
    c->accepted = std::move(accepted);
    c->batch = std::move(batch);
    for (auto& sh : shards_) {
        sh.post([p = sh.protocol, c] {
            for (auto& m : c->batch) p->deliver_local(m.channel, m.message, {});
            if (c->left.fetch_sub(1, std::memory_order_acq_rel) == 1 && c->accepted) c->accepted();
        });
    }
}

}  // namespace encke::engine
