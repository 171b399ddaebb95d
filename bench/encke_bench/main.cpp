// encke-bench: a load generator for Bayeux servers (Encke, Faye, CometD), nginx+nchan and, for
// Encke's broker bridge, STOMP brokers (ActiveMQ, RabbitMQ).
//
// Subscribers connect (at a paced rate or as fast as the server takes them), publishers send at
// one or more fixed rates, and every delivery is checked: end-to-end latency (send timestamp in
// the message), loss, duplicates and reordering (a sequence number per channel). With
// --server-pid (and --broker-pid) it reads CPU time and resident memory from /proc. With
// --publish-stomp the publishers send to a broker over STOMP and the subscribers stay Bayeux
// subscribers of the bridge's server; --target stomp subscribes on the broker itself (the
// broker alone, the baseline). See bench/README.md.
#include <CLI/CLI.hpp>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>

#include <sys/resource.h>

#include <csignal>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <future>
#include <sstream>

#include "clients.hpp"

namespace bench {
namespace {

struct options {
    std::string target = "bayeux";
    std::string url;
    std::string transport = "websocket";
    int subscribers = 1000;
    int channels = 10;
    int per_subscriber = 1;
    int publishers = 4;
    std::string rates;
    std::string delivery_rates;
    int payload = 100;
    double duration = 10;
    double warmup = 2;
    double drain = 5;
    double settle = 1;
    double connect_rate = 0;
    int connect_window = 256;
    int threads = 1;
    int server_pid = 0;
    int broker_pid = 0;
    std::string publish_stomp;         // HOST:PORT of a STOMP broker: publishers send there
    std::string stomp_prefix = "/topic/bench.";
    std::string stomp_vhost = "localhost";
    std::string stomp_subscription;    // one wildcard subscription per STOMP subscriber
    int stomp_receipt_every = 1000;
    std::string stomp_ack = "auto";
    std::string channel_prefix = "/bench/";
    double p99_limit_ms = 100;
    int capacity = 0;
    int source_addresses = 0;  // 0: one per 1,000 connections
    std::string json_path;
};

struct step_result {
    double rate = 0, target_deliveries = 0;
    std::uint64_t published = 0, delivered = 0;
    double seconds = 0, delivered_per_s = 0;
    double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;  // microseconds
    double server_cpu_s = -1, server_cpu_us_per_delivery = -1;
    double broker_cpu_s = -1;
    double machine_cpu_s = 0;  // every process's CPU, this one's included
    std::uint64_t server_peak_rss_kib = 0;
    double generator_cpu_s = 0, generator_util = 0;
    bool generator_bottleneck = false;
    // The messages of this step (per channel, [first, end) of the sequence numbers, warm-up
    // included) and how many of their deliveries never arrived: the loss of this rate alone.
    std::vector<std::uint64_t> seq_first, seq_end;
    std::uint64_t lost = 0;
};

[[noreturn]] void usage_error(const std::string& what) {
    std::fprintf(stderr, "encke-bench: %s\n", what.c_str());
    std::exit(2);
}

std::vector<double> parse_list(const std::string& text, const char* flag) {
    std::vector<double> out;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
        char* end = nullptr;
        double v = std::strtod(item.c_str(), &end);
        if (item.empty() || *end != 0 || !(v > 0) || !std::isfinite(v))
            usage_error(std::string(flag) + ": not a positive number: '" + item + "'");
        out.push_back(v);
    }
    if (out.empty()) usage_error(std::string(flag) + ": empty list");
    return out;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void sleep_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

class runner {
public:
    explicit runner(options o) : o_(std::move(o)) {}
    int run();

private:
    void connect_subscribers();
    void connect_publishers();
    void sweep(const std::vector<double>& rates);
    void capacity();
    void drain_and_stop();
    std::uint64_t delivered() const {
        std::uint64_t n = 0;
        for (auto& w : workers_) n += w->delivered.load(std::memory_order_relaxed);
        return n;
    }
    proc_sample server() const { return o_.server_pid ? sample_process_tree(o_.server_pid) : proc_sample{}; }
    proc_sample broker() const { return o_.broker_pid ? sample_process_tree(o_.broker_pid) : proc_sample{}; }
    void report_text() const;
    void report_json(std::ostream& out) const;

    options o_;
    run_shared rs_;
    std::vector<std::unique_ptr<worker>> workers_;
    std::vector<std::shared_ptr<client>> subs_, pubs_;
    std::unique_ptr<publish_ticker> ticker_;
    double subs_per_channel_ = 0;

