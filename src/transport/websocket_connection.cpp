#include "transport/websocket_connection.hpp"

// The WebSocket side of a connection (RFC 6455), written against the raw socket rather than
// Beast's websocket::stream, for three reasons the benchmarks showed (docs/performance.md):
//  - an idle connection holds no read buffer: the socket is waited on for readiness and read
//    into the shard's scratch buffer; only an incomplete frame is kept per connection;
//  - every complete frame of a read is handled before the shard flushes, so deliveries made by
//    several publishes leave in one write per subscriber when the server is busy;
//  - a write is first tried at once (a gather sendmsg, non-blocking) and only what the kernel does not
//    take goes through an asynchronous operation.
// Idle sockets are pinged and closed by the shard's once-a-second sweep, not per-socket timers.

#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <simdjson.h>

#include <spdlog/spdlog.h>

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <atomic>
#include <cctype>
#include <cstring>

#include "transport/http_util.hpp"
#include "transport/send_now.hpp"

namespace encke::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

enum : std::uint8_t { op_continuation = 0, op_text = 1, op_binary = 2, op_close = 8, op_ping = 9, op_pong = 10 };

enum : std::uint16_t {
    close_normal = 1000,
    close_going_away = 1001,
    close_protocol_error = 1002,
    close_invalid_data = 1007,
    close_too_big = 1009,
};

std::string accept_key(std::string_view key) {
    static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string s(key);
    s += guid;
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
    char out[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out), digest, SHA_DIGEST_LENGTH);
    return std::string(out, static_cast<std::size_t>(n));
}

// A server frame header (never masked) for a payload of `len` bytes; returns its size.
std::size_t frame_header(std::uint8_t* h, std::uint8_t op, std::size_t len) {
    h[0] = static_cast<std::uint8_t>(0x80 | op);
    if (len < 126) {
        h[1] = static_cast<std::uint8_t>(len);
        return 2;
    }
    if (len <= 0xffff) {
        h[1] = 126;
        h[2] = static_cast<std::uint8_t>(len >> 8);
        h[3] = static_cast<std::uint8_t>(len);
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; ++i) h[2 + i] = static_cast<std::uint8_t>(std::uint64_t(len) >> (56 - 8 * i));
    return 10;
}

void append_control(std::string& out, std::uint8_t op, std::string_view payload) {
    std::uint8_t h[10];
    std::size_t n = frame_header(h, op, payload.size());
    out.append(reinterpret_cast<const char*>(h), n);
    out.append(payload);
}

// A Sec-WebSocket-Key is the base64 form of 16 bytes: 22 characters of the alphabet and "==".
bool valid_key(std::string_view key) {
    if (key.size() != 24 || key.substr(22) != "==") return false;
    for (char c : key.substr(0, 22))
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') return false;
    return true;
}

