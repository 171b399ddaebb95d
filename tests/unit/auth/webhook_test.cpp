// The auth webhook against a small HTTP(S) server on 127.0.0.1:0 whose answers each test sets.
#include "auth/webhook.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using encke::auth::verdict;
using encke::auth::webhook;
using namespace std::chrono_literals;

struct reply {
    unsigned status = 200;
    std::string body;
    bool silent = false;  // read the request, never answer
};

struct received {
    std::string method, target, host, content_type, user_agent, body, sni;
};

// One thread, one io_context; every connection reads one request and answers it (or not).
class test_server {
public:
    explicit test_server(std::function<reply(const received&)> answer,
                         asio::ssl::context* tls = nullptr)
        : answer_(std::move(answer)), tls_(tls) {
        do_accept();
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~test_server() {
        ioc_.stop();
        thread_.join();
        silent_.clear();
    }

    unsigned short port() const { return acceptor_.local_endpoint().port(); }
    std::string url(const std::string& host = "127.0.0.1") const {
        return std::string(tls_ ? "https" : "http") + "://" + host + ":" + std::to_string(port()) +
               "/auth/check";
    }
    std::size_t count() {
        std::lock_guard lk(mu_);
        return requests_.size();
    }
    received last() {
        std::lock_guard lk(mu_);
        return requests_.empty() ? received{} : requests_.back();
    }

private:
    struct conn : std::enable_shared_from_this<conn> {
        conn(test_server& s, tcp::socket sock) : s_(s), sock_(std::move(sock)) {
            if (s_.tls_) tls_.emplace(sock_, *s_.tls_);
        }
        void start() {
            if (!tls_) return do_read();
            tls_->async_handshake(asio::ssl::stream_base::server,
                                  [self = shared_from_this()](beast::error_code ec) {
                                      if (!ec) self->do_read();
                                  });
        }
        void do_read() {
            auto h = [self = shared_from_this()](beast::error_code ec, std::size_t) {
                self->on_read(ec);
            };
            if (tls_) http::async_read(*tls_, buf_, req_, std::move(h));
            else http::async_read(sock_, buf_, req_, std::move(h));
        }
        void on_read(beast::error_code ec) {
            if (ec) return;
            received r{std::string(req_.method_string()), std::string(req_.target()),
                       std::string(req_[http::field::host]),
                       std::string(req_[http::field::content_type]),
                       std::string(req_[http::field::user_agent]), req_.body(), ""};
            if (tls_)
                if (auto* name =
                        SSL_get_servername(tls_->native_handle(), TLSEXT_NAMETYPE_host_name))
                    r.sni = name;
            {
                std::lock_guard lk(s_.mu_);
                s_.requests_.push_back(r);
            }
            auto a = s_.answer_(r);
            if (a.silent) return s_.silent_.push_back(shared_from_this());
            res_.result(a.status);
            res_.version(11);
            res_.set(http::field::content_type, "application/json");
            res_.body() = a.body;
            res_.prepare_payload();
            res_.keep_alive(false);
            auto h = [self = shared_from_this()](beast::error_code, std::size_t) {
                beast::error_code ignored;
                self->sock_.shutdown(tcp::socket::shutdown_both, ignored);
            };
            if (tls_) http::async_write(*tls_, res_, std::move(h));
            else http::async_write(sock_, res_, std::move(h));
        }

        test_server& s_;
        tcp::socket sock_;
        std::optional<asio::ssl::stream<tcp::socket&>> tls_;
        beast::flat_buffer buf_;
        http::request<http::string_body> req_;
        http::response<http::string_body> res_;
    };

    void do_accept() {
        acceptor_.async_accept([this](beast::error_code ec, tcp::socket sock) {
            if (ec) return;
            std::make_shared<conn>(*this, std::move(sock))->start();
            do_accept();
        });
    }

    std::function<reply(const received&)> answer_;
    asio::ssl::context* tls_;
    asio::io_context ioc_;
    tcp::acceptor acceptor_{ioc_, {asio::ip::address_v4::loopback(), 0}};
    std::vector<std::shared_ptr<conn>> silent_;  // io thread only
    std::thread thread_;
    std::mutex mu_;
    std::vector<received> requests_;
};

reply answer_with(unsigned status, std::string body) {
    return reply{status, std::move(body), false};
}

// Counts the calls of one check's `done`, so a second call fails the test too.
struct probe {
    std::promise<verdict> promise;
    std::future<verdict> future = promise.get_future();
    std::atomic<int> calls{0};

