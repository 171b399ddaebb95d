#include "server/config.hpp"

#include <toml++/toml.h>

#include <fstream>
#include <functional>
#include <map>
#include <sstream>

namespace encke::server {

namespace {

struct reader {
    const std::string& source;

    [[noreturn]] void fail(const std::string& key, const std::string& what) const {
        throw config_error(source + ": " + key + ": " + what);
    }

    std::int64_t integer(const toml::node& n, const std::string& key, std::int64_t lo,
                         std::int64_t hi) const {
        auto v = n.value_exact<std::int64_t>();
        if (!v) fail(key, "expected an integer");
        if (*v < lo || *v > hi)
            fail(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                          ", got " + std::to_string(*v));
        return *v;
    }
    bool boolean(const toml::node& n, const std::string& key) const {
        auto v = n.value_exact<bool>();
        if (!v) fail(key, "expected true or false");
        return *v;
    }
    std::string string(const toml::node& n, const std::string& key) const {
        auto v = n.value_exact<std::string>();
        if (!v) fail(key, "expected a string");
        return *v;
    }
    std::vector<std::string> strings(const toml::node& n, const std::string& key) const {
        auto* a = n.as_array();
        if (!a) fail(key, "expected an array of strings");
        std::vector<std::string> out;
        for (auto& el : *a) {
            auto v = el.value_exact<std::string>();
            if (!v) fail(key, "expected an array of strings");
            out.push_back(*v);
        }
        return out;
    }
};

using setter = std::function<void(config&, const toml::node&, const reader&, const std::string&)>;

constexpr std::int64_t day_ms = 86'400'000;

const std::map<std::string, std::map<std::string, setter>>& schema() {
    static const std::map<std::string, std::map<std::string, setter>> s = {
        {"server",
         {
             {"listen", [](config& c, auto& n, auto& r, auto& k) {
                  c.listen = r.string(n, k);
                  try {
                      split_listen(c.listen);
                  } catch (const config_error& e) {
                      r.fail(k, e.what());
                  } }},
             {"threads", [](config& c, auto& n, auto& r, auto& k) { c.threads = static_cast<unsigned>(r.integer(n, k, 0, 36)); }},
             {"web_root", [](config& c, auto& n, auto& r, auto& k) { c.http.web_root = r.string(n, k); }},
             {"max_connections", [](config& c, auto& n, auto& r, auto& k) { c.http.max_connections = r.integer(n, k, 1, 10'000'000); }},
             {"header_timeout_ms", [](config& c, auto& n, auto& r, auto& k) { c.http.header_timeout_ms = r.integer(n, k, 100, day_ms); }},
             {"body_timeout_ms", [](config& c, auto& n, auto& r, auto& k) { c.http.body_timeout_ms = r.integer(n, k, 100, day_ms); }},
             {"idle_timeout_ms", [](config& c, auto& n, auto& r, auto& k) { c.http.idle_timeout_ms = r.integer(n, k, 100, day_ms); }},
             {"max_header_bytes", [](config& c, auto& n, auto& r, auto& k) { c.http.max_header_bytes = static_cast<std::size_t>(r.integer(n, k, 1024, 1 << 20)); }},
             {"max_body_bytes", [](config& c, auto& n, auto& r, auto& k) { c.http.max_body_bytes = static_cast<std::size_t>(r.integer(n, k, 1024, 1LL << 30)); }},
             {"shutdown_timeout_ms", [](config& c, auto& n, auto& r, auto& k) { c.http.shutdown_timeout_ms = r.integer(n, k, 0, 600'000); }},
         }},
        {"bayeux",
         {
             {"path", [](config& c, auto& n, auto& r, auto& k) {
                  auto p = r.string(n, k);
                  if (p.size() < 2 || p[0] != '/' || p.back() == '/' || p.find_first_of("?# ") != std::string::npos)
                      r.fail(k, "must start with '/', not end with '/', and hold no '?', '#' or space");
                  c.bayeux.path = p; }},
             {"timeout_ms", [](config& c, auto& n, auto& r, auto& k) { c.bayeux.timeout_ms = r.integer(n, k, 0, 600'000); }},
             {"interval_ms", [](config& c, auto& n, auto& r, auto& k) { c.bayeux.interval_ms = r.integer(n, k, 0, 600'000); }},
             {"max_interval_ms", [](config& c, auto& n, auto& r, auto& k) { c.bayeux.max_interval_ms = r.integer(n, k, 100, day_ms); }},
             {"max_messages_per_batch", [](config& c, auto& n, auto& r, auto& k) { c.bayeux.max_messages_per_batch = static_cast<std::size_t>(r.integer(n, k, 1, 1'000'000)); }},
             {"max_json_depth", [](config& c, auto& n, auto& r, auto& k) { c.bayeux.max_json_depth = static_cast<std::size_t>(r.integer(n, k, 4, 1024)); }},
             {"max_queue_bytes", [](config& c, auto& n, auto& r, auto& k) { c.bayeux.max_queue_bytes = static_cast<std::size_t>(r.integer(n, k, 1024, 1LL << 34)); }},
             {"max_subscriptions_per_session", [](config& c, auto& n, auto& r, auto& k) { c.bayeux.max_subscriptions_per_session = static_cast<std::size_t>(r.integer(n, k, 1, 10'000'000)); }},
             {"broadcast_to_publisher", [](config& c, auto& n, auto& r, auto& k) { c.bayeux.broadcast_to_publisher = r.boolean(n, k); }},
             {"max_sessions_per_browser", [](config& c, auto& n, auto& r, auto& k) { c.bayeux.max_sessions_per_browser = r.integer(n, k, 0, 1'000'000); }},
             {"multi_session_interval_ms", [](config& c, auto& n, auto& r, auto& k) { c.bayeux.multi_session_interval_ms = r.integer(n, k, 0, 600'000); }},
             {"duplicate_connect_status", [](config& c, auto& n, auto& r, auto& k) { c.bayeux.duplicate_connect_status = static_cast<int>(r.integer(n, k, 400, 599));
                  if (c.bayeux.duplicate_connect_status == 408) r.fail(k, "408 is refused: browsers retry it on their own"); }},
             {"browser_cookie", [](config& c, auto& n, auto& r, auto& k) {
                  auto v = r.string(n, k);
                  if (v.empty() || v.find_first_of("=; ,\t\"") != std::string::npos) r.fail(k, "not a valid cookie name");
                  c.bayeux.browser_cookie = v; }},
             {"require_browser_cookie", [](config& c, auto& n, auto& r, auto& k) { c.bayeux.require_browser_cookie = r.boolean(n, k); }},
             {"strip_ext_keys", [](config& c, auto& n, auto& r, auto& k) { c.bayeux.strip_ext_keys = r.strings(n, k); }},
         }},
        {"websocket",
         {
             {"max_message_bytes", [](config& c, auto& n, auto& r, auto& k) { c.http.ws_max_message_bytes = static_cast<std::size_t>(r.integer(n, k, 1024, 1LL << 30)); }},
             {"idle_timeout_ms", [](config& c, auto& n, auto& r, auto& k) { c.http.ws_idle_timeout_ms = r.integer(n, k, 1000, day_ms); }},
         }},
        {"cors",
         {
             {"allowed_origins", [](config& c, auto& n, auto& r, auto& k) { c.http.allowed_origins = r.strings(n, k); }},
         }},
        {"log",
         {
             {"level", [](config& c, auto& n, auto& r, auto& k) {
                  auto v = r.string(n, k);
                  static const char* levels[] = {"trace", "debug", "info", "warn", "error", "off"};
                  if (std::find(std::begin(levels), std::end(levels), v) == std::end(levels))
                      r.fail(k, "must be one of trace, debug, info, warn, error, off");
                  c.log_level = v; }},
         }},
    };
    return s;
}

}  // namespace

std::pair<std::string, unsigned short> split_listen(const std::string& listen) {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size())
        throw config_error("listen address '" + listen + "' must be HOST:PORT");
    std::string host = listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    std::string port = listen.substr(colon + 1);
    if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 ||
        std::stoul(port) > 65535)
        throw config_error("listen address '" + listen + "': bad port '" + port + "'");
    return {host, static_cast<unsigned short>(std::stoul(port))};
}

config parse_config(std::string_view text, const std::string& source) {
    config c;
    toml::table root;
    try {
        root = toml::parse(text, source);
    } catch (const toml::parse_error& e) {
        std::ostringstream where;
        where << e.source().begin;
        throw config_error(source + ":" + std::to_string(e.source().begin.line) + ": " +
                           std::string(e.description()));
    }
    reader r{source};
    auto& s = schema();
    for (auto& [section_key, section_node] : root) {
        std::string section(section_key.str());
        auto sec = s.find(section);
        if (sec == s.end()) throw config_error(source + ": unknown section [" + section + "]");
        auto* table = section_node.as_table();
        if (!table) throw config_error(source + ": '" + section + "' must be a table");
        for (auto& [key, node] : *table) {
            std::string name = section + "." + std::string(key.str());
            auto it = sec->second.find(std::string(key.str()));
            if (it == sec->second.end()) throw config_error(source + ": unknown key '" + name + "'");
            it->second(c, node, r, name);
        }
    }
    validate(c);
    return c;
}

config load_config_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw config_error("cannot read config file '" + path + "'");
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_config(ss.str(), path);
}

void validate(const config& c) {
    split_listen(c.listen);
    if (c.http.ws_idle_timeout_ms <= c.bayeux.timeout_ms)
        throw config_error("websocket.idle_timeout_ms (" + std::to_string(c.http.ws_idle_timeout_ms) +
                           ") must exceed bayeux.timeout_ms (" + std::to_string(c.bayeux.timeout_ms) +
                           "): a client's socket is quiet while its connect is held");
    if (c.threads > 36) throw config_error("server.threads must be at most 36");
}

}  // namespace encke::server
