#include "transport/websocket_connection.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <spdlog/spdlog.h>

#include <deque>

#include "transport/http_util.hpp"

namespace encke::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

namespace {

class ws_connection;

class ws_sink final : public bayeux::sink {
public:
    ws_sink(std::weak_ptr<ws_connection> c, shard& home) : conn_(std::move(c)), home_(home) {}
    bool persistent() const noexcept override { return true; }
    bool open() const noexcept override { return !conn_.expired(); }
    void send(std::vector<bayeux::frame> parts) override;
    void fail(int) override {}

private:
    std::weak_ptr<ws_connection> conn_;
    shard& home_;
};

class ws_connection final : public std::enable_shared_from_this<ws_connection>, public connection {
public:
    ws_connection(shard& sh, beast::tcp_stream stream, connection_slot slot)
        : shard_(sh), ctx_(sh.ctx), ws_(std::move(stream)), slot_(std::move(slot)) {}

    ~ws_connection() override { shard_.connections.erase(this); }

    void start(http::request<http::string_body> req) {
        shard_.connections.insert(this);
        // Browsers send their cookies with the upgrade: sessions made on this socket then join
        // the browser's other sessions (same shard, same multiple-clients count).
        browser_ = std::string(cookie_value(req[http::field::cookie], ctx_.bayeux.browser_cookie));
        sink_ = std::make_shared<ws_sink>(weak_from_this(), shard_);
        beast::get_lowest_layer(ws_).expires_never();
        websocket::stream_base::timeout t{};
        t.handshake_timeout = std::chrono::milliseconds(ctx_.http.header_timeout_ms);
        // Idle: nothing received for this long. Beast pings at half of it, so a live client
        // that is only waiting for its held connect keeps the socket open.
        t.idle_timeout = std::chrono::milliseconds(ctx_.http.ws_idle_timeout_ms);
        t.keep_alive_pings = true;
        ws_.set_option(t);
        ws_.read_message_max(ctx_.http.ws_max_message_bytes);
        ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
            res.set(http::field::server, "encke");
        }));
        ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) {
            if (ec) return self->on_closed();
            self->do_read();
        });
    }

    void shutdown() override {
        if (closing_) return;
        closing_ = true;
        if (!writing_) close_now();
    }

    void enqueue(std::vector<bayeux::frame> parts) {
        if (closed_ || parts.empty()) return;
        for (auto& p : parts) out_bytes_ += p->size();
        pending_.insert(pending_.end(), std::make_move_iterator(parts.begin()),
                        std::make_move_iterator(parts.end()));
        if (out_bytes_ > ctx_.bayeux.max_queue_bytes) {
            // The client does not read: cut it off rather than buffer without bound.
            spdlog::warn("websocket: closing a client whose outbound queue passed {} bytes",
                         ctx_.bayeux.max_queue_bytes);
            pending_.clear();
            out_bytes_ = 0;
            beast::get_lowest_layer(ws_).close();
            return;
        }
        if (!writing_) do_write();
    }

private:
    void do_read() {
        ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            self->on_read(ec);
        });
    }

    void on_read(beast::error_code ec) {
        if (ec) return on_closed();
        std::string text = beast::buffers_to_string(buffer_.data());
        buffer_.consume(buffer_.size());
        auto err = shard_.parser.parse(text, msgs_);
        if (err != json::parse_error::none) {
            std::string e = "400::";
            e += json::to_string(err);
            std::string body = bayeux::protocol::error_body(e);
            // error_body is a whole array; send it as one frame.
            enqueue({bayeux::make_frame(body.substr(1, body.size() - 2))});
            return do_read();
        }
        bayeux::request_context rctx;
        rctx.kind = bayeux::transport_kind::websocket;
        rctx.out = sink_;
        rctx.browser_id = browser_;
        rctx.cookie_sent = !browser_.empty();
        for (auto& m : msgs_)
            if (!m.client_id.empty()) remember(std::string(m.client_id));
        dispatch_batch(shard_, msgs_, std::move(text), shard_for_browser(browser_, shard_), std::move(rctx),
                       [self = shared_from_this()](bayeux::outcome&& out) {
                           if (!out.created.empty()) self->remember(out.created);
                           self->enqueue(std::move(out.parts));
                           if (!self->closed_) self->do_read();
                       });
    }

    void remember(std::string id) {
        for (auto& b : bound_)
            if (b == id) return;
        // Bounded: a socket that names more sessions than this is abusive; sessions past the
        // bound notice the closed socket through sink::open() instead.
        if (bound_.size() < 64) bound_.push_back(std::move(id));
    }

    void do_write() {
        // Everything queued leaves in one frame: `[`, f1, `,`, f2, ..., `]`.
        writing_ = true;
        inflight_ = std::move(pending_);
        pending_.clear();
        out_bytes_ = 0;
        bufs_.clear();
        bufs_.push_back(asio::buffer("[", 1));
        for (std::size_t i = 0; i < inflight_.size(); ++i) {
            if (i) bufs_.push_back(asio::buffer(",", 1));
            bufs_.push_back(asio::buffer(*inflight_[i]));
        }
        bufs_.push_back(asio::buffer("]", 1));
        ws_.text(true);
        ws_.async_write(bufs_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            self->on_write(ec);
        });
    }

    void on_write(beast::error_code ec) {
        writing_ = false;
        inflight_.clear();
        if (ec) return on_closed();
        if (!pending_.empty()) return do_write();
        if (closing_) close_now();
    }

    void close_now() {
        if (closed_) return;
        ws_.async_close(websocket::close_code::going_away,
                        [self = shared_from_this()](beast::error_code) { self->on_closed(); });
    }

    // The socket is gone: the sessions it carried stay (they may come back on a new socket,
    // as the reload extension does) and expire normally if they do not.
    void on_closed() {
        if (closed_) return;
        closed_ = true;
        for (auto& id : bound_) {
            int owner = bayeux::protocol::shard_of(id);
            if (owner < 0 || static_cast<std::size_t>(owner) >= ctx_.shards.size()) continue;
            auto& sh = *ctx_.shards[static_cast<std::size_t>(owner)];
            sh.run_here([&sh, id, s = sink_] { sh.protocol.detach(id, s.get()); });
        }
        bound_.clear();
    }

    shard& shard_;
    context& ctx_;
    websocket::stream<beast::tcp_stream> ws_;
    connection_slot slot_;
    beast::flat_buffer buffer_;
    std::vector<json::message> msgs_;
    std::shared_ptr<ws_sink> sink_;
    std::vector<std::string> bound_;  // sessions that used this socket
    std::string browser_;             // the browser cookie of the upgrade request, if any
    std::vector<bayeux::frame> pending_;
    std::vector<bayeux::frame> inflight_;
    std::vector<asio::const_buffer> bufs_;
    std::size_t out_bytes_ = 0;
    bool writing_ = false;
    bool closing_ = false;
    bool closed_ = false;
};

void ws_sink::send(std::vector<bayeux::frame> parts) {
    home_.run_here([c = conn_, parts = std::move(parts)]() mutable {
        if (auto conn = c.lock()) conn->enqueue(std::move(parts));
    });
}

}  // namespace

void start_websocket(shard& sh, beast::tcp_stream stream, http::request<http::string_body> req,
                     connection_slot slot) {
    std::make_shared<ws_connection>(sh, std::move(stream), std::move(slot))->start(std::move(req));
}

}  // namespace encke::transport
