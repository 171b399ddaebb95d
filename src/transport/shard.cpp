#include "transport/shard.hpp"

#include <boost/asio/post.hpp>

namespace encke::transport {

namespace asio = boost::asio;

shard::shard(context& c, unsigned i, const util::clock& clock)
    : ctx(c), index(i), protocol(c.bayeux, clock, i), parser(c.bayeux.max_json_depth) {
    protocol.set_flush_request([this] { asio::post(ioc, [this] { protocol.flush(); }); });
}

void shard::start() { on_tick(); }

void shard::on_tick() {
    if (stopped_) return;
    protocol.tick();
    if (++ticks_ % 10 == 0) {
        // Copy: a connection may close (and later leave the set) while it is visited.
        std::vector<connection*> all(connections.begin(), connections.end());
        auto now = util::steady::now();
        for (auto* c : all) c->on_second(now);
    }
    tick_.expires_after(std::chrono::milliseconds(100));
    tick_.async_wait([this](boost::system::error_code ec) {
        if (!ec) on_tick();
    });
}

void shard::shutdown() {
    stopped_ = true;
    tick_.cancel();
    protocol.shutdown();
    // Copy: shutting a connection down may remove it from the set.
    std::vector<connection*> all(connections.begin(), connections.end());
    for (auto* c : all) c->shutdown();
}

void shard::run_here(std::function<void()> f) {
    if (ctx.engine->current_shard() == static_cast<int>(index)) f();
    else asio::post(ioc, std::move(f));
}

unsigned shard::owner(std::span<const json::message> batch, unsigned handshake_shard,
                      std::size_t shard_count) {
    for (auto& m : batch) {
        if (m.client_id.empty()) continue;
        int s = bayeux::protocol::shard_of(m.client_id);
        if (s >= 0 && static_cast<std::size_t>(s) < shard_count) return static_cast<unsigned>(s);
        break;
    }
    return handshake_shard;
}


unsigned shard_for_browser(std::string_view browser_id, const shard& local) {
    if (browser_id.empty()) return local.index;
    return static_cast<unsigned>(std::hash<std::string_view>{}(browser_id) % local.ctx.shards.size());
}

void dispatch_batch(shard& local, std::span<const json::message> msgs, std::string body,
                    unsigned handshake_shard, bayeux::request_context rctx, batch_done done) {
    auto& shards = local.ctx.shards;
    unsigned owner = shard::owner(msgs, handshake_shard, shards.size());
    if (owner == local.index) {
        bayeux::outcome out;
        local.protocol.handle(msgs, rctx, out);
        done(std::move(out));
        return;
    }
    // Another shard owns the session: it parses the body again with its own parser (the views
    // in `msgs` belong to this shard's parser) and the outcome comes back here.
    shard& target = *shards[owner];
    asio::post(target.ioc, [&target, &local, body = std::move(body), rctx = std::move(rctx),
                            done = std::move(done)]() mutable {
        std::vector<json::message> again;
        bayeux::outcome out;
        if (target.parser.parse(body, again) == json::parse_error::none)
            target.protocol.handle(again, rctx, out);
        asio::post(local.ioc, [out = std::move(out), done = std::move(done)]() mutable {
            done(std::move(out));
        });
    });
}

}  // namespace encke::transport
