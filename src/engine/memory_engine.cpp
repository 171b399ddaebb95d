#include <string>

#include "engine/engine.hpp"

namespace encke::engine {

namespace {
thread_local int this_shard = -1;
}

void engine::bind_thread(int index) noexcept { this_shard = index; }
int engine::current_shard() noexcept { return this_shard; }

void memory_engine::publish(std::string_view channel, bayeux::frame message,
                            std::string_view origin_view) {
    // Copied first: delivering on this shard may end the publishing session (its own queue can
    // overflow), and `origin_view` points into it.
    std::string origin(origin_view);
    for (std::size_t i = 0; i < shards_.size(); ++i) {
        auto& sh = shards_[i];
        if (static_cast<int>(i) == this_shard) {
            sh.protocol->deliver_local(channel, message, origin);
        } else {
            sh.post([p = sh.protocol, ch = std::string(channel), message, o = origin] {
                p->deliver_local(ch, message, o);
            });
        }
    }
}

}  // namespace encke::engine
