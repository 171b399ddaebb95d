// The simulated clients of encke-bench: Bayeux sessions (websocket, long-polling), nchan
// subscribers and publishers, and STOMP 1.2 publishers and subscribers (a message broker, for
// the broker bridge), each a small state machine on one worker's io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "stats.hpp"
#include "wire.hpp"

namespace bench {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

enum class target { bayeux, nchan, stomp };
enum class transport { websocket, long_polling };

inline std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// What every client needs to know about the run (read-only once clients start).
struct run_shared {
    target tgt = target::bayeux;
    transport tr = transport::websocket;
    url base;
    tcp::endpoint endpoint;
    int channels = 10;
    int source_addresses = 1;
    std::string channel_prefix = "/bench/";  // Bayeux; nchan ids are "b<N>"

    // STOMP: the broker the STOMP clients talk to (publishers with --publish-stomp, subscribers
    // with --target stomp), the destination of channel N (prefix + N), the `host` header of
    // CONNECT (RabbitMQ wants its vhost, "/"), and for subscribers one wildcard subscription
    // instead of one per channel ("" = per channel).
    bool stomp_publish = false;
    tcp::endpoint broker;
    std::string stomp_prefix = "/topic/bench.";
    std::string stomp_vhost = "localhost";
    std::string stomp_subscription;
    bool stomp_ack_client = false;   // subscribers: ack:client (cumulative) instead of ack:auto
    int stomp_receipt_every = 1000;  // a SEND with a receipt every N per publisher (0: never)
    std::atomic<std::uint64_t> stomp_receipts_asked{0}, stomp_receipts_got{0};
    std::string stomp_destination(int c) const { return stomp_prefix + std::to_string(c); }

    std::atomic<bool> measuring{false};
    std::atomic<bool> stopping{false};
    std::atomic<std::uint64_t> ready{0}, failed{0}, errors{0}, rehandshakes{0};
    std::atomic<std::uint64_t> publish_acks{0}, publish_failures{0};

    std::string channel_name(int c) const;     // "/bench/3" or "b3"
    int channel_index(std::string_view name) const;  // the inverse; -1 if not one of ours

    // Publishes the server refused, per channel (written by the publishers' worker, read at the
    // end): they are not expected at any subscriber.
    std::unique_ptr<std::atomic<std::uint64_t>[]> refused;
};

class worker;

// Delivery bookkeeping of one subscriber: for each of its channels, which sequence numbers
// arrived (a bitmap), so loss, duplicates and reordering are exact.
struct subscription_track {
    int channel = 0;
    std::vector<std::uint64_t> seen;
    std::uint64_t highest = 0;
    bool any = false;
    std::uint64_t distinct = 0;
};

class client : public std::enable_shared_from_this<client> {
public:
    client(worker& w, int index, std::vector<int> channels, bool publisher);
    virtual ~client() = default;
    void start();
    // Queues one publish; false when this publisher cannot send (then the sequence number is not
    // used, so a publisher's failure is never counted as a subscriber's loss).
    virtual bool publish(int channel, std::uint64_t seq, std::int64_t t, std::string_view pad) = 0;
    void flush_output();

    const std::vector<subscription_track>& tracks() const { return tracks_; }
    bool is_ready() const { return ready_; }

protected:
    void on_message_data(const char* data_json, std::size_t len, bool padded);
    void record(int channel, std::uint64_t seq, std::int64_t t);
    void mark_ready();
    void fail(const char* why);
    void send_raw(std::string_view bytes);            // queue and write now
    void queue_raw(std::string_view bytes) { out_.append(bytes); }  // written at flush_output()
    void do_read();
    // The server's answer to a WebSocket upgrade: bytes used, 0 for more, -1 (after fail) if refused.
    long read_upgrade(const char* p, std::size_t n);
    void answer_ping(std::string_view payload);  // a pong with the same payload

    // Where this client connects: the server under test, or the broker for STOMP clients.
    virtual const tcp::endpoint& remote() const { return rs_.endpoint; }
    virtual void on_connected() = 0;
    // Consume what can be consumed from [p, p+n); return bytes used, or -1 to drop the connection.
    virtual long on_bytes(const char* p, std::size_t n) = 0;

    worker& w_;
    run_shared& rs_;
    int index_;
    bool publisher_;
    std::vector<subscription_track> tracks_;
    tcp::socket sock_;
    bool ready_ = false;
    bool dead_ = false;

private:
    void on_read(std::size_t n);
    std::vector<char> in_;
    std::size_t rpos_ = 0, wpos_ = 0;
    std::string out_, inflight_;
    bool writing_ = false;
};

// One event loop, one thread; owns its clients, its histogram and its parser.
class worker {
public:
    worker(run_shared& rs, int id);
    void run();   // starts the thread
    void join();
    void stop() { ioc.stop(); }

    asio::io_context ioc;
    run_shared& rs;
    int id;
    simdjson::dom::parser parser;
    std::vector<std::shared_ptr<client>> clients;
    std::atomic<std::uint64_t> delivered{0}, duplicates{0}, reordered{0};

    std::mutex hist_mu;
    histogram hist;  // latencies while measuring

private:
    std::thread thread_;
};

std::shared_ptr<client> make_subscriber(worker& w, int index, std::vector<int> channels);
std::shared_ptr<client> make_publisher(worker& w, int index);

// The publish schedule: `rate` messages per second, spread round-robin over the channels,
// stamped with the time each was due (so a stalled publisher shows as latency, not as a
// quieter run). Lives on one worker; publishers are chosen by channel so that each channel's
// sequence numbers leave through one connection, in order.
class publish_ticker {
public:
    publish_ticker(worker& w, std::vector<std::shared_ptr<client>> pubs, int channels, int payload);
    void set_rate(double per_second);  // thread-safe: posts to the worker
    std::uint64_t published_total() const { return total_.load(); }
    // Per-channel counts; read only after the worker has stopped.
    const std::vector<std::uint64_t>& per_channel() const { return next_seq_; }
    void start();
    void publish_once(int channel);  // one message now (the capacity broadcast)

private:
    void tick();
    worker& w_;
    std::vector<std::shared_ptr<client>> pubs_;
    std::vector<std::uint64_t> next_seq_;
    asio::steady_timer timer_;
    std::string pad_;
    double rate_ = 0;
    std::int64_t epoch_ns_ = 0;
    std::uint64_t sent_in_epoch_ = 0, rr_ = 0;
    std::atomic<std::uint64_t> total_{0};
};

}  // namespace bench
