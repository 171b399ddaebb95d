// `auth = "webhook"` (webhook.hpp): one thread with its own io_context; each check is one POST on
// a new connection (no pooling: a handshake is rare next to the messages a session carries, and a
// fresh connection cannot be a stale one), bounded as a whole by timeout_ms.
//
// Threads: check() and start() run on any thread and touch only what mu_ guards (the lifecycle,
// the count of accepted checks, the cache) and the log limiter (atomics); everything else belongs
// to the webhook thread.
#include "auth/webhook.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <limits>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace encke::auth {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using clock_type = std::chrono::steady_clock;

// A slow application must not cost one socket per waiting handshake: 256 at once, the rest wait
// in line, and past that line the answer is "unavailable" at once instead of memory.
constexpr std::size_t max_in_flight = 256;
constexpr std::size_t max_queued = 10'000;
constexpr std::size_t max_cached = 10'000;
constexpr std::uint64_t max_answer_body = 64 * 1024;  // an identity answer is a few bytes
constexpr char unavailable[] = "503::auth_unavailable";

verdict refused_unavailable() { return verdict{false, "", unavailable}; }

struct endpoint {
    bool tls = false;
    std::string host;         // for the resolver, SNI and certificate checks (no brackets)
    std::string port;
    std::string host_header;  // as it goes on the wire: brackets for IPv6, port when not default
    std::string target;       // path and query
    std::string loggable;     // the URL without its query, which may hold a key
};

bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

endpoint parse_url(const std::string& url) {
    auto bad = [&](std::string_view why) {
        return std::invalid_argument("webhook url '" + url + "': " + std::string(why));
    };
    endpoint ep;
    std::string_view rest = url;
    auto sep = rest.find("://");
    if (sep == std::string_view::npos)
        throw bad("expected http://host[:port]/path or https://host[:port]/path");
    std::string scheme(rest.substr(0, sep));
    for (auto& c : scheme) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (scheme == "https") ep.tls = true;
    else if (scheme != "http") throw bad("the scheme must be http or https");
    rest.remove_prefix(sep + 3);

    auto end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, end);
    std::string_view tail = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    if (tail.find('#') != std::string_view::npos) throw bad("a fragment (#) has no meaning here");
    for (char c : tail)
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
            throw bad("the path must be percent-encoded (no spaces or control characters)");
    ep.target = tail.empty()          ? "/"
                : tail.front() == '?' ? "/" + std::string(tail)
                                      : std::string(tail);
    if (authority.find('@') != std::string_view::npos)
        throw bad("credentials in the URL are not supported (send them from the application)");

    std::string_view host, port;
    bool bracketed = false;
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) throw bad("unclosed '[' in the host");
        host = authority.substr(1, close - 1);
        auto after = authority.substr(close + 1);
        if (!after.empty() && after.front() != ':') throw bad("unexpected text after ']'");
        if (!after.empty()) port = after.substr(1);
        bracketed = true;
        error_code ec;
        asio::ip::make_address_v6(std::string(host), ec);
        if (ec || host.empty()) throw bad("'" + std::string(host) + "' is not an IPv6 address");
        if (after.size() == 1) throw bad("an empty port");
    } else {
        auto colon = authority.find(':');
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos) {
            port = authority.substr(colon + 1);
            if (port.empty()) throw bad("an empty port");
        }
        if (host.empty()) throw bad("no host");
        for (char c : host)
            if (!is_alnum(c) && c != '.' && c != '-' && c != '_')
                throw bad("'" + std::string(host) + "' is not a host name");
    }
    std::string default_port = ep.tls ? "443" : "80";
    if (!port.empty()) {
        if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos ||
            std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535)
            throw bad("'" + std::string(port) + "' is not a port (1-65535)");
    }
    ep.host = std::string(host);
    ep.port = port.empty() ? default_port : std::string(port);
    std::string authority_text = bracketed ? "[" + ep.host + "]" : ep.host;
    ep.host_header = ep.port == default_port ? authority_text : authority_text + ":" + ep.port;
    std::string path = ep.target.substr(0, ep.target.find('?'));
    ep.loggable = scheme + "://" + ep.host_header + path;
    return ep;
}

