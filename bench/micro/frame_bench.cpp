// Building the JSON the server writes: the delivery frame `{"channel":…,"data":<raw>}` and the
// replies. The frames are built inside bayeux::protocol (publish(), reply_head(), connect_reply()
// are private), so they are measured through protocol::handle() with a hand-built message (no
// parsing), plus the json::writer primitives they use.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

#include "alloc_counter.hpp"
#include "bench_support.hpp"
#include "json/writer.hpp"

namespace encke::bench {
namespace {

using bayeux::request_context;
using bayeux::transport_kind;

// A publish from a long-polling session. With `deliver` the protocol builds the delivery frame
// and hands it to a publisher that drops it; without a publisher only the acknowledgement
// `{"id":"7","channel":…,"successful":true}` is built. The difference is the delivery frame.
void publish_frames(benchmark::State& state, bool deliver) {
    auto size = static_cast<std::size_t>(state.range(0));
    util::manual_clock clock;
    bayeux::protocol proto({}, clock, 0);
    discard_publisher pub;
    if (deliver) proto.set_publisher(&pub);
    request_context ctx;
    ctx.kind = transport_kind::long_polling;
    bayeux::outcome hs;
    json::message h = handshake_message();
    proto.handle({&h, 1}, ctx, hs);
    std::string data = data_object(size);
    json::message m = publish_message(hs.created, "/chat/room42", data);
    bayeux::outcome out;
    alloc_meter allocs;
    for (auto _ : state) {
        out.parts.clear();
        proto.handle({&m, 1}, ctx, out);
        benchmark::DoNotOptimize(out.parts.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    allocs.report(state, "allocs/op", static_cast<double>(state.iterations()));
    if (deliver)
        state.SetBytesProcessed(static_cast<std::int64_t>(pub.bytes));
}

void BM_frame_publish_ack_only(benchmark::State& state) { publish_frames(state, false); }
BENCHMARK(BM_frame_publish_ack_only)->Arg(100);

void BM_frame_publish_delivery(benchmark::State& state) { publish_frames(state, true); }
BENCHMARK(BM_frame_publish_delivery)->Arg(100)->Arg(1024)->Arg(16384);

// A publish carrying ext and two unknown top-level fields: each is copied into the delivery, the
// unknown keys through json::append_key (escaping pass).
void BM_frame_publish_delivery_ext(benchmark::State& state) {
    util::manual_clock clock;
    bayeux::protocol proto({}, clock, 0);
    discard_publisher pub;
    proto.set_publisher(&pub);
    request_context ctx;
    bayeux::outcome hs;
    json::message h = handshake_message();
    proto.handle({&h, 1}, ctx, hs);
    std::string data = data_object(100);
    json::message m = publish_message(hs.created, "/chat/room42", data);
    m.ext = R"({"app":{"trace":"a1b2c3"}})";
    m.others = {{"priority", "3"}, {"tags", R"(["x","y"])"}};
    bayeux::outcome out;
    alloc_meter allocs;
    for (auto _ : state) {
        out.parts.clear();
        proto.handle({&m, 1}, ctx, out);
        benchmark::DoNotOptimize(out.parts.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    allocs.report(state, "allocs/op", static_cast<double>(state.iterations()));
}
BENCHMARK(BM_frame_publish_delivery_ext);

// A /meta/connect answered at once (`advice.timeout` 0): session look-up and the connect reply
// `{"id":…,"channel":"/meta/connect","successful":true,"advice":{…}}`.
void BM_frame_connect_reply(benchmark::State& state) {
    util::manual_clock clock;
    bayeux::protocol proto({}, clock, 0);
    request_context ctx;
    bayeux::outcome hs;
    json::message h = handshake_message();
    proto.handle({&h, 1}, ctx, hs);
    json::message m = connect_message(hs.created, true);
    bayeux::outcome out;
    alloc_meter allocs;
    for (auto _ : state) {
        out.parts.clear();
        proto.handle({&m, 1}, ctx, out);
        benchmark::DoNotOptimize(out.parts.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    allocs.report(state, "allocs/op", static_cast<double>(state.iterations()));
}
BENCHMARK(BM_frame_connect_reply);

// A whole handshake: a CSPRNG-backed clientId, the session, its map entry, and the reply.
void BM_frame_handshake_reply(benchmark::State& state) {
    util::manual_clock clock;
    bayeux::protocol proto({}, clock, 0);
    request_context ctx;
    json::message h = handshake_message();
    bayeux::outcome out;
    alloc_meter allocs;
    for (auto _ : state) {
        out.parts.clear();
        proto.handle({&h, 1}, ctx, out);
        benchmark::DoNotOptimize(out.parts.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    allocs.report(state, "allocs/op", static_cast<double>(state.iterations()));
    state.counters["sessions"] = static_cast<double>(proto.session_count());
}
BENCHMARK(BM_frame_handshake_reply)->Iterations(50'000);

void BM_frame_error_body(benchmark::State& state) {
    alloc_meter allocs;
    for (auto _ : state) {
        auto s = bayeux::protocol::error_body("400::invalid_json");
        benchmark::DoNotOptimize(s.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    allocs.report(state, "allocs/op", static_cast<double>(state.iterations()));
}
BENCHMARK(BM_frame_error_body);

// The writer primitive: a channel name (no escapes) and a text with quotes and newlines.
void BM_writer_append_string(benchmark::State& state) {
    const std::string plain = "/chat/room42/subtopic";
    const std::string escaped = "He said \"hi\"\nand left \\ twice\t.";
    const std::string& s = state.range(0) ? escaped : plain;
    std::string out;
    for (auto _ : state) {
        out.clear();
        json::append_string(out, s);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * s.size()));
}
BENCHMARK(BM_writer_append_string)->ArgName("escapes")->Arg(0)->Arg(1);

// JSONP bodies: every frame is passed through escape_line_separators (a byte-at-a-time copy).
void BM_writer_escape_line_separators(benchmark::State& state) {
    const std::string frame = R"({"channel":"/chat/room42","data":)" +
                              data_object(static_cast<std::size_t>(state.range(0))) + "}";
    for (auto _ : state) {
        auto s = json::escape_line_separators(frame);
        benchmark::DoNotOptimize(s.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * frame.size()));
}
BENCHMARK(BM_writer_escape_line_separators)->Arg(100)->Arg(4096);

}  // namespace
}  // namespace encke::bench
