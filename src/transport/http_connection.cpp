#include "transport/http_connection.hpp"

#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <spdlog/spdlog.h>

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <optional>

#include "json/writer.hpp"
#include "transport/http_util.hpp"
#include "transport/send_now.hpp"
#include "transport/websocket_connection.hpp"
#include "util/ids.hpp"

namespace encke::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string_view reason(int status) {
    switch (status) {
        case 200: return "OK";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 413: return "Payload Too Large";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 503: return "Service Unavailable";
        default: return "Error";
    }
}

// "Date: <IMF-fixdate>\r\n" (RFC 9110 §6.6.1), formatted once a second per thread.
const std::string& http_date() {
    thread_local std::time_t last = 0;
    thread_local std::string line;
    std::time_t now = std::time(nullptr);
    if (now != last) {
        std::tm tm{};
        gmtime_r(&now, &tm);
        char buf[64];
        std::size_t n = std::strftime(buf, sizeof buf, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        line.assign(buf, n);
        last = now;
    }
    return line;
}

constexpr std::string_view no_cache =
    "Cache-Control: no-cache, no-store\r\nX-Content-Type-Options: nosniff\r\n";

class http_connection;

template <class T>
void release_capacity(T& v) {
    T().swap(v);
}

// The way back to a held long-poll or JSONP request (see bayeux::sink).
class http_sink final : public bayeux::sink {
public:
    // A weak reference: the connection is kept alive by its own pending I/O (a held request is
    // watched with a read), and is always destroyed on its own shard's thread.
    http_sink(std::weak_ptr<http_connection> c, shard& home) : conn_(std::move(c)), home_(home) {}
    bool persistent() const noexcept override { return false; }
    bool open() const noexcept override { return !conn_.expired(); }
    void send(std::vector<bayeux::frame> parts) override;
    void fail(int status) override;

private:
    std::weak_ptr<http_connection> conn_;
    shard& home_;
};

class http_connection final : public std::enable_shared_from_this<http_connection>,
                              public connection {
public:
    http_connection(shard& sh, tcp::socket socket, connection_slot slot)
        : shard_(sh), ctx_(sh.ctx), stream_(std::move(socket)), slot_(std::move(slot)) {}

    ~http_connection() override { shard_.connections.erase(this); }

    void start() {
        shard_.connections.insert(this);
        do_read();
    }

    void on_second(util::time_point now) override {
        // The watch is a readiness wait, which the stream's timer does not bound: a close that
        // the client does not finish, and a client quiet for idle_timeout_ms after its held
        // request was answered, end here.
        bool idle = state_ == state::reading && !finishing_ && now >= idle_deadline_;
        if (watching_ && (finishing_ ? now >= finish_deadline_ : idle)) {
            beast::error_code ignored;
            stream_.socket().cancel(ignored);  // the watch ends with operation_aborted: abort()
        }
    }

    void shutdown() override {
        closing_ = true;
        // Waiting for a request: end the read now. Writing: closes after the write. Held:
        // protocol::shutdown() answers it, then it closes.
        if (state_ == state::reading) stream_.cancel();
    }

    // From http_sink, on this shard.
    void complete_held(const http_sink* from, std::vector<bayeux::frame> parts) {
        if (state_ != state::held || held_ != from) return;
        held_ = nullptr;
        write_bayeux(200, std::move(parts));
    }
    void fail_held(const http_sink* from, int status) {
        if (state_ != state::held || held_ != from) return;
        held_ = nullptr;
        callback_.clear();
        write_simple(status, "application/json", bayeux::protocol::error_body("409::connect_superseded"),
                     bayeux_headers());
    }

private:
    enum class state { reading, processing, held, writing, closed };

    void do_read() {
        state_ = state::reading;
        if (closing_) return close();
        head_request_ = false;
        origin_.clear();
        skip_blank_lines();
        if (buffer_.size() == 0) {
            // A kept-alive connection between requests may stay quiet for idle_timeout_ms; once
            // the next request begins, its header must come within header_timeout_ms. A new
            // connection has header_timeout_ms from the start.
            stream_.expires_after(std::chrono::milliseconds(first_ ? ctx_.http.header_timeout_ms
                                                                   : ctx_.http.idle_timeout_ms));
            return await_request();
        }
        read_header();
    }

    void await_request() {
        stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
            if (ec) return self->on_read_error(ec);
            self->buffer_.commit(n);
            self->skip_blank_lines();
            // Blank lines alone do not start a request, nor extend the deadline.
            if (self->buffer_.size() == 0) return self->await_request();
            self->read_header(!self->first_);
        });
    }

    // RFC 9112 §2.2: empty lines before a request line (old clients send CRLF after a body).
    void skip_blank_lines() {
        auto* p = static_cast<const char*>(buffer_.data().data());
        std::size_t n = 0;
        while (n < buffer_.size() && (p[n] == '\r' || p[n] == '\n')) ++n;
        buffer_.consume(n);
    }

    // fresh: the header's deadline starts now (not when parsing again after blank lines).
    void read_header(bool fresh = true) {
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(ctx_.http.max_header_bytes));
        parser_->body_limit(ctx_.http.max_body_bytes);
        if (fresh) stream_.expires_after(std::chrono::milliseconds(ctx_.http.header_timeout_ms));
        http::async_read_header(stream_, buffer_, *parser_,
                                [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                    self->on_header(ec);
                                });
    }

    void on_header(beast::error_code ec) {
        if (ec) return on_read_error(ec);
        first_ = false;
        auto& req = parser_->get();
        origin_ = std::string(req[http::field::origin]);
        if (req.count(http::field::transfer_encoding)) {
            // RFC 9112 §6.3: chunked must be the final coding, or the length is unknowable; and
            // §6.1: a coding the server does not know gets 501. Either way the connection ends.
            if (!parser_->chunked()) {
                keep_alive_ = false;
                return write_simple(400, "text/plain; charset=utf-8", "Bad request: Transfer-Encoding\n", {});
            }
            std::string_view te = req[http::field::transfer_encoding];
            te.remove_prefix(std::min(te.find_first_not_of(" \t"), te.size()));
            te = te.substr(0, te.find_last_not_of(" \t") + 1);
            if (!beast::iequals(te, "chunked")) {
                keep_alive_ = false;
                return write_simple(501, "text/plain; charset=utf-8", "Transfer-Encoding not supported\n", {});
            }
        }
        stream_.expires_after(std::chrono::milliseconds(ctx_.http.body_timeout_ms));
        // An HTTP/1.0 client never gets a 1xx (RFC 9110 §15.2).
        if (req.version() >= 11 && beast::iequals(req[http::field::expect], "100-continue")) {
            // curl and others wait for this before sending a body of more than 1 KiB.
            static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
            return asio::async_write(stream_, asio::buffer(go_on.data(), go_on.size()),
                                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                         if (ec) return self->abort();
                                         self->read_body();
                                     });
        }
        read_body();
    }

    void read_body() {
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             self->on_read(ec);
                         });
    }

    void on_read_error(beast::error_code ec) {
        if (ec == http::error::body_limit) {
            keep_alive_ = false;
            // A Content-Length over the limit ends the parse inside the header, after the request
            // line: the target is known either way.
            if (parser_ && parser_->get().target().starts_with("/api/"))
                return write_simple(413, "application/json",
                                    R"({"error":"too_large","message":"the body is over server.max_body_bytes"})", {});
            // With CORS headers, so that a page sees the 413 rather than an opaque failure (an
            // Origin sent after the Content-Length is not parsed by then).
            if (parser_ && origin_.empty()) origin_ = std::string(parser_->get()[http::field::origin]);
            return write_simple(413, "application/json",
                                bayeux::protocol::error_body("413::body_too_large"), cors_headers());
        }
        if (ec == http::error::header_limit) {
            keep_alive_ = false;
            return write_simple(431, "text/plain; charset=utf-8", "Request headers too large\n", {});
        }
        if (ec == beast::error::timeout) {
            spdlog::debug("http: closing a connection that was too slow to send its request");
            return abort();
        }
        if (ec == http::error::end_of_stream || ec == asio::error::eof ||
            ec == asio::error::operation_aborted || ec == asio::error::connection_reset || closing_)
            return abort();
        keep_alive_ = false;
        write_simple(400, "text/plain; charset=utf-8", "Bad request\n", {});
    }

    void on_read(beast::error_code ec) {
        if (ec) return on_read_error(ec);
        state_ = state::processing;
        stream_.expires_never();
        auto& req = parser_->get();
        keep_alive_ = req.keep_alive();
        http10_ = req.version() < 11;
        head_request_ = req.method() == http::verb::head;
        // RFC 9112 §3.2: an HTTP/1.1 request without Host, or any with two, gets 400.
        if (req.count(http::field::host) > 1 || (!http10_ && req.count(http::field::host) == 0)) {
            keep_alive_ = false;
            return write_simple(400, "text/plain; charset=utf-8", "Bad request: Host\n", {});
        }
        std::string_view target = req.target();
        // The absolute form (RFC 9112 §3.2.2): the path is what follows the authority.
        if (target.size() > 8 && (beast::iequals(target.substr(0, 7), "http://") ||
                                  beast::iequals(target.substr(0, 8), "https://"))) {
            auto slash = target.find('/', target.find("//") + 2);
            target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
        }
        auto q = target.find('?');
        std::string_view path = target.substr(0, q);
        std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
        const std::string& mount = ctx_.bayeux.path;
        bool bayeux = path == mount ||
                      (path.size() > mount.size() && path.starts_with(mount) && path[mount.size()] == '/');
        bool origin_ok = origin_.empty() || origin_allowed(ctx_.http.allowed_origins, origin_);

        if (beast::websocket::is_upgrade(req)) {
            if (!bayeux) return write_simple(404, "text/plain; charset=utf-8", "Not found\n", {});
            if (!origin_ok) {
                keep_alive_ = false;
                return write_simple(403, "text/plain; charset=utf-8", "Origin not allowed\n", {});
            }
            state_ = state::closed;
            std::string early(static_cast<const char*>(buffer_.data().data()), buffer_.size());
            return start_websocket(shard_, std::move(stream_), parser_->release(), std::move(slot_),
                                   std::move(early));
        }
        if (path == "/api/publish") return api_publish(req);
        if (path == "/healthz" && (req.method() == http::verb::get || req.method() == http::verb::head))
            return write_simple(200, "application/json", health_json(ctx_), std::string(no_cache));
        if (bayeux) {
            if (req.method() == http::verb::options) return preflight(origin_ok);
            if (!origin_ok) {
                return write_simple(403, "application/json",
                                    bayeux::protocol::error_body("403::origin_not_allowed"), {});
            }
            if (req.method() == http::verb::post) return long_poll(req);
            if (req.method() == http::verb::get) {
                // A <script> load carries no Origin: the allow-list is checked on what it does carry.
                if (!jsonp_site_allowed(req))
                    return write_simple(403, "application/json",
                                        bayeux::protocol::error_body("403::origin_not_allowed"), {});
                return callback_poll(query);
            }
            return write_simple(405, "text/plain; charset=utf-8", "Method not allowed\n",
                                "Allow: GET, POST, OPTIONS\r\n");
        }
        if (req.method() == http::verb::get || req.method() == http::verb::head)
            return serve_file(path, req.method() == http::verb::head);
        write_simple(405, "text/plain; charset=utf-8", "Method not allowed\n", "Allow: GET, HEAD\r\n");
    }

    // The backend's publish API (docs/security.md). Not for browsers: no CORS, a bearer key.
    void api_publish(http::request<http::string_body>& req) {
        if (req.method() != http::verb::post)
            return write_simple(405, "application/json",
                                R"({"error":"method_not_allowed","message":"use POST"})", "Allow: POST\r\n");
        if (!ctx_.api_publish)
            return write_simple(403, "application/json",
                                R"({"error":"api_disabled","message":"no [api] keys are configured"})",
                                std::string(no_cache));
        auto r = ctx_.api_publish(req[http::field::authorization], req.body());
        std::string h(no_cache);
        if (r.status == 401) h += "WWW-Authenticate: Bearer realm=\"encke\"\r\n";
        write_simple(r.status, "application/json", std::move(r.body), h);
    }

    void preflight(bool origin_ok) {
        auto& req = parser_->get();
        if (!origin_ok) {
            keep_alive_ = false;
            return write_simple(403, "text/plain; charset=utf-8", "Origin not allowed\n", {});
        }
        std::string h;
        if (origin_ok && !origin_.empty()) {
            h += cors_headers();
            h += "Access-Control-Allow-Methods: POST, GET, OPTIONS\r\n";
            std::string_view asked = req[http::field::access_control_request_headers];
            h += "Access-Control-Allow-Headers: ";
            h += asked.empty() ? "Accept, Authorization, Content-Type, Pragma, X-Requested-With" : asked;
            h += "\r\nAccess-Control-Max-Age: 86400\r\n";
        }
        write_simple(200, "text/plain; charset=utf-8", "", h);
    }

    // Callback-polling is loaded by a <script> element, which sends no Origin, so an origin
    // allow-list (anything but "*") is applied to what the browser does send: Sec-Fetch-Site,
    // and the Referer's origin. A page on an allowed origin, or served by Encke itself, passes;
    // a request with neither header (no browser sends that today) is refused, since a page on
    // another site could otherwise use a signed-in visitor's cookies (docs/security.md).
    bool jsonp_site_allowed(const http::request<http::string_body>& req) const {
        const auto& allowed = ctx_.http.allowed_origins;
        if (std::find(allowed.begin(), allowed.end(), "*") != allowed.end()) return true;
        std::string_view site = req["Sec-Fetch-Site"];
        if (beast::iequals(site, "same-origin") || beast::iequals(site, "none")) return true;
        std::string_view referer = req[http::field::referer];
        auto scheme_end = referer.find("://");
        if (scheme_end == std::string_view::npos) return false;
        auto origin = referer.substr(0, referer.find('/', scheme_end + 3));
        if (origin_allowed(allowed, origin)) return true;
        // Same host as the request (the page came from Encke; the scheme may differ behind TLS
        // termination, so only host and port are compared).
        std::string_view host = req[http::field::host];
        return !host.empty() && beast::iequals(origin.substr(scheme_end + 3), host);
    }

    std::string cors_headers() const {
        if (origin_.empty() || !origin_allowed(ctx_.http.allowed_origins, origin_)) return {};
        // Both clients send credentials, so the origin is echoed, never "*".
        return "Access-Control-Allow-Origin: " + origin_ +
               "\r\nAccess-Control-Allow-Credentials: true\r\nVary: Origin\r\n";
    }

    std::string bayeux_headers() const {
        std::string h(no_cache);
        h += cors_headers();
        if (!set_cookie_.empty()) {
            h += "Set-Cookie: " + ctx_.bayeux.browser_cookie + "=" + set_cookie_ + "; Path=/; HttpOnly\r\n";
        }
        return h;
    }

    void long_poll(http::request<http::string_body>& req) {
        std::string_view body = req.body();
        auto first = body.find_first_not_of(" \t\r\n");
        if (first != std::string_view::npos && (body[first] == '[' || body[first] == '{'))
            return handle_bayeux(std::move(req.body()), bayeux::transport_kind::long_polling);
        auto values = form_values(body, "message");
        if (values.empty())
            return write_simple(400, "application/json",
                                bayeux::protocol::error_body("400::message_missing"), bayeux_headers());
        handle_bayeux(join_message_values(values), bayeux::transport_kind::long_polling);
    }

    void callback_poll(std::string_view query) {
        auto cb = form_values(query, "jsonp");
        callback_ = cb.empty() ? "jsonpcallback" : cb.front();
        auto values = form_values(query, "message");
        if (cb.size() > 1 || !valid_jsonp_callback(callback_) || values.empty()) {
            callback_.clear();
            return write_simple(400, "text/plain; charset=utf-8", "Bad request\n", bayeux_headers());
        }
        handle_bayeux(join_message_values(values), bayeux::transport_kind::callback_polling);
    }

    void handle_bayeux(std::string text, bayeux::transport_kind kind) {
        auto err = shard_.parser.parse(text, msgs_);
        // An empty batch asks nothing and is answered with nothing, as Faye's server does: Faye's
        // client sends `[]` before a message over its 2 KiB batch size that was alone in its
        // outbox.
        if (err == json::parse_error::empty) return write_bayeux(200, {});
        if (err != json::parse_error::none) {
            callback_.clear();
            std::string e = "400::";
            e += json::to_string(err);
            return write_simple(400, "application/json", bayeux::protocol::error_body(e),
                                bayeux_headers());
        }
        auto& req = parser_->get();
        std::string_view cookie = cookie_value(req[http::field::cookie], ctx_.bayeux.browser_cookie);
        bool handshake = std::any_of(msgs_.begin(), msgs_.end(), [](const json::message& m) {
            return m.channel_ok && m.channel == "/meta/handshake";
        });
        bayeux::request_context rctx;
        rctx.kind = kind;
        rctx.cookie_sent = !cookie.empty();
        if (handshake)
            for (auto& name : ctx_.handshake_headers)
                if (auto v = req[name]; !v.empty()) rctx.headers.push_back({name, std::string(v)});
        if (!cookie.empty()) {
            rctx.browser_id = std::string(cookie);
        } else if (handshake) {
            set_cookie_ = util::random_base36(16);
            rctx.browser_id = set_cookie_;
        }
        unsigned handshake_shard = shard_for_browser(rctx.browser_id, shard_);
        auto sink = std::make_shared<http_sink>(weak_from_this(), shard_);
        held_ = sink.get();
        held_sink_identity_ = sink.get();
        rctx.out = std::move(sink);
        // Copied now: the views in msgs_ die with this shard's next parse, which may come before
        // a cross-shard outcome does.
        held_client_.clear();
        for (auto& m : msgs_)
            if (m.channel_ok && m.channel == "/meta/connect") held_client_ = std::string(m.client_id);
        dispatch_batch(shard_, msgs_, std::move(text), handshake_shard, std::move(rctx),
                       [self = shared_from_this()](bayeux::outcome&& out) {
                           self->on_outcome(std::move(out));
                       });
    }

    void on_outcome(bayeux::outcome&& out) {
        if (out.held) {
            state_ = state::held;
            // A held request may wait for minutes: it keeps neither the parsed request nor the
            // read buffer's capacity (thousands of idle long-polls are the common case).
            parser_.reset();
            if (buffer_.size() == 0) buffer_.shrink_to_fit();
            release_capacity(msgs_);
            release_capacity(head_);
            release_capacity(body_);
            release_capacity(parts_);
            release_capacity(bufs_);
            release_capacity(iov_);
            watch();
            return;
        }
        held_ = nullptr;
        write_bayeux(200, std::move(out.parts));
    }

    void write_bayeux(int status, std::vector<bayeux::frame> parts) {
        std::string headers = bayeux_headers();
        set_cookie_.clear();
        if (!callback_.empty()) {
            // JSONP: a script calling the callback with the reply array.
            std::string body = "/**/" + callback_ + "([";
            for (std::size_t i = 0; i < parts.size(); ++i) {
                if (i) body += ',';
                body += json::escape_line_separators(*parts[i]);
            }
            body += "]);";
            callback_.clear();
            headers += "Content-Disposition: attachment; filename=f.txt\r\n";
            return write_simple(status, "text/javascript; charset=utf-8", std::move(body), headers);
        }
        std::size_t length = 2 + (parts.empty() ? 0 : parts.size() - 1);
        for (auto& p : parts) length += p->size();
        head_ = status_head(status, "application/json; charset=utf-8", length, headers);
        parts_ = std::move(parts);
        bufs_.clear();
        bufs_.push_back(asio::buffer(head_));
        bufs_.push_back(asio::buffer("[", 1));
        for (std::size_t i = 0; i < parts_.size(); ++i) {
            if (i) bufs_.push_back(asio::buffer(",", 1));
            bufs_.push_back(asio::buffer(*parts_[i]));
        }
        bufs_.push_back(asio::buffer("]", 1));
        do_write();
    }

    std::string status_head(int status, std::string_view type, std::size_t length,
                            std::string_view extra) const {
        std::string h = "HTTP/1.1 ";
        h += std::to_string(status);
        h += ' ';
        h += reason(status);
        h += "\r\nServer: encke\r\n";
        if (!type.empty()) {
            h += "Content-Type: ";
            h += type;
            h += "\r\n";
        }
        if (status != 304) {  // a 304 may only state the 200's length: it states none
            h += "Content-Length: ";
            h += std::to_string(length);
            h += "\r\n";
        }
        h += http_date();
        h += extra;
        if (!keep_alive_ || closing_) h += "Connection: close\r\n";
        else if (http10_) h += "Connection: keep-alive\r\n";
        h += "\r\n";
        return h;
    }

    void write_simple(int status, std::string_view type, std::string body, std::string_view extra,
                      std::optional<std::size_t> length = std::nullopt) {
        head_ = status_head(status, status == 304 ? std::string_view{} : type,
                            length.value_or(body.size()), extra);
        body_ = std::move(body);
        bufs_.clear();
        bufs_.push_back(asio::buffer(head_));
        // A response to HEAD has the headers of the GET and no content (RFC 9110 §9.3.2).
        if (!body_.empty() && !head_request_) bufs_.push_back(asio::buffer(body_));
        do_write();
    }

    void serve_file(std::string_view path, bool head) {
        auto& req = parser_->get();
        auto r = ctx_.files.get(path, req[http::field::if_none_match],
                                req[http::field::if_modified_since], head);
        if (r.status == 200 || r.status == 304) {
            std::string h = "ETag: " + r.etag + "\r\nLast-Modified: " + r.last_modified +
                            "\r\nCache-Control: no-cache\r\n";
            if (r.status == 304) return write_simple(304, {}, {}, h, 0);
            return write_simple(200, r.content_type, std::move(r.body), h,
                                head ? std::optional<std::size_t>(r.size) : std::nullopt);
        }
        std::string_view text = r.status == 400 ? "Bad request\n"
                              : r.status == 403 ? "Forbidden\n"
                                                : "Not found\n";
        write_simple(r.status, "text/plain; charset=utf-8", std::string(text), {});
    }

    void do_write() {
        state_ = state::writing;
        // Most responses fit in the socket buffer: try the kernel now (a gather sendmsg that
        // never blocks and never raises SIGPIPE), without a composed operation or a timer. The
        // completion still runs from the event loop, never inside the caller (a protocol flush).
        int error = send_now(stream_.socket().native_handle(), bufs_, iov_);
        if (error || bufs_.empty()) {
            beast::error_code ec;
            if (error) ec = beast::error_code(error, boost::system::system_category());
            asio::post(stream_.get_executor(), [self = shared_from_this(), ec] { self->on_write(ec); });
            return;
        }
        stream_.expires_after(std::chrono::milliseconds(ctx_.http.idle_timeout_ms));
        asio::async_write(stream_, bufs_,
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              self->on_write(ec);
                          });
    }

    void on_write(beast::error_code ec) {
        parts_.clear();
        body_.clear();
        if (ec || peer_gone_) return abort();
        if (!keep_alive_ || closing_) {
            if (!watching_) return close();
            // The watch read is still pending: no second read may start. Half-close and let the
            // watch see the client's end (or its deadline).
            finishing_ = true;
            beast::error_code ignored;
            stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
            // The watch is a readiness wait, which the stream's timer does not bound: the shard's
            // once-a-second visit ends it (on_second).
            finish_deadline_ = util::steady::now() + std::chrono::seconds(1);
            return;
        }
        state_ = state::reading;
        if (!watching_) return do_read();
        idle_deadline_ = util::steady::now() + std::chrono::milliseconds(ctx_.http.idle_timeout_ms);
        // The watch read continues into do_read() when the next request arrives; bytes that came
        // during the hold are parsed now, after ending the watch.
        if (buffer_.size() > 0) {
            resuming_ = true;
            stream_.cancel();
        }
    }

    // While a connect is held the socket is read too, so that a client that goes away is noticed
    // at once: its session stops waiting on a dead request (and loses nothing: the queued
    // messages stay queued). Bytes that arrive meanwhile are kept for the next request.
    void watch() {
        watching_ = true;
        // A readiness wait, not a read: the pending operation is small and holds no buffer,
        // which matters when thousands of long-polls are held at once.
        stream_.socket().async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
            self->on_watch_ready(ec);
        });
    }

    void on_watch_ready(beast::error_code ec) {
        std::size_t n = 0;
        if (!ec) {
            // Small: it is there to notice the client's end; a pipelined request arriving
            // meanwhile is taken in pieces (each re-arms the watch).
            // Once the hold is over this is the next request: take all of it in one read.
            auto buf = buffer_.prepare(state_ == state::held ? 256 : 4096);
            ssize_t r = ::recv(stream_.socket().native_handle(), buf.data(), buf.size(), MSG_DONTWAIT);
            if (r > 0) {
                n = static_cast<std::size_t>(r);
            } else if (r == 0) {
                ec = asio::error::eof;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                watching_ = false;
                if (state_ == state::held || state_ == state::writing) return watch();
                if (state_ == state::reading) return do_read();
                return;
            } else {
                ec = beast::error_code(errno, boost::system::system_category());
            }
        }
        on_watch(ec, n);
    }

    void on_watch(beast::error_code ec, std::size_t n) {
        watching_ = false;
        if (finishing_) return abort();
        if (ec == asio::error::operation_aborted && resuming_ && state_ == state::reading) {
            resuming_ = false;
            return do_read();
        }
        if (ec) {
            if (state_ == state::held) {
                held_ = nullptr;
                release_session();
            }
            if (state_ == state::writing) {
                peer_gone_ = true;
                return;
            }
            return abort();
        }
        resuming_ = false;
        buffer_.commit(n);
        // A client may pipeline a whole request behind a held connect; more than that is abuse.
        if (buffer_.size() > ctx_.http.max_header_bytes + ctx_.http.max_body_bytes) {
            if (state_ == state::held) {
                held_ = nullptr;
                release_session();
            }
            return abort();
        }
        if (state_ == state::held || state_ == state::writing) return watch();
        if (state_ == state::reading) do_read();
    }

    void release_session() {
        int owner = bayeux::protocol::shard_of(held_client_);
        if (owner < 0 || static_cast<std::size_t>(owner) >= ctx_.shards.size()) return;
        auto& sh = *ctx_.shards[static_cast<std::size_t>(owner)];
        // The sink pointer is only compared, never followed.
        sh.run_here([&sh, id = held_client_, gone = held_sink_identity_] {
            sh.protocol.detach(id, gone);
        });
    }

    void close() {
        if (state_ == state::closed) return;
        state_ = state::closed;
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        // Linger: read and discard what the client still sends (say, the rest of a body that was
        // refused with 413) until it closes, for at most a second. Closing with unread data would
        // reset the connection, and the client could lose the response it has not read yet.
        stream_.expires_after(std::chrono::seconds(1));
        drain();
    }

    void abort() {
        state_ = state::closed;
        stream_.close();
    }

    void drain() {
        // Into the shard's scratch buffer: what is read here is thrown away.
        stream_.async_read_some(asio::buffer(shard_.read_scratch),
                                [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                    if (ec) return self->stream_.close();
                                    self->drain();
                                });
    }

    shard& shard_;
    context& ctx_;
    beast::tcp_stream stream_;
    connection_slot slot_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::vector<json::message> msgs_;
    state state_ = state::reading;
    bool first_ = true;
    bool keep_alive_ = true;
    bool http10_ = false;        // the request being answered is HTTP/1.0
    bool head_request_ = false;  // ... is a HEAD: the response has no content
    bool closing_ = false;
    std::string origin_;
    std::string callback_;    // JSONP callback of the request being answered
    std::string set_cookie_;  // browser id issued with this response
    const http_sink* held_ = nullptr;  // identity of the sink of the held request
    const bayeux::sink* held_sink_identity_ = nullptr;
    std::string held_client_;  // clientId of the held connect
    bool watching_ = false;
    bool resuming_ = false;   // the watch was cancelled to parse bytes it already read
    bool finishing_ = false;  // closing after the response while the watch read is pending
    bool peer_gone_ = false;
    util::time_point finish_deadline_{};
    util::time_point idle_deadline_{};  // reading with the watch still pending: closed after this
    std::string head_;
    std::string body_;
    std::vector<bayeux::frame> parts_;
    std::vector<asio::const_buffer> bufs_;
    std::vector<iovec> iov_;
};