// 401/403 reasons become part of a Bayeux error string: keep them to a safe token.
bool valid_reason(std::string_view r) {
    if (r.empty() || r.size() > 64) return false;
    for (char c : r)
        if (!is_alnum(c) && c != '_' && c != '.' && c != '-') return false;
    return true;
}

}  // namespace

struct webhook::impl {
    struct exchange;

    struct queued {
        std::string body;
        std::function<void(verdict)> done;
        clock_type::time_point since;
    };

    struct cached {
        std::string body;
        verdict v;
        clock_type::time_point expires;
    };

    // What an HTTP answer means. `problem` non-empty: a failure worth a log line.
    struct judged {
        verdict v;
        bool cacheable = false;
        std::string problem;
    };

    impl(std::string url, std::int64_t timeout_ms, std::int64_t cache_ms)
        : url_(std::move(url)),
          ep_(parse_url(url_)),
          timeout_(std::max<std::int64_t>(timeout_ms, 1)),
          cache_ttl_(std::max<std::int64_t>(cache_ms, 0)) {
        if (ep_.tls) {
            ssl_ctx_.emplace(asio::ssl::context::tls_client);
            ssl_ctx_->set_options(asio::ssl::context::default_workarounds |
                                  asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                                  asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
            // No usable trust store: every handshake then fails verification, which fails closed
            // and is logged per check, so there is nothing more to say here.
            error_code ignored;
            ssl_ctx_->set_default_verify_paths(ignored);
        }
    }

    void start() {
        std::lock_guard lk(mu_);
        if (started_ || stopped_) return;
        started_ = true;
        guard_.emplace(asio::make_work_guard(ioc_));
        thread_ = std::thread([this] {
            // Nothing a handler throws may end the process or the webhook (invoke() already
            // catches what `done` throws; this is for the rest, such as bad_alloc).
            while (true) {
                try {
                    ioc_.run();
                    return;
                } catch (const std::exception& e) {
                    spdlog::error("auth webhook {}: internal error: {}", ep_.loggable, e.what());
                } catch (...) {
                    spdlog::error("auth webhook {}: internal error", ep_.loggable);
                }
            }
        });
    }

    void stop() {
        {
            std::lock_guard lk(mu_);
            if (stopped_) return;
            stopped_ = true;
            if (!started_) return;  // no check was ever accepted
        }
        // Every check accepted so far was posted before this (check() posts under mu_ and sees
        // stopped_), so shut_down() runs after all of them and answers whatever is left.
        asio::post(ioc_, [this] { shut_down(); });
        thread_.join();
    }

    void check(std::string body, std::function<void(verdict)> done) {
        if (auto at_once = try_post(body, done)) invoke(done, std::move(*at_once));
    }

    // Posts the check to the webhook thread, or returns the answer to give at once: a cached
    // one, or "unavailable" (with a log line) before start, after stop or with the line full.
    std::optional<verdict> try_post(std::string& body, std::function<void(verdict)>& done) {
        const char* why = nullptr;
        {
            std::lock_guard lk(mu_);
            if (!started_ || stopped_) {
                why = started_ ? "checked after stop" : "checked before start";
            } else if (auto hit = lookup(body)) {
                return hit;
            } else if (accepted_ >= max_in_flight + max_queued) {
                why = "too many checks waiting for the application";
            } else {
                ++accepted_;
                asio::post(ioc_, [this, body = std::move(body), done = std::move(done),
                                  since = clock_type::now()]() mutable {
                    enqueue(queued{std::move(body), std::move(done), since});
                });
                return std::nullopt;
            }
        }
        warn(why);
        return refused_unavailable();
    }

    // ------------------------------------------------------------------ webhook thread

    void enqueue(queued q) {
        if (in_flight_ >= max_in_flight || !queue_.empty()) return queue_.push_back(std::move(q));
        launch(std::move(q));
    }

    // Starts the exchange for a check that may leave the queue now.
    void launch(queued q);

    // Called once per exchange, by exchange::finish.
    void complete(exchange* x, std::string body, judged j, std::function<void(verdict)> done) {
        live_.erase(x);
        --in_flight_;
        if (!j.problem.empty() && !stopping_) warn(j.problem);
        if (j.cacheable) remember(std::move(body), j.v);
        answer(done, std::move(j.v));
        while (!stopping_ && in_flight_ < max_in_flight && !queue_.empty()) {
            auto q = std::move(queue_.front());
            queue_.pop_front();
            launch(std::move(q));
        }
    }

    // Answers an accepted check.
    void answer(std::function<void(verdict)>& done, verdict v) {
        {
            std::lock_guard lk(mu_);
            --accepted_;
        }
        invoke(done, std::move(v));
    }

    void shut_down();

    judged judge(unsigned status, const std::string& body) {
        judged j;
        j.v = refused_unavailable();
        simdjson::dom::element doc;
        bool object = !json_.parse(body).get(doc) && doc.is_object();
        if (status == 200) {
            if (!object) {
                j.problem = "HTTP 200 without a JSON object";
                return j;
            }
            simdjson::dom::element user;
            auto err = doc["user"].get(user);
            std::string_view name;
            if (err == simdjson::NO_SUCH_FIELD || (!err && user.is_null())) {
                j.v = verdict{true, "", ""};
            } else if (!err && !user.get_string().get(name) && valid_user_id(name)) {
                j.v = verdict{true, std::string(name), ""};
            } else {
                j.problem = "HTTP 200 with a \"user\" that is not a valid user id";
                return j;
            }
            j.cacheable = true;
            return j;
        }
        if (status == 401 || status == 403) {
            std::string_view reason;
            if (!object || doc["reason"].get_string().get(reason) || !valid_reason(reason))
                reason = "refused";
            j.v = verdict{false, "", "403::" + std::string(reason)};
            j.cacheable = true;
            return j;
        }
        j.problem = "HTTP " + std::to_string(status);
        return j;
    }

    // ------------------------------------------------------------------ any thread

    // Under mu_. Entries all live cache_ttl_, so the oldest is also the first to expire.
    std::optional<verdict> lookup(std::string_view body) {
        auto it = cache_.find(body);
        if (it == cache_.end()) return std::nullopt;
        if (it->second->expires <= clock_type::now()) {
            forget(it);
            return std::nullopt;
        }
        return it->second->v;
    }

    void forget(std::unordered_map<std::string_view, std::list<cached>::iterator>::iterator it) {
        auto node = it->second;
        cache_.erase(it);  // before the node: the key views the node's string
        cache_order_.erase(node);
    }

    void remember(std::string body, const verdict& v) {
        if (cache_ttl_.count() == 0) return;
        auto now = clock_type::now();
        std::lock_guard lk(mu_);
        if (auto it = cache_.find(body); it != cache_.end()) forget(it);
        while (!cache_order_.empty() &&
               (cache_order_.front().expires <= now || cache_order_.size() >= max_cached))
            forget(cache_.find(cache_order_.front().body));
        cache_order_.push_back(cached{std::move(body), v, now + cache_ttl_});
        cache_.emplace(cache_order_.back().body, std::prev(cache_order_.end()));
    }

    void invoke(std::function<void(verdict)>& done, verdict v) {
        try {
            done(std::move(v));
        } catch (const std::exception& e) {
            spdlog::error("auth webhook {}: the completion handler threw: {}", ep_.loggable,
                          e.what());
        }
    }

    // At most one line a second, however many checks fail.
    void warn(std::string_view what) {
        auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       clock_type::now().time_since_epoch())
                       .count();
        auto last = last_warn_ms_.load();
        if (now - last < 1000 || !last_warn_ms_.compare_exchange_strong(last, now)) {
            ++unlogged_;
            return;
        }
        if (auto n = unlogged_.exchange(0))
            spdlog::warn("auth webhook {}: {} ({} more failures not logged)", ep_.loggable, what,
                         n);
        else
            spdlog::warn("auth webhook {}: {}", ep_.loggable, what);
    }

