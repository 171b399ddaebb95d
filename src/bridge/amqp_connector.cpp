// amqp_connector.cpp — the AMQP 1.0 connector, over Qpid Proton C++ (tested against RabbitMQ 3.10
// with rabbitmq_amqp1_0). One thread runs a proton::container holding at most one connection,
// and every Proton object is touched on that thread only. Other threads reach it through work
// queues: the connection's own while there is one (Proton flushes a connection's output only
// after work that ran on its queue), the container's otherwise.
#include "bridge/connector.hpp"

#include <proton/annotation_key.hpp>
#include <proton/codec/map.hpp>
#include <proton/connection.hpp>
#include <proton/connection_options.hpp>
#include <proton/container.hpp>
#include <proton/delivery.hpp>
#include <proton/error_condition.hpp>
#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/messaging_handler.hpp>
#include <proton/receiver.hpp>
#include <proton/receiver_options.hpp>
#include <proton/scalar.hpp>
#include <proton/sender.hpp>
#include <proton/sender_options.hpp>
#include <proton/session.hpp>
#include <proton/source.hpp>
#include <proton/source_options.hpp>
#include <proton/ssl.hpp>
#include <proton/target_options.hpp>
#include <proton/tracker.hpp>
#include <proton/transport.hpp>
#include <proton/work_queue.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace encke::bridge {
namespace {

using steady = std::chrono::steady_clock;

// Drives reconnects, the connect timeout and send timeouts. A container::schedule()d timer
// keeps container::run() alive until it fires, so the tick is short and is not re-armed once
// stopping: run() then returns within one tick.
constexpr std::chrono::milliseconds tick_every{100};
constexpr std::size_t max_waiting_sends = 10'000;        // sends queued for sender credit
// Outbound sender links, one per destination, are closed when idle this long, and the least
// recently used idle ones past this many: a wildcard route to unbounded destinations (one per
// order, per user) must not hold a link, and its memory in Encke and the broker, per destination.
constexpr std::chrono::seconds sender_idle_close{30};
constexpr std::size_t max_idle_senders = 64;
constexpr std::chrono::seconds stable_after{10};          // a connection up this long resets the backoff
constexpr std::chrono::milliseconds graceful_stop{500};  // stop(): then the connection is aborted
constexpr std::chrono::milliseconds close_grace{2'000};  // a close we started must end by then

struct outgoing {
    std::string destination;
    std::string body;
    send_options opts;
    std::function<void(std::string_view)> done;
    steady::time_point deadline;
};

// What other threads share with the connector thread. settle() callbacks hold it too, so they
// stay harmless once their connection (or the whole connector) is gone.
struct shared_state {
    std::mutex mu;
    std::condition_variable cv;
    proton::work_queue* conn_wq = nullptr;  // the current connection's, null when none
    proton::work_queue* cont_wq = nullptr;  // the running container's
    proton::container* container = nullptr;
    std::uint64_t epoch = 1;                              // bumped when a connection goes away
    std::deque<outgoing> inbox;                           // send() → connector thread
    std::vector<std::pair<std::uint64_t, bool>> settles;  // settle() → connector thread
    bool finished = false;  // the thread has ended: nobody drains inbox

    // With mu held. `fn(true)` runs in the connection's context, `fn(false)` in the container's.
    bool post(std::function<void(bool)> fn, bool connection_only = false) {
        if (conn_wq && conn_wq->add([fn] { fn(true); })) return true;
        return !connection_only && cont_wq && cont_wq->add([fn] { fn(false); });
    }
};

bool starts_with(std::string_view s, std::string_view p) {
    return s.substr(0, p.size()) == p;
}

// Terminus capabilities: Artemis and Qpid tell topics from queues by them; RabbitMQ and
// ActiveMQ 5.x by the address alone.
std::vector<proton::symbol> capabilities_for(std::string_view a) {
    if (starts_with(a, "topic://") || starts_with(a, "/topic/") || starts_with(a, "/exchange/"))
        return {proton::symbol("topic")};
    if (starts_with(a, "queue://") || starts_with(a, "/queue/")) return {proton::symbol("queue")};
    return {};
}

// The concrete destination of a message received on `source`. RabbitMQ 3.10 keeps an AMQP 1.0
// publisher's properties verbatim, so `to` is there only if that publisher set it; for a
// message published over STOMP or AMQP 0-9-1 it leaves `to` empty and puts the routing key in
// `subject`. RabbitMQ 3.13+ annotates x-routing-key as well.
std::string destination_of(proton::message& m, const std::string& source) {
    if (!m.to().empty()) return m.to();
    std::string key;
    auto& ann = m.message_annotations();
    if (!ann.empty() && ann.exists(proton::symbol("x-routing-key")))
        key = proton::to_string(ann.get(proton::symbol("x-routing-key")));
    if (key.empty()) key = m.subject();
    if (key.empty()) return source;
    if (starts_with(source, "/topic/")) return "/topic/" + key;
    if (starts_with(source, "/exchange/"))  // "/exchange/<x>/<binding key>"
        return source.substr(0, source.find('/', 10)) + "/" + key;
    return source;
}

broker_message to_broker_message(proton::message& m, const std::string& source) {
    broker_message out;
    out.destination = destination_of(m, source);
    out.content_type = m.content_type();
    const proton::value& body = m.body();
    if (body.type() == proton::STRING) {
        out.body = proton::get<std::string>(body);
    } else if (body.type() == proton::BINARY) {
        // Bytes: JSON text if they are (RabbitMQ passes a STOMP body this way), else refused
        // by the bridge as not UTF-8 or not JSON, like any other body.
        auto b = proton::get<proton::binary>(body);
        out.body.assign(b.begin(), b.end());
    } else if (body.type() != proton::NULL_TYPE) {
        // A map, list, number…: Proton's rendering is not JSON, so it is refused.
        out.problem = "its body is an AMQP " + proton::type_name(body.type()) + ", not text or bytes";
    }
    // proton::to_string renders a top-level string bare, anything else in Proton's notation.
    auto& h = out.headers;
    if (!m.id().empty()) h.push_back({"message-id", proton::to_string(m.id())});
    if (!m.correlation_id().empty())
        h.push_back({"correlation-id", proton::to_string(m.correlation_id())});
    if (!m.subject().empty()) h.push_back({"subject", m.subject()});
    if (!m.content_type().empty()) h.push_back({"content-type", m.content_type()});
    h.push_back({"durable", m.durable() ? "true" : "false"});
    h.push_back({"priority", std::to_string(unsigned(m.priority()))});
    if (auto t = m.creation_time().milliseconds())
        h.push_back({"creation-time", std::to_string(t)});
    if (!m.properties().empty()) {
        std::map<std::string, proton::scalar> props;
        proton::get(m.properties().value(), props);
        for (auto& [k, v] : props) h.push_back({k, proton::to_string(v)});
    }
    return out;
}

void call_done(outgoing& m, std::string_view err) {
    auto done = std::exchange(m.done, nullptr);
    try {
        if (done) done(err);
    } catch (...) {  // the caller's exception must not take the connector thread down
    }
}

class amqp_connector final : public connector, private proton::messaging_handler {
public:
    amqp_connector(connector_options o, connector_listener& l)
        : o_(std::move(o)), l_(l), s_(std::make_shared<shared_state>()) {
        o_.prefetch = std::max(o_.prefetch, 1u);
    }
    ~amqp_connector() override { stop(); }

    void start() override {
        std::lock_guard lk(s_->mu);
        if (!thread_.joinable() && !stopping_) thread_ = std::thread([this] { thread_main(); });
    }

    void stop() override {
        std::unique_lock lk(s_->mu);
        stopping_ = true;
        if (!thread_.joinable()) {  // never started, or stopped already
            s_->finished = true;
            auto rest = std::move(s_->inbox);
            lk.unlock();
            for (auto& m : rest) call_done(m, "broker_unavailable");
            return;
        }
        s_->post([this](bool) { begin_stop(); });
        s_->cv.notify_all();  // wakes the thread if it waits between two containers
        if (std::this_thread::get_id() == thread_.get_id()) return;  // from a callback: no join
        if (!s_->cv.wait_for(lk, graceful_stop, [&] { return s_->finished; }) && s_->container)
            s_->container->stop();  // a broker that does not answer our close: abort (thread-safe)
        lk.unlock();
        thread_.join();
    }

    void send(std::string destination, std::string body, send_options opts,
              std::function<void(std::string_view error)> done) override {
        outgoing m{std::move(destination), std::move(body), std::move(opts), std::move(done),
                   steady::now() + o_.send_timeout};
        {
            std::lock_guard lk(s_->mu);
            // Between two containers (waiting out a backoff) nothing would drain the inbox: the
            // answer is known now. So is the answer to a flood past the bound.
            if (!s_->finished && s_->container && s_->inbox.size() < max_waiting_sends) {
                s_->inbox.push_back(std::move(m));
                // One drain takes the whole inbox; the tick drains too, should a post get lost.
                if (s_->inbox.size() == 1) s_->post([this](bool on_conn) { drain_inbox(on_conn); });
                return;
            }
        }
        call_done(m, "broker_unavailable");  // on the caller's thread
    }

private:
    struct out_link {
        proton::sender sender;  // null until its turn to attach
        bool attached = false;
        std::deque<outgoing> waiting;  // for the attach or for credit
        std::size_t in_flight = 0;     // sent, outcome not known yet
        steady::time_point last_used = steady::now();
    };
    struct inbound {
        proton::delivery delivery;
        std::size_t index;
    };

    // ---- thread and lifecycle ---------------------------------------------------------------

    void thread_main() noexcept {
        // Normally one container for the connector's whole life; a new one after a reset (a
        // connection that neither opens nor closes) or if an exception ended run().
        while (!stopping_) {
            std::unique_ptr<proton::container> c;
            std::unique_ptr<proton::work_queue> wq;
            std::string crash;
            try {
                c = o_.client_id.empty()
                        ? std::make_unique<proton::container>(handler())
                        : std::make_unique<proton::container>(handler(), o_.client_id);
                wq = std::make_unique<proton::work_queue>(*c);
                std::unique_lock lk(s_->mu);
                if (!stopping_) {
                    s_->container = c.get();
                    s_->cont_wq = wq.get();
                    lk.unlock();
                    c->run();
                }
            } catch (const std::exception& e) {
                crash = e.what();
            } catch (...) {
                crash = "unknown exception";
            }
            {
                std::lock_guard lk(s_->mu);
                s_->container = nullptr;
                s_->cont_wq = nullptr;
            }
            connection_gone();  // releases every Proton handle before the container goes
            wq.reset();
            c.reset();
            resetting_ = false;
            retry_at_ = {};  // the next container connects at once: the wait is below
            if (stopping_) break;
            std::string why = crash.empty() ? std::exchange(failure_, {}) : crash;
            report(link_state::disconnected, why.empty() ? "connection reset" : why);
            std::unique_lock lk(s_->mu);
            s_->cv.wait_for(lk, backoff(o_, attempt_ ? attempt_ - 1 : 0),
                            [&] { return stopping_.load(); });
        }
        std::deque<outgoing> rest;
        {
            std::lock_guard lk(s_->mu);
            s_->finished = true;
            rest.swap(s_->inbox);
        }
        for (auto& m : rest) call_done(m, "broker_unavailable");
        report(link_state::stopped, "");
        s_->cv.notify_all();
    }

    proton::messaging_handler& handler() { return *this; }

    void on_container_start(proton::container& c) override {
        container_ = &c;
        tick();
    }

    void tick() {
        if (stopping_ || resetting_) return;  // not re-armed: lets run() return
        auto now = steady::now();
        if (!conn_ && now >= retry_at_) {
            connect_now();
        } else if (conn_ && ((!up_ && !closing_ && now >= connect_deadline_) ||
                             (closing_ && now >= close_deadline_))) {
            // A peer that accepted the TCP connection but does not speak (or does not answer
            // our close) would hold it forever, and Proton's C++ API cannot abort one
            // connection: the container goes, thread_main() starts another after the backoff.
            if (failure_.empty()) failure_ = closing_ ? "no answer to close" : "connect timeout";
            resetting_ = true;
            container_->stop();
            return;
        }
        expire_sends(now);
        drain_inbox(false);
        if (now >= next_idle_check_) {
            next_idle_check_ = now + std::chrono::seconds(1);
            std::lock_guard lk(s_->mu);
            s_->post([this](bool) { close_idle_senders(steady::now(), max_idle_senders); }, true);
        }
        container_->schedule(proton::duration(tick_every.count()), [this] { tick(); });
    }

    void report(link_state s, const std::string& detail) {
        if (reported_ == s) return;
        reported_ = s;
        try {
            l_.on_state(s, detail);
        } catch (...) {
        }
    }

    void connect_now() {
        // "connecting" only at start: after a drop the state stays "disconnected" until the
        // connection is back, so an outage is one line in the log, however many retries.
        if (attempt_++ == 0 && (!reported_ || *reported_ == link_state::stopped))
            report(link_state::connecting, o_.host + ":" + std::to_string(o_.port));
        bool tls = o_.scheme == "amqps";
        std::string url = (tls ? "amqps://" : "amqp://") +
                          (o_.host.find(':') != std::string::npos ? "[" + o_.host + "]" : o_.host);
        if (o_.port) url += ":" + std::to_string(o_.port);
        try {
            proton::connection_options co;
            co.sasl_enabled(true);
            if (o_.login.empty()) {
                co.sasl_allowed_mechs("ANONYMOUS");
            } else {
                co.sasl_allowed_mechs("PLAIN").user(o_.login).password(o_.passcode);
                if (!tls) co.sasl_allow_insecure_mechs(true);
            }
            if (tls && !o_.tls_verify)
                co.ssl_client_options(proton::ssl_client_options(proton::ssl::ANONYMOUS_PEER));
            else if (tls &&
                     !o_.tls_ca_file.empty())  // checks the name in virtual_host (vhost, else host)
                co.ssl_client_options(
                    proton::ssl_client_options(o_.tls_ca_file, proton::ssl::VERIFY_PEER_NAME));
            else if (tls)
                co.ssl_client_options(proton::ssl_client_options());
            if (!o_.vhost.empty()) co.virtual_host(o_.vhost);
            if (o_.heartbeat.count() > 0) co.idle_timeout(proton::duration(o_.heartbeat.count()));
            conn_ = container_->connect(url, co);
        } catch (const std::exception& e) {
            conn_ = proton::connection();
            failure_ = e.what();
            return schedule_retry();
        }
        closing_ = false;
        connect_deadline_ = steady::now() + o_.connect_timeout;
        std::lock_guard lk(s_->mu);
        s_->conn_wq = &conn_.work_queue();
    }

    void on_connection_open(proton::connection& c) override {
        if (c != conn_ || closing_) return;
        auto props = c.properties();
        auto product = props.find(proton::symbol("product"));
        auto version = props.find(proton::symbol("version"));
        detail_ = product != props.end() ? proton::to_string(product->second) : c.container_id();
        rabbit_ = product != props.end() && proton::to_string(product->second) == "RabbitMQ";
        if (version != props.end()) detail_ += " " + proton::to_string(version->second);
        rx_session_ = c.default_session();
        for (const auto& src : o_.sources) {
            proton::source_options so;
            so.capabilities(capabilities_for(src.address));
            proton::receiver_options ro;
            ro.credit_window(0).auto_accept(false);  // receivers never auto-settle in Proton
            if (src.durable) {
                // A durable subscription is named by the link name within the container id.
                so.durability_mode(proton::source::UNSETTLED_STATE)
                    .expiry_policy(proton::source::NEVER);
                if (!src.durable_name.empty()) ro.name(src.durable_name);
            }
            ro.source(so);
            receivers_.push_back(rx_session_.open_receiver(src.address, ro));
            receivers_.back().add_credit(int(o_.prefetch));  // flows with the attach
        }
        if (receivers_.empty()) mark_up();
    }

    void on_receiver_open(proton::receiver& r) override {
        // A refused attach may come back without a source, followed by the reason.
        if (!closing_ && !r.source().address().empty() && ++attached_ == receivers_.size())
            mark_up();
    }

    void mark_up() {
        up_ = true;
        up_since_ = steady::now();
        report(link_state::connected, detail_);
    }

    // Closing always goes through the connection's queue, whichever context we are in.
    void close_connection() {
        closing_ = true;
        close_deadline_ = steady::now() + close_grace;
        conn_.work_queue().add([this] {
            if (conn_) conn_.close();
        });
    }

    // A failure on a live connection: remember the first reason, close, reconnect once closed.
    void fail(const std::string& why) {
        if (failure_.empty()) failure_ = why;
        if (conn_ && !closing_) close_connection();
    }

    void begin_stop() {
        fail_all_sends("broker_unavailable");
        drain_inbox(true);  // fails them: stopping_ is set
        // Not open yet: the peer may never answer a close (RabbitMQ after a failed SASL
        // exchange keeps the socket open), so abort instead.
        if (conn_ && !up_) container_->stop();
        else if (conn_ && !closing_) close_connection();
    }

    void on_transport_error(proton::transport& t) override {
        if (failure_.empty()) failure_ = t.error().what();
    }
    void on_connection_error(proton::connection& c) override { fail(c.error().what()); }
    void on_error(const proton::error_condition& e) override { fail(e.what()); }  // never throw
    void on_session_error(proton::session& s) override { session_lost(s); }
    void on_session_close(proton::session& s) override { session_lost(s); }
    void on_receiver_error(proton::receiver& r) override { receiver_lost(r, "refused"); }
    void on_receiver_close(proton::receiver& r) override { receiver_lost(r, "closed"); }
    void on_receiver_detach(proton::receiver& r) override { receiver_lost(r, "detached"); }

    void receiver_lost(proton::receiver& r, const char* what) {
        if (closing_ || stopping_) return;
        std::string addr;
        for (std::size_t i = 0; i < receivers_.size(); ++i)
            if (receivers_[i] == r) addr = o_.sources[i].address;
        auto err = r.error();
        fail("subscription " + addr + " " + what + (err.empty() ? "" : ": " + err.what()));
    }

    // RabbitMQ refuses an attach by ending the whole session, hence the senders' own session:
    // a bad destination must not take the subscriptions down.
    void session_lost(proton::session& s) {
        if (closing_ || stopping_) return;
        auto err = s.error();
        std::string cond = err.empty() ? "session ended" : err.what();
        if (s == rx_session_)
            return fail((up_ ? "subscriptions ended: " : "subscription refused: ") + cond);
        if (s != send_session_) return;
        send_session_ = proton::session();
        // Attaches go one at a time, so the outstanding one is the refused one. The sends
        // waiting for other links go again on a new session; those in flight had an unknown fate.
        std::string refused = std::exchange(attaching_, {});
        std::vector<outgoing> again;
        for (auto& [dest, link] : senders_)
            for (auto& m : link.waiting)
                if (dest == refused)
                    call_done(m, "broker_refused: " + cond);
                else
                    again.push_back(std::move(m));
        finish_in_flight([](auto&) { return true; }, "broker_unavailable");
        senders_.clear();
        l_.on_out_links(0);
        waiting_ = 0;
        for (auto& m : again) submit(std::move(m));
    }

    void on_transport_close(proton::transport&) override {
        bool was_up = up_;
        connection_gone();
        if (stopping_) return;
        // The backoff starts over only after a connection that held for a while: one that is
        // dropped right after it came up (a refused link, a bad message) is not retried at once.
        if (was_up && steady::now() - up_since_ >= stable_after) attempt_ = 0;
        schedule_retry();
    }

    void schedule_retry() {
        std::string why = std::exchange(failure_, {});
        report(link_state::disconnected, why.empty() ? "connection closed" : why);
        retry_at_ = steady::now() + backoff(o_, attempt_ == 0 ? 0 : attempt_ - 1);
    }

    // Forgets the connection: fails what was in flight, releases every Proton handle.
    void connection_gone() {
        {
            std::lock_guard lk(s_->mu);
            s_->conn_wq = nullptr;
            epoch_ = ++s_->epoch;
            s_->settles.clear();
        }
        fail_all_sends("broker_unavailable");
        senders_.clear();
        l_.on_out_links(0);
        attaching_.clear();
        receivers_.clear();
        unsettled_.clear();  // the broker redelivers them
        rx_session_ = send_session_ = proton::session();
        conn_ = proton::connection();
        up_ = closing_ = false;
        attached_ = 0;
    }

    // ---- inbound ----------------------------------------------------------------------------

    void on_message(proton::delivery& d, proton::message& m) override {
        if (closing_) return;  // left unsettled: redelivered after the close
        std::size_t index = 0;
        while (index < receivers_.size() && receivers_[index] != d.receiver()) ++index;
        if (index == receivers_.size()) return;
        auto id = ++next_delivery_;
        unsettled_.emplace(id, inbound{d, index});
        auto settle = [s = s_, epoch = epoch_, id, this](bool ok) {
            std::lock_guard lk(s->mu);
            if (s->epoch != epoch) return;  // that connection is gone: the broker redelivers
            s->settles.emplace_back(id, ok);
            if (s->settles.size() == 1) s->post([this](bool) { drain_settles(); }, true);
        };
        broker_message bm;
        try {
            bm = to_broker_message(m, o_.sources[index].address);
        } catch (const std::exception& e) {
            // One message Proton cannot render (an odd property type): refused, not a reconnect.
            bm = {};
            bm.destination = o_.sources[index].address;
            bm.problem = std::string("it cannot be read: ") + e.what();
        }
        try {
            l_.on_message(index, std::move(bm), std::move(settle));
            l_.on_batch_end();  // Proton hands messages over one at a time
        } catch (const std::exception& e) {
            fail(std::string("message handling failed: ") + e.what());
        }
    }

    void drain_settles() {
        std::vector<std::pair<std::uint64_t, bool>> batch;
        {
            std::lock_guard lk(s_->mu);
            batch.swap(s_->settles);
        }
        for (auto [id, ok] : batch) {
            auto it = unsettled_.find(id);
            if (it == unsettled_.end()) continue;
            auto& in = it->second;
            ok ? in.delivery.accept() : in.delivery.reject();
            // One more credit per settled message: never more than `prefetch` unsettled.
            if (!closing_) receivers_[in.index].add_credit(1);
            unsettled_.erase(it);
        }
    }

    // ---- outbound ---------------------------------------------------------------------------

    void drain_inbox(bool on_connection) {
        if (!on_connection && up_ && !closing_) {
            // Sending from the container's context would not be flushed: hop to the connection's.
            std::lock_guard lk(s_->mu);
            if (!s_->inbox.empty()) s_->post([this](bool on_conn) { drain_inbox(on_conn); }, true);
            return;
        }
        std::deque<outgoing> batch;
        {
            std::lock_guard lk(s_->mu);
            batch.swap(s_->inbox);
        }
        for (auto& m : batch) submit(std::move(m));
    }

    void submit(outgoing m) {
        if (!up_ || closing_ || stopping_) return call_done(m, "broker_unavailable");
        auto [it, fresh] = senders_.try_emplace(std::string(link_target(m.destination)));
        auto& link = it->second;
        if (link.attached && link.waiting.empty() && link.sender.credit() > 0)
            return transmit(link, std::move(m));
        if (waiting_ >= max_waiting_sends) {
            if (fresh) senders_.erase(it);
            return call_done(m, "broker_unavailable");
        }
        link.waiting.push_back(std::move(m));
        ++waiting_;
        if (fresh) {
            // Room for the new link: idle ones beyond the bound go first, least recent first.
            if (senders_.size() > max_idle_senders) close_idle_senders(steady::now(), max_idle_senders);
            open_next_sender();
            l_.on_out_links(senders_.size());
        }
    }

    // The sender link a destination is sent on: its own, except that RabbitMQ takes every
    // /topic/<key> on one link to /exchange/amq.topic with the key as the subject (its AMQP 1.0
    // addressing), so that routes to unbounded topics (one per order, per user) use one link.
    std::string_view link_target(std::string_view destination) const {
        if (rabbit_ && destination.starts_with("/topic/")) return "/exchange/amq.topic";
        return destination;
    }

    // Closes sender links with nothing waiting and nothing in flight that were last used before
    // now - sender_idle_close, and, while more than `keep` links remain, the least recently used
    // of the others that are idle. A link with traffic is never closed: its outcomes would be lost.
    void close_idle_senders(steady::time_point now, std::size_t keep) {
        if (!up_ || closing_) return;
        std::vector<decltype(senders_)::iterator> idle;
        for (auto it = senders_.begin(); it != senders_.end(); ++it) {
            auto& l = it->second;
            if (l.attached && l.waiting.empty() && l.in_flight == 0) idle.push_back(it);
        }
        std::sort(idle.begin(), idle.end(),
                  [](auto a, auto b) { return a->second.last_used < b->second.last_used; });
        std::size_t open = senders_.size();
        for (auto it : idle) {
            if (open <= keep && now - it->second.last_used < sender_idle_close) break;
            it->second.sender.close();  // its detach finds no entry: nothing to fail
            senders_.erase(it);
            --open;
        }
        l_.on_out_links(senders_.size());
    }

    // One attach at a time, so that when the broker refuses one by ending the session
    // (RabbitMQ), the refused destination is known.
    void open_next_sender() {
        if (!attaching_.empty()) return;
        for (auto& [dest, link] : senders_) {
            if (link.sender) continue;
            if (!send_session_) send_session_ = conn_.open_session();
            proton::target_options to;
            to.capabilities(capabilities_for(dest));
            // RabbitMQ declares a /queue/ target with the terminus' durability, and refuses a
            // queue that exists (STOMP and JMS queues are durable) with another one.
            if (dest.starts_with("/queue/")) to.durability_mode(proton::terminus::CONFIGURATION);
            link.sender = send_session_.open_sender(dest, proton::sender_options().target(to));
            attaching_ = dest;
            return;
        }
    }

    void transmit(out_link& link, outgoing m) {
        ++link.in_flight;
        link.last_used = steady::now();
        proton::message pm;
        pm.body(std::move(m.body));  // amqp-value string: the JMS TextMessage mapping
        pm.content_type(m.opts.content_type);
        pm.durable(m.opts.persistent);
        pm.to(m.destination);
        if (link_target(m.destination) != m.destination)
            pm.subject(m.destination.substr(7));  // a shared /topic/ link: the key routes it
        for (auto& h : m.opts.headers) pm.properties().put(h.name, h.value);
        m.opts.headers.clear();
        in_flight_.emplace(link.sender.send(pm), std::move(m));
    }

    // An outcome, a failure or a timeout ended one of m's: its link may go idle.
    void landed(const outgoing& m) {
        auto it = senders_.find(link_target(m.destination));
        if (it != senders_.end() && it->second.in_flight > 0) --it->second.in_flight;
    }

    void on_sender_open(proton::sender& s) override {
        for (auto& [dest, link] : senders_) {
            if (link.sender != s) continue;
            link.attached = true;
            if (attaching_ == dest) attaching_.clear();
        }
        open_next_sender();
    }

    void on_sendable(proton::sender& s) override {
        for (auto& [dest, link] : senders_) {
            if (link.sender != s) continue;
            while (!link.waiting.empty() && s.credit() > 0 && up_ && !closing_) {
                auto m = std::move(link.waiting.front());
                link.waiting.pop_front();
                --waiting_;
                transmit(link, std::move(m));
            }
            return;
        }
    }

    void on_tracker_accept(proton::tracker& t) override { outcome(t, ""); }
    void on_tracker_reject(proton::tracker& t) override { outcome(t, "broker_refused: rejected"); }
    void on_tracker_release(proton::tracker& t) override {
        outcome(t, t.state() == proton::transfer::MODIFIED ? "broker_refused: modified"
                                                           : "broker_refused: released");
    }

    void outcome(proton::tracker& t, std::string_view err) {
        if (!t.settled()) t.settle();  // one the broker settled, Proton settles after us
        auto it = in_flight_.find(t);
        if (it == in_flight_.end()) return;  // timed out already
        landed(it->second);
        call_done(it->second, err);
        in_flight_.erase(it);
    }

    // A sender link refused or closed on its own (brokers other than RabbitMQ): that
    // destination's sends fail, the next send attaches again.
    void on_sender_error(proton::sender& s) override { sender_lost(s); }
    void on_sender_close(proton::sender& s) override { sender_lost(s); }
    void on_sender_detach(proton::sender& s) override { sender_lost(s); }

    void sender_lost(proton::sender& s) {
        if (closing_) return;  // connection_gone() fails them
        for (auto it = senders_.begin(); it != senders_.end(); ++it) {
            if (it->second.sender != s) continue;
            auto err = s.error();
            std::string why =
                "broker_refused: " + (err.empty() ? std::string("link closed") : err.what());
            for (auto& m : it->second.waiting) call_done(m, why);
            waiting_ -= it->second.waiting.size();
            finish_in_flight([&](const outgoing& m) { return link_target(m.destination) == it->first; }, why);
            if (attaching_ == it->first) attaching_.clear();
            senders_.erase(it);
            l_.on_out_links(senders_.size());
            return open_next_sender();
        }
    }

    template <class Pred>
    void finish_in_flight(Pred pick, std::string_view why) {
        for (auto it = in_flight_.begin(); it != in_flight_.end();) {
            if (!pick(it->second)) {
                ++it;
                continue;
            }
            landed(it->second);
            call_done(it->second, why);
            it = in_flight_.erase(it);
        }
    }

    void expire_sends(steady::time_point now) {
        finish_in_flight([&](const outgoing& m) { return m.deadline <= now; }, "broker_timeout");
        for (auto& [dest, link] : senders_) {
            for (; !link.waiting.empty() && link.waiting.front().deadline <= now; --waiting_) {
                call_done(link.waiting.front(), "broker_timeout");
                link.waiting.pop_front();
            }
        }
    }

    void fail_all_sends(std::string_view why) {
        finish_in_flight([](auto&) { return true; }, why);
        for (auto& [dest, link] : senders_) {
            for (auto& m : link.waiting) call_done(m, why);
            link.waiting.clear();
        }
        waiting_ = 0;
    }

    connector_options o_;
    connector_listener& l_;
    std::shared_ptr<shared_state> s_;
    std::thread thread_;  // start()/stop() under s_->mu
    std::atomic<bool> stopping_{false};

    // The connector thread's own.
    proton::container* container_ = nullptr;
    proton::connection conn_;
    proton::session rx_session_;    // the receivers'
    proton::session send_session_;  // the senders', opened with the first send
    std::uint64_t epoch_ = 1;       // s_->epoch, as of conn_
    bool up_ = false;               // open and every receiver attached
    bool closing_ = false;          // we are closing conn_
    bool resetting_ = false;        // tick() stopped the container: start a new one
    std::size_t attached_ = 0;
    unsigned attempt_ = 0;  // connection attempts in the current series
    steady::time_point up_since_{};
    steady::time_point retry_at_{}, connect_deadline_{}, close_deadline_{};
    std::string failure_;  // the first reason the current connection failed
    std::string detail_;   // the broker's product and version
    bool rabbit_ = false;  // the broker is RabbitMQ (its AMQP 1.0 addressing)
    std::optional<link_state> reported_;
    std::vector<proton::receiver> receivers_;  // same index as o_.sources
    std::map<std::uint64_t, inbound> unsettled_;
    std::uint64_t next_delivery_ = 0;
    std::map<std::string, out_link, std::less<>> senders_;  // by link target
    steady::time_point next_idle_check_{};
    std::string attaching_;  // the destination whose sender attach is outstanding
    std::map<proton::tracker, outgoing> in_flight_;
    std::size_t waiting_ = 0;
};

}  // namespace

std::unique_ptr<connector> make_amqp_connector(connector_options o, connector_listener& l) {
    return std::make_unique<amqp_connector>(std::move(o), l);
}

}  // namespace encke::bridge
