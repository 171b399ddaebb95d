#include "server/server.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <strings.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "auth/token.hpp"
#include "bayeux/channel.hpp"
#include "bridge/bridge.hpp"
#include "engine/engine.hpp"
#include "json/values.hpp"
#include "json/writer.hpp"
#include "transport/listener.hpp"
#include "transport/shard.hpp"

namespace encke::node {

namespace asio = boost::asio;

struct server::impl {
    config cfg;
    util::system_clock clock;
    transport::context ctx;
    std::unique_ptr<transport::listener> listener;
    std::unique_ptr<bridge::bridges> bridges;
    engine::directory directory;
    std::shared_ptr<post_gate> gate;
    std::unique_ptr<app_policy> policy;
    std::vector<std::thread> threads;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    std::mutex m;
    std::condition_variable cv;
    bool stop_requested = false;

    explicit impl(config c) : cfg(std::move(c)), ctx(cfg.http, cfg.bayeux) {}

    void request_stop() {
        std::lock_guard lock(m);
        stop_requested = true;
        cv.notify_all();
    }
};

namespace {

std::string api_error(std::string_view code, std::string_view message) {
    std::string b = "{\"error\":";
    json::append_string(b, code);
    b += ",\"message\":";
    json::append_string(b, message);
    b += '}';
    return b;
}

// A delivery frame: {"channel":...,"data":...} (no ext: it comes from the server, not a user).
bayeux::frame delivery(std::string_view channel, std::string_view data) {
    std::string d;
    d.reserve(channel.size() + data.size() + 24);
    d += "{\"channel\":";
    json::append_string(d, channel);
    d += ",\"data\":";
    d += data;
    d += '}';
    return bayeux::make_frame(std::move(d));
}

}  // namespace

server::server(config c, hooks h, bool track_presence) : impl_(std::make_unique<impl>(std::move(c))) {
    auto& d = *impl_;
    unsigned n = d.cfg.threads ? d.cfg.threads : std::max(1u, std::thread::hardware_concurrency());
    n = std::min(n, 36u);
    std::vector<engine::shard_port> ports;
    for (unsigned i = 0; i < n; ++i) {
        d.ctx.shards.push_back(std::make_unique<transport::shard>(d.ctx, i, d.clock));
        auto* sh = d.ctx.shards.back().get();
        ports.push_back({[sh](std::function<void()> f) { asio::post(sh->ioc, std::move(f)); },
                         &sh->protocol});
    }
    d.ctx.engine = std::make_unique<engine::memory_engine>(std::move(ports));
    for (auto& sh : d.ctx.shards) sh->protocol.set_publisher(d.ctx.engine.get());
    d.gate = std::make_shared<post_gate>(d.ctx.engine.get());
    d.directory.track_everything(track_presence);
    try {
        d.policy = std::make_unique<app_policy>(d.cfg.auth, std::move(h), d.directory, d.gate);
    } catch (const std::invalid_argument& e) {
        throw config_error(std::string("auth: ") + e.what());
    }
    for (auto& sh : d.ctx.shards) sh->protocol.set_policy(d.policy.get());
    d.ctx.policy_health = [p = d.policy.get()] { return p->health_json(); };
    d.ctx.handshake_headers = d.cfg.auth.webhook_headers;
    bool any_origin = std::find(d.cfg.http.allowed_origins.begin(), d.cfg.http.allowed_origins.end(), "*") !=
                      d.cfg.http.allowed_origins.end();
    for (auto& h : d.cfg.auth.webhook_headers)
        if (any_origin && (h.size() == 6 && ::strncasecmp(h.c_str(), "cookie", 6) == 0))
            spdlog::warn("auth: webhook_headers passes the Cookie header on while cors.allowed_origins is \"*\": "
                         "any web site can then handshake as a signed-in visitor of yours; list your origins "
                         "in cors.allowed_origins (docs/security.md)");
    if (!d.cfg.http.api_keys.empty())
        d.ctx.api_publish = [this](std::string_view authorization, std::string_view body) {
            return api_publish(authorization, body);
        };
    if (!d.cfg.bridges.empty()) {
        d.bridges = std::make_unique<bridge::bridges>(d.cfg.bridges, *d.ctx.engine, d.cfg.bayeux.max_json_depth);
        bool outbound = false;
        for (auto& b : d.cfg.bridges)
            for (auto& r : b.routes) outbound |= r.dir == bridge::direction::outbound;
        if (outbound)
            for (auto& sh : d.ctx.shards) sh->protocol.set_forwarder(d.bridges.get());
        d.ctx.bridges_health = [b = d.bridges.get()] { return b->health_json(); };
    }
}

server::~server() {
    if (!impl_->threads.empty()) {
        stop();
        run(false);
    }
    impl_->gate->close();
}

void server::start() {
    auto& d = *impl_;
    // Each connection is a descriptor: raise the soft limit to the hard one, and say so when
    // max_connections cannot be reached.
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
        if (lim.rlim_cur < lim.rlim_max) {
            lim.rlim_cur = lim.rlim_max;
            setrlimit(RLIMIT_NOFILE, &lim);
        }
        if (getrlimit(RLIMIT_NOFILE, &lim) == 0 &&
            lim.rlim_cur < static_cast<rlim_t>(d.cfg.http.max_connections) + 64)
            spdlog::warn("open-file limit {} is below server.max_connections {}: connections past "
                         "the limit will be refused by the kernel",
                         static_cast<unsigned long long>(lim.rlim_cur), d.cfg.http.max_connections);
    }
    auto [host, port] = split_listen(d.cfg.listen);
    d.listener = std::make_unique<transport::listener>(d.ctx, host, port);
    for (auto& sh : d.ctx.shards) d.guards.push_back(asio::make_work_guard(sh->ioc));
    for (auto& sh : d.ctx.shards) {
        auto* s = sh.get();
        asio::post(s->ioc, [s] { s->start(); });
        d.threads.emplace_back([s, e = d.ctx.engine.get()] {
            engine::engine::bind_thread(e, static_cast<int>(s->index));
            s->ioc.run();
        });
    }
    asio::post(d.ctx.shards.front()->ioc, [&d] { d.listener->start(); });
    d.policy->start();
    if (d.bridges) d.bridges->start();
}

