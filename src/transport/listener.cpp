#include "transport/listener.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "transport/http_connection.hpp"

namespace encke::transport {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct listener::impl : std::enable_shared_from_this<impl> {
    context& ctx;
    tcp::acceptor acceptor;
    asio::steady_timer backoff;
    std::size_t next = 0;
    std::uint64_t failures = 0;

    impl(context& c) : ctx(c), acceptor(c.shards.front()->ioc), backoff(c.shards.front()->ioc) {}

    void accept() {
        auto& target = *ctx.shards[next++ % ctx.shards.size()];
        acceptor.async_accept(target.ioc, [self = shared_from_this(), &target](
                                              boost::system::error_code ec, tcp::socket socket) {
            if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
            if (!ec) {
                self->hand_off(target, std::move(socket));
                return self->accept();
            }
            // Out of descriptors (EMFILE) or similar: pause instead of spinning on the error.
            if (self->failures++ % 100 == 0)
                spdlog::warn("accept failed: {} (retrying every 100 ms)", ec.message());
            self->backoff.expires_after(std::chrono::milliseconds(100));
            self->backoff.async_wait([self](boost::system::error_code e) {
                if (!e) self->accept();
            });
        });
    }

    void hand_off(shard& target, tcp::socket socket) {
        auto n = ctx.connections.fetch_add(1, std::memory_order_relaxed);
        connection_slot slot(ctx);
        if (n >= ctx.http.max_connections || ctx.stopping) {
            ctx.connections_refused.fetch_add(1, std::memory_order_relaxed);
            static const std::string refusal =
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: "
                "21\r\nRetry-After: 5\r\nConnection: close\r\n\r\nToo many connections\n";
            auto sock = std::make_shared<tcp::socket>(std::move(socket));
            asio::async_write(*sock, asio::buffer(refusal),
                              [sock, slot = std::move(slot)](boost::system::error_code, std::size_t) {
                                  boost::system::error_code ignored;
                                  sock->shutdown(tcp::socket::shutdown_both, ignored);
                              });
            return;
        }
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        asio::post(target.ioc, [&target, socket = std::move(socket), slot = std::move(slot)]() mutable {
            start_http_connection(target, std::move(socket), std::move(slot));
        });
    }
};

listener::listener(context& ctx, const std::string& host, unsigned short port)
    : impl_(std::make_shared<impl>(ctx)) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (ec) throw std::runtime_error("invalid listen address '" + host + "'");
    tcp::endpoint ep(address, port);
    auto& a = impl_->acceptor;
    a.open(ep.protocol(), ec);
    if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) a.bind(ep, ec);
    if (ec) {
        throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                                 ec.message());
    }
    a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
}

listener::~listener() = default;

void listener::start() { impl_->accept(); }

void listener::stop() {
    boost::system::error_code ignored;
    impl_->backoff.cancel();
    impl_->acceptor.close(ignored);
}

unsigned short listener::port() const noexcept {
    boost::system::error_code ec;
    return impl_->acceptor.local_endpoint(ec).port();
}

}  // namespace encke::transport
