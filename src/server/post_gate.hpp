#pragma once
// The way back onto a shard for answers that come from other threads (a webhook, an
// application's deferred service reply). It outlives the server: once the server has stopped,
// close() makes every later post a no-op instead of a use of a destroyed engine.
#include <functional>
#include <memory>
#include <mutex>

#include "engine/engine.hpp"

namespace encke::node {

class post_gate {
public:
    explicit post_gate(engine::engine* e) : engine_(e) {}

    // Runs f on shard `index` (posted). False, and f is dropped, once closed.
    bool post(unsigned index, std::function<void()> f) {
        std::lock_guard lock(m_);
        if (!engine_) return false;
        engine_->post_to(index, std::move(f));
        return true;
    }
    // The calling thread is shard `index` of this server (never true once closed).
    bool on_shard(unsigned index) const {
        std::lock_guard lock(m_);
        return engine_ && engine_->current_shard() == static_cast<int>(index);
    }
    void close() {
        std::lock_guard lock(m_);
        engine_ = nullptr;
    }

private:
    mutable std::mutex m_;
    engine::engine* engine_;
};

}  // namespace encke::node