    const std::string url_;
    const endpoint ep_;
    const std::chrono::milliseconds timeout_;
    const std::chrono::milliseconds cache_ttl_;
    asio::io_context ioc_{1};
    std::optional<asio::ssl::context> ssl_ctx_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
    std::thread thread_;

    std::mutex mu_;
    bool started_ = false;
    bool stopped_ = false;
    std::size_t accepted_ = 0;  // posted, queued or in flight: bounds the queue before it forms
    std::list<cached> cache_order_;
    std::unordered_map<std::string_view, std::list<cached>::iterator> cache_;

    bool stopping_ = false;
    std::size_t in_flight_ = 0;
    std::deque<queued> queue_;
    std::unordered_set<exchange*> live_;
    simdjson::dom::parser json_;

    std::atomic<std::int64_t> last_warn_ms_{std::numeric_limits<std::int64_t>::min() / 2};
    std::atomic<std::uint64_t> unlogged_{0};
};

// One check: resolve, connect, TLS, write, read, under one deadline. Every handler holds the
// exchange; finish() closes everything, so handlers that come back afterwards only return.
struct webhook::impl::exchange : std::enable_shared_from_this<exchange> {
    exchange(impl& w, std::string body, std::function<void(verdict)> done)
        : w_(w),
          body_(std::move(body)),
          done_(std::move(done)),
          resolver_(w.ioc_),
          sock_(w.ioc_),
          timer_(w.ioc_) {
        req_.method(http::verb::post);
        req_.target(w.ep_.target);
        req_.version(11);
        req_.set(http::field::host, w.ep_.host_header);
        req_.set(http::field::user_agent, "encke-webhook");
        req_.set(http::field::content_type, "application/json");
        req_.set(http::field::accept, "application/json");
        req_.keep_alive(false);
        req_.body() = body_;  // a copy: body_ is the cache key, req_ is busy until the write ends
        req_.prepare_payload();
        res_.body_limit(max_answer_body);
    }

