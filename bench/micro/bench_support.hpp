#pragma once
// Shared pieces of the micro-benchmarks: a fake connection, hand-built Bayeux messages (so the
// protocol benchmarks do not measure the parser), and one shard's protocol behind the real
// memory engine, driven by a manual clock — the same shape as tests/unit/bayeux/protocol_fixture.hpp.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bayeux/protocol.hpp"
#include "engine/engine.hpp"
#include "json/batch.hpp"
#include "util/clock.hpp"

namespace encke::bench {

// A connection that writes nothing: it counts what it was handed and drops it (the frames are
// released here, as a real sink releases them after its write).
class null_sink final : public bayeux::sink {
  public:
    explicit null_sink(bool persistent) : persistent_(persistent) {}
    bool persistent() const noexcept override { return persistent_; }
    bool open() const noexcept override { return true; }
    void send(std::vector<bayeux::frame> parts) override {
        ++sends;
        frames += parts.size();
        for (auto& p : parts) bytes += p->size();
    }
    void fail(int) override { ++fails; }

    std::uint64_t sends = 0, frames = 0, bytes = 0, fails = 0;

  private:
    bool persistent_;
};

// A publisher that keeps nothing: measures building the delivery frame without a fan-out.
class discard_publisher final : public bayeux::publisher {
  public:
    void publish(std::string_view, bayeux::frame message, std::string_view) override {
        benchmark::DoNotOptimize(message.get());
        bytes += message->size();
    }
    std::uint64_t bytes = 0;
};

// A data object of about `n` bytes: {"user":"alice","text":"xxxx…","seq":12345}.
inline std::string data_object(std::size_t n) {
    std::string d = R"({"user":"alice","seq":12345,"text":")";
    std::size_t tail = 2;  // "}
    while (d.size() + tail < n) d += static_cast<char>('a' + d.size() % 26);
    d += "\"}";
    return d;
}

// Hand-built messages. The string_views point into storage the caller keeps alive.
inline json::message meta_message(std::string_view channel, std::string_view client_id,
                                  std::string_view id = R"("1")") {
    json::message m;
    m.channel = channel;
    m.has_channel = true;
    m.channel_ok = true;
    m.client_id = client_id;
    m.id = id;
    return m;
}

inline json::message handshake_message() {
    json::message m = meta_message("/meta/handshake", "");
    m.has_supported_types = true;
    m.supported_types = {"websocket", "long-polling", "callback-polling"};
    return m;
}

// `quoted` is the JSON text of the subscription ("\"/a/b\""), `name` the decoded channel.
inline json::message subscribe_message(std::string_view client_id, std::string_view name,
                                       std::string_view quoted) {
    json::message m = meta_message("/meta/subscribe", client_id, R"("s")");
    m.has_subscription = true;
    m.subscription_ok = true;
    m.subscription_raw = quoted;
    m.subscriptions = {name};
    return m;
}

inline json::message publish_message(std::string_view client_id, std::string_view channel,
                                     std::string_view data_raw, std::string_view id = R"("7")") {
    json::message m = meta_message(channel, client_id, id);
    m.data = data_raw;
    return m;
}

// A /meta/connect; timeout_zero: `"advice":{"timeout":0}`, answered at once (never held).
inline json::message connect_message(std::string_view client_id, bool timeout_zero,
                                     std::string_view id = R"("3")") {
    json::message m = meta_message("/meta/connect", client_id, id);
    m.connection_type = "long-polling";
    if (timeout_zero) m.advice_timeout = 0;
    return m;
}

// One shard: a protocol behind a memory_engine with this thread bound as shard 0, so a publish
// is delivered inline exactly as on a real shard (no post, no thread).
struct shard {
    explicit shard(bayeux::settings s = {})
        : proto(s, clock, 0),
          eng({engine::shard_port{[](std::function<void()> f) { f(); }, &proto}}) {
        engine::engine::bind_thread(&eng, 0);
        proto.set_publisher(&eng);
        proto.set_flush_request([this] { ++flush_requests; });
    }

    // Handshakes one session; `out` becomes its WebSocket (kind websocket) or nothing.
    std::string handshake(bayeux::transport_kind kind, bayeux::sink_ptr out) {
        bayeux::request_context ctx;
        ctx.kind = kind;
        ctx.out = std::move(out);
        bayeux::outcome o;
        json::message m = handshake_message();
        proto.handle({&m, 1}, ctx, o);
        if (o.created.empty()) throw std::runtime_error("handshake failed");
        return o.created;
    }

    void handle(const json::message& m, const bayeux::request_context& ctx) {
        bayeux::outcome o;
        proto.handle({&m, 1}, ctx, o);
        benchmark::DoNotOptimize(o.parts.data());
    }

    void subscribe(const std::string& client_id, std::string_view name,
                   bayeux::transport_kind kind = bayeux::transport_kind::websocket) {
        std::string quoted = "\"" + std::string(name) + "\"";
        json::message m = subscribe_message(client_id, name, quoted);
        bayeux::request_context ctx;
        ctx.kind = kind;
        handle(m, ctx);
    }

    util::manual_clock clock;
    bayeux::protocol proto;
    engine::memory_engine eng;
    int flush_requests = 0;
};

}  // namespace encke::bench