    // results
    double connect_seconds_ = 0;
    std::uint64_t rss_before_ = 0, rss_connected_ = 0;
    std::vector<step_result> steps_;
    std::vector<std::uint64_t> published_per_channel_;
    // The ticker's per-channel sequence numbers now, read on its own thread.
    std::vector<std::uint64_t> sequence_now() {
        std::promise<std::vector<std::uint64_t>> counts;
        asio::post(workers_[0]->ioc, [&] { counts.set_value(ticker_->per_channel()); });
        return counts.get_future().get();
    }
    std::uint64_t expected_ = 0, received_ = 0, lost_ = 0, dups_ = 0, reordered_ = 0;
    std::uint64_t broadcast_received_ = 0;
    double broadcast_ms_ = -1;
    double total_gen_cpu_ = 0;
};

void runner::connect_subscribers() {
    const int n = o_.subscribers;
    subs_.reserve(static_cast<std::size_t>(n));
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
        // Subscriber i takes K consecutive channels starting at i*K: every channel gets the same
        // number of subscribers when N*K is a multiple of C.
        std::vector<int> ch;
        for (int j = 0; j < o_.per_subscriber; ++j) ch.push_back((i * o_.per_subscriber + j) % o_.channels);
        auto& w = *workers_[static_cast<std::size_t>(i % o_.threads)];
        auto c = make_subscriber(w, i, std::move(ch));
        subs_.push_back(c);
        if (o_.connect_rate > 0) {
            auto due = t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                std::chrono::duration<double>(i / o_.connect_rate));
            std::this_thread::sleep_until(due);
        } else {
            // As fast as the server takes them, with a bounded number of set-ups in flight.
            while (static_cast<std::uint64_t>(i) - rs_.ready.load() - rs_.failed.load() >=
                   static_cast<std::uint64_t>(o_.connect_window))
                std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
        asio::post(w.ioc, [c] { c->start(); });
    }
    double limit = std::max(30.0, n / 200.0);
    while (rs_.ready.load() + rs_.failed.load() < static_cast<std::uint64_t>(n) && seconds_since(t0) < limit)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    connect_seconds_ = seconds_since(t0);
    auto ready = rs_.ready.load();
    std::printf("connected %llu of %d subscribers in %.2f s (%.0f per second)%s\n",
                static_cast<unsigned long long>(ready), n, connect_seconds_, ready / connect_seconds_,
                rs_.failed.load() ? ", some failed" : "");
    std::fflush(stdout);
}

void runner::connect_publishers() {
    auto& w = *workers_[0];
    auto before = rs_.ready.load();
    for (int i = 0; i < o_.publishers; ++i) {
        auto p = make_publisher(w, -1 - i);
        pubs_.push_back(p);
        asio::post(w.ioc, [p] { p->start(); });
    }
    auto t0 = std::chrono::steady_clock::now();
    while (rs_.ready.load() < before + static_cast<std::uint64_t>(o_.publishers) && seconds_since(t0) < 10)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    for (auto& p : pubs_)
        if (!p->is_ready()) {
            std::fprintf(stderr, "encke-bench: a publisher could not connect to %s\n", o_.url.c_str());
            std::exit(3);
        }
    ticker_ = std::make_unique<publish_ticker>(w, pubs_, o_.channels, o_.payload);
    ticker_->start();
}

void runner::sweep(const std::vector<double>& rates) {
    for (double rate : rates) {
        step_result r;
        r.rate = rate;
        r.target_deliveries = rate * subs_per_channel_;
        ticker_->set_rate(rate);
        r.seq_first = sequence_now();
        sleep_s(o_.warmup);
        for (auto& w : workers_) {
            std::lock_guard lk(w->hist_mu);
            w->hist.clear();
        }
        auto s0 = server();
        auto b0 = broker();
        double g0 = self_cpu_seconds();
        double m0 = machine_busy_seconds();
        auto d0 = delivered();
        auto p0 = ticker_->published_total();
        auto t0 = std::chrono::steady_clock::now();
        rs_.measuring = true;
        std::uint64_t peak = s0.rss_kib;
        while (seconds_since(t0) < o_.duration) {
            sleep_s(std::min(0.1, std::max(0.0, o_.duration - seconds_since(t0))));
            if (o_.server_pid) peak = std::max(peak, server().rss_kib);
        }
        rs_.measuring = false;
        r.seconds = seconds_since(t0);
        auto s1 = server();
        auto b1 = broker();
        double g1 = self_cpu_seconds();
        double m1 = machine_busy_seconds();
        r.delivered = delivered() - d0;
        r.published = ticker_->published_total() - p0;
        histogram h;
        for (auto& w : workers_) {
            std::lock_guard lk(w->hist_mu);
            h.merge(w->hist);
        }
        r.delivered_per_s = static_cast<double>(r.delivered) / r.seconds;
        r.p50 = static_cast<double>(h.quantile(0.50)) / 1e3;
        r.p90 = static_cast<double>(h.quantile(0.90)) / 1e3;
        r.p99 = static_cast<double>(h.quantile(0.99)) / 1e3;
        r.p999 = static_cast<double>(h.quantile(0.999)) / 1e3;
        r.max = static_cast<double>(h.max()) / 1e3;
        if (s0.ok && s1.ok) {
            r.server_cpu_s = s1.cpu_s - s0.cpu_s;
            if (r.delivered) r.server_cpu_us_per_delivery = r.server_cpu_s * 1e6 / static_cast<double>(r.delivered);
            r.server_peak_rss_kib = std::max(peak, s1.rss_kib);
        }
        if (b0.ok && b1.ok) r.broker_cpu_s = b1.cpu_s - b0.cpu_s;
        r.machine_cpu_s = m1 - m0;
        r.generator_cpu_s = g1 - g0;
        r.generator_util = r.generator_cpu_s / (r.seconds * o_.threads);
        r.generator_bottleneck = r.generator_util > 0.9;
        // CPU as a share of one core: on a small machine the server, the broker and the generator
        // share the cores, and this says which of them ran out.
        std::string cpus;
        char b[96];
        if (r.server_cpu_s >= 0) {
            std::snprintf(b, sizeof b, "  server cpu %3.0f%%", 100 * r.server_cpu_s / r.seconds);
            cpus += b;
        }
        if (r.broker_cpu_s >= 0) {
            std::snprintf(b, sizeof b, "  broker cpu %3.0f%%", 100 * r.broker_cpu_s / r.seconds);
            cpus += b;
        }
        if (r.broker_cpu_s >= 0 || r.server_cpu_s >= 0) {
            double others = r.machine_cpu_s - std::max(0.0, r.server_cpu_s) - std::max(0.0, r.broker_cpu_s) -
                            (g1 - g0);
            std::snprintf(b, sizeof b, "  others cpu %3.0f%%", 100 * std::max(0.0, others) / r.seconds);
            cpus += b;
        }
        std::printf("rate %8.0f/s  target %9.0f  delivered %9.0f/s  p50 %9.1f  p90 %9.1f  p99 %9.1f  "
                    "p99.9 %9.1f  max %9.1f us  server %s us/msg%s  gen cpu %3.0f%%%s\n",
                    r.rate, r.target_deliveries, r.delivered_per_s, r.p50, r.p90, r.p99, r.p999, r.max,
                    r.server_cpu_us_per_delivery >= 0 ? std::to_string(r.server_cpu_us_per_delivery).substr(0, 6).c_str()
                                                      : "-",
                    cpus.c_str(), 100 * r.generator_util,
                    r.generator_bottleneck ? "  (generator is the bottleneck)" : "");
        std::fflush(stdout);
        steps_.push_back(r);
        if (r.p99 > o_.p99_limit_ms * 1000 || r.delivered_per_s < 0.8 * r.target_deliveries) break;
    }
    ticker_->set_rate(0);
    // Each step's messages end where the next step's begin; the last step's where the ticker stopped.
    auto end = sequence_now();
    for (std::size_t i = 0; i < steps_.size(); ++i)
        steps_[i].seq_end = i + 1 < steps_.size() ? steps_[i + 1].seq_first : end;
}

void runner::capacity() {
    sleep_s(2);  // let the server settle (held connects parked, buffers trimmed)
    auto s = server();
    rss_connected_ = s.rss_kib;
    auto d0 = delivered();
    auto want = rs_.ready.load() - static_cast<std::uint64_t>(o_.publishers);
    auto t0 = std::chrono::steady_clock::now();
    ticker_->publish_once(0);
    while (delivered() - d0 < want && seconds_since(t0) < 60)
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    broadcast_received_ = delivered() - d0;
    broadcast_ms_ = seconds_since(t0) * 1e3;
    std::printf("broadcast reached %llu of %llu subscribers in %.1f ms\n",
                static_cast<unsigned long long>(broadcast_received_), static_cast<unsigned long long>(want),
                broadcast_ms_);
}

void runner::drain_and_stop() {
    // The ticker is stopped; read its per-channel counts on its own thread.
    published_per_channel_ = sequence_now();
    std::uint64_t want = 0;
    for (auto& c : subs_)
        if (c->is_ready())
            for (auto& t : c->tracks()) {
                auto ch = static_cast<std::size_t>(t.channel);
                want += published_per_channel_[ch] - std::min(published_per_channel_[ch], rs_.refused[ch].load());
            }
    auto t0 = std::chrono::steady_clock::now();
    while ((delivered() < want || rs_.stomp_receipts_got.load() < rs_.stomp_receipts_asked.load()) &&
           seconds_since(t0) < o_.drain)
        sleep_s(0.01);
    total_gen_cpu_ = self_cpu_seconds();
    rs_.stopping = true;
    for (auto& w : workers_) w->stop();
    for (auto& w : workers_) w->join();
    for (auto& w : workers_) {
        dups_ += w->duplicates.load();
        reordered_ += w->reordered.load();
    }
    // Loss per step: the sequence numbers of the step's range that a subscriber never saw.
    for (auto& st : steps_) {
        if (st.seq_first.empty() || st.seq_end.empty()) continue;
        for (auto& c : subs_) {
            if (!c->is_ready()) continue;
            for (auto& t : c->tracks()) {
                auto ch = static_cast<std::size_t>(t.channel);
                for (std::uint64_t q = st.seq_first[ch]; q < st.seq_end[ch]; ++q) {
                    std::size_t w = q / 64;
                    bool seen = w < t.seen.size() && (t.seen[w] >> (q % 64) & 1);
                    if (!seen) ++st.lost;
                }
            }
        }
    }
    for (auto& c : subs_) {
        if (!c->is_ready()) continue;
        for (auto& t : c->tracks()) {
            // What the server accepted: a refused publish is not expected anywhere.
            auto ch = static_cast<std::size_t>(t.channel);
            auto pub = published_per_channel_[ch] - std::min(published_per_channel_[ch], rs_.refused[ch].load());
            expected_ += pub;
            received_ += t.distinct;
            if (pub > t.distinct) lost_ += pub - t.distinct;
        }
    }
}

int runner::run() {
    rs_.tgt = o_.target == "nchan" ? target::nchan : o_.target == "stomp" ? target::stomp : target::bayeux;
    rs_.tr = o_.transport == "long-polling" ? transport::long_polling : transport::websocket;
    auto endpoint_of = [](const url& u, const char* flag) {
        boost::system::error_code ec;
        auto addr = asio::ip::make_address_v4(u.host == "localhost" ? "127.0.0.1" : u.host, ec);
        if (ec) usage_error(std::string(flag) + ": the host must be an IPv4 address: '" + u.host + "'");
        return tcp::endpoint(addr, u.port);
    };
    if (rs_.tgt == target::stomp && o_.url.empty()) o_.url = "stomp://" + o_.publish_stomp;
    if (o_.url.empty()) usage_error("--url is required");
    if (!parse_url(o_.url, rs_.base) || (rs_.tgt == target::stomp) != o_.url.starts_with("stomp://"))
        usage_error(rs_.tgt == target::stomp ? "--url: expected stomp://HOST:PORT, got '" + o_.url + "'"
                                             : "--url: expected http://HOST:PORT/PATH, got '" + o_.url + "'");
    rs_.endpoint = endpoint_of(rs_.base, "--url");
    // STOMP publishers: to --publish-stomp, or with --target stomp to the broker of --url.
    rs_.stomp_publish = !o_.publish_stomp.empty() || rs_.tgt == target::stomp;
    if (!o_.publish_stomp.empty()) {
        url b;
        if (!parse_host_port(o_.publish_stomp, b))
            usage_error("--publish-stomp: expected HOST:PORT, got '" + o_.publish_stomp + "'");
        rs_.broker = endpoint_of(b, "--publish-stomp");
    } else {
        rs_.broker = rs_.endpoint;
    }
    if (rs_.stomp_publish && rs_.tgt == target::nchan) usage_error("--publish-stomp goes with --target bayeux or stomp");
    rs_.stomp_prefix = o_.stomp_prefix;
    rs_.channel_prefix = o_.channel_prefix;
    rs_.stomp_vhost = o_.stomp_vhost;
    rs_.stomp_subscription = o_.stomp_subscription;
    rs_.stomp_receipt_every = o_.stomp_receipt_every;
    rs_.stomp_ack_client = o_.stomp_ack == "client";
    if (!o_.stomp_subscription.empty() && (rs_.tgt != target::stomp || o_.per_subscriber != o_.channels))
        usage_error("--stomp-subscription goes with --target stomp and --channels-per-subscriber equal to --channels "
                    "(each subscriber then receives every channel)");
    if (rs_.tgt == target::stomp && o_.capacity > 0) usage_error("--capacity is not for --target stomp");
    if (o_.capacity > 0) {
        o_.subscribers = o_.capacity;
        o_.channels = 1;
        o_.per_subscriber = 1;
        o_.publishers = 1;
    }
    if (o_.per_subscriber > o_.channels) usage_error("--channels-per-subscriber must not exceed --channels");
    if (o_.per_subscriber > 255 && rs_.tgt != target::stomp)
        usage_error("--channels-per-subscriber is at most 255 for Bayeux and nchan subscribers");
    rs_.channels = o_.channels;
    rs_.refused = std::make_unique<std::atomic<std::uint64_t>[]>(static_cast<std::size_t>(o_.channels));
    // The kernel's search for a free ephemeral port grows with the connections one source
    // address already has to the same server; spreading them keeps connecting fast.
    rs_.source_addresses = o_.source_addresses > 0
                               ? o_.source_addresses
                               : std::min(64, 1 + (o_.subscribers + o_.publishers) / 1000);
    subs_per_channel_ = static_cast<double>(o_.subscribers) * o_.per_subscriber / o_.channels;

    std::vector<double> rates;
    if (!o_.delivery_rates.empty()) {
        for (double d : parse_list(o_.delivery_rates, "--delivery-rate")) rates.push_back(d / subs_per_channel_);
    } else if (o_.capacity == 0) {
        rates = parse_list(o_.rates.empty() ? "200" : o_.rates, "--rate");
    }

    // Sockets: the clients need one descriptor each.
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
        rl.rlim_cur < static_cast<rlim_t>(o_.subscribers + o_.publishers + 64))
        usage_error("the open-file limit (" + std::to_string(rl.rlim_cur) + ") is below the " +
                    std::to_string(o_.subscribers + o_.publishers) + " connections asked for");