    void run() {
        auto self = shared_from_this();
        timer_.expires_after(w_.timeout_);
        timer_.async_wait([self](error_code ec) {
            if (!ec)
                self->fail("no answer within " + std::to_string(self->w_.timeout_.count()) + " ms");
        });
        resolver_.async_resolve(w_.ep_.host, w_.ep_.port,
                                [self](error_code ec, tcp::resolver::results_type r) {
                                    self->on_resolve(ec, std::move(r));
                                });
    }

    void abort() { finish(judged{refused_unavailable(), false, ""}); }

private:
    void on_resolve(error_code ec, tcp::resolver::results_type results) {
        if (finished_) return;
        if (ec) return fail("cannot resolve " + w_.ep_.host + ": " + ec.message());
        asio::async_connect(sock_, results,
                            [self = shared_from_this()](error_code ec, const tcp::endpoint&) {
                                self->on_connect(ec);
                            });
    }

    void on_connect(error_code ec) {
        if (finished_) return;
        if (ec) return fail("cannot connect: " + ec.message());
        error_code ignored;
        sock_.set_option(tcp::no_delay(true), ignored);
        if (!w_.ep_.tls) return do_write();
        tls_.emplace(sock_, *w_.ssl_ctx_);
        tls_->set_verify_mode(asio::ssl::verify_peer);
        tls_->set_verify_callback(asio::ssl::host_name_verification(w_.ep_.host));
        // SNI carries names only (RFC 6066 §3).
        error_code not_ip;
        asio::ip::make_address(w_.ep_.host, not_ip);
        if (not_ip) SSL_set_tlsext_host_name(tls_->native_handle(), w_.ep_.host.c_str());
        tls_->async_handshake(
            asio::ssl::stream_base::client,
            [self = shared_from_this()](error_code ec) { self->on_handshake(ec); });
    }

