#include "transport/http_util.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace encke::transport {

namespace {
int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
constexpr std::array<const char*, 7> days = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<const char*, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
}  // namespace

std::optional<std::string> url_decode(std::string_view s, bool plus_is_space) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= s.size()) return std::nullopt;
            int h = hex_value(s[i + 1]), l = hex_value(s[i + 2]);
            if (h < 0 || l < 0) return std::nullopt;
            out.push_back(static_cast<char>(h * 16 + l));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::vector<std::string> form_values(std::string_view query, std::string_view name) {
    std::vector<std::string> out;
    while (!query.empty()) {
        auto amp = query.find('&');
        auto pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        auto eq = pair.find('=');
        auto key = url_decode(pair.substr(0, eq), true);
        if (!key || *key != name) continue;
        auto value = url_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
        if (value) out.push_back(std::move(*value));
    }
    return out;
}

std::string_view cookie_value(std::string_view header, std::string_view name) {
    while (!header.empty()) {
        auto semi = header.find(';');
        auto item = header.substr(0, semi);
        header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        auto eq = item.find('=');
        if (eq != std::string_view::npos && item.substr(0, eq) == name) {
            auto v = item.substr(eq + 1);
            while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
            return v;
        }
    }
    return {};
}

std::string http_date(std::time_t t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                  tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                  tm.tm_sec);
    return buf;
}

std::optional<std::time_t> parse_http_date(std::string_view s) {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    if (s.size() != 29 || s.substr(25) != " GMT") return std::nullopt;
    std::tm tm{};
    char mon[4] = {};
    std::string tmp(s);
    if (std::sscanf(tmp.c_str() + 5, "%2d %3s %4d %2d:%2d:%2d", &tm.tm_mday, mon, &tm.tm_year,
                    &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return std::nullopt;
    auto m = std::find_if(months.begin(), months.end(),
                          [&](const char* x) { return std::strcmp(x, mon) == 0; });
    if (m == months.end()) return std::nullopt;
    tm.tm_mon = static_cast<int>(m - months.begin());
    tm.tm_year -= 1900;
    return timegm(&tm);
}

std::string_view content_type_for(std::string_view path) {
    auto dot = path.rfind('.');
    if (dot == std::string_view::npos) return "application/octet-stream";
    auto ext = path.substr(dot + 1);
    struct entry {
        std::string_view ext, type;
    };
    static constexpr entry table[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"json", "application/json"},
        {"map", "application/json"},
        {"txt", "text/plain; charset=utf-8"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"ico", "image/x-icon"},
        {"webp", "image/webp"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"wasm", "application/wasm"},
    };
    for (auto& e : table)
        if (e.ext == ext) return e.type;
    return "application/octet-stream";
}

bool valid_jsonp_callback(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    // It is called as a function: it starts the way a JavaScript name does.
    char first = name.front();
    if ((first >= '0' && first <= '9') || first == '.' || first == '-') return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '$' || c == '-';
    });
}

bool origin_allowed(const std::vector<std::string>& allowed, std::string_view origin) {
    return std::any_of(allowed.begin(), allowed.end(),
                       [&](const std::string& a) { return a == "*" || a == origin; });
}

std::string join_message_values(const std::vector<std::string>& values) {
    if (values.size() == 1) return values.front();
    std::string out = "[";
    bool first = true;
    for (auto& v : values) {
        std::string_view s = v;
        while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\t' ||
                              s.front() == '\r'))
            s.remove_prefix(1);
        while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\t' ||
                              s.back() == '\r'))
            s.remove_suffix(1);
        if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
        if (s.find_first_not_of(" \t\r\n") == std::string_view::npos) continue;
        if (!first) out += ',';
        out += s;
        first = false;
    }
    out += ']';
    return out;
}

}  // namespace encke::transport
