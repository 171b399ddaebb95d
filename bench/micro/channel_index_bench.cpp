// bayeux::channel_index: finding the subscribers of a publish channel among many exact and
// wildcard subscriptions, and subscribing/unsubscribing.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "bayeux/channel_index.hpp"
#include "bayeux/session.hpp"

#include "alloc_counter.hpp"

namespace encke::bench {
namespace {

using bayeux::channel_index;
using bayeux::session;

constexpr int rooms = 100;
constexpr int topics = 10;

std::string leaf(int room, int topic) {
    return "/app/r" + std::to_string(room) + "/t" + std::to_string(topic);
}

// 10k sessions on a tree /app/r<0..99>/t<0..9> (1000 leaf channels, depth 3):
//   every session   an exact leaf              (10 per leaf)
//   20 %            /app/r<i>/*                (20 per room)
//    5 %            /app/r<i>/**               ( 5 per room)
//    1 %            /app/**                    (100)
//    0.1 %          /**                        ( 10)
// A publish on a leaf visits 10 + 20 + 5 + 100 + 10 = 145 subscriptions.
struct loaded_index {
    explicit loaded_index(int n_sessions = 10'000) {
        for (int k = 0; k < n_sessions; ++k) {
            session* s = &sessions.emplace_back("s" + std::to_string(k));
            int room = k % rooms;
            int j = k / rooms;  // the session's rank within its room
            index.add(leaf(room, j % topics), s);
            std::string r = "/app/r" + std::to_string(room);
            if (j % 5 == 0) index.add(r + "/*", s);
            if (j % 20 == 1) index.add(r + "/**", s);
            if (k % 100 == 2) index.add("/app/**", s);
            if (k % 1000 == 3) index.add("/**", s);
        }
        for (int r = 0; r < rooms; ++r)
            for (int t = 0; t < topics; ++t) channels.push_back(leaf(r, t));
    }
    std::deque<session> sessions;
    channel_index index;
    std::vector<std::string> channels;
};

loaded_index& shared_index() {
    static loaded_index idx;
    return idx;
}

// Per lookup: publish channels round-robin over the 1000 leaves (so the hash table is not all in
// L1), visiting every matching subscription as the protocol's fan-out does.
void BM_index_lookup(benchmark::State& state) {
    auto& idx = shared_index();
    std::size_t i = 0;
    std::uint64_t visits = 0;
    alloc_meter allocs;
    for (auto _ : state) {
        const std::string& ch = idx.channels[i];
        if (++i == idx.channels.size()) i = 0;
        idx.index.for_each_subscriber(ch, [&](session* s) {
            benchmark::DoNotOptimize(s);
            ++visits;
        });
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.counters["visits/lookup"] =
        static_cast<double>(visits) / static_cast<double>(state.iterations());
    state.counters["patterns"] = static_cast<double>(idx.index.pattern_count());
    allocs.report(state, "allocs/op", static_cast<double>(state.iterations()));
}
BENCHMARK(BM_index_lookup);

// The cost of depth: a channel `depth` segments deep under /app/r5/t3/… probes depth + 2
// patterns. Depth 3 is the leaf itself; deeper channels are only reached by the 115 `/**`
// subscriptions of their ancestors (/app/r5/**, /app/**, /**).
void BM_index_lookup_depth(benchmark::State& state) {
    auto& idx = shared_index();
    auto depth = static_cast<int>(state.range(0));
    std::string ch = "/app";
    if (depth >= 2) ch += "/r5";
    if (depth >= 3) ch += "/t3";
    for (int d = 4; d <= depth; ++d) ch += "/x" + std::to_string(d);
    std::uint64_t visits = 0;
    for (auto _ : state) {
        idx.index.for_each_subscriber(ch, [&](session* s) {
            benchmark::DoNotOptimize(s);
            ++visits;
        });
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.counters["visits/lookup"] =
        static_cast<double>(visits) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_index_lookup_depth)->Arg(1)->Arg(3)->Arg(6)->Arg(10);

// A publish on a channel nobody subscribes to (except the 10 root `/**`): the fixed cost of the
// depth + 2 look-ups, each building the pattern string in the index's buffer and hashing it.
void BM_index_lookup_miss(benchmark::State& state) {
    auto& idx = shared_index();
    const std::string ch = "/other/room/topic";
    for (auto _ : state) {
        idx.index.for_each_subscriber(ch, [&](session* s) { benchmark::DoNotOptimize(s); });
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_index_lookup_miss);

// Unsubscribe + subscribe again on a pattern with N subscribers. remove() finds the session by a
// linear scan of the pattern's vector, so this grows with N (the session is picked pseudo-randomly,
// so on average half the vector is scanned).
void BM_index_remove_add(benchmark::State& state) {
    auto n = static_cast<std::size_t>(state.range(0));
    std::deque<session> sessions;
    channel_index index;
    for (std::size_t k = 0; k < n; ++k) index.add("/chat/lobby", &sessions.emplace_back("s" + std::to_string(k)));
    std::uint64_t x = 88172645463325252ull;  // xorshift64
    for (auto _ : state) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        session* s = &sessions[x % n];
        bool removed = index.remove("/chat/lobby", s);
        benchmark::DoNotOptimize(removed);
        index.add("/chat/lobby", s);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.SetComplexityN(static_cast<std::int64_t>(n));
}
BENCHMARK(BM_index_remove_add)->RangeMultiplier(8)->Range(8, 32768)->Complexity(benchmark::oN);

// Subscribing to a pattern nobody else has, then unsubscribing: the map node, its key string
// and the one-element vector are allocated and freed each time (10k-session index behind it).
void BM_index_add_remove_new_pattern(benchmark::State& state) {
    auto& idx = shared_index();
    session s("lonely");
    const std::string pattern = "/app/r5/t3/private/lonely";
    alloc_meter allocs;
    for (auto _ : state) {
        idx.index.add(pattern, &s);
        bool removed = idx.index.remove(pattern, &s);
        benchmark::DoNotOptimize(removed);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    allocs.report(state, "allocs/op", static_cast<double>(state.iterations()));
}
BENCHMARK(BM_index_add_remove_new_pattern);

}  // namespace
}  // namespace encke::bench