unsigned short server::port() const { return impl_->listener ? impl_->listener->port() : 0; }

void server::stop() { impl_->request_stop(); }

void server::run(bool signals) {
    auto& d = *impl_;
    std::unique_ptr<asio::signal_set> sigs;
    if (signals) {
        sigs = std::make_unique<asio::signal_set>(d.ctx.shards.front()->ioc, SIGINT, SIGTERM);
        sigs->async_wait([&d](boost::system::error_code ec, int sig) {
            if (ec) return;
            spdlog::info("signal {} received: stopping", sig);
            d.request_stop();
        });
    }
    {
        std::unique_lock lock(d.m);
        d.cv.wait(lock, [&d] { return d.stop_requested; });
    }
    // Graceful stop: stop accepting, answer held connects, close sockets, then wait (bounded).
    d.ctx.stopping = true;
    // Bridges first: publishes waiting for a broker are answered (503) while the shards still run.
    if (d.bridges) d.bridges->stop();
    auto& first = *d.ctx.shards.front();
    asio::post(first.ioc, [&d, &sigs] {
        d.listener->stop();
        if (sigs) sigs->cancel();
    });
    for (auto& sh : d.ctx.shards) {
        auto* s = sh.get();
        asio::post(s->ioc, [s] { s->shutdown(); });
    }
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(d.cfg.http.shutdown_timeout_ms);
    while (d.ctx.connections.load() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (d.ctx.connections.load() > 0)
        spdlog::warn("{} connection(s) still open after {} ms; closing them",
                     d.ctx.connections.load(), d.cfg.http.shutdown_timeout_ms);
    d.guards.clear();
    for (auto& sh : d.ctx.shards) sh->ioc.stop();
    for (auto& t : d.threads) t.join();
    d.threads.clear();
    // Answers from other threads (a webhook, an application's deferred reply) go nowhere now.
    d.gate->close();
    spdlog::info("stopped");
}

void server::publish(std::string_view channel, std::string_view data) {
    impl_->ctx.published_by_server.fetch_add(1, std::memory_order_relaxed);
    impl_->ctx.engine->publish(channel, delivery(channel, data), {});
}

bool server::deliver_to_session(std::string_view id, std::string_view channel, std::string_view data) {
    auto& d = *impl_;
    int shard = bayeux::protocol::shard_of(id);
    if (shard < 0 || static_cast<std::size_t>(shard) >= d.ctx.shards.size() || !d.directory.user_of(id))
        return false;
    auto* sh = d.ctx.shards[static_cast<std::size_t>(shard)].get();
    sh->run_here([sh, id = std::string(id), f = delivery(channel, data)] { sh->protocol.deliver_to(id, f); });
    return true;
}

std::size_t server::deliver_to_user(std::string_view user, std::string_view channel, std::string_view data) {
    auto& d = *impl_;
    auto ids = d.directory.sessions_of(user);
    if (ids.empty()) return 0;
    auto f = delivery(channel, data);  // one frame, shared by every session of the user
    for (auto& id : ids) {
        int shard = bayeux::protocol::shard_of(id);
        if (shard < 0 || static_cast<std::size_t>(shard) >= d.ctx.shards.size()) continue;
        auto* sh = d.ctx.shards[static_cast<std::size_t>(shard)].get();
        sh->run_here([sh, id, f] { sh->protocol.deliver_to(id, f); });
    }
    return ids.size();
}

const engine::directory& server::directory() const { return impl_->directory; }

bool server::may_subscribe(std::string_view user, std::string_view channel) const {
    return impl_->policy->rules().may_subscribe(user, channel);
}

transport::context::api_result server::api_publish(std::string_view authorization, std::string_view body) {
    auto& d = *impl_;
    // "Bearer <key>", compared in constant time with each configured key.
    std::string_view key;
    // The scheme name is case-insensitive (RFC 9110 §11.1); spaces may follow it.
    if (authorization.size() > 7 && authorization[6] == ' ' &&
        std::equal(authorization.begin(), authorization.begin() + 6, "bearer",
                   [](char a, char b) { return (a | 0x20) == b; })) {
        key = authorization.substr(7);
        key.remove_prefix(std::min(key.find_first_not_of(' '), key.size()));
    }
    bool known = false;
    for (auto& k : d.cfg.http.api_keys) known |= !key.empty() && auth::equal_secret(key, k);
    if (!known)
        return {401, api_error(key.empty() ? "unauthorized" : "invalid_key",
                               key.empty() ? "send Authorization: Bearer <key> with a key from [api] keys"
                                           : "the key is not one of [api] keys")};
    auto parsed = json::parse_api_publish(body, d.cfg.bayeux.max_messages_per_batch, d.cfg.bayeux.max_json_depth);
    if (!parsed.error.empty()) return {400, api_error(parsed.error, parsed.message)};
    // Everything is checked before anything is sent: a request is taken whole or not at all.
    for (std::size_t i = 0; i < parsed.items.size(); ++i) {
        auto& it = parsed.items[i];
        std::string where = parsed.items.size() > 1 ? "message " + std::to_string(i) + ": " : "";
        if (!bayeux::is_valid_channel(it.channel) || bayeux::is_wildcard(it.channel))
            return {400, api_error("channel_invalid", where + "'" + it.channel + "' is not a channel one can publish to")};
        // A private delivery may use a service channel (as deliver_to_user in C++ may); a
        // broadcast may not, and /meta is the protocol's own.
        auto kind = bayeux::kind_of(it.channel);
        if (kind == bayeux::channel_kind::meta || (kind == bayeux::channel_kind::service && !it.user))
            return {403, api_error("channel_forbidden",
                                   where + "/meta channels are the protocol's; /service channels take only {user,...} deliveries")};
        if (it.user && !auth::valid_user_id(*it.user))
            return {400, api_error("user_invalid", where + "'" + *it.user + "' is not a valid user id")};
    }
    std::size_t sessions = 0;
    bool private_ones = false;
    for (auto& it : parsed.items) {
        if (it.user) {
            private_ones = true;
            sessions += deliver_to_user(*it.user, it.channel, it.data);
        } else {
            publish(it.channel, it.data);
        }
    }
    std::string ok = "{\"published\":" + std::to_string(parsed.items.size());
    if (private_ones) ok += ",\"sessions\":" + std::to_string(sessions);
    ok += '}';
    return {200, std::move(ok)};
}

}  // namespace encke::node
