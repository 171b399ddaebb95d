// Fan-out within one shard: one publish reaches N subscribed sessions. Measured through the real
// path: protocol::handle (publish) → memory_engine → protocol::deliver_local → protocol::flush →
// sink::send, with sinks that count and drop what they get. Reported per delivery.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "alloc_counter.hpp"
#include "bench_support.hpp"

namespace encke::bench {
namespace {

using bayeux::request_context;
using bayeux::transport_kind;

constexpr std::string_view channel = "/bench/fanout";

// N WebSocket sessions subscribed to `channel` (and, with `wildcards`, also to /bench/* and /**,
// so each is found three times and de-duplicated), plus one long-polling publisher.
struct ws_fanout {
    ws_fanout(std::size_t n, bool wildcards) : data(data_object(100)) {
        for (std::size_t i = 0; i < n; ++i) {
            auto sink = std::make_shared<null_sink>(true);
            std::string id = sh.handshake(transport_kind::websocket, sink);
            sh.subscribe(id, channel);
            if (wildcards) {
                sh.subscribe(id, "/bench/*");
                sh.subscribe(id, "/**");
            }
            sinks.push_back(std::move(sink));
        }
        publisher_id = sh.handshake(transport_kind::long_polling, nullptr);
        publish = publish_message(publisher_id, channel, data);
    }

    // One publish; returns after the fan-out, before the flush.
    void publish_once() {
        bayeux::outcome out;
        sh.proto.handle({&publish, 1}, ctx, out);
        benchmark::DoNotOptimize(out.parts.data());
    }

    // One publish and the flush that follows it. Not inlined, so that a profiler can collect
    // exactly this (valgrind --toggle-collect='*ws_fanout::cycle*').
    [[gnu::noinline]] void cycle() {
        publish_once();
        sh.proto.flush();
    }

    std::uint64_t frames_sent() const {
        std::uint64_t f = 0;
        for (auto& s : sinks) f += s->frames;
        return f;
    }

    shard sh;
    std::vector<std::shared_ptr<null_sink>> sinks;
    std::string data;
    std::string publisher_id;
    json::message publish;
    request_context ctx;  // the publisher's long-polling request
};

void check_delivered(benchmark::State& state, const ws_fanout& f, std::uint64_t expected) {
    if (f.frames_sent() != expected) state.SkipWithError("not every subscriber got the message");
}

// The whole path for one publish: fan-out and flush to N WebSockets.
void fanout_ws(benchmark::State& state, bool wildcards) {
    auto n = static_cast<std::size_t>(state.range(0));
    ws_fanout f(n, wildcards);
    alloc_meter allocs;
    for (auto _ : state) f.cycle();
    auto deliveries = static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n);
    state.SetItemsProcessed(deliveries);
    allocs.report(state, "allocs/delivery", static_cast<double>(deliveries));
    check_delivered(state, f, static_cast<std::uint64_t>(deliveries));
}

void BM_fanout_ws(benchmark::State& state) { fanout_ws(state, false); }
BENCHMARK(BM_fanout_ws)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

// Same, each session subscribed through three matching patterns (exact, /bench/*, /**).
void BM_fanout_ws_overlapping(benchmark::State& state) { fanout_ws(state, true); }
BENCHMARK(BM_fanout_ws_overlapping)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

// Only the fan-out (deliver_local: look-ups, queue appends, marking sessions dirty); the flush
// runs with the timer paused.
void BM_fanout_ws_deliver_only(benchmark::State& state) {
    auto n = static_cast<std::size_t>(state.range(0));
    ws_fanout f(n, false);
    for (auto _ : state) {
        f.publish_once();
        state.PauseTiming();
        f.sh.proto.flush();
        state.ResumeTiming();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n));
}
BENCHMARK(BM_fanout_ws_deliver_only)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

// Only the flush (per dirty session: a check, a parts vector, a sink send).
void BM_fanout_ws_flush_only(benchmark::State& state) {
    auto n = static_cast<std::size_t>(state.range(0));
    ws_fanout f(n, false);
    for (auto _ : state) {
        state.PauseTiming();
        f.publish_once();
        state.ResumeTiming();
        f.sh.proto.flush();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n));
}
BENCHMARK(BM_fanout_ws_flush_only)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

// Long-polling: N sessions each with a held /meta/connect. One cycle = publish, flush (each held
// connect is completed with [delivery, connect reply]) and every client's next connect, which is
// held again — what one message costs per long-polling subscriber.
struct lp_fanout {
    explicit lp_fanout(std::size_t n) : data(data_object(100)) {
        for (std::size_t i = 0; i < n; ++i) {
            ids.push_back(sh.handshake(transport_kind::long_polling, nullptr));
            sh.subscribe(ids.back(), channel, transport_kind::long_polling);
            request_context first;  // the first connect is answered at once
            sh.handle(connect_message(ids.back(), false), first);
            auto sink = std::make_shared<null_sink>(false);
            request_context ctx;
            ctx.out = sink;
            sinks.push_back(std::move(sink));
            ctxs.push_back(std::move(ctx));
        }
        for (auto& id : ids) connects.push_back(connect_message(id, false));
        connect_all();
        publisher_id = sh.handshake(transport_kind::long_polling, nullptr);
        publish = publish_message(publisher_id, channel, data);
    }

    void connect_all() {
        for (std::size_t i = 0; i < connects.size(); ++i) {
            bayeux::outcome out;
            sh.proto.handle({&connects[i], 1}, ctxs[i], out);
            benchmark::DoNotOptimize(out.held);
        }
    }

    // valgrind --toggle-collect='*lp_fanout::cycle*'
    [[gnu::noinline]] void cycle() {
        bayeux::outcome out;
        sh.proto.handle({&publish, 1}, pctx, out);
        benchmark::DoNotOptimize(out.parts.data());
        sh.proto.flush();
        connect_all();
    }

    shard sh;
    std::vector<std::string> ids;
    std::vector<std::shared_ptr<null_sink>> sinks;
    std::vector<request_context> ctxs;
    std::vector<json::message> connects;
    std::string data;
    std::string publisher_id;
    json::message publish;
    request_context pctx;
};

void BM_fanout_longpoll_cycle(benchmark::State& state) {
    auto n = static_cast<std::size_t>(state.range(0));
    lp_fanout f(n);
    alloc_meter allocs;
    for (auto _ : state) f.cycle();
    auto deliveries = static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n);
    state.SetItemsProcessed(deliveries);
    allocs.report(state, "allocs/delivery", static_cast<double>(deliveries));
    std::uint64_t sends = 0;
    for (auto& s : f.sinks) sends += s->sends;
    if (sends != static_cast<std::uint64_t>(deliveries)) state.SkipWithError("held connects not completed");
}
BENCHMARK(BM_fanout_longpoll_cycle)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace encke::bench