// Close codes a peer may send (RFC 6455 §7.4): the defined ones and the ranges for libraries
// (3000-3999) and applications (4000-4999). 1005, 1006 and 1015 are never on the wire.
bool valid_close_code(std::uint16_t c) {
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

std::string close_payload(std::uint16_t code) {
    std::string p(2, '\0');
    p[0] = static_cast<char>(code >> 8);
    p[1] = static_cast<char>(code & 0xff);
    return p;
}

class ws_connection;

class ws_sink final : public bayeux::sink {
public:
    ws_sink(std::weak_ptr<ws_connection> c, shard& home) : conn_(std::move(c)), home_(home) {}
    bool persistent() const noexcept override { return true; }
    // Read on the session's shard, which may be another thread: an atomic, set when the socket
    // closes, so no flush takes messages off a session's queue for a socket that is gone.
    bool open() const noexcept override { return !closed_.load(std::memory_order_acquire) && !conn_.expired(); }
    void send(std::vector<bayeux::frame> parts) override;
    void fail(int) override {}
    void mark_closed() noexcept { closed_.store(true, std::memory_order_release); }

private:
    std::atomic<bool> closed_{false};
    std::weak_ptr<ws_connection> conn_;
    shard& home_;
};

class ws_connection final : public std::enable_shared_from_this<ws_connection>, public connection {
public:
    ws_connection(shard& sh, tcp::socket sock, connection_slot slot)
        : shard_(sh), ctx_(sh.ctx), sock_(std::move(sock)), slot_(std::move(slot)) {}

    ~ws_connection() override { shard_.connections.erase(this); }

    void start(const http::request<http::string_body>& req, std::string early) {
        shard_.connections.insert(this);
        boost::system::error_code ec;
        sock_.non_blocking(true, ec);
        if (ec) return close_socket();
        auto version = req[http::field::sec_websocket_version];
        auto key = req[http::field::sec_websocket_key];
        last_rx_ = util::steady::now();
        if (version != "13" || !valid_key(key) || req.count(http::field::sec_websocket_key) != 1) {
            raw_ = version != "13" ? "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"
                                     "Content-Length: 0\r\nConnection: close\r\n\r\n"
                                   : "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            closing_ = true;
            closing_since_ = last_rx_;
            write_now();
            return wait_readable();
        }
        // Browsers send their cookies with the upgrade: sessions made on this socket then join
        // the browser's other sessions (same shard, same multiple-clients count).
        browser_ = std::string(cookie_value(req[http::field::cookie], ctx_.bayeux.browser_cookie));
        for (auto& name : ctx_.handshake_headers)
            if (auto v = req[name]; !v.empty()) headers_.push_back({name, std::string(v)});
        sink_ = std::make_shared<ws_sink>(weak_from_this(), shard_);
        raw_ = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Server: encke\r\nSec-WebSocket-Accept: ";
        raw_ += accept_key(key);
        raw_ += "\r\n\r\n";
        write_now();
        if (!early.empty()) {
            // Frames the client sent with its upgrade: handled as if read now.
            last_rx_ = util::steady::now();
            in_ = std::move(early);
            resume_input();
            if (closed_ || busy_) return;
        }
        wait_readable();
    }

    void shutdown() override { close_with(close_going_away); }

    // The shard's once-a-second sweep: ping a quiet client at half the idle timeout, close it
    // at the full timeout.
    void on_second(util::time_point now) override {
        if (closed_) return;
        // A close that the client does not finish (no reply, no end of stream) ends here.
        if (closing_) {
            if (now - closing_since_ >= std::chrono::seconds(2)) close_socket();
            return;
        }
        auto quiet = now - last_rx_;
        auto limit = std::chrono::milliseconds(ctx_.http.ws_idle_timeout_ms);
        if (quiet >= limit) {
            spdlog::debug("websocket: closing a client idle for {} ms", ctx_.http.ws_idle_timeout_ms);
            return close_socket();
        }
        if (quiet >= limit / 2 && !ping_sent_) {
            ping_sent_ = true;
            append_control(raw_, op_ping, {});
            write_now();
        }
    }

    void enqueue(std::vector<bayeux::frame>& parts) {
        if (closed_ || closing_ || parts.empty()) return;
        for (auto& p : parts) {
            out_bytes_ += p->size();
            pending_.push_back(std::move(p));
        }
        if (out_bytes_ + inflight_bytes_ > ctx_.bayeux.max_queue_bytes) {
            // The client does not read: cut it off rather than buffer without bound.
            spdlog::warn("websocket: closing a client whose outbound queue passed {} bytes",
                         ctx_.bayeux.max_queue_bytes);
            pending_.clear();
            out_bytes_ = 0;
            return close_socket();
        }
        write_now();
    }

private:
    // ------------------------------------------------------------------------------ reading

    void wait_readable() {
        if (closed_ || reading_) return;
        reading_ = true;
        sock_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
            self->reading_ = false;
            if (ec) return self->close_socket();
            self->on_readable();
        });
    }

    void on_readable() {
        auto& scratch = shard_.read_scratch;
        // Bounded work per wake-up: a client that sends faster than the shard handles must not
        // keep the flush, the timers and the other sockets of the shard waiting.
        for (int full_reads = 0;;) {
            if (closed_ || busy_) return;
            boost::system::error_code ec;
            std::size_t n = sock_.read_some(asio::buffer(scratch), ec);
            if (ec == asio::error::would_block || ec == asio::error::try_again) break;
            if (ec) return close_socket();  // end of stream included: a close is complete
            last_rx_ = util::steady::now();
            ping_sent_ = false;
            if (closing_) {
                // After a close frame nothing more is handled: read and drop until the client ends.
            } else if (in_.empty()) {
                std::size_t used = consume(scratch.data(), n);
                if (closed_) return;
                if (used < n && !closing_) in_.assign(scratch.data() + used, n - used);
            } else {
                in_.append(scratch.data(), n);
                resume_input();
                if (closed_) return;
            }
            if (n < scratch.size()) break;  // drained what the kernel had
            if (++full_reads == 4) {
                asio::post(sock_.get_executor(), [self = shared_from_this()] { self->on_readable(); });
                return;
            }
        }
        if (!busy_) wait_readable();
    }

    // Goes on with the bytes kept in in_ (after a batch handled on another shard came back).
    void resume_input() {
        std::size_t used = consume(in_.data(), in_.size());
        if (closed_) return;
        if (closing_) used = in_.size();  // nothing after a close is handled
        in_.erase(0, used);
        if (in_.empty()) std::string().swap(in_);  // an idle connection keeps no buffer
    }

    // Handles every complete frame in [p, p+n) (unmasking in place) until a batch must wait for
    // another shard; returns the bytes used.
    std::size_t consume(char* p, std::size_t n) {
        std::size_t at = 0;
        while (!busy_ && !closed_ && !closing_) {
            std::size_t avail = n - at;
            if (avail < 2) break;
            auto* h = reinterpret_cast<std::uint8_t*>(p + at);
            bool fin = h[0] & 0x80;
            std::uint8_t op = h[0] & 0x0f;
            if ((h[0] & 0x70) || !(h[1] & 0x80)) {  // reserved bits, or an unmasked client frame
                close_with(close_protocol_error);
                break;
            }
            std::uint64_t len = h[1] & 0x7f;
            std::size_t hl = 2;
            if (len == 126) {
                if (avail < 4) break;
                len = (std::uint64_t(h[2]) << 8) | h[3];
                hl = 4;
            } else if (len == 127) {
                if (avail < 10) break;
                if (h[2] & 0x80) {  // the most significant bit must be 0 (RFC 6455 §5.2)
                    close_with(close_protocol_error);
                    break;
                }
                len = 0;
                for (int i = 0; i < 8; ++i) len = (len << 8) | h[2 + i];
                hl = 10;
            }
            bool control = op & 0x08;
            if (control && (len > 125 || !fin)) {
                close_with(close_protocol_error);
                break;
            }
            // Written without additions that could wrap: message_ never exceeds the limit.
            if (!control && len > ctx_.http.ws_max_message_bytes - message_.size()) {
                close_with(close_too_big);
                break;
            }
            if (avail < hl + 4 || avail - hl - 4 < len) break;  // the frame is not all here yet
            std::uint8_t mask[4];
            std::memcpy(mask, h + hl, 4);
            char* payload = p + at + hl + 4;
            for (std::size_t i = 0; i < len; ++i) payload[i] = static_cast<char>(payload[i] ^ mask[i & 3]);
            at += hl + 4 + static_cast<std::size_t>(len);
            on_frame(fin, op, std::string_view(payload, static_cast<std::size_t>(len)));
        }
        return at;
    }

    void on_frame(bool fin, std::uint8_t op, std::string_view payload) {
        switch (op) {
        case op_text:
        case op_binary:
            if (in_message_) return close_with(close_protocol_error);
            if (fin) return on_message(op == op_text, std::string(payload));
            in_message_ = true;
            message_text_ = op == op_text;
            message_.assign(payload);
            return;
        case op_continuation:
            if (!in_message_) return close_with(close_protocol_error);
            message_.append(payload);
            if (!fin) return;
            in_message_ = false;
            on_message(message_text_, std::move(message_));
            message_ = {};
            return;
        case op_ping:
            append_control(raw_, op_pong, payload);
            // Pongs to a client that pings and never reads would pile up: cut it off.
            if (raw_.size() > 65536) return close_socket();
            return write_now();
        case op_pong:
            return;
        case op_close: {
            // Echo the status code, then close once it is written.
            std::uint16_t code = close_normal;
            if (payload.size() == 1) {
                code = close_protocol_error;
            } else if (payload.size() >= 2) {
                code = static_cast<std::uint16_t>((std::uint8_t(payload[0]) << 8) | std::uint8_t(payload[1]));
                if (!valid_close_code(code)) code = close_protocol_error;
            }
            return close_with(code);
        }
        default:
            return close_with(close_protocol_error);
        }
    }

    void on_message(bool is_text, std::string text) {
        // RFC 6455 §8.1: a text message that is not UTF-8 fails the connection (1007). A binary
        // message is read as JSON all the same; the parser refuses what is not UTF-8.
        if (is_text && !simdjson::validate_utf8(text.data(), text.size()))
            return close_with(close_invalid_data);
        auto err = shard_.parser.parse(text, msgs_);
        if (err == json::parse_error::empty) return;  // nothing asked, nothing answered (Faye sends these)
        if (err != json::parse_error::none) {
            std::string e = "400::";
            e += json::to_string(err);
            std::string body = bayeux::protocol::error_body(e);
            // error_body is a whole array; send it as one frame.
            std::vector<bayeux::frame> one{bayeux::make_frame(body.substr(1, body.size() - 2))};
            enqueue(one);
            return;
        }
        bayeux::request_context rctx;
        rctx.kind = bayeux::transport_kind::websocket;
        rctx.out = sink_;
        rctx.browser_id = browser_;
        rctx.cookie_sent = !browser_.empty();
        for (auto& m : msgs_) {
            if (!m.client_id.empty()) remember(std::string(m.client_id));
            if (m.channel_ok && m.channel == "/meta/handshake" && rctx.headers.empty()) rctx.headers = headers_;
        }
        busy_ = true;
        in_dispatch_ = true;
        dispatch_batch(shard_, msgs_, std::move(text), shard_for_browser(browser_, shard_), std::move(rctx),
                       [self = shared_from_this()](bayeux::outcome&& out) {
                           if (!out.created.empty()) self->remember(out.created);
                           self->enqueue(out.parts);
                           self->busy_ = false;
                           // Handled on this shard, inside consume(): its loop goes on.
                           if (self->in_dispatch_) return;
                           // Came back from another shard: go on with what was read meanwhile.
                           self->resume_input();
                           if (!self->busy_) self->on_readable();
                       });
        in_dispatch_ = false;
    }

    void remember(std::string id) {
        for (auto& b : bound_)
            if (b == id) return;
        // Bounded: a socket that names more sessions than this is abusive; sessions past the
        // bound notice the closed socket through sink::open() instead.
        if (bound_.size() < 64) bound_.push_back(std::move(id));
    }

    // ------------------------------------------------------------------------------ writing

    // Writes raw_ (handshake, control frames) and one text frame `[f1,f2,…]` holding every queued
    // delivery: at once if the kernel takes it all, otherwise the rest asynchronously.
    void write_now() {
        if (writing_ || closed_) return;
        if (raw_.empty() && pending_.empty()) return;
        inflight_raw_.swap(raw_);
        raw_.clear();
        inflight_.swap(pending_);
        pending_.clear();
        out_bytes_ = 0;
        bufs_.clear();
        if (!inflight_raw_.empty()) bufs_.emplace_back(inflight_raw_.data(), inflight_raw_.size());
        if (!inflight_.empty()) {
            std::size_t len = 1 + inflight_.size();  // '[' + commas + ']'
            for (auto& f : inflight_) len += f->size();
            std::size_t hl = frame_header(header_.data(), op_text, len);
            bufs_.emplace_back(header_.data(), hl);
            bufs_.emplace_back("[", 1);
            for (std::size_t i = 0; i < inflight_.size(); ++i) {
                if (i) bufs_.emplace_back(",", 1);
                bufs_.emplace_back(inflight_[i]->data(), inflight_[i]->size());
            }
            bufs_.emplace_back("]", 1);
        }
        // Try the kernel first; most writes end here. MSG_NOSIGNAL: a peer that has gone away
        // is an error here, never a SIGPIPE.
        if (send_now(sock_.native_handle(), bufs_, iov_)) return close_socket();
        if (bufs_.empty()) return written();
        writing_ = true;
        for (auto& b : bufs_) inflight_bytes_ += b.size();
        asio::async_write(sock_, bufs_, [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
            self->writing_ = false;
            if (ec) return self->close_socket();
            self->written();
        });
    }

    void written() {
        inflight_.clear();
        inflight_raw_.clear();
        inflight_bytes_ = 0;
        if (!raw_.empty() || !pending_.empty()) return write_now();
        if (closing_ && !send_shut_) {
            // The close frame (or the refusal) is out: end our side and let the client end its
            // own; reading goes on, dropping what comes, until its end of stream (or 2 s).
            send_shut_ = true;
            boost::system::error_code ec;
            sock_.shutdown(tcp::socket::shutdown_send, ec);
        }
    }

    // Sends a close frame with `code`, then closes the socket once it is written.
    void close_with(std::uint16_t code) {
        if (closed_ || closing_) return;
        closing_ = true;
        closing_since_ = util::steady::now();
        pending_.clear();
        append_control(raw_, op_close, close_payload(code));
        write_now();
    }

    // The socket is gone: the sessions it carried stay (they may come back on a new socket,
    // as the reload extension does) and expire normally if they do not.
    void close_socket() {
        if (closed_) return;
        closed_ = true;
        if (sink_) sink_->mark_closed();
        boost::system::error_code ec;
        sock_.shutdown(tcp::socket::shutdown_both, ec);
        sock_.close(ec);
        for (auto& id : bound_) {
            int owner = bayeux::protocol::shard_of(id);
            if (owner < 0 || static_cast<std::size_t>(owner) >= ctx_.shards.size()) continue;
            auto& sh = *ctx_.shards[static_cast<std::size_t>(owner)];
            sh.run_here([&sh, id, s = sink_] { sh.protocol.detach(id, s.get()); });
        }
        bound_.clear();
        pending_.clear();
        std::string().swap(in_);
    }

    shard& shard_;
    context& ctx_;
    tcp::socket sock_;
    connection_slot slot_;
    std::string in_;        // an incomplete frame (or frames waiting for a busy batch)
    std::string message_;   // a fragmented message being assembled
    std::vector<json::message> msgs_;
    std::shared_ptr<ws_sink> sink_;
    std::vector<std::string> bound_;  // sessions that used this socket
    std::string browser_;             // the browser cookie of the upgrade request, if any
    std::vector<bayeux::header> headers_;  // the upgrade request's headers a handshake hands on
    std::string raw_, inflight_raw_;  // handshake response and control frames
    std::vector<bayeux::frame> pending_, inflight_;
    std::vector<asio::const_buffer> bufs_;
    std::vector<iovec> iov_;
    std::array<std::uint8_t, 10> header_{};
    std::size_t out_bytes_ = 0;       // queued, not yet handed to a write
    std::size_t inflight_bytes_ = 0;  // handed to an asynchronous write that has not finished
    util::time_point last_rx_{};
    util::time_point closing_since_{};
    bool reading_ = false;
    bool busy_ = false;        // a batch is being handled on another shard
    bool in_dispatch_ = false; // inside dispatch_batch (a completion now is synchronous)
    bool in_message_ = false;  // between the first and the last frame of a fragmented message
    bool message_text_ = false;  // that message began with a text frame
    bool writing_ = false;
    bool closing_ = false;
    bool closed_ = false;
    bool ping_sent_ = false;
    bool send_shut_ = false;   // our side of the TCP stream is shut after the close frame
};

void ws_sink::send(std::vector<bayeux::frame> parts) {
    if (home_.ctx.engine->current_shard() == static_cast<int>(home_.index)) {
        if (auto conn = conn_.lock()) conn->enqueue(parts);
        return;
    }
    home_.run_here([c = conn_, parts = std::move(parts)]() mutable {
        if (auto conn = c.lock()) conn->enqueue(parts);
    });
}

}  // namespace

void start_websocket(shard& sh, beast::tcp_stream stream, http::request<http::string_body> req,
                     connection_slot slot, std::string early) {
    std::make_shared<ws_connection>(sh, stream.release_socket(), std::move(slot))->start(req, std::move(early));
}

}  // namespace encke::transport
