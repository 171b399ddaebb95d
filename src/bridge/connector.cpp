#include "bridge/connector.hpp"

#include <algorithm>
#include <random>

namespace encke::bridge {

const char* to_string(link_state s) noexcept {
    switch (s) {
        case link_state::connecting: return "connecting";
        case link_state::connected: return "connected";
        case link_state::disconnected: return "disconnected";
        case link_state::stopped: return "stopped";
    }
    return "unknown";
}

std::chrono::milliseconds backoff(const connector_options& o, unsigned attempt) {
    using ms = std::chrono::milliseconds;
    auto lo = std::max<std::int64_t>(1, o.reconnect_min.count());
    auto hi = std::max<std::int64_t>(lo, o.reconnect_max.count());
    std::int64_t d = lo;
    for (unsigned i = 0; i < attempt && d < hi; ++i) d *= 2;
    d = std::min(d, hi);
    thread_local std::minstd_rand rng{std::random_device{}()};
    std::uniform_int_distribution<std::int64_t> jitter(d / 2, d);
    return ms(jitter(rng));
}

}  // namespace encke::bridge