    std::function<void(verdict)> done() {
        return [this](verdict v) {
            if (calls.fetch_add(1) == 0) promise.set_value(std::move(v));
        };
    }
    verdict wait(std::chrono::milliseconds limit = 3s) {
        if (future.wait_for(limit) != std::future_status::ready) {
            ADD_FAILURE() << "no answer within " << limit.count() << " ms";
            return verdict{false, "", "no answer"};
        }
        return future.get();
    }
};

verdict check(webhook& w, const std::string& body) {
    probe p;
    w.check(body, p.done());
    auto v = p.wait();
    EXPECT_EQ(p.calls.load(), 1);
    return v;
}

constexpr char handshake[] =
    R"({"ext":{"token":"abc"},"headers":{"Cookie":"s=1"},"transport":"websocket"})";

class WebhookTest : public ::testing::Test {};

TEST_F(WebhookTest, AllowsTheUserTheApplicationNames) {
    test_server server([](const received&) { return answer_with(200, R"({"user":"alice"})"); });
    webhook w(server.url(), 2000, 0);
    w.start();
    auto v = check(w, handshake);
    EXPECT_TRUE(v.ok);
    EXPECT_EQ(v.user, "alice");
    EXPECT_EQ(v.error, "");
    auto r = server.last();
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/auth/check");
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.user_agent, "encke-webhook");
    EXPECT_EQ(r.host, "127.0.0.1:" + std::to_string(server.port()));
    EXPECT_EQ(r.body, handshake);
}

TEST_F(WebhookTest, EmptyObjectOrNullUserIsAnonymous) {
    std::string answer;
    test_server server([&](const received&) { return answer_with(200, answer); });
    webhook w(server.url(), 2000, 0);
    w.start();
    for (auto a : {"{}", R"({"user":null})", R"({"user":null,"extra":[1,2]})"}) {
        answer = a;
        auto v = check(w, handshake);
        EXPECT_TRUE(v.ok) << a;
        EXPECT_EQ(v.user, "") << a;
    }
}

TEST_F(WebhookTest, RefusalCarriesASafeReason) {
    std::atomic<unsigned> status{403};
    std::string answer;
    test_server server([&](const received&) { return answer_with(status, answer); });
    webhook w(server.url(), 2000, 0);
    w.start();
    struct row {
        unsigned status;
        std::string body, error;
    };
    for (auto& [s, body, error] : std::vector<row>{
             {403, R"({"reason":"banned"})", "403::banned"},
             {401, R"({"reason":"token.expired-2"})", "403::token.expired-2"},
             {403, "", "403::refused"},
             {401, "not json", "403::refused"},
             {403, R"({"reason":"no spaces please"})", "403::refused"},
             {403, R"({"reason":"x\"y"})", "403::refused"},
             {403, R"({"reason":7})", "403::refused"},
             {403, "{\"reason\":\"" + std::string(65, 'a') + "\"}", "403::refused"},
         }) {
        status = s;
        answer = body;
        auto v = check(w, handshake);
        EXPECT_FALSE(v.ok) << s << " " << body;
        EXPECT_EQ(v.error, error) << s << " " << body;
        EXPECT_EQ(v.user, "");
    }
}