    if (o_.server_pid) {
        auto s = server();
        if (!s.ok) usage_error("--server-pid: no process " + std::to_string(o_.server_pid));
        rss_before_ = s.rss_kib;
    }
    for (int i = 0; i < o_.threads; ++i) workers_.push_back(std::make_unique<worker>(rs_, i));
    for (auto& w : workers_) w->run();

    std::printf("encke-bench: %s over %s at %s: %d subscribers, %d channels, %d per subscriber, %d publishers%s%s, "
                "%d-byte payload, %d thread(s)\n",
                o_.target.c_str(), rs_.tgt == target::stomp ? "stomp" : o_.transport.c_str(), o_.url.c_str(),
                o_.subscribers, o_.channels, o_.per_subscriber, o_.publishers,
                rs_.stomp_publish ? " over STOMP to " : "",
                rs_.stomp_publish ? (rs_.broker.address().to_string() + ":" + std::to_string(rs_.broker.port()) +
                                     " (" + o_.stomp_prefix + "N)").c_str()
                                  : "",
                o_.payload, o_.threads);
    connect_subscribers();
    if (rs_.ready.load() == 0) {
        std::fprintf(stderr, "encke-bench: no subscriber could connect to %s\n", o_.url.c_str());
        rs_.stopping = true;
        for (auto& w : workers_) w->stop();
        for (auto& w : workers_) w->join();
        return 3;
    }
    connect_publishers();
    sleep_s(o_.settle);
    if (o_.server_pid) rss_connected_ = server().rss_kib;
    if (o_.capacity > 0)
        capacity();
    else
        sweep(rates);
    drain_and_stop();

