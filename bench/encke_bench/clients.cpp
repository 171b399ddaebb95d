#include "clients.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <charconv>
#include <deque>
#include <cstdio>
#include <cstring>

namespace bench {

std::string run_shared::channel_name(int c) const {
    if (tgt == target::nchan) return "b" + std::to_string(c);
    return channel_prefix + std::to_string(c);
}

int run_shared::channel_index(std::string_view name) const {
    std::string_view prefix = tgt == target::nchan ? std::string_view("b") : std::string_view(channel_prefix);
    if (name.substr(0, prefix.size()) != prefix) return -1;
    int c = 0;
    auto rest = name.substr(prefix.size());
    auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), c);
    if (ec != std::errc{} || ptr != rest.data() + rest.size() || c < 0 || c >= channels) return -1;
    return c;
}

// ------------------------------------------------------------------------------------- client

client::client(worker& w, int index, std::vector<int> channels, bool publisher)
    : w_(w), rs_(w.rs), index_(index), publisher_(publisher), sock_(w.ioc) {
    for (int c : channels) tracks_.push_back(subscription_track{c, {}, 0, false, 0});
    in_.resize(4096 + simdjson::SIMDJSON_PADDING);
}

void client::start() {
    boost::system::error_code ec;
    sock_.open(tcp::v4(), ec);
    if (ec) return fail("socket");
    if (rs_.source_addresses > 1) {
        // Past ~28,000 connections one source address runs out of ports: spread the clients
        // over 127.0.0.1..127.0.0.K. The port is chosen at connect time, not at bind.
        int one = 1;
        ::setsockopt(sock_.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        auto addr = asio::ip::address_v4((127u << 24) | static_cast<unsigned>(1 + index_ % rs_.source_addresses));
        sock_.bind(tcp::endpoint(addr, 0), ec);
        if (ec) return fail("bind");
    }
    sock_.async_connect(remote(), [self = shared_from_this()](boost::system::error_code e) {
        if (e) return self->fail("connect");
        self->sock_.set_option(tcp::no_delay(true));
        self->on_connected();
        self->do_read();
    });
}

void client::mark_ready() {
    if (ready_) return;
    ready_ = true;
    rs_.ready.fetch_add(1, std::memory_order_relaxed);
}

void client::fail(const char* why) {
    if (dead_) return;
    dead_ = true;
    if (!rs_.stopping.load(std::memory_order_relaxed)) {
        if (ready_) {
            rs_.errors.fetch_add(1, std::memory_order_relaxed);
        } else {
            if (rs_.failed.fetch_add(1, std::memory_order_relaxed) < 5)
                std::fprintf(stderr, "encke-bench: client %d failed: %s\n", index_, why);
        }
    }
    boost::system::error_code ec;
    sock_.close(ec);
}

void client::send_raw(std::string_view bytes) {
    out_.append(bytes);
    flush_output();
}

void client::flush_output() {
    if (writing_ || out_.empty() || dead_) return;
    writing_ = true;
    inflight_.swap(out_);
    out_.clear();
    asio::async_write(sock_, asio::buffer(inflight_),
                      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                          self->writing_ = false;
                          if (ec) return self->fail("write");
                          self->inflight_.clear();
                          self->flush_output();
                      });
}

void client::do_read() {
    constexpr std::size_t pad = simdjson::SIMDJSON_PADDING;
    if (in_.size() - wpos_ < 2048 + pad) {
        if (rpos_ > 0) {
            std::memmove(in_.data(), in_.data() + rpos_, wpos_ - rpos_);
            wpos_ -= rpos_;
            rpos_ = 0;
        }
        if (in_.size() - wpos_ < 2048 + pad) in_.resize(in_.size() * 2);
    }
    sock_.async_read_some(asio::buffer(in_.data() + wpos_, in_.size() - wpos_ - pad),
                          [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                              if (ec) return self->fail("read");
                              self->on_read(n);
                          });
}

void client::on_read(std::size_t n) {
    wpos_ += n;
    while (rpos_ < wpos_ && !dead_) {
        long used = on_bytes(in_.data() + rpos_, wpos_ - rpos_);
        if (used < 0) return fail("protocol");
        if (used == 0) break;
        rpos_ += static_cast<std::size_t>(used);
    }
    if (dead_) return;
    if (rpos_ == wpos_) rpos_ = wpos_ = 0;
    do_read();
}