    void on_handshake(error_code ec) {
        if (finished_) return;
        if (ec) return fail("TLS handshake failed: " + ec.message());
        do_write();
    }

    void do_write() {
        auto h = [self = shared_from_this()](error_code ec, std::size_t) { self->on_write(ec); };
        if (tls_) http::async_write(*tls_, req_, std::move(h));
        else http::async_write(sock_, req_, std::move(h));
    }

    void on_write(error_code ec) {
        if (finished_) return;
        if (ec) return fail("write failed: " + ec.message());
        do_read();
    }

    void do_read() {
        auto h = [self = shared_from_this()](error_code ec, std::size_t) { self->on_read(ec); };
        if (tls_) http::async_read(*tls_, buf_, res_, std::move(h));
        else http::async_read(sock_, buf_, res_, std::move(h));
    }

    void on_read(error_code ec) {
        if (finished_) return;
        if (ec == http::error::body_limit) return fail("answer body over 64 KiB");
        if (ec) return fail("read failed: " + ec.message());
        auto& res = res_.get();
        finish(w_.judge(res.result_int(), res.body()));
    }

    void fail(std::string what) { finish(judged{refused_unavailable(), false, std::move(what)}); }

    void finish(judged j) {
        if (finished_) return;
        finished_ = true;
        error_code ignored;
        timer_.cancel();
        resolver_.cancel();
        sock_.close(ignored);
        w_.complete(this, std::move(body_), std::move(j), std::move(done_));
    }

    impl& w_;
    std::string body_;
    std::function<void(verdict)> done_;
    tcp::resolver resolver_;
    tcp::socket sock_;
    std::optional<asio::ssl::stream<tcp::socket&>> tls_;
    asio::steady_timer timer_;
    http::request<http::string_body> req_;
    beast::flat_buffer buf_;
    http::response_parser<http::string_body> res_;
    bool finished_ = false;
};

void webhook::impl::launch(queued q) {
    {
        std::unique_lock lk(mu_);
        // An identical check may have been answered while this one waited.
        if (auto v = lookup(q.body)) {
            lk.unlock();
            return answer(q.done, std::move(*v));
        }
    }
    // Under a long backlog the queue drains at max_in_flight per timeout at least; a check
    // that waited longer than a whole exchange may take is answered now, not after another.
    if (clock_type::now() - q.since > timeout_) {
        warn("checks waited in line longer than the timeout (the application is too slow)");
        return answer(q.done, refused_unavailable());
    }
    ++in_flight_;
    auto x = std::make_shared<exchange>(*this, std::move(q.body), std::move(q.done));
    live_.insert(x.get());
    x->run();
}

void webhook::impl::shut_down() {
    stopping_ = true;
    auto waiting = std::move(queue_);
    queue_.clear();
    for (auto& q : waiting) answer(q.done, refused_unavailable());
    // Each live exchange is kept alive by its pending handlers until they run (aborted).
    std::vector<exchange*> live(live_.begin(), live_.end());
    for (auto* x : live) x->abort();
    guard_.reset();  // run() returns once the aborted operations have come back
}

webhook::webhook(std::string url, std::int64_t timeout_ms, std::int64_t cache_ms)
    : impl_(std::make_shared<impl>(std::move(url), timeout_ms, cache_ms)) {}

webhook::~webhook() { impl_->stop(); }

void webhook::start() { impl_->start(); }

void webhook::check(std::string body_json, std::function<void(verdict)> done) {
    impl_->check(std::move(body_json), std::move(done));
}

}  // namespace encke::auth
