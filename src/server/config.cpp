#include "server/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <sstream>

#include "bayeux/channel.hpp"

namespace encke::node {

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

// `v` in double quotes, control characters escaped: an echoed value never breaks the one-line
// error message.
std::string quote_value(std::string_view v) {
    std::string out = "\"";
    for (unsigned char ch : v) {
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += static_cast<char>(ch);
        } else if (ch < 0x20 || ch == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[ch >> 4];
            out += hex[ch & 15];
        } else {
            out += static_cast<char>(ch);
        }
    }
    return out + "\"";
}

// The whole text of a file named in the config. Relative paths are relative to the process's
// working directory (as every path in the file is).
std::string read_file(const reader& r, const std::string& key, const std::string& path) {
    if (path.empty()) r.fail(key, "is empty: name a file");
    std::error_code ec;
    auto st = std::filesystem::status(path, ec);
    if (ec && ec != std::errc::no_such_file_or_directory)
        r.fail(key, "cannot read " + quote_value(path) + ": " + ec.message());
    if (!std::filesystem::exists(st))
        r.fail(key, "cannot read " + quote_value(path) + ": no such file (relative paths start at the working directory)");
    if (!std::filesystem::is_regular_file(st)) r.fail(key, "cannot read " + quote_value(path) + ": not a file");
    std::ifstream in(path, std::ios::binary);
    if (!in) r.fail(key, "cannot read " + quote_value(path) + ": " + std::strerror(errno));
    std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (in.bad()) r.fail(key, "cannot read " + quote_value(path));
    return text;
}

void trim_right(std::string& s) {
    s.erase(s.find_last_not_of(" \t\r\n") + 1);
}

// An API key travels in an Authorization header: visible ASCII only, and long enough that guessing
// is not an option. The key itself is never echoed in a message.
void check_api_key(const reader& r, const std::string& key, const std::string& k) {
    if (k.size() < 16) r.fail(key, "a key must be at least 16 characters, got " + std::to_string(k.size()));
    for (unsigned char ch : k)
        if (ch < 0x21 || ch > 0x7e) r.fail(key, "a key may hold only visible ASCII characters (no spaces)");
}

auth::who parse_who(const toml::node& n, const reader& r, const std::string& key) {
    auto v = r.string(n, key);
    if (v == "anyone") return auth::who::anyone;
    if (v == "authenticated") return auth::who::authenticated;
    if (v == "none") return auth::who::none;
    if (v == "owner") return auth::who::owner;
    r.fail(key, "must be one of anyone, authenticated, none, owner; got " + quote_value(v));
}

// [channels]: the defaults apply to channels no pattern names, so there is no {user} to own.
auth::who parse_default_who(const toml::node& n, const reader& r, const std::string& key) {
    auto w = parse_who(n, r, key);
    if (w == auth::who::owner) r.fail(key, "\"owner\" needs a [[channel]] pattern with a {user} segment");
    return w;
}