    report_text();
    if (!o_.json_path.empty()) {
        if (o_.json_path == "-") {
            report_json(std::cout);
        } else {
            std::ofstream f(o_.json_path);
            report_json(f);
            if (!f) {
                std::fprintf(stderr, "encke-bench: cannot write %s\n", o_.json_path.c_str());
                return 2;
            }
        }
    }
    bool ok = rs_.failed.load() == 0 && lost_ == 0 && dups_ == 0 && reordered_ == 0 && rs_.errors.load() == 0 &&
              received_ > 0 && rs_.stomp_receipts_got.load() == rs_.stomp_receipts_asked.load();
    return ok ? 0 : 1;
}

void runner::report_text() const {
    std::printf("integrity: expected %llu, received %llu, lost %llu, duplicates %llu, reordered %llu; "
                "errors %llu, failed connects %llu, re-handshakes %llu, publish failures %llu\n",
                static_cast<unsigned long long>(expected_), static_cast<unsigned long long>(received_),
                static_cast<unsigned long long>(lost_), static_cast<unsigned long long>(dups_),
                static_cast<unsigned long long>(reordered_), static_cast<unsigned long long>(rs_.errors.load()),
                static_cast<unsigned long long>(rs_.failed.load()),
                static_cast<unsigned long long>(rs_.rehandshakes.load()),
                static_cast<unsigned long long>(rs_.publish_failures.load()));
    if (rs_.stomp_publish)
        std::printf("stomp: %llu of %llu receipts asked for by the publishers came back\n",
                    static_cast<unsigned long long>(rs_.stomp_receipts_got.load()),
                    static_cast<unsigned long long>(rs_.stomp_receipts_asked.load()));
    for (auto& st : steps_)
        if (st.lost)
            std::printf("lost at rate %.0f/s: %llu deliveries of that step's messages never arrived\n", st.rate,
                        static_cast<unsigned long long>(st.lost));
    if (o_.server_pid) {
        auto subs = rs_.ready.load() > static_cast<std::uint64_t>(o_.publishers)
                        ? rs_.ready.load() - static_cast<std::uint64_t>(o_.publishers)
                        : 0;
        double per = subs ? (static_cast<double>(rss_connected_) - static_cast<double>(rss_before_)) * 1024.0 /
                                static_cast<double>(subs)
                          : 0;
        std::printf("server rss: %llu KiB before, %llu KiB connected, %.0f bytes per connection\n",
                    static_cast<unsigned long long>(rss_before_), static_cast<unsigned long long>(rss_connected_),
                    per);
    }
    std::printf("generator cpu: %.2f s in all\n", total_gen_cpu_);
}

