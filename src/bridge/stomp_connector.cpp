// STOMP 1.2 over Asio (TCP, or TLS for stomp+ssl://), on a thread of its own.
//
// One connection per bridge: CONNECT (login/passcode, heart-beat, client-id for durable
// subscriptions), one SUBSCRIBE per source with a receipt (the bridge is "connected" once every
// subscription is confirmed), MESSAGE frames handed to the listener and acknowledged when it
// settles them, SEND frames with a receipt each. Any error, ERROR frame or missed heart-beat
// closes the connection; it is opened again after a backoff with jitter, forever, until stop().
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "bridge/connector.hpp"
#include "bridge/stomp_frame.hpp"

namespace encke::bridge {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

// One connection's socket (and TLS stream over it). Every pending operation's handler holds a
// reference, so closing the connection never frees what an aborted operation still touches.
struct link {
    explicit link(asio::io_context& ioc) : sock(ioc) {}
    tcp::socket sock;
    std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls;

    template <class Buffers, class Handler>
    void read_some(const Buffers& b, Handler&& h) {
        if (tls) tls->async_read_some(b, std::forward<Handler>(h));
        else sock.async_read_some(b, std::forward<Handler>(h));
    }
    template <class Buffers, class Handler>
    void write(const Buffers& b, Handler&& h) {
        if (tls) asio::async_write(*tls, b, std::forward<Handler>(h));
        else asio::async_write(sock, b, std::forward<Handler>(h));
    }
};

constexpr std::size_t max_pending_sends = 100'000;
constexpr std::size_t max_output_bytes = 64u << 20;  // written to a broker that does not read
constexpr ms stable_after{10'000};                     // a connection up this long resets the backoff

class stomp_connector final : public connector {
public:
    stomp_connector(connector_options o, connector_listener& l)
        : o_(std::move(o)), l_(l), parser_(o_.max_frame_bytes) {}

    ~stomp_connector() override { stop(); }

    void start() override {
        if (thread_.joinable()) return;
        guard_.emplace(asio::make_work_guard(ioc_));
        asio::post(ioc_, [this] {
            report(link_state::connecting, "");
            open();
            tick();
        });
        thread_ = std::thread([this] {
            // A handler that throws must not end the process: drop the connection and go on.
            while (true) {
                try {
                    ioc_.run();
                    return;
                } catch (const std::exception& e) {
                    fail(std::string("internal error: ") + e.what());
                } catch (...) {
                    fail("internal error");
                }
            }
        });
    }

    void stop() override {
        if (!thread_.joinable()) return;
        stopped_.store(true);  // from now on send() answers at once
        asio::post(ioc_, [this] {
            stopping_ = true;
            if (connected_ && link_ && !writing_ && out_.empty()) {
                // A polite goodbye (non-durable subscriptions end at once on the broker), but
                // never a wait on a broker that does not read: half a second at most.
                auto l = link_;
                static constexpr char bye[] = "DISCONNECT\n\n";  // and the array's NUL
                l->write(asio::buffer(bye, sizeof bye), [this, l](boost::system::error_code, std::size_t) { finish_stop(); });
                retry_.expires_after(ms(500));
                retry_.async_wait([this](boost::system::error_code) { finish_stop(); });
            } else {
                finish_stop();
            }
        });
        thread_.join();
        // Sends posted before stopped_ was set were answered while the loop drained (they see
        // stopping_); the thread ran until nothing was left to do.
    }

    void send(std::string destination, std::string body, send_options opts,
              std::function<void(std::string_view)> done) override {
        if (stopped_.load()) return done("broker_unavailable");
        asio::post(ioc_, [this, d = std::move(destination), b = std::move(body), opts = std::move(opts),
                          done = std::move(done)]() mutable {
            if (!connected_ || stopping_ || sends_.size() >= max_pending_sends || out_.size() >= max_output_bytes)
                return done("broker_unavailable");
            stomp::frame f;
            f.command = "SEND";
            std::string receipt = "s-" + std::to_string(++next_receipt_);
            f.headers.push_back({"destination", std::move(d)});
            f.headers.push_back({"content-type", opts.content_type});
            f.headers.push_back({"persistent", opts.persistent ? "true" : "false"});
            f.headers.push_back({"receipt", receipt});
            for (auto& h : opts.headers) f.headers.push_back(std::move(h));
            f.body = std::move(b);
            // Without content-length ActiveMQ makes it a JMS TextMessage; a body holding NUL
            // (never JSON text) needs the length.
            bool length = f.body.find('\0') != std::string::npos;
            sends_.emplace(std::move(receipt), pending{std::move(done), clock_type::now() + o_.send_timeout});
            write(f, length);
        });
    }

private:
    // The end of stop(): everything closed and answered, nothing re-armed, so run() returns.
    void finish_stop() {
        if (finished_) return;
        finished_ = true;
        drop_connection();
        report(link_state::stopped, "");
        tick_.cancel();
        retry_.cancel();
        guard_.reset();
    }

    struct pending {
        std::function<void(std::string_view)> done;
        clock_type::time_point deadline;
    };
    struct unacked {
        std::string ack;
        std::size_t source = 0;
        bool settled = false;
    };

    void report(link_state s, const std::string& why) {
        if (s == reported_) return;
        reported_ = s;
        l_.on_state(s, why);
    }

    // ------------------------------------------------------------------ connecting
    void open() {
        ++gen_;
        auto gen = gen_;
        connect_deadline_ = clock_type::now() + o_.connect_timeout;
        link_ = std::make_shared<link>(ioc_);
        auto l = link_;
        resolver_.async_resolve(o_.host, std::to_string(o_.port),
                                [this, gen, l](boost::system::error_code ec, tcp::resolver::results_type r) {
            if (gen != gen_ || stopping_) return;
            if (ec) return fail("cannot resolve " + o_.host + ": " + ec.message());
            asio::async_connect(l->sock, r, [this, gen, l](boost::system::error_code ec, const tcp::endpoint&) {
                if (gen != gen_ || stopping_) return;
                if (ec) return fail("cannot connect: " + ec.message());
                boost::system::error_code ignored;
                l->sock.set_option(tcp::no_delay(true), ignored);
                if (o_.scheme == "stomp+ssl") return start_tls(gen);
                on_transport_ready();
            });
        });
    }

    void start_tls(std::uint64_t gen) {
        if (!ssl_ctx_) {
            ssl_ctx_.emplace(asio::ssl::context::tls_client);
            boost::system::error_code ec;
            ssl_ctx_->set_default_verify_paths(ec);
            if (!o_.tls_ca_file.empty()) ssl_ctx_->load_verify_file(o_.tls_ca_file, ec);
            if (ec) return fail("cannot load the CA file " + o_.tls_ca_file + ": " + ec.message());
        }
        auto l = link_;
        l->tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(l->sock, *ssl_ctx_);
        auto& tls = *l->tls;
        if (o_.tls_verify) {
            tls.set_verify_mode(asio::ssl::verify_peer);
            tls.set_verify_callback(asio::ssl::host_name_verification(o_.host));
        } else {
            tls.set_verify_mode(asio::ssl::verify_none);
        }
        SSL_set_tlsext_host_name(tls.native_handle(), o_.host.c_str());
        tls.async_handshake(asio::ssl::stream_base::client, [this, gen, l](boost::system::error_code ec) {
            if (gen != gen_ || stopping_) return;
            if (ec) return fail("TLS handshake failed: " + ec.message());
            on_transport_ready();
        });
    }

    void on_transport_ready() {
        last_read_ = last_write_ = clock_type::now();
        stomp::frame f;
        f.command = "CONNECT";
        f.headers.push_back({"accept-version", "1.2"});
        f.headers.push_back({"host", o_.vhost.empty() ? o_.host : o_.vhost});
        if (!o_.login.empty()) {
            f.headers.push_back({"login", o_.login});
            f.headers.push_back({"passcode", o_.passcode});
        }
        auto hb = std::to_string(o_.heartbeat.count());
        f.headers.push_back({"heart-beat", hb + "," + hb});
        if (!o_.client_id.empty()) f.headers.push_back({"client-id", o_.client_id});
        write(f, false);
        read();
    }

    void on_connected(const stomp::frame& f) {
        connected_ = true;
        // heart-beat: the broker's "cx,cy" against ours (STOMP 1.2 §Heart-beating).
        long sx = 0, sy = 0;
        if (auto* hb = f.get("heart-beat")) std::sscanf(hb->c_str(), "%ld,%ld", &sx, &sy);
        auto mine = o_.heartbeat.count();
        send_every_ = ms(mine && sy ? std::max<long>(mine, sy) : 0);
        expect_every_ = ms(mine && sx ? std::max<long>(mine, sx) : 0);
        broker_.clear();
        if (auto* s = f.get("server")) broker_ = *s;
        subscriptions_left_ = o_.sources.size();
        for (std::size_t i = 0; i < o_.sources.size(); ++i) {
            auto& src = o_.sources[i];
            stomp::frame s;
            s.command = "SUBSCRIBE";
            s.headers.push_back({"id", subscription_id(i)});
            s.headers.push_back({"destination", src.address});
            s.headers.push_back({"ack", o_.ack_mode});
            s.headers.push_back({"receipt", "sub-" + std::to_string(i)});
            // Flow control: ActiveMQ and RabbitMQ stop sending past this many unacknowledged.
            s.headers.push_back({"activemq.prefetchSize", std::to_string(o_.prefetch)});
            s.headers.push_back({"prefetch-count", std::to_string(o_.prefetch)});
            if (src.durable) {
                s.headers.push_back({"activemq.subscriptionName", src.durable_name});  // ActiveMQ
                s.headers.push_back({"durable", "true"});                             // RabbitMQ
                s.headers.push_back({"auto-delete", "false"});
            }
            write(s, false);
        }
        if (subscriptions_left_ == 0) on_subscribed();
    }

    // A durable subscription's id is its name: RabbitMQ names the durable queue after the id, so
    // it must not change when routes are reordered. Others are numbered.
    std::string subscription_id(std::size_t i) const {
        auto& src = o_.sources[i];
        return src.durable ? src.durable_name : std::to_string(i);
    }

    void on_subscribed() {
        up_since_ = clock_type::now();
        report(link_state::connected, broker_);
    }

    // Drops the connection (if any); everything waiting on it fails.
    void drop_connection() {
        ++gen_;
        connected_ = false;
        if (link_) {
            // Closed, not destroyed: the handlers of its aborted operations still hold it.
            boost::system::error_code ignored;
            link_->sock.close(ignored);
            link_.reset();
        }
        resolver_.cancel();
        parser_.reset();
        out_.clear();
        writing_ = false;
        order_.clear();
        auto sends = std::move(sends_);
        sends_.clear();
        for (auto& [id, p] : sends) p.done("broker_unavailable");
    }

    void fail(const std::string& why) {
        if (stopping_) return;
        // The backoff starts over only after a connection that held for a while: one that fails
        // right after subscribing (an ERROR, a bad message) must not be retried at full speed.
        if (up_since_ != clock_type::time_point{} && clock_type::now() - up_since_ >= stable_after) attempt_ = 0;
        up_since_ = {};
        drop_connection();
        report(link_state::disconnected, why);
        auto delay = backoff(o_, attempt_++);
        retry_.expires_after(delay);
        retry_.async_wait([this](boost::system::error_code ec) {
            if (ec || stopping_) return;
            open();
        });
    }

    // ------------------------------------------------------------------ reading
    void read() {
        auto gen = gen_;
        auto l = link_;
        l->read_some(asio::buffer(rbuf_), [this, gen, l](boost::system::error_code ec, std::size_t n) {
            if (gen != gen_ || stopping_) return;
            if (ec) return fail(ec == asio::error::eof ? "the broker closed the connection" : "read failed: " + ec.message());
            last_read_ = clock_type::now();
            parser_.feed(std::string_view(rbuf_.data(), n));
            stomp::frame f;
            while (true) {
                auto r = parser_.next(f);
                if (r == stomp::parser::result::need_more) break;
                if (r == stomp::parser::result::error) {
                    l_.on_batch_end();
                    return fail("protocol error: " + parser_.error());
                }
                on_frame(f);
                if (gen != gen_) break;  // the frame ended the connection
            }
            l_.on_batch_end();
            if (gen != gen_) return;
            read();
        });
    }

    void on_frame(stomp::frame& f) {
        if (f.command == "MESSAGE") return on_message(f);
        if (f.command == "RECEIPT") {
            auto* id = f.get("receipt-id");
            if (!id) return;
            if (id->starts_with("sub-")) {
                if (subscriptions_left_ && --subscriptions_left_ == 0) on_subscribed();
                return;
            }
            auto it = sends_.find(*id);
            if (it == sends_.end()) return;
            auto done = std::move(it->second.done);
            sends_.erase(it);
            done("");
            return;
        }
        if (f.command == "CONNECTED") return on_connected(f);
        if (f.command == "ERROR") {
            std::string why = f.get("message") ? *f.get("message") : std::string("no message");
            if (auto* id = f.get("receipt-id")) {
                auto it = sends_.find(*id);
                if (it != sends_.end()) {
                    auto done = std::move(it->second.done);
                    sends_.erase(it);
                    done("broker_refused: " + why);
                }
            }
            // After ERROR the broker closes the connection (STOMP 1.2).
            return fail("the broker sent ERROR: " + why);
        }
    }

    void on_message(stomp::frame& f) {
        auto* sub = f.get("subscription");
        std::size_t index = o_.sources.size();
        for (std::size_t i = 0; sub && i < o_.sources.size(); ++i)
            if (subscription_id(i) == *sub) index = i;
        const std::string* ack = f.get("ack");
        if (!ack) ack = f.get("message-id");
        std::string ack_id = ack ? *ack : std::string();
        broker_message m;
        if (auto* d = f.get("destination")) m.destination = *d;
        if (auto* ct = f.get("content-type")) m.content_type = *ct;
        m.body = std::move(f.body);
        m.headers = std::move(f.headers);
        if (f.oversized)
            m.problem = "its body of " + std::to_string(f.body_bytes) + " bytes is over the bridge's frame limit (" +
                        std::to_string(o_.max_frame_bytes) + ")";
        std::function<void(bool)> settle;
        std::uint64_t seq = 0;
        if (o_.ack_mode == "client") {
            seq = order_base_ + order_.size();
            order_.push_back({ack_id, index});
            ack_id.clear();
        }
        settle = [this, gen = gen_, seq, id = std::move(ack_id)](bool) { settle_later({gen, seq, id}); };
        if (index >= o_.sources.size()) return settle(false);
        l_.on_message(index, std::move(m), std::move(settle));
    }

    // Settles come from the shards' threads. They are collected and acknowledged together: the
    // first one of a batch wakes the connector, the ones that arrive before it runs ride along,
    // and the ACKs of one turn leave in one write. Not later than that: ActiveMQ paces its
    // dispatch to a client-ack subscription on the ACKs it gets (acknowledging every 5 ms halved
    // Encke's CPU per message but put 4 ms on the median latency).
    struct settlement {
        std::uint64_t gen;
        std::uint64_t seq;   // 'client': the message's place in order_
        std::string id;      // 'client-individual': its ack id
    };

    void settle_later(settlement st) {
        if (stopped_.load()) return;  // the broker redelivers what was not acknowledged
        bool first;
        {
            std::lock_guard lock(settle_mu_);
            settled_.push_back(std::move(st));
            first = settled_.size() == 1;
        }
        if (first) asio::post(ioc_, [this] { drain_settled(); });
    }

    void drain_settled() {
        {
            std::lock_guard lock(settle_mu_);
            draining_.swap(settled_);
        }
        bool cumulative = o_.ack_mode == "client";
        for (auto& st : draining_) {
            if (st.gen != gen_ || !connected_) continue;  // that connection is gone: redelivered
            if (!cumulative) write_ack(st.id);
            else if (st.seq >= order_base_ && st.seq - order_base_ < order_.size())
                order_[st.seq - order_base_].settled = true;
        }
        draining_.clear();
        if (cumulative && connected_) ack_settled_prefix();
    }

    // 'client' acks are cumulative per subscription: acknowledge up to the newest message whose
    // predecessors are all settled, so that a quick refusal never acknowledges a message still
    // in flight.
    void ack_settled_prefix() {
        last_acks_.assign(o_.sources.size() + 1, {});
        bool any = false;
        while (!order_.empty() && order_.front().settled) {
            auto& u = order_.front();
            last_acks_[std::min(u.source, o_.sources.size())] = {order_base_, std::move(u.ack)};
            any = true;
            order_.pop_front();
            ++order_base_;
        }
        if (!any) return;
        // Oldest first: RabbitMQ makes a 'client' ACK cover every subscription of the connection,
        // so an ACK after a newer one would name a message already acknowledged (an ERROR).
        std::sort(last_acks_.begin(), last_acks_.end());
        for (auto& [seq, id] : last_acks_)
            if (!id.empty()) write_ack(id);
    }

    void write_ack(const std::string& id) {
        stomp::frame a;
        a.command = "ACK";
        a.headers.push_back({"id", id});
        write(a, false);
    }

    // ------------------------------------------------------------------ writing
    // Frames made in one turn of the loop (the ACKs of many settles, several SENDs) leave in one
    // write: the flush is posted, once.
    void write(const stomp::frame& f, bool content_length) {
        stomp::encode(f, content_length, out_);
        if (flush_posted_) return;
        flush_posted_ = true;
        asio::post(ioc_, [this] {
            flush_posted_ = false;
            flush();
        });
    }

    void flush() {
        if (writing_ || out_.empty() || !link_) return;
        writing_ = true;
        write_started_ = clock_type::now();
        inflight_.swap(out_);
        out_.clear();
        auto gen = gen_;
        auto l = link_;
        l->write(asio::buffer(inflight_), [this, gen, l](boost::system::error_code ec, std::size_t) {
            if (gen != gen_ || stopping_) return;
            writing_ = false;
            if (ec) return fail("write failed: " + ec.message());
            last_write_ = clock_type::now();
            inflight_.clear();
            flush();
        });
    }

    // ------------------------------------------------------------------ timers
    // Four times a second: send timeouts, heart-beats both ways, the connect deadline.
    void tick() {
        tick_.expires_after(ms(250));
        tick_.async_wait([this](boost::system::error_code ec) {
            if (ec || stopping_) return;
            auto now = clock_type::now();
            for (auto it = sends_.begin(); it != sends_.end();) {
                if (it->second.deadline <= now) {
                    auto done = std::move(it->second.done);
                    it = sends_.erase(it);
                    done("broker_timeout");
                } else {
                    ++it;
                }
            }
            if (link_ && !(connected_ && subscriptions_left_ == 0) && now > connect_deadline_) {
                fail("no answer to CONNECT/SUBSCRIBE within " + std::to_string(o_.connect_timeout.count()) + " ms");
            } else if (writing_ && now - write_started_ > o_.send_timeout) {
                // A broker that stopped reading: its socket buffer is full and nothing moves.
                fail("a write to the broker did not finish within " + std::to_string(o_.send_timeout.count()) + " ms");
            } else if (connected_) {
                // At half the agreed period: the broker checks at exactly that period, and this
                // tick runs only every 250 ms.
                if (send_every_.count() && now - last_write_ >= send_every_ / 2 && !writing_) {
                    out_ += '\n';
                    flush();
                }
                // Twice the agreed period before giving up, as the spec suggests some slack.
                if (expect_every_.count() && now - last_read_ > 2 * expect_every_)
                    fail("no heart-beat from the broker for " + std::to_string(2 * expect_every_.count()) + " ms");
            }
            tick();
        });
    }

    connector_options o_;
    connector_listener& l_;
    asio::io_context ioc_{1};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
    std::thread thread_;
    tcp::resolver resolver_{ioc_};
    std::optional<asio::ssl::context> ssl_ctx_;
    std::shared_ptr<link> link_;
    asio::steady_timer tick_{ioc_};
    asio::steady_timer retry_{ioc_};
    std::mutex settle_mu_;
    std::vector<settlement> settled_;   // guarded by settle_mu_
    std::vector<settlement> draining_;  // connector thread
    stomp::parser parser_;
    std::array<char, 65536> rbuf_{};
    std::string out_, inflight_;
    bool writing_ = false;
    bool flush_posted_ = false;
    bool connected_ = false;  // CONNECTED received on the current connection
    bool stopping_ = false;
    bool finished_ = false;
    std::atomic<bool> stopped_{false};
    std::uint64_t gen_ = 0;   // which connection a handler belongs to
    link_state reported_ = link_state::stopped;
    unsigned attempt_ = 0;
    std::size_t subscriptions_left_ = 0;
    std::string broker_;
    clock_type::time_point connect_deadline_{}, last_read_{}, last_write_{}, write_started_{}, up_since_{};
    ms send_every_{0}, expect_every_{0};
    std::unordered_map<std::string, pending> sends_;
    std::uint64_t next_receipt_ = 0;
    std::deque<unacked> order_;
    std::vector<std::pair<std::uint64_t, std::string>> last_acks_;  // settled_in_order's scratch
    std::uint64_t order_base_ = 0;
};

}  // namespace

std::unique_ptr<connector> make_stomp_connector(connector_options o, connector_listener& l) {
    return std::make_unique<stomp_connector>(std::move(o), l);
}

}  // namespace encke::bridge
