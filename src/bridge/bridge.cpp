#include "bridge/bridge.hpp"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <mutex>

#include "engine/engine.hpp"
#include "json/writer.hpp"

namespace encke::bridge {

namespace {

std::int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A connector's error as the Bayeux reply's `error` (PROTOCOL.md §2.4: code:args:message).
std::string bayeux_error(std::string_view e) {
    if (e == "broker_unavailable") return "503::broker_unavailable";
    if (e == "broker_timeout") return "504::broker_timeout";
    return "502::" + std::string(e);
}

}  // namespace

std::string parse_url(const std::string& url, connector_options& o) {
    auto sep = url.find("://");
    if (sep == std::string::npos) return "must look like stomp://host:port or amqp://host:port";
    o.scheme = url.substr(0, sep);
    unsigned short port = 0;
    if (o.scheme == "stomp") port = 61613;
    else if (o.scheme == "stomp+ssl") port = 61612;
    else if (o.scheme == "amqp") port = 5672;
    else if (o.scheme == "amqps") port = 5671;
    else return "scheme '" + o.scheme + "' is not one of stomp, stomp+ssl, amqp, amqps";
    std::string rest = url.substr(sep + 3);
    if (!rest.empty() && rest.back() == '/') rest.pop_back();
    if (rest.find('@') != std::string::npos) return "holds credentials; set login and passcode instead";
    if (rest.find('/') != std::string::npos) return "has a path; set vhost instead";
    std::string host = rest;
    std::string port_text;
    if (!rest.empty() && rest.front() == '[') {
        auto close = rest.find(']');
        if (close == std::string::npos) return "has an unclosed '[' in its host";
        host = rest.substr(1, close - 1);
        if (close + 1 < rest.size()) {
            if (rest[close + 1] != ':') return "has something after its host that is not :port";
            port_text = rest.substr(close + 2);
            if (port_text.empty()) return "has an empty port";
        }
    } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
        host = rest.substr(0, colon);
        port_text = rest.substr(colon + 1);
        if (port_text.empty()) return "has an empty port";
    }
    if (!port_text.empty()) {
        if (port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos ||
            std::stoul(port_text) == 0 || std::stoul(port_text) > 65535)
            return "has a bad port '" + port_text + "'";
        port = static_cast<unsigned short>(std::stoul(port_text));
    }
    if (host.empty()) return "has no host";
    o.host = host;
    o.port = port;
    return {};
}

struct bridges::one final : connector_listener {
    settings s;
    engine::engine& eng;
    std::vector<std::size_t> inbound;            // source index -> route index
    std::vector<destination_pattern> patterns;   // source index -> its route's `from`
    std::unique_ptr<connector> conn;

    std::atomic<int> state{static_cast<int>(link_state::stopped)};
    std::atomic<std::int64_t> since{now_s()};
    std::atomic<std::uint64_t> in{0}, out{0}, refused_in{0}, failed_out{0}, reconnects{0}, out_links{0};
    mutable std::mutex detail_mutex;
    std::string detail;
    bool was_connected = false;  // connector thread only

    // Connector thread only.
    simdjson::dom::parser parser;
    std::vector<engine::engine::injected> batch;  // accepted messages not handed over yet
    std::vector<std::function<void(bool)>> settles;
    std::chrono::steady_clock::time_point last_refusal_log{};
    std::uint64_t refusals_not_logged = 0;

    one(settings st, engine::engine& e, std::size_t max_depth) : s(std::move(st)), eng(e) {
        if (parser.allocate(4096, max_depth) != simdjson::SUCCESS) throw std::bad_alloc();
        for (std::size_t i = 0; i < s.routes.size(); ++i) {
            auto& r = s.routes[i];
            if (r.dir != direction::inbound) continue;
            destination_pattern p;
            parse_destination(r.from, true, p);
            inbound.push_back(i);
            patterns.push_back(std::move(p));
            s.connector.sources.push_back({r.from, r.durable, r.subscription});
        }
        s.connector.name = s.name;
        for (auto& r : s.routes)
            s.connector.max_frame_bytes = std::max(s.connector.max_frame_bytes, 2 * r.max_bytes + 4096);
        conn = s.connector.scheme.starts_with("amqp") ? make_amqp_connector(s.connector, *this)
                                                       : make_stomp_connector(s.connector, *this);
    }

    void on_out_links(std::size_t n) override { out_links.store(n, std::memory_order_relaxed); }

    void on_state(link_state st, const std::string& why) override {
        state.store(static_cast<int>(st), std::memory_order_relaxed);
        since.store(now_s(), std::memory_order_relaxed);
        {
            std::lock_guard lock(detail_mutex);
            detail = why;
        }
        switch (st) {
            case link_state::connecting:
                spdlog::info("bridge {}: connecting to {}", s.name, s.url);
                break;
            case link_state::connected:
                if (was_connected) reconnects.fetch_add(1, std::memory_order_relaxed);
                was_connected = true;
                spdlog::info("bridge {}: connected to {}{}{}", s.name, s.url, why.empty() ? "" : ": ", why);
                break;
            case link_state::disconnected:
                spdlog::warn("bridge {}: disconnected from {}: {} (retrying with backoff; browsers are still served)",
                             s.name, s.url, why);
                break;
            case link_state::stopped:
                spdlog::info("bridge {}: stopped", s.name);
                break;
        }
    }