long client::read_upgrade(const char* p, std::size_t n) {
    std::string scratch;
    http_response r;
    long used = parse_http_response(p, n, r, scratch);
    if (used > 0 && r.status != 101) {
        fail("websocket upgrade refused");
        return -1;
    }
    return used;
}

void client::answer_ping(std::string_view payload) {
    std::string pong;
    ws::append_frame(pong, ws::pong, payload);
    send_raw(pong);
}

void client::record(int channel, std::uint64_t seq, std::int64_t t) {
    subscription_track* tr = nullptr;
    for (auto& x : tracks_)
        if (x.channel == channel) tr = &x;
    if (!tr) {
        rs_.errors.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    std::size_t word = seq / 64;
    if (tr->seen.size() <= word) tr->seen.resize(std::max<std::size_t>(word + 1, tr->seen.size() * 2));
    std::uint64_t bit = std::uint64_t(1) << (seq % 64);
    if (tr->seen[word] & bit) {
        w_.duplicates.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    tr->seen[word] |= bit;
    ++tr->distinct;
    if (tr->any && seq < tr->highest) {
        w_.reordered.fetch_add(1, std::memory_order_relaxed);
    } else {
        tr->highest = seq;
        tr->any = true;
    }
    w_.delivered.fetch_add(1, std::memory_order_relaxed);
    if (rs_.measuring.load(std::memory_order_relaxed)) {
        std::int64_t lat = now_ns() - t;
        std::lock_guard lk(w_.hist_mu);
        w_.hist.record(lat > 0 ? static_cast<std::uint64_t>(lat) : 0);
    }
}

void client::on_message_data(const char* p, std::size_t n, bool padded) {
    simdjson::dom::element data;
    if (w_.parser.parse(p, n, !padded).get(data)) {
        rs_.errors.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    std::int64_t s = 0, t = 0, c = 0;
    if (data["s"].get(s) || data["t"].get(t) || data["c"].get(c)) {
        rs_.errors.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    record(static_cast<int>(c), static_cast<std::uint64_t>(s), t);
}

namespace {

// {"s":SEQ,"t":T,"c":C,"p":"xxx"}, padded so the whole object is about `payload` bytes.
void append_data(std::string& out, int channel, std::uint64_t seq, std::int64_t t, std::string_view pad) {
    char head[96];
    int n = std::snprintf(head, sizeof head, R"({"s":%llu,"t":%lld,"c":%d,"p":")",
                          static_cast<unsigned long long>(seq), static_cast<long long>(t), channel);
    out.append(head, static_cast<std::size_t>(n));
    std::size_t used = static_cast<std::size_t>(n) + 2;
    out.append(pad.substr(0, pad.size() > used ? pad.size() - used : 0));
    out.append("\"}");
}

// ------------------------------------------------------------------------------ Bayeux session

class bayeux_client final : public client {
public:
    using client::client;

    bool publish(int channel, std::uint64_t seq, std::int64_t t, std::string_view pad) override {
        if (dead_ || client_id_.empty()) {
            rs_.publish_failures.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        msg_.clear();
        msg_ += R"([{"channel":")";
        msg_ += rs_.channel_name(channel);
        msg_ += R"(","clientId":")";
        msg_ += client_id_;
        msg_ += R"(","data":)";
        append_data(msg_, channel, seq, t, pad);
        msg_ += "}]";
        // Publishers always use WebSocket: one frame per publish, written together at the tick.
        frame_.clear();
        ws::append_frame(frame_, ws::text, msg_);
        queue_raw(frame_);
        return true;
    }

protected:
    void on_connected() override {
        if (ws()) {
            send_raw(ws::upgrade_request(rs_.base, rs_.base.path));
        } else {
            handshake();
        }
    }

    long on_bytes(const char* p, std::size_t n) override {
        if (ws()) {
            if (!upgraded_) {
                long used = read_upgrade(p, n);
                if (used <= 0) return used;
                upgraded_ = true;
                handshake();
                return used;
            }
            ws::frame f;
            long used = parse_frame(p, n, f);
            if (used <= 0) return used;
            on_frame(f);
            return used;
        }
        http_response r;
        long used = parse_http_response(p, n, r, scratch_);
        if (used <= 0) return used;
        if (r.status != 200) {
            fail("HTTP status");
            return -1;
        }
        // A Content-Length body sits in the read buffer, which keeps SIMDJSON_PADDING spare bytes.
        handle_batch(r.body.data(), r.body.size(), r.body.data() != scratch_.data());
        if (r.close) {
            fail("server closed");
            return -1;
        }
        return used;
    }

private:
    bool ws() const { return publisher_ || rs_.tr == transport::websocket; }

    void send_batch(const std::string& json) {
        if (ws()) {
            frame_.clear();
            ws::append_frame(frame_, ws::text, json);
            send_raw(frame_);
            return;
        }
        std::string req = "POST ";
        req += rs_.base.path;
        req += " HTTP/1.1\r\nHost: ";
        req += rs_.base.host;
        req += "\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: ";
        req += std::to_string(json.size());
        req += "\r\n\r\n";
        req += json;
        send_raw(req);
    }

    void handshake() {
        client_id_.clear();
        subscribed_ = 0;
        first_connect_done_ = false;
        std::string m = R"([{"channel":"/meta/handshake","version":"1.0","minimumVersion":"1.0",)"
                        R"("supportedConnectionTypes":[")";
        m += ws() ? "websocket" : "long-polling";
        m += R"("]}])";
        send_batch(m);
    }

    void append_connect(std::string& m, bool first) {
        m += R"({"channel":"/meta/connect","clientId":")";
        m += client_id_;
        m += R"(","connectionType":")";
        m += ws() ? "websocket" : "long-polling";
        m += first ? R"(","advice":{"timeout":0}})" : R"("})";
    }

    void after_handshake() {
        std::string m = "[";
        for (auto& t : tracks_) {
            m += R"({"channel":"/meta/subscribe","clientId":")";
            m += client_id_;
            m += R"(","subscription":")";
            m += rs_.channel_name(t.channel);
            m += R"("},)";
        }
        append_connect(m, true);
        m += "]";
        send_batch(m);
    }

    void next_connect() {
        std::string m = "[";
        append_connect(m, false);
        m += "]";
        if (interval_ms_ <= 0) return send_batch(m);
        auto timer = std::make_shared<asio::steady_timer>(w_.ioc, std::chrono::milliseconds(interval_ms_));
        timer->async_wait([self = shared_from_this(), timer, m](boost::system::error_code) {
            auto* me = static_cast<bayeux_client*>(self.get());
            if (!me->dead_) me->send_batch(m);
        });
    }

    void on_frame(const ws::frame& f) {
        switch (f.op) {
        case ws::text:
        case ws::continuation:
            if (!f.fin || f.op == ws::continuation) {
                fragments_.append(f.payload);
                if (!f.fin) return;
                handle_batch(fragments_.data(), fragments_.size(), false);
                fragments_.clear();
                return;
            }
            handle_batch(f.payload.data(), f.payload.size(), true);
            return;
        case ws::ping:
            return answer_ping(f.payload);
        case ws::close:
            fail("websocket closed by the server");
            return;
        default:
            return;
        }
    }

    void handle_batch(const char* p, std::size_t n, bool padded) {
        simdjson::dom::element doc;
        if (w_.parser.parse(p, n, !padded).get(doc)) {
            rs_.errors.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        simdjson::dom::array arr;
        if (doc.get(arr)) {
            rs_.errors.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        bool connect_replied = false;
        for (simdjson::dom::element m : arr) {
            std::string_view channel;
            if (m["channel"].get(channel)) continue;
            if (channel.substr(0, 6) == "/meta/") {
                if (on_meta(channel, m)) connect_replied = true;
                continue;
            }
            simdjson::dom::element data;
            if (!m["data"].get(data)) {
                std::int64_t s = 0, t = 0, c = 0;
                if (data["s"].get(s) || data["t"].get(t) || data["c"].get(c)) {
                    rs_.errors.fetch_add(1, std::memory_order_relaxed);
                    continue;
                }
                record(static_cast<int>(c), static_cast<std::uint64_t>(s), t);
                continue;
            }
            bool ok = false;
            if (!m["successful"].get(ok) && ok) {
                rs_.publish_acks.fetch_add(1, std::memory_order_relaxed);
            } else {
                rs_.publish_failures.fetch_add(1, std::memory_order_relaxed);
                int c = rs_.channel_index(channel);
                if (c >= 0) rs_.refused[static_cast<std::size_t>(c)].fetch_add(1, std::memory_order_relaxed);
            }
        }
        if (connect_replied && !dead_) next_connect_or_handshake();
    }

    // Returns true when the message was a /meta/connect reply that calls for the next connect.
    bool on_meta(std::string_view channel, simdjson::dom::element m) {
        bool ok = false;
        if (m["successful"].get(ok)) ok = false;
        std::string_view reconnect;
        simdjson::dom::element advice;
        if (!m["advice"].get(advice)) {
            if (advice["reconnect"].get(reconnect)) reconnect = {};
            std::int64_t iv = 0;
            if (!advice["interval"].get(iv)) interval_ms_ = iv;
        }
        if (channel == "/meta/handshake") {
            std::string_view id;
            if (!ok || m["clientId"].get(id)) {
                fail("handshake refused");
                return false;
            }
            client_id_ = std::string(id);
            after_handshake();
            return false;
        }
        if (channel == "/meta/subscribe") {
            if (!ok) {
                fail("subscribe refused");
                return false;
            }
            ++subscribed_;
            return false;
        }
        if (channel == "/meta/connect") {
            if (reconnect == "handshake" || (!ok && reconnect.empty())) {
                rehandshake_ = true;
                return true;
            }
            if (reconnect == "none") {
                fail("server said reconnect:none");
                return false;
            }
            if (!first_connect_done_ && ok && subscribed_ == static_cast<int>(tracks_.size())) {
                first_connect_done_ = true;
                mark_ready();
            }
            return true;
        }
        return false;
    }

    void next_connect_or_handshake() {
        if (rehandshake_) {
            rehandshake_ = false;
            rs_.rehandshakes.fetch_add(1, std::memory_order_relaxed);
            handshake();
            return;
        }
        next_connect();
    }

    bool upgraded_ = false;
    bool first_connect_done_ = false;
    bool rehandshake_ = false;
    int subscribed_ = 0;
    std::int64_t interval_ms_ = 0;
    std::string client_id_;
    std::string scratch_, fragments_, frame_, msg_;
};

// ------------------------------------------------------------------------------------- nchan

class nchan_subscriber final : public client {
public:
    using client::client;
    bool publish(int, std::uint64_t, std::int64_t, std::string_view) override { return false; }

protected:
    void on_connected() override {
        path_ = "/sub/";
        for (std::size_t i = 0; i < tracks_.size(); ++i) {
            if (i) path_ += ',';
            path_ += rs_.channel_name(tracks_[i].channel);
        }
        if (rs_.tr == transport::websocket) {
            send_raw(ws::upgrade_request(rs_.base, path_));
        } else {
            poll();
            // A long-poll gives no sign that the subscription is in place; the run waits a
            // settle period after every subscriber reports ready before it publishes.
            mark_ready();
        }
    }

    long on_bytes(const char* p, std::size_t n) override {
        if (rs_.tr == transport::websocket) {
            if (!upgraded_) {
                long used = read_upgrade(p, n);
                if (used <= 0) return used;
                upgraded_ = true;
                mark_ready();
                return used;
            }
            ws::frame f;
            long used = parse_frame(p, n, f);
            if (used <= 0) return used;
            if (f.op == ws::text || f.op == ws::binary) {
                on_message_data(f.payload.data(), f.payload.size(), true);
            } else if (f.op == ws::ping) {
                answer_ping(f.payload);
            } else if (f.op == ws::close) {
                fail("websocket closed by the server");
                return -1;
            }
            return used;
        }
        http_response r;
        long used = parse_http_response(p, n, r, scratch_);
        if (used <= 0) return used;
        if (r.status == 200) {
            if (!r.last_modified.empty()) last_modified_ = std::string(r.last_modified);
            if (!r.etag.empty()) etag_ = std::string(r.etag);
            bool padded = r.body.data() != scratch_.data();
            if (multipart_parts(r.content_type, r.body, parts_)) {
                for (auto part : parts_) on_message_data(part.data(), part.size(), padded);
            } else {
                on_message_data(r.body.data(), r.body.size(), padded);
            }
        } else if (r.status != 304 && r.status != 408) {
            fail("HTTP status");
            return -1;
        }
        if (r.close) {
            fail("server closed");
            return -1;
        }
        poll();
        return used;
    }

private:
    void poll() {
        std::string req = "GET ";
        req += path_;
        req += " HTTP/1.1\r\nHost: ";
        req += rs_.base.host;
        // nchan's plain long-poll: one message per response, the next request resumes after it
        // (Etag / Last-Modified). Its multipart mode is not used: in nchan 1.3.6 that response
        // has neither a length nor chunks and stays open until the subscriber timeout.
        req += "\r\n";
        if (!last_modified_.empty()) {
            req += "If-Modified-Since: ";
            req += last_modified_;
            req += "\r\n";
        }
        if (!etag_.empty()) {
            req += "If-None-Match: ";
            req += etag_;
            req += "\r\n";
        }
        req += "\r\n";
        send_raw(req);
    }

    bool upgraded_ = false;
    std::string path_, scratch_, last_modified_, etag_;
    std::vector<std::string_view> parts_;
};

class nchan_publisher final : public client {
public:
    using client::client;

    bool publish(int channel, std::uint64_t seq, std::int64_t t, std::string_view pad) override {
        if (dead_) {
            rs_.publish_failures.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        body_.clear();
        append_data(body_, channel, seq, t, pad);
        req_ = "POST /pub/";
        req_ += rs_.channel_name(channel);
        req_ += " HTTP/1.1\r\nHost: ";
        req_ += rs_.base.host;
        req_ += "\r\nContent-Type: application/json\r\nContent-Length: ";
        req_ += std::to_string(body_.size());
        req_ += "\r\n\r\n";
        req_ += body_;
        queue_raw(req_);  // pipelined; written at the tick's flush
        inflight_.push_back(channel);
        return true;
    }

protected:
    void on_connected() override { mark_ready(); }
    long on_bytes(const char* p, std::size_t n) override {
        http_response r;
        long used = parse_http_response(p, n, r, scratch_);
        if (used <= 0) return used;
        // Responses come in the order of the pipelined requests.
        int channel = -1;
        if (!inflight_.empty()) {
            channel = inflight_.front();
            inflight_.pop_front();
        }
        if (r.status == 201 || r.status == 202) {
            rs_.publish_acks.fetch_add(1, std::memory_order_relaxed);
        } else {
            rs_.publish_failures.fetch_add(1, std::memory_order_relaxed);
            if (channel >= 0) rs_.refused[static_cast<std::size_t>(channel)].fetch_add(1, std::memory_order_relaxed);
        }
        return used;
    }

private:
    std::string body_, req_, scratch_;
    std::deque<int> inflight_;  // channels of the requests awaiting a response
};

// ------------------------------------------------------------------------------------- STOMP
//
// STOMP 1.2 against a message broker (ActiveMQ, RabbitMQ): the load of the broker bridge's
// benchmark enters the broker here, and the baseline (the broker alone) leaves it here.

class stomp_client : public client {
public:
    using client::client;

protected:
    const tcp::endpoint& remote() const override { return rs_.broker; }

    // No heart-beats: a run is short, and a heart-beat frame would only be noise in the stream.
    void on_connected() override {
        std::string f = "CONNECT\naccept-version:1.2\nhost:";
        f += rs_.stomp_vhost;
        f += "\nheart-beat:0,0\n\n";
        f += '\0';
        send_raw(f);
    }

    long on_bytes(const char* p, std::size_t n) override {
        stomp::frame f;
        long used = stomp::parse_frame(p, n, f);
        if (used <= 0) return used;
        if (f.command.empty()) return used;  // a heart-beat
        if (f.command == "ERROR") {
            // The broker closes the connection after an ERROR; say why before we count the failure.
            auto msg = stomp::header(f, "message");
            std::fprintf(stderr, "encke-bench: STOMP %s %d: the broker sent ERROR: %.*s%s%.*s\n",
                         publisher_ ? "publisher" : "subscriber", index_, static_cast<int>(msg.size()),
                         msg.data(), f.body.empty() ? "" : ": ",
                         static_cast<int>(std::min<std::size_t>(f.body.size(), 200)), f.body.data());
            return -1;
        }
        on_frame(f);
        return dead_ ? -1 : used;
    }

    virtual void on_frame(const stomp::frame& f) = 0;
};

// Sends each publish as a SEND to prefix + channel, pipelined. The body is exactly what a Bayeux
// publisher puts in `data`, with no content-length (so ActiveMQ makes it a JMS TextMessage, as a
// JMS producer would) and content-type application/json. A receipt every N SENDs tells a broker
// that stopped taking messages from one that is merely slow.
class stomp_publisher final : public stomp_client {
public:
    using stomp_client::stomp_client;

    bool publish(int channel, std::uint64_t seq, std::int64_t t, std::string_view pad) override {
        if (dead_ || !ready_) {
            rs_.publish_failures.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        frame_.assign("SEND\ndestination:");
        frame_ += rs_.stomp_prefix;
        char num[24];
        auto [end, ec] = std::to_chars(num, num + sizeof num, channel);
        (void)ec;
        frame_.append(num, end);
        frame_ += "\ncontent-type:application/json\n";
        if (rs_.stomp_receipt_every > 0 && ++since_receipt_ >= rs_.stomp_receipt_every) {
            since_receipt_ = 0;
            frame_ += "receipt:r";
            auto [e2, ec2] = std::to_chars(num, num + sizeof num, ++receipts_);
            (void)ec2;
            frame_.append(num, e2);
            frame_ += '\n';
            rs_.stomp_receipts_asked.fetch_add(1, std::memory_order_relaxed);
        }
        frame_ += '\n';
        append_data(frame_, channel, seq, t, pad);
        frame_ += '\0';
        queue_raw(frame_);  // written at the tick's flush, with the others due then
        return true;
    }

protected:
    void on_frame(const stomp::frame& f) override {
        if (f.command == "CONNECTED") {
            mark_ready();
        } else if (f.command == "RECEIPT") {
            rs_.stomp_receipts_got.fetch_add(1, std::memory_order_relaxed);
        }
    }

private:
    std::string frame_;
    int since_receipt_ = 0;
    std::uint64_t receipts_ = 0;
};

// Subscribes to its channels' destinations (or to one wildcard, --stomp-subscription), each
// SUBSCRIBE with a receipt: ready once every receipt is in, i.e. the broker has the
// subscriptions. ack:auto, or ack:client with a cumulative ACK every 100 messages and a prefetch
// of 1,000 (what Encke's bridge asks for: on ActiveMQ it is the cheaper of the two).
class stomp_subscriber final : public stomp_client {
public:
    using stomp_client::stomp_client;
    bool publish(int, std::uint64_t, std::int64_t, std::string_view) override { return false; }

protected:
    void on_frame(const stomp::frame& f) override {
        if (f.command == "MESSAGE") {
            // The body sits in the read buffer, which keeps SIMDJSON_PADDING spare bytes past
            // the bytes read, so it is parsed in place.
            on_message_data(f.body.data(), f.body.size(), true);
            // A cumulative ACK covers one subscription's messages only.
            std::size_t sub = 0;
            auto id = stomp::header(f, "subscription");
            std::from_chars(id.data(), id.data() + id.size(), sub);
            if (rs_.stomp_ack_client && sub < unacked_.size() && ++unacked_[sub] >= 100) {
                unacked_[sub] = 0;
                ack_.assign("ACK\nid:");
                ack_ += stomp::header(f, "ack");
                ack_ += "\n\n";
                ack_ += '\0';
                send_raw(ack_);
            }
        } else if (f.command == "RECEIPT") {
            if (++receipts_ == want_) mark_ready();
        } else if (f.command == "CONNECTED") {
            subscribe();
        }
    }

private:
    void subscribe() {
        std::string out;
        auto one = [&](std::size_t id, std::string_view destination) {
            out += "SUBSCRIBE\nid:";
            out += std::to_string(id);
            out += "\ndestination:";
            out += destination;
            out += rs_.stomp_ack_client ? "\nack:client\nactivemq.prefetchSize:1000\nprefetch-count:1000"
                                        : "\nack:auto";
            out += "\nreceipt:s";
            out += std::to_string(id);
            out += "\n\n";
            out += '\0';
            ++want_;
            unacked_.push_back(0);
        };
        if (!rs_.stomp_subscription.empty()) {
            one(0, rs_.stomp_subscription);
        } else {
            for (std::size_t i = 0; i < tracks_.size(); ++i) one(i, rs_.stomp_destination(tracks_[i].channel));
        }
        send_raw(out);
    }

    std::size_t want_ = 0, receipts_ = 0;
    std::vector<int> unacked_;  // per subscription id
    std::string ack_;
};

}  // namespace

// ------------------------------------------------------------------------------------- worker

worker::worker(run_shared& r, int i) : ioc(1), rs(r), id(i) {}

void worker::run() {
    thread_ = std::thread([this] {
        auto guard = asio::make_work_guard(ioc);
        ioc.run();
    });
}

void worker::join() {
    if (thread_.joinable()) thread_.join();
}

std::shared_ptr<client> make_subscriber(worker& w, int index, std::vector<int> channels) {
    if (w.rs.tgt == target::stomp) return std::make_shared<stomp_subscriber>(w, index, std::move(channels), false);
    if (w.rs.tgt == target::nchan) return std::make_shared<nchan_subscriber>(w, index, std::move(channels), false);
    return std::make_shared<bayeux_client>(w, index, std::move(channels), false);
}

std::shared_ptr<client> make_publisher(worker& w, int index) {
    if (w.rs.stomp_publish) return std::make_shared<stomp_publisher>(w, index, std::vector<int>{}, true);
    if (w.rs.tgt == target::nchan) return std::make_shared<nchan_publisher>(w, index, std::vector<int>{}, true);
    return std::make_shared<bayeux_client>(w, index, std::vector<int>{}, true);
}

// ---------------------------------------------------------------------------- publish_ticker

publish_ticker::publish_ticker(worker& w, std::vector<std::shared_ptr<client>> pubs, int channels, int payload)
    : w_(w), pubs_(std::move(pubs)), next_seq_(static_cast<std::size_t>(channels), 0), timer_(w.ioc),
      pad_(static_cast<std::size_t>(payload), 'x') {}

void publish_ticker::start() {
    asio::post(w_.ioc, [this] { tick(); });
}

void publish_ticker::set_rate(double per_second) {
    asio::post(w_.ioc, [this, per_second] {
        rate_ = per_second;
        epoch_ns_ = now_ns();
        sent_in_epoch_ = 0;
    });
}

void publish_ticker::tick() {
    if (rate_ > 0) {
        std::int64_t now = now_ns();
        // Message k is due at epoch + k/rate: k+1 messages are due once that moment has passed.
        auto due = static_cast<std::uint64_t>(static_cast<double>(now - epoch_ns_) * rate_ / 1e9) + 1;
        const auto channels = next_seq_.size();
        while (sent_in_epoch_ < due) {
            auto t = epoch_ns_ + static_cast<std::int64_t>(static_cast<double>(sent_in_epoch_) * 1e9 / rate_);
            std::size_t c = rr_++ % channels;
            // A publisher that cannot send does not use up the sequence number.
            if (pubs_[c % pubs_.size()]->publish(static_cast<int>(c), next_seq_[c], t, pad_)) {
                ++next_seq_[c];
                total_.fetch_add(1, std::memory_order_relaxed);
            }
            ++sent_in_epoch_;
        }
        for (auto& p : pubs_) p->flush_output();
    }
    if (w_.rs.stopping.load()) return;
    // Wake when the next message is due (at most 1 ms away): at low rates each message leaves
    // at its own time, not at the next millisecond tick, so the tick adds no latency of its own.
    std::int64_t wake = now_ns() + 1000000;
    if (rate_ > 0) {
        auto next = epoch_ns_ + static_cast<std::int64_t>(static_cast<double>(sent_in_epoch_) * 1e9 / rate_);
        wake = std::min(wake, next);
    }
    timer_.expires_at(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(wake)));
    timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec) tick();
    });
}

void publish_ticker::publish_once(int channel) {
    asio::post(w_.ioc, [this, channel] {
        auto& seq = next_seq_[static_cast<std::size_t>(channel)];
        if (pubs_[static_cast<std::size_t>(channel) % pubs_.size()]->publish(channel, seq, now_ns(), pad_)) {
            ++seq;
            total_.fetch_add(1, std::memory_order_relaxed);
        }
        for (auto& p : pubs_) p->flush_output();
    });
}

}  // namespace bench