void runner::report_json(std::ostream& out) const {
    auto num = [](double v) {
        if (!std::isfinite(v)) return std::string("null");
        char b[64];
        std::snprintf(b, sizeof b, "%.6g", v);
        return std::string(b);
    };
    auto ready = rs_.ready.load() >= static_cast<std::uint64_t>(o_.publishers)
                     ? rs_.ready.load() - static_cast<std::uint64_t>(o_.publishers)
                     : 0;
    out << "{\"tool\":\"encke-bench\",\"target\":\"" << o_.target << "\",\"transport\":\""
        << (rs_.tgt == target::stomp ? std::string("stomp") : o_.transport) << "\",\"url\":\"" << o_.url << "\",\n";
    if (rs_.stomp_publish)
        out << "\"stomp\":{\"broker\":\"" << rs_.broker.address().to_string() << ":" << rs_.broker.port()
            << "\",\"destination_prefix\":\"" << o_.stomp_prefix << "\",\"receipts_asked\":"
            << rs_.stomp_receipts_asked.load() << ",\"receipts_got\":" << rs_.stomp_receipts_got.load() << "},\n";
    out << "\"topology\":{\"subscribers\":" << o_.subscribers
        << ",\"channels\":" << o_.channels << ",\"channels_per_subscriber\":" << o_.per_subscriber
        << ",\"publishers\":" << o_.publishers << ",\"payload\":" << o_.payload << ",\"threads\":" << o_.threads
        << "},\n\"connect\":{\"subscribers\":" << ready << ",\"seconds\":" << num(connect_seconds_)
        << ",\"per_second\":" << num(connect_seconds_ > 0 ? static_cast<double>(ready) / connect_seconds_ : 0)
        << ",\"failed\":" << rs_.failed.load() << "},\n\"server\":";
    if (o_.server_pid) {
        out << "{\"pid\":" << o_.server_pid << ",\"rss_before_kib\":" << rss_before_
            << ",\"rss_connected_kib\":" << rss_connected_ << ",\"rss_per_subscriber_bytes\":"
            << num(ready ? (static_cast<double>(rss_connected_) - static_cast<double>(rss_before_)) * 1024.0 /
                               static_cast<double>(ready)
                         : 0)
            << "}";
    } else {
        out << "null";
    }
    out << ",\n\"steps\":[";
    const step_result* best = nullptr;
    for (std::size_t i = 0; i < steps_.size(); ++i) {
        auto& r = steps_[i];
        if (i) out << ",";
        out << "\n {\"rate\":" << num(r.rate) << ",\"target_deliveries_per_s\":" << num(r.target_deliveries)
            << ",\"published\":" << r.published << ",\"delivered\":" << r.delivered
            << ",\"seconds\":" << num(r.seconds) << ",\"delivered_per_s\":" << num(r.delivered_per_s)
            << ",\"latency_us\":{\"p50\":" << num(r.p50) << ",\"p90\":" << num(r.p90) << ",\"p99\":" << num(r.p99)
            << ",\"p999\":" << num(r.p999) << ",\"max\":" << num(r.max) << "}"
            << ",\"server_cpu_s\":" << (r.server_cpu_s >= 0 ? num(r.server_cpu_s) : "null")
            << ",\"server_cpu_us_per_delivery\":"
            << (r.server_cpu_us_per_delivery >= 0 ? num(r.server_cpu_us_per_delivery) : "null")
            << ",\"server_peak_rss_kib\":" << r.server_peak_rss_kib
            << ",\"broker_cpu_s\":" << (r.broker_cpu_s >= 0 ? num(r.broker_cpu_s) : "null")
            << ",\"machine_cpu_s\":" << num(r.machine_cpu_s) << ",\"generator_cpu_s\":"
            << num(r.generator_cpu_s) << ",\"generator_cpu_util\":" << num(r.generator_util)
            << ",\"generator_bottleneck\":" << (r.generator_bottleneck ? "true" : "false")
            << ",\"lost\":" << r.lost << "}";
        // The ceiling: the best rate whose p99 is within the limit and whose own messages all arrived
        // (a server that loses messages only when overloaded still has a ceiling below that).
        bool good = r.p99 <= o_.p99_limit_ms * 1000 && r.delivered_per_s >= 0.8 * r.target_deliveries && r.lost == 0;
        if (good && (!best || r.delivered_per_s > best->delivered_per_s)) best = &r;
    }
    out << "],\n\"ceiling\":";
    if (best)
        out << "{\"delivered_per_s\":" << num(best->delivered_per_s) << ",\"rate\":" << num(best->rate)
            << ",\"p99_us\":" << num(best->p99) << "}";
    else
        out << "null";
    out << ",\n\"integrity\":{\"expected\":" << expected_ << ",\"received\":" << received_ << ",\"lost\":" << lost_
        << ",\"duplicates\":" << dups_ << ",\"reordered\":" << reordered_ << ",\"errors\":" << rs_.errors.load()
        << ",\"rehandshakes\":" << rs_.rehandshakes.load() << ",\"publish_failures\":"
        << rs_.publish_failures.load() << "},\n\"capacity\":";
    if (o_.capacity > 0)
        out << "{\"connections\":" << ready << ",\"rss_per_connection_bytes\":"
            << num(ready ? (static_cast<double>(rss_connected_) - static_cast<double>(rss_before_)) * 1024.0 /
                               static_cast<double>(ready)
                         : 0)
            << ",\"broadcast_ms\":" << num(broadcast_ms_) << ",\"received\":" << broadcast_received_ << "}";
    else
        out << "null";
    bool ok = rs_.failed.load() == 0 && lost_ == 0 && dups_ == 0 && reordered_ == 0 && rs_.errors.load() == 0 &&
              received_ > 0 && rs_.stomp_receipts_got.load() == rs_.stomp_receipts_asked.load();
    out << ",\n\"generator_cpu_s\":" << num(total_gen_cpu_) << ",\"ok\":" << (ok ? "true" : "false") << "}\n";
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
    bench::options o;
    CLI::App app{"encke-bench: load generator for Bayeux servers and nginx+nchan"};
    app.add_option("--target", o.target, "bayeux, nchan, or stomp (subscribers on a STOMP broker: the baseline)")
        ->check(CLI::IsMember({"bayeux", "nchan", "stomp"}));
    app.add_option("--url", o.url,
                   "Bayeux endpoint (http://127.0.0.1:8080/cometd), nchan base URL, or stomp://HOST:PORT "
                   "(--target stomp; default: --publish-stomp's broker)");
    app.add_option("--transport", o.transport, "websocket or long-polling")
        ->check(CLI::IsMember({"websocket", "long-polling"}));
    app.add_option("--subscribers", o.subscribers, "subscriber connections")->check(CLI::Range(1, 1000000));
    app.add_option("--channels", o.channels, "channels")->check(CLI::Range(1, 100000));
    app.add_option("--channels-per-subscriber", o.per_subscriber,
                   "channels each subscriber joins (at most 255, but any number for --target stomp)")
        ->check(CLI::Range(1, 100000));
    app.add_option("--publishers", o.publishers, "publisher connections")->check(CLI::Range(1, 1000));
    app.add_option("--rate", o.rates, "publishes per second; a comma-separated list is a sweep");
    app.add_option("--delivery-rate", o.delivery_rates,
                   "deliveries per second (publish rate times subscribers per channel); a list is a sweep");
    app.add_option("--payload", o.payload, "bytes of each message's data object")->check(CLI::Range(40, 1 << 20));
    app.add_option("--duration", o.duration, "measured seconds per rate")->check(CLI::Range(0.1, 86400.0));
    app.add_option("--warmup", o.warmup, "seconds at each rate before measuring")->check(CLI::Range(0.0, 3600.0));
    app.add_option("--drain", o.drain, "seconds to wait for messages in flight at the end")
        ->check(CLI::Range(0.0, 600.0));
    app.add_option("--settle", o.settle, "seconds between connecting and publishing")->check(CLI::Range(0.0, 600.0));
    app.add_option("--connect-rate", o.connect_rate, "new subscribers per second (0: as fast as possible)")
        ->check(CLI::Range(0.0, 1e7));
    app.add_option("--connect-window", o.connect_window, "subscriber set-ups in flight when --connect-rate is 0")
        ->check(CLI::Range(1, 100000));
    app.add_option("--threads", o.threads, "event-loop threads")->check(CLI::Range(1, 64));
    app.add_option("--server-pid", o.server_pid, "server process: CPU and memory (children summed)")
        ->check(CLI::Range(1, 1 << 30));
    app.add_option("--p99-limit-ms", o.p99_limit_ms, "a sweep stops after a rate whose p99 exceeds this")
        ->check(CLI::Range(0.001, 1e6));
    app.add_option("--capacity", o.capacity, "capacity mode: ramp this many idle subscribers, then one broadcast")
        ->check(CLI::Range(1, 1000000));
    app.add_option("--source-addresses", o.source_addresses, "spread connections over 127.0.0.1..127.0.0.K (0: one address per 1,000 connections)")
        ->check(CLI::Range(0, 254));
    app.add_option("--channel-prefix", o.channel_prefix, "Bayeux channel N is this + N")
        ->check([](const std::string& v) { return v.starts_with("/") && v.ends_with("/") ? "" : "must start and end with '/'"; });
    app.add_option("--broker-pid", o.broker_pid, "a message broker's process: its CPU too (children summed)")
        ->check(CLI::Range(1, 1 << 30));
    app.add_option("--publish-stomp", o.publish_stomp,
                   "HOST:PORT of a STOMP broker: publishers SEND there (to --stomp-destination-prefix + channel)");
    app.add_option("--stomp-destination-prefix", o.stomp_prefix, "STOMP destination of channel N is this + N");
    app.add_option("--stomp-vhost", o.stomp_vhost, "STOMP CONNECT host header (RabbitMQ: /)");
    app.add_option("--stomp-subscription", o.stomp_subscription,
                   "--target stomp: one subscription to this wildcard (e.g. /topic/bench.>) instead of one per channel");
    app.add_option("--stomp-ack", o.stomp_ack,
                   "--target stomp: ack:auto, or ack:client with a cumulative ACK every 100 messages (prefetch 1000)")
        ->check(CLI::IsMember({"auto", "client"}));
    app.add_option("--stomp-receipt-every", o.stomp_receipt_every,
                   "STOMP publishers ask for a receipt every N SENDs (0: never)")
        ->check(CLI::Range(0, 1 << 30));
    app.add_option("--json", o.json_path, "write a JSON report to this file ('-' for stdout)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);
        std::fprintf(stderr, "encke-bench: %s\n", e.what());
        return 2;
    }
    if (!o.rates.empty() && !o.delivery_rates.empty()) {
        std::fprintf(stderr, "encke-bench: give --rate or --delivery-rate, not both\n");
        return 2;
    }
    std::signal(SIGPIPE, SIG_IGN);
    bench::runner r(std::move(o));
    return r.run();
}