TEST_F(WebhookTest, AnythingElseFailsClosed) {
    std::atomic<unsigned> status{200};
    std::string answer;
    test_server server([&](const received&) { return answer_with(status, answer); });
    webhook w(server.url(), 2000, 0);
    w.start();
    struct row {
        unsigned status;
        std::string body;
    };
    for (auto& [s, body] : std::vector<row>{
             {500, R"({"user":"alice"})"},
             {302, ""},
             {404, ""},
             {200, "not json"},
             {200, R"(["alice"])"},
             {200, R"("alice")"},
             {200, ""},
             {200, R"({"user":"a/b"})"},   // not a valid user id
             {200, R"({"user":""})"},
             {200, R"({"user":42})"},
             {200, R"({"user":"alice")"},  // truncated
         }) {
        status = s;
        answer = body;
        auto v = check(w, handshake);
        EXPECT_FALSE(v.ok) << s << " " << body;
        EXPECT_EQ(v.error, "503::auth_unavailable") << s << " " << body;
    }
}

TEST_F(WebhookTest, OversizedAnswerFailsClosed) {
    test_server server([](const received&) {
        return answer_with(200, R"({"user":"alice","pad":")" + std::string(70'000, 'x') + "\"}");
    });
    webhook w(server.url(), 2000, 0);
    w.start();
    EXPECT_EQ(check(w, handshake).error, "503::auth_unavailable");
}

TEST_F(WebhookTest, SilentApplicationTimesOut) {
    test_server server([](const received&) { return reply{200, "", true}; });
    webhook w(server.url(), 200, 0);
    w.start();
    auto t0 = std::chrono::steady_clock::now();
    auto v = check(w, handshake);
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(v.error, "503::auth_unavailable");
    EXPECT_GE(took, 190ms);
    EXPECT_LT(took, 1200ms);
    EXPECT_EQ(server.count(), 1u);
}

TEST_F(WebhookTest, ClosedPortIsUnavailable) {
    unsigned short port;
    {
        asio::io_context ioc;
        tcp::acceptor a(ioc, {asio::ip::address_v4::loopback(), 0});
        port = a.local_endpoint().port();
    }
    webhook w("http://127.0.0.1:" + std::to_string(port) + "/auth", 2000, 0);
    w.start();
    auto v = check(w, handshake);
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.error, "503::auth_unavailable");
}

