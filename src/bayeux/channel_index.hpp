#pragma once
// Which local sessions subscribe to which patterns. One per shard; no locks.
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "util/string_hash.hpp"

namespace encke::bayeux {

class session;

class channel_index {
public:
    // The caller guarantees the session does not already have the pattern (sessions keep their
    // own set). O(1) average.
    void add(std::string_view pattern, session* s);
    // Returns false when the session did not have it. Linear in the pattern's subscriber count.
    bool remove(std::string_view pattern, session* s);

    // Calls f(session*) — or f(session*, pattern) — once per subscriber of each pattern matching
    // `channel` (a session may appear several times: the caller de-duplicates). Cost: depth(channel) hash look-ups plus
    // the number of matching subscriptions.
    template <class F>
    void for_each_subscriber(std::string_view channel, F&& f);

    std::size_t pattern_count() const noexcept { return map_.size(); }

private:
    std::unordered_map<std::string, std::vector<session*>, util::string_hash, std::equal_to<>> map_;
    std::string buf_;
};

}  // namespace encke::bayeux

#include "bayeux/channel.hpp"

template <class F>
void encke::bayeux::channel_index::for_each_subscriber(std::string_view channel, F&& f) {
    if (map_.empty()) return;
    for_each_matching_pattern(channel, buf_, [&](std::string_view p) {
        auto it = map_.find(p);
        if (it == map_.end()) return;
        for (session* s : it->second) {
            if constexpr (std::is_invocable_v<F, session*, std::string_view>) f(s, p);
            else f(s);
        }
    });
}
