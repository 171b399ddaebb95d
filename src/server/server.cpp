#include "server/server.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "bridge/bridge.hpp"
#include "engine/engine.hpp"
#include "transport/listener.hpp"
#include "transport/shard.hpp"

namespace encke::server {

namespace asio = boost::asio;

struct server::impl {
    config cfg;
    util::system_clock clock;
    transport::context ctx;
    std::unique_ptr<transport::listener> listener;
    std::unique_ptr<bridge::bridges> bridges;
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

server::server(config c) : impl_(std::make_unique<impl>(std::move(c))) {
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
        d.threads.emplace_back([s] {
            engine::engine::bind_thread(static_cast<int>(s->index));
            s->ioc.run();
        });
    }
    asio::post(d.ctx.shards.front()->ioc, [&d] { d.listener->start(); });
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
    spdlog::info("stopped");
}

}  // namespace encke::server