void http_sink::send(std::vector<bayeux::frame> parts) {
    if (home_.ctx.engine->current_shard() == static_cast<int>(home_.index)) {
        if (auto conn = conn_.lock()) conn->complete_held(this, std::move(parts));
        return;
    }
    home_.run_here([c = conn_, self = this, parts = std::move(parts)]() mutable {
        if (auto conn = c.lock()) conn->complete_held(self, std::move(parts));
    });
}

void http_sink::fail(int status) {
    home_.run_here([c = conn_, self = this, status] {
        if (auto conn = c.lock()) conn->fail_held(self, status);
    });
}

}  // namespace

void start_http_connection(shard& sh, tcp::socket socket, connection_slot slot) {
    std::make_shared<http_connection>(sh, std::move(socket), std::move(slot))->start();
}

std::string health_json(context& ctx) {
    std::int64_t sessions = 0;
    std::uint64_t published = 0, delivered = 0, expired = 0, overflowed = 0, refused = 0;
    std::uint64_t handshakes_refused = 0, private_delivered = 0;
    for (auto& s : ctx.shards) {
        auto& st = s->protocol.stats();
        sessions += st.sessions.load(std::memory_order_relaxed);
        published += st.published.load(std::memory_order_relaxed);
        delivered += st.delivered.load(std::memory_order_relaxed);
        expired += st.sessions_expired.load(std::memory_order_relaxed);
        overflowed += st.sessions_overflowed.load(std::memory_order_relaxed);
        refused += st.refused.load(std::memory_order_relaxed);
        handshakes_refused += st.handshakes_refused.load(std::memory_order_relaxed);
        private_delivered += st.private_delivered.load(std::memory_order_relaxed);
    }
    published += ctx.published_by_server.load(std::memory_order_relaxed);
    auto uptime = std::chrono::duration_cast<std::chrono::seconds>(util::steady::now() - ctx.started);
    std::string j = "{\"status\":\"";
    j += ctx.stopping ? "stopping" : "ok";
    j += "\",\"sessions\":" + std::to_string(sessions);
    j += ",\"connections\":" + std::to_string(ctx.connections.load(std::memory_order_relaxed));
    j += ",\"uptime_seconds\":" + std::to_string(uptime.count());
    j += ",\"threads\":" + std::to_string(ctx.shards.size());
    j += ",\"messages_published\":" + std::to_string(published);
    j += ",\"messages_delivered\":" + std::to_string(delivered);
    j += ",\"sessions_expired\":" + std::to_string(expired);
    j += ",\"sessions_overflowed\":" + std::to_string(overflowed);
    j += ",\"messages_refused\":" + std::to_string(refused);
    j += ",\"connections_refused\":" +
         std::to_string(ctx.connections_refused.load(std::memory_order_relaxed));
    j += ",\"handshakes_refused\":" + std::to_string(handshakes_refused);
    j += ",\"messages_private\":" + std::to_string(private_delivered);
    if (ctx.policy_health) j += "," + ctx.policy_health();
    if (ctx.bridges_health) j += ",\"bridges\":" + ctx.bridges_health();
    j += ",\"version\":\"" ENCKE_VERSION "\"}";
    return j;
}

}  // namespace encke::transport