TEST_F(WebhookTest, IdenticalRequestIsAnsweredFromTheCache) {
    std::atomic<unsigned> status{200};
    test_server server([&](const received& r) {
        return answer_with(status,
                           r.body == handshake ? R"({"user":"alice"})" : R"({"user":"bob"})");
    });
    webhook w(server.url(), 2000, 60'000);
    w.start();
    EXPECT_EQ(check(w, handshake).user, "alice");
    EXPECT_EQ(check(w, handshake).user, "alice");
    EXPECT_EQ(server.count(), 1u);
    EXPECT_EQ(check(w, "{}").user, "bob");  // another body is another question
    EXPECT_EQ(server.count(), 2u);

    status = 403;  // refusals are cached too
    EXPECT_EQ(check(w, R"({"ext":1})").error, "403::refused");
    EXPECT_EQ(check(w, R"({"ext":1})").error, "403::refused");
    EXPECT_EQ(server.count(), 3u);

    status = 500;  // failures are not: the next handshake asks again
    EXPECT_EQ(check(w, R"({"ext":2})").error, "503::auth_unavailable");
    EXPECT_EQ(check(w, R"({"ext":2})").error, "503::auth_unavailable");
    EXPECT_EQ(server.count(), 5u);
}

TEST_F(WebhookTest, CacheEntriesExpire) {
    test_server server([](const received&) { return answer_with(200, R"({"user":"alice"})"); });
    webhook w(server.url(), 2000, 100);
    w.start();
    EXPECT_TRUE(check(w, handshake).ok);
    EXPECT_TRUE(check(w, handshake).ok);
    EXPECT_EQ(server.count(), 1u);
    std::this_thread::sleep_for(150ms);
    EXPECT_TRUE(check(w, handshake).ok);
    EXPECT_EQ(server.count(), 2u);
}

TEST_F(WebhookTest, RejectsUrlsItCannotUse) {
    for (auto bad : {"", "example.com/auth", "ftp://example.com/", "http://", "http:///path",
                     "http://host:/x", "http://host:0/x", "http://host:65536/x", "http://host:8o/x",
                     "http://user:pw@host/x", "http://ho st/x", "http://host/a b",
                     "http://host/x#frag", "http://[::1/x", "http://[nope]/x", "http://[::1]x/"}) {
        try {
            webhook w(bad, 1000, 0);
            ADD_FAILURE() << "accepted " << bad;
        } catch (const std::invalid_argument& e) {
            EXPECT_EQ(std::string(e.what()).rfind(std::string("webhook url '") + bad + "': ", 0),
                      0u)
                << e.what();
        }
    }
    for (auto good : {"http://app/auth", "https://app.example.com", "HTTPS://app:8443/a?b=c",
                      "http://[::1]:8080/auth", "http://127.0.0.1:1/"})
        EXPECT_NO_THROW(webhook(good, 1000, 0)) << good;
}

TEST_F(WebhookTest, QueryAndDefaultPortsGoOnTheWire) {
    test_server server([](const received&) { return answer_with(200, "{}"); });
    webhook w("http://localhost:" + std::to_string(server.port()) + "?k=v", 2000, 0);
    w.start();
    EXPECT_TRUE(check(w, handshake).ok);
    EXPECT_EQ(server.last().target, "/?k=v");
    EXPECT_EQ(server.last().host, "localhost:" + std::to_string(server.port()));
}

TEST_F(WebhookTest, CheckBeforeStartFailsAtOnce) {
    test_server server([](const received&) { return answer_with(200, R"({"user":"alice"})"); });
    webhook w(server.url(), 2000, 0);
    probe p;
    w.check(handshake, p.done());
    EXPECT_EQ(p.calls.load(), 1);  // inline
    EXPECT_EQ(p.wait(0ms).error, "503::auth_unavailable");
    EXPECT_EQ(server.count(), 0u);
}

TEST_F(WebhookTest, StopAnswersEveryPendingCheckOnce) {
    test_server server([](const received&) { return reply{200, "", true}; });
    auto w = std::make_unique<webhook>(server.url(), 10'000, 0);
    w->start();
    std::vector<std::unique_ptr<probe>> probes;
    for (int i = 0; i < 5; ++i) {
        probes.push_back(std::make_unique<probe>());
        w->check(handshake + std::to_string(i), probes.back()->done());
    }
    for (int i = 0; i < 200 && server.count() < 5; ++i) std::this_thread::sleep_for(5ms);
    ASSERT_EQ(server.count(), 5u);
    auto t0 = std::chrono::steady_clock::now();
    w.reset();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
    for (auto& p : probes) {
        EXPECT_EQ(p->calls.load(), 1);
        EXPECT_EQ(p->wait(0ms).error, "503::auth_unavailable");
    }
}

// 256 requests at once, then a line of 10,000; the next check is answered at once, and stopping
// answers every one of them exactly once.
TEST_F(WebhookTest, InFlightAndQueueAreBounded) {
    test_server server([](const received&) { return reply{200, "", true}; });
    auto w = std::make_unique<webhook>(server.url(), 10'000, 0);
    w->start();
    constexpr int accepted = 256 + 10'000;
    std::atomic<int> calls{0}, unavailable{0};
    auto done = [&](verdict v) {
        ++calls;
        if (v.error == "503::auth_unavailable") ++unavailable;
    };
    for (int i = 0; i < accepted; ++i) w->check(std::to_string(i), done);
    EXPECT_EQ(calls.load(), 0);
    w->check("one too many", done);
    EXPECT_EQ(calls.load(), 1);  // inline, with the line full

    for (int i = 0; i < 400 && server.count() < 256; ++i) std::this_thread::sleep_for(5ms);
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(server.count(), 256u);
    w.reset();
    EXPECT_EQ(calls.load(), accepted + 1);
    EXPECT_EQ(unavailable.load(), accepted + 1);
}

TEST_F(WebhookTest, ManyChecksAllComplete) {
    test_server server(
        [](const received& r) { return answer_with(200, "{\"user\":\"u" + r.body + "\"}"); });
    webhook w(server.url(), 3000, 0);
    w.start();
    constexpr int n = 400;  // past the in-flight cap, so some wait in line
    std::vector<std::unique_ptr<probe>> probes;
    for (int i = 0; i < n; ++i) {
        probes.push_back(std::make_unique<probe>());
        w.check(std::to_string(i), probes.back()->done());
    }
    for (int i = 0; i < n; ++i) {
        auto v = probes[i]->wait(5s);
        EXPECT_TRUE(v.ok);
        EXPECT_EQ(v.user, "u" + std::to_string(i));
    }
    EXPECT_EQ(server.count(), std::size_t(n));
}

// ------------------------------------------------------------------ https

// A self-signed certificate for DNS:localhost, made once for the https tests.
struct test_cert {
    std::string cert_pem, key_pem;

    test_cert() {
        EVP_PKEY* key = EVP_EC_gen("P-256");
        X509* x = X509_new();
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), -3600);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_pubkey(x, key);
        X509_NAME* name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
        X509_set_issuer_name(x, name);
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
        for (auto [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost"},
                                  std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
            X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
            X509_add_ext(x, ext, -1);
            X509_EXTENSION_free(ext);
        }
        X509_sign(x, key, EVP_sha256());
        cert_pem = pem([&](BIO* b) { PEM_write_bio_X509(b, x); });
        key_pem = pem([&](BIO* b) {
            PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
        });
        X509_free(x);
        EVP_PKEY_free(key);
    }

    template <class Write>
    static std::string pem(Write write) {
        BIO* b = BIO_new(BIO_s_mem());
        write(b);
        char* data = nullptr;
        long n = BIO_get_mem_data(b, &data);
        std::string out(data, static_cast<std::size_t>(n));
        BIO_free(b);
        return out;
    }

    asio::ssl::context server_context() const {
        asio::ssl::context c(asio::ssl::context::tls_server);
        c.use_certificate_chain(asio::buffer(cert_pem));
        c.use_private_key(asio::buffer(key_pem), asio::ssl::context::pem);
        return c;
    }
};

// The webhook trusts the system store; SSL_CERT_FILE (read when the webhook is made) points it at
// the test certificate instead.
std::unique_ptr<webhook> trusting(const test_cert& cert, const std::string& url) {
    auto file = std::filesystem::temp_directory_path() /
                ("encke-webhook-test-" + std::to_string(::getpid()) + ".pem");
    std::ofstream(file) << cert.cert_pem;
    ::setenv("SSL_CERT_FILE", file.c_str(), 1);
    auto w = std::make_unique<webhook>(url, 2000, 0);
    ::unsetenv("SSL_CERT_FILE");
    std::filesystem::remove(file);
    return w;
}

TEST_F(WebhookTest, HttpsVerifiesTheCertificateAndSendsSni) {
    test_cert cert;
    auto ctx = cert.server_context();
    test_server server([](const received&) { return answer_with(200, R"({"user":"alice"})"); },
                       &ctx);

    auto w = trusting(cert, server.url("localhost"));
    w->start();
    auto v = check(*w, handshake);
    EXPECT_TRUE(v.ok) << v.error;
    EXPECT_EQ(v.user, "alice");
    EXPECT_EQ(server.last().sni, "localhost");
    EXPECT_EQ(server.last().body, handshake);
}

TEST_F(WebhookTest, HttpsRefusesAnUntrustedOrMisnamedCertificate) {
    test_cert cert;
    auto ctx = cert.server_context();
    test_server server([](const received&) { return answer_with(200, R"({"user":"alice"})"); },
                       &ctx);

    webhook untrusted(server.url("localhost"), 2000, 0);  // the system store does not know it
    untrusted.start();
    EXPECT_EQ(check(untrusted, handshake).error, "503::auth_unavailable");

    auto misnamed = trusting(cert, server.url("127.0.0.1"));  // trusted, but not for this name
    misnamed->start();
    EXPECT_EQ(check(*misnamed, handshake).error, "503::auth_unavailable");
    EXPECT_EQ(server.count(), 0u);
}

}  // namespace
