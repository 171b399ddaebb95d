// json::batch_parser on the batches a server sees most: a publish, a handshake, a /meta/connect
// and a 10-message publish batch. The parser validates the whole text (simdjson DOM) and then
// walks it On-Demand, so each batch is read twice.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "alloc_counter.hpp"
#include "bench_support.hpp"
#include "json/batch.hpp"

namespace encke::bench {
namespace {

constexpr std::string_view client_id = "0k3j5h2g7f9d1s4a6p8o0i2u4y";

std::string publish_msg(int id) {
    return R"({"channel":"/chat/room42","data":)" + data_object(100) + R"(,"clientId":")" +
           std::string(client_id) + R"(","id":")" + std::to_string(id) + "\"}";
}

// What the CometD JavaScript client sends (field order and extensions included).
std::string handshake_batch() {
    return R"([{"id":"1","version":"1.0","minimumVersion":"1.0","channel":"/meta/handshake",)"
           R"("supportedConnectionTypes":["websocket","long-polling","callback-polling"],)"
           R"("advice":{"timeout":60000,"interval":0},"ext":{"ack":true}}])";
}

std::string connect_batch() {
    return R"([{"id":"3","channel":"/meta/connect","connectionType":"long-polling",)"
           R"("advice":{"timeout":0},"clientId":")" +
           std::string(client_id) + R"(","ext":{"ack":2}}])";
}

std::string publish_batch(int n) {
    std::string b = "[";
    for (int i = 0; i < n; ++i) {
        if (i) b += ',';
        b += publish_msg(10 + i);
    }
    return b + "]";
}

void run(benchmark::State& state, const std::string& text, std::size_t expected) {
    json::batch_parser parser(64);
    std::vector<json::message> out;
    if (parser.parse(text, out) != json::parse_error::none || out.size() != expected)
        throw std::runtime_error("benchmark batch does not parse: " + text);
    alloc_meter allocs;
    for (auto _ : state) {
        auto e = parser.parse(text, out);
        benchmark::DoNotOptimize(e);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * expected));
    state.counters["batch_bytes"] = static_cast<double>(text.size());
    allocs.report(state, "allocs/batch", static_cast<double>(state.iterations()));
}

void BM_parse_publish_1(benchmark::State& state) { run(state, "[" + publish_msg(7) + "]", 1); }
BENCHMARK(BM_parse_publish_1);

void BM_parse_handshake(benchmark::State& state) { run(state, handshake_batch(), 1); }
BENCHMARK(BM_parse_handshake);

void BM_parse_connect(benchmark::State& state) { run(state, connect_batch(), 1); }
BENCHMARK(BM_parse_connect);

void BM_parse_publish_10(benchmark::State& state) { run(state, publish_batch(10), 10); }
BENCHMARK(BM_parse_publish_10);

// A subscribe with an array of 5 channels: the array is decoded in a second On-Demand pass and
// each string copied into the parser's deque.
void BM_parse_subscribe_array(benchmark::State& state) {
    std::string b = R"([{"id":"4","channel":"/meta/subscribe","subscription":["/chat/a","/chat/b",)"
                    R"("/chat/c/*","/news/**","/stock/ACME"],"clientId":")" +
                    std::string(client_id) + "\"}]";
    run(state, b, 1);
}
BENCHMARK(BM_parse_subscribe_array);

}  // namespace
}  // namespace encke::bench