bool is_token_char(char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
}

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
        {"auth",
         {
             {"mode", [](config& c, auto& n, auto& r, auto& k) {
                  auto v = r.string(n, k);
                  if (v == "none") c.auth.kind = auth::mode::none;
                  else if (v == "token") c.auth.kind = auth::mode::token;
                  else if (v == "jwt") c.auth.kind = auth::mode::jwt;
                  else if (v == "webhook") c.auth.kind = auth::mode::webhook;
                  else r.fail(k, "must be one of none, token, jwt, webhook; got " + quote_value(v)); }},
             {"ext_field", [](config& c, auto& n, auto& r, auto& k) {
                  c.auth.ext_field = r.string(n, k);
                  if (c.auth.ext_field.empty()) r.fail(k, "must not be empty"); }},
             {"allow_anonymous", [](config& c, auto& n, auto& r, auto& k) { c.auth.allow_anonymous = r.boolean(n, k); }},
             {"secret", [](config& c, auto& n, auto& r, auto& k) { c.auth.secret = r.string(n, k); }},
             {"secret_file", [](config& c, auto& n, auto& r, auto& k) {
                  auto path = r.string(n, k);
                  c.auth.secret = read_file(r, k, path);
                  trim_right(c.auth.secret);
                  if (c.auth.secret.empty()) r.fail(k, quote_value(path) + " holds no secret"); }},
             {"algorithm", [](config& c, auto& n, auto& r, auto& k) {
                  auto v = r.string(n, k);
                  if (v != "HS256" && v != "RS256") r.fail(k, "must be \"HS256\" or \"RS256\"; got " + quote_value(v));
                  c.auth.algorithm = v; }},
             {"public_key_file", [](config& c, auto& n, auto& r, auto& k) {
                  auto path = r.string(n, k);
                  c.auth.public_key_pem = read_file(r, k, path);
                  if (c.auth.public_key_pem.find("-----BEGIN ") == std::string::npos)
                      r.fail(k, quote_value(path) + " is not a PEM file (no -----BEGIN line)"); }},
             {"issuer", [](config& c, auto& n, auto& r, auto& k) { c.auth.issuer = r.string(n, k); }},
             {"audience", [](config& c, auto& n, auto& r, auto& k) { c.auth.audience = r.string(n, k); }},
             {"leeway_s", [](config& c, auto& n, auto& r, auto& k) { c.auth.leeway_s = r.integer(n, k, 0, 3600); }},
             {"webhook_url", [](config& c, auto& n, auto& r, auto& k) {
                  auto v = r.string(n, k);
                  if (!v.empty() && !v.starts_with("http://") && !v.starts_with("https://"))
                      r.fail(k, "must start with http:// or https://; got " + quote_value(v));
                  c.auth.webhook_url = v; }},
             {"webhook_timeout_ms", [](config& c, auto& n, auto& r, auto& k) { c.auth.webhook_timeout_ms = r.integer(n, k, 100, 60'000); }},
             {"webhook_cache_ms", [](config& c, auto& n, auto& r, auto& k) { c.auth.webhook_cache_ms = r.integer(n, k, 0, 3'600'000); }},
             {"webhook_headers", [](config& c, auto& n, auto& r, auto& k) {
                  auto v = r.strings(n, k);
                  for (auto& h : v)
                      if (h.empty() || !std::all_of(h.begin(), h.end(), is_token_char))
                          r.fail(k, quote_value(h) + " is not a header name");
                  c.auth.webhook_headers = std::move(v); }},
             {"identity_ext_key", [](config& c, auto& n, auto& r, auto& k) {
                  auto v = r.string(n, k);
                  if (v.empty() || v.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != std::string::npos)
                      r.fail(k, "must be letters, digits, '_' or '-'; got " + quote_value(v));
                  c.bayeux.identity_ext_key = v; }},
         }},
        {"channels",
         {
             {"subscribe", [](config& c, auto& n, auto& r, auto& k) { c.auth.default_subscribe = parse_default_who(n, r, k); }},
             {"publish", [](config& c, auto& n, auto& r, auto& k) { c.auth.default_publish = parse_default_who(n, r, k); }},
         }},
        {"api",
         {
             {"keys", [](config& c, auto& n, auto& r, auto& k) {
                  auto v = r.strings(n, k);
                  for (std::size_t i = 0; i < v.size(); ++i) check_api_key(r, k + "[" + std::to_string(i) + "]", v[i]);
                  c.http.api_keys.insert(c.http.api_keys.end(), v.begin(), v.end()); }},
             {"key_file", [](config& c, auto& n, auto& r, auto& k) {
                  auto path = r.string(n, k);
                  std::istringstream in(read_file(r, k, path));
                  std::string line;
                  std::size_t found = 0;
                  for (int no = 1; std::getline(in, line); ++no) {
                      trim_right(line);
                      line.erase(0, line.find_first_not_of(" \t"));
                      if (line.empty() || line[0] == '#') continue;
                      check_api_key(r, k + " (" + quote_value(path) + " line " + std::to_string(no) + ")", line);
                      c.http.api_keys.push_back(line);
                      ++found;
                  }
                  if (!found) r.fail(k, quote_value(path) + " holds no keys"); }},
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

// [[bridge]] tables, each with [[bridge.route]] tables (docs/bridge.md).
void parse_bridges(config& c, const toml::node& node, const reader& r) {
    auto* arr = node.as_array();
    if (!arr || !arr->is_array_of_tables()) r.fail("bridge", "must be written as [[bridge]] tables");
    for (std::size_t i = 0; i < arr->size(); ++i) {
        auto& t = *arr->get(i)->as_table();
        bridge::settings b;
        std::string where = "bridge[" + std::to_string(i) + "]";
        if (auto* n = t.get("name")) b.name = r.string(*n, where + ".name");
        if (b.name.empty() || b.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos)
            r.fail(where + ".name", "is required: letters, digits, '.', '_' or '-'");
        for (auto& other : c.bridges)
            if (other.name == b.name) r.fail(where + ".name", "'" + b.name + "' is used by two bridges");
        where = "bridge " + b.name;
        auto& o = b.connector;
        std::string passcode_env;
        for (auto& [key, n] : t) {
            std::string k(key.str());
            std::string name = where + "." + k;
            if (k == "name" || k == "route") continue;
            if (k == "url") b.url = r.string(n, name);
            else if (k == "login") o.login = r.string(n, name);
            else if (k == "passcode") o.passcode = r.string(n, name);
            else if (k == "passcode_env") passcode_env = r.string(n, name);
            else if (k == "vhost") o.vhost = r.string(n, name);
            else if (k == "client_id") o.client_id = r.string(n, name);
            else if (k == "heartbeat_ms") {
                o.heartbeat = std::chrono::milliseconds(r.integer(n, name, 0, 3'600'000));
                if (o.heartbeat.count() && o.heartbeat.count() < 1000) r.fail(name, "must be 0 (none) or at least 1000");
            }
            else if (k == "connect_timeout_ms") o.connect_timeout = std::chrono::milliseconds(r.integer(n, name, 100, 600'000));
            else if (k == "reconnect_min_ms") o.reconnect_min = std::chrono::milliseconds(r.integer(n, name, 10, 600'000));
            else if (k == "reconnect_max_ms") o.reconnect_max = std::chrono::milliseconds(r.integer(n, name, 10, 3'600'000));
            else if (k == "send_timeout_ms") o.send_timeout = std::chrono::milliseconds(r.integer(n, name, 100, 600'000));
            else if (k == "prefetch") o.prefetch = static_cast<unsigned>(r.integer(n, name, 1, 1'000'000));
            else if (k == "ack") {
                o.ack_mode = r.string(n, name);
                if (o.ack_mode != "client" && o.ack_mode != "client-individual")
                    r.fail(name, "must be \"client\" or \"client-individual\"");
            } else if (k == "tls_verify") o.tls_verify = r.boolean(n, name);
            else if (k == "tls_ca_file") o.tls_ca_file = r.string(n, name);
            else r.fail(name, "unknown key");
        }
        if (b.url.empty()) r.fail(where + ".url", "is required (stomp://host:port or amqp://host:port)");
        if (auto e = bridge::parse_url(b.url, o); !e.empty()) r.fail(where + ".url", "'" + b.url + "' " + e);
        if (!passcode_env.empty()) {
            const char* v = std::getenv(passcode_env.c_str());
            if (!v) r.fail(where + ".passcode_env", "environment variable " + passcode_env + " is not set");
            o.passcode = v;
        }
        for (auto* s : {&o.login, &o.passcode, &o.vhost, &o.client_id})
            if (s->find_first_of("\r\n") != std::string::npos) r.fail(where, "login, passcode, vhost and client_id may not hold line breaks");
        if (o.reconnect_min > o.reconnect_max) r.fail(where + ".reconnect_min_ms", "must not exceed reconnect_max_ms");
        auto* routes = t.get("route");
        if (!routes) r.fail(where, "has no [[bridge.route]]: it would do nothing");
        auto* rarr = routes->as_array();
        if (!rarr || !rarr->is_array_of_tables()) r.fail(where + ".route", "must be written as [[bridge.route]] tables");
        for (std::size_t j = 0; j < rarr->size(); ++j) {
            auto& rt = *rarr->get(j)->as_table();
            std::string rw = where + ".route[" + std::to_string(j) + "]";
            bridge::route route;
            std::string dir;
            bool has_persistent = false, has_inbound_key = false;
            for (auto& [key, n] : rt) {
                std::string k(key.str());
                std::string name = rw + "." + k;
                if (k == "from") route.from = r.string(n, name);
                else if (k == "to") route.to = r.string(n, name);
                else if (k == "direction") {
                    dir = r.string(n, name);
                    if (dir != "in" && dir != "out") r.fail(name, "must be \"in\" (broker to browsers) or \"out\"");
                } else if (k == "fixed") route.fixed = r.boolean(n, name);
                else if (k == "non_json") {
                    auto v = r.string(n, name);
                    if (v != "string" && v != "refuse") r.fail(name, "must be \"string\" or \"refuse\"");
                    route.refuse_non_json = v == "refuse";
                    has_inbound_key = true;
                } else if (k == "max_bytes") {
                    route.max_bytes = static_cast<std::size_t>(r.integer(n, name, 1, 1LL << 30));
                    has_inbound_key = true;
                } else if (k == "headers") {
                    route.headers = r.strings(n, name);
                    has_inbound_key = true;
                } else if (k == "durable") {
                    route.durable = r.boolean(n, name);
                    has_inbound_key = true;
                } else if (k == "subscription") {
                    route.subscription = r.string(n, name);
                    has_inbound_key = true;
                } else if (k == "persistent") {
                    route.persistent = r.boolean(n, name);
                    has_persistent = true;
                } else r.fail(name, "unknown key");
            }
            if (route.from.empty() || route.to.empty()) r.fail(rw, "needs both from and to");
            if (dir.empty()) {
                bool from_dest = bridge::looks_like_destination(route.from);
                bool to_dest = bridge::looks_like_destination(route.to);
                if (from_dest == to_dest)
                    r.fail(rw, "cannot tell the direction from \"" + route.from + "\" -> \"" + route.to +
                                   "\"; set direction = \"in\" or \"out\"");
                dir = from_dest ? "in" : "out";
            }
            route.dir = dir == "in" ? bridge::direction::inbound : bridge::direction::outbound;
            if (route.dir == bridge::direction::outbound && has_inbound_key)
                r.fail(rw, "non_json, max_bytes, headers, durable and subscription apply to routes from the broker");
            if (route.dir == bridge::direction::inbound && has_persistent)
                r.fail(rw, "persistent applies to routes to the broker");
            if (route.durable && route.subscription.empty()) route.subscription = b.name + ":" + route.from;
            if (route.durable && o.client_id.empty())
                r.fail(rw, "a durable route needs the bridge's client_id (the broker keys durable subscriptions by it)");
            if (auto e = bridge::check_route(route); !e.empty()) r.fail(rw, e);
            b.routes.push_back(std::move(route));
        }
        c.bridges.push_back(std::move(b));
    }
}

// [[channel]] tables: one rule each, in order (the first that matches decides). The pattern and the
// `owner` rule are checked in validate(), so a config built in code is checked the same way.
void parse_channel_rules(config& c, const toml::node& node, const reader& r) {
    auto* arr = node.as_array();
    if (!arr || !arr->is_array_of_tables()) r.fail("channel", "must be written as [[channel]] tables");
    for (std::size_t i = 0; i < arr->size(); ++i) {
        auto& t = *arr->get(i)->as_table();
        std::string where = "channel[" + std::to_string(i) + "]";
        auth::channel_rule rule;
        for (auto& [key, n] : t) {
            std::string k(key.str());
            std::string name = where + "." + k;
            if (k == "pattern") rule.pattern = r.string(n, name);
            else if (k == "subscribe") rule.subscribe = parse_who(n, r, name);
            else if (k == "publish") rule.publish = parse_who(n, r, name);
            else r.fail(name, "unknown key");
        }
        if (!t.contains("pattern")) r.fail(where + ".pattern", "is required, e.g. \"/users/{user}/**\"");
        c.auth.rules.push_back(std::move(rule));
    }
}

// "" or why `pattern` is not a rule pattern: a channel name whose segments may also be `*` (any
// one segment), `**` (the last only) or `{user}` (once).
std::string pattern_problem(const std::string& pattern) {
    if (pattern.size() < 2 || pattern[0] != '/') return "must start with '/', e.g. \"/chat/**\"";
    bool user = false;
    std::size_t start = 1;
    while (true) {
        auto end = pattern.find('/', start);
        bool last = end == std::string::npos;
        std::string seg = pattern.substr(start, last ? std::string::npos : end - start);
        if (seg.empty()) return "has an empty segment";
        if (seg == "**") {
            if (!last) return "may use '**' only as its last segment";
        } else if (seg == "{user}") {
            if (user) return "has {user} twice";
            user = true;
        } else if (seg != "*") {
            if (seg.find_first_of("{}*") != std::string::npos || !bayeux::is_valid_channel("/" + seg))
                return "has a segment " + quote_value(seg) + " that is neither a channel name, '*', '**' nor {user}";
        }
        if (last) return {};
        start = end + 1;
    }
}

void validate_auth(const config& c) {
    auto& a = c.auth;
    auto fail = [](const std::string& what) { throw config_error(what); };
    switch (a.kind) {
    case auth::mode::none:
        break;
    case auth::mode::token:
        if (a.secret.size() < 16)
            fail("auth.secret (or auth.secret_file) must be at least 16 bytes for mode \"token\", got " +
                 std::to_string(a.secret.size()));
        break;
    case auth::mode::jwt:
        if (a.algorithm == "HS256" && a.secret.size() < 16)
            fail("auth.secret (or auth.secret_file) must be at least 16 bytes for mode \"jwt\" with "
                 "algorithm HS256, got " + std::to_string(a.secret.size()));
        else if (a.algorithm == "RS256" && a.public_key_pem.empty())
            fail("auth.public_key_file is required for mode \"jwt\" with algorithm RS256");
        else if (a.algorithm != "HS256" && a.algorithm != "RS256")
            fail("auth.algorithm must be \"HS256\" or \"RS256\"");
        break;
    case auth::mode::webhook:
        if (!a.webhook_url.starts_with("http://") && !a.webhook_url.starts_with("https://"))
            fail("auth.webhook_url is required for mode \"webhook\" (http:// or https://)");
        break;
    }
    if (a.ext_field.empty()) fail("auth.ext_field must not be empty");
    if (a.default_subscribe == auth::who::owner || a.default_publish == auth::who::owner)
        fail("channels: \"owner\" needs a [[channel]] pattern with a {user} segment");
    for (std::size_t i = 0; i < a.rules.size(); ++i) {
        auto& rule = a.rules[i];
        std::string where = "channel[" + std::to_string(i) + "]";
        if (auto p = pattern_problem(rule.pattern); !p.empty())
            fail(where + ".pattern " + quote_value(rule.pattern) + " " + p);
        bool has_user = rule.pattern.find("{user}") != std::string::npos;
        for (auto [w, key] : {std::pair{rule.subscribe, "subscribe"}, std::pair{rule.publish, "publish"}})
            if (w == auth::who::owner && !has_user)
                fail(where + "." + key + " = \"owner\" needs a {user} segment in the pattern " +
                     quote_value(rule.pattern));
        for (std::size_t j = 0; j < i; ++j)
            if (a.rules[j].pattern == rule.pattern)
                fail(where + ".pattern " + quote_value(rule.pattern) + " repeats channel[" + std::to_string(j) +
                     "]: the first rule that matches decides, so this one never would");
    }
    for (auto& k : c.http.api_keys)
        if (k.size() < 16) fail("api.keys: a key must be at least 16 characters");
    auto& id = c.bayeux.identity_ext_key;
    if (id.empty() || id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != std::string::npos)
        fail("auth.identity_ext_key must be letters, digits, '_' or '-'");
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
        if (section == "bridge") {
            parse_bridges(c, section_node, r);
            continue;
        }
        if (section == "channel") {
            parse_channel_rules(c, section_node, r);
            continue;
        }
        auto sec = s.find(section);
        if (sec == s.end()) throw config_error(source + ": unknown section [" + section + "]");
        auto* table = section_node.as_table();
        if (!table) throw config_error(source + ": '" + section + "' must be a table");
        if (section == "auth" && table->contains("secret") && table->contains("secret_file"))
            r.fail("auth.secret_file", "give either secret or secret_file, not both");
        for (auto& [key, node] : *table) {
            std::string name = section + "." + std::string(key.str());
            auto it = sec->second.find(std::string(key.str()));
            if (it == sec->second.end()) throw config_error(source + ": unknown key '" + name + "'");
            it->second(c, node, r, name);
        }
    }
    try {
        validate(c);
    } catch (const config_error& e) {
        throw config_error(source + ": " + e.what());
    }
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
    validate_auth(c);
}

}  // namespace encke::node