    void refuse(const route& r, const broker_message& m, std::string_view why,
                const std::function<void(bool)>& settle) {
        refused_in.fetch_add(1, std::memory_order_relaxed);
        // One line a second at most: a stream of bad messages must not flood the log.
        auto now = std::chrono::steady_clock::now();
        if (now - last_refusal_log >= std::chrono::seconds(1)) {
            spdlog::warn("bridge {}: refused a message from {} (route from \"{}\"): {}{}", s.name,
                         m.destination, r.from, why,
                         refusals_not_logged ? " (and " + std::to_string(refusals_not_logged) +
                                                   " more refused since the last line)"
                                             : std::string());
            last_refusal_log = now;
            refusals_not_logged = 0;
        } else {
            ++refusals_not_logged;
        }
        settle(false);
    }

    bool is_json(const std::string& body) {
        simdjson::padded_string padded(body);
        simdjson::dom::element e;
        return parser.parse(padded).get(e) == simdjson::SUCCESS;
    }

    void on_message(std::size_t index, broker_message m, std::function<void(bool)> settle) override {
        if (index >= inbound.size()) return settle(false);
        const route& r = s.routes[inbound[index]];
        if (!m.problem.empty()) return refuse(r, m, m.problem, settle);
        auto channel = channel_for(r, patterns[index], m.destination);
        if (!channel) return refuse(r, m, "its destination does not map to a valid channel", settle);
        if (m.body.size() > r.max_bytes)
            return refuse(r, m, "its body of " + std::to_string(m.body.size()) + " bytes is over max_bytes (" +
                                    std::to_string(r.max_bytes) + ")", settle);
        if (!simdjson::validate_utf8(m.body.data(), m.body.size()))
            return refuse(r, m, "its body is not UTF-8 text", settle);
        std::string d;
        d.reserve(m.body.size() + channel->size() + 64);
        d += "{\"channel\":";
        json::append_string(d, *channel);
        d += ",\"data\":";
        if (is_json(m.body)) {
            d += m.body;  // byte for byte
        } else if (r.refuse_non_json) {
            return refuse(r, m, "its body is not JSON (the route has non_json = \"refuse\")", settle);
        } else {
            json::append_string(d, m.body);
        }
        bool ext = false;
        for (auto& name : r.headers) {
            const std::string* value = nullptr;
            if (name == "destination") value = &m.destination;
            for (auto& h : m.headers)
                if (!value && h.name == name) value = &h.value;
            if (!value) continue;
            d += ext ? "," : ",\"ext\":{\"broker\":{";
            ext = true;
            json::append_key(d, name);
            json::append_string(d, *value);
        }
        if (ext) d += "}}";
        d += '}';
        in.fetch_add(1, std::memory_order_relaxed);
        batch.push_back({std::move(*channel), bayeux::make_frame(std::move(d))});
        settles.push_back(std::move(settle));
    }

    // One hand-over to the shards for what one read brought, and one acceptance for all of it.
    void on_batch_end() override {
        if (batch.empty()) return;
        eng.inject(std::move(batch), [s = std::move(settles)] {
            for (auto& settle : s) settle(true);
        });
        batch.clear();
        settles.clear();
    }

    std::string json() const {
        std::string j = "{\"name\":";
        json::append_string(j, s.name);
        j += ",\"url\":";
        json::append_string(j, s.url);
        j += ",\"state\":\"";
        j += to_string(static_cast<link_state>(state.load(std::memory_order_relaxed)));
        j += "\",\"since\":";
        json::append_int(j, since.load(std::memory_order_relaxed));
        {
            std::lock_guard lock(detail_mutex);
            j += ",\"detail\":";
            json::append_string(j, detail);
        }
        auto num = [&j](const char* k, const std::atomic<std::uint64_t>& v) {
            j += ",\"";
            j += k;
            j += "\":";
            j += std::to_string(v.load(std::memory_order_relaxed));
        };
        num("messages_in", in);
        num("messages_out", out);
        num("refused_in", refused_in);
        num("failed_out", failed_out);
        num("reconnects", reconnects);
        num("out_links", out_links);
        j += '}';
        return j;
    }
};

bridges::bridges(std::vector<settings> all, engine::engine& eng, std::size_t max_json_depth)
    : engine_(eng) {
    for (auto& s : all) all_.push_back(std::make_unique<one>(std::move(s), eng, max_json_depth));
}

bridges::~bridges() { stop(); }

bool bridges::empty() const noexcept { return all_.empty(); }

void bridges::start() {
    for (auto& b : all_) b->conn->start();
}

void bridges::stop() {
    for (auto& b : all_)
        if (b->conn) b->conn->stop();
}

bool bridges::forward(std::string_view channel, std::string_view data,
                      std::function<void(std::string_view error)> done) {
    for (auto& bp : all_) {
        one* b = bp.get();
        for (auto& r : b->s.routes) {
            if (r.dir != direction::outbound) continue;
            auto dest = destination_for(r, channel);
            if (!dest) continue;
            int shard = engine_.current_shard();
            send_options o;
            o.persistent = r.persistent;
            b->conn->send(std::move(*dest), std::string(data), std::move(o),
                          [b, shard, done = std::move(done)](std::string_view err) {
                              std::string e;
                              if (err.empty()) {
                                  b->out.fetch_add(1, std::memory_order_relaxed);
                              } else {
                                  b->failed_out.fetch_add(1, std::memory_order_relaxed);
                                  e = bayeux_error(err);
                              }
                              if (shard < 0) return done(e);
                              b->eng.post_to(static_cast<unsigned>(shard),
                                             [done, e = std::move(e)] { done(e); });
                          });
            return true;
        }
    }
    return false;
}

std::string bridges::health_json() const {
    std::string j = "[";
    for (std::size_t i = 0; i < all_.size(); ++i) {
        if (i) j += ',';
        j += all_[i]->json();
    }
    j += ']';
    return j;
}

}  // namespace encke::bridge
