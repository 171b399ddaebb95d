#include "wire.hpp"

#include <charconv>

namespace bench {

bool parse_url(std::string_view t, url& out) {
    std::uint16_t def = 0;
    for (auto [scheme, port] : {std::pair{"http://", 80}, {"ws://", 80}, {"stomp://", 61613}}) {
        std::string_view s = scheme;
        if (t.substr(0, s.size()) == s) {
            t.remove_prefix(s.size());
            def = static_cast<std::uint16_t>(port);
        }
    }
    if (!def) return false;
    auto slash = t.find('/');
    std::string_view hostport = t.substr(0, slash);
    out.path = slash == std::string_view::npos ? "/" : std::string(t.substr(slash));
    auto colon = hostport.rfind(':');
    out.port = def;
    if (colon != std::string_view::npos) {
        unsigned v = 0;
        auto pe = hostport.data() + hostport.size();
        auto [ptr, ec] = std::from_chars(hostport.data() + colon + 1, pe, v);
        if (ec != std::errc{} || ptr != pe || v == 0 || v > 65535) return false;
        out.port = static_cast<std::uint16_t>(v);
        hostport = hostport.substr(0, colon);
    }
    out.host = std::string(hostport);
    return !out.host.empty();
}

bool parse_host_port(std::string_view text, url& out) {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    return parse_url("stomp://" + std::string(text), out) && text.find('/') == std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
        if (x != y) return false;
    }
    return true;
}

namespace {

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) v.remove_suffix(1);
    return v;
}

bool contains_token(std::string_view v, std::string_view token) {
    // Comma-separated, case-insensitive ("keep-alive, close").
    while (!v.empty()) {
        auto c = v.find(',');
        if (iequals(trim(v.substr(0, c)), token)) return true;
        if (c == std::string_view::npos) break;
        v.remove_prefix(c + 1);
    }
    return false;
}

}  // namespace

long parse_http_response(const char* p, std::size_t n, http_response& r, std::string& scratch) {
    std::string_view in(p, n);
    auto head_end = in.find("\r\n\r\n");
    if (head_end == std::string_view::npos) return n > 65536 ? -1 : 0;
    std::string_view head = in.substr(0, head_end);
    if (head.substr(0, 5) != "HTTP/" || head.size() < 12) return -1;
    r = http_response{};
    {
        int st = 0;
        auto [ptr, ec] = std::from_chars(head.data() + 9, head.data() + 12, st);
        if (ec != std::errc{}) return -1;
        (void)ptr;
        r.status = st;
    }
    std::size_t content_length = 0;
    bool have_length = false, chunked = false;
    std::size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos < head.size()) {
        std::size_t next = head.find("\r\n", pos + 2);
        std::string_view line = head.substr(pos + 2, next == std::string_view::npos ? std::string_view::npos
                                                                                      : next - pos - 2);
        pos = next;
        auto colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view name = line.substr(0, colon), value = trim(line.substr(colon + 1));
        if (iequals(name, "content-length")) {
            auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), content_length);
            if (ec != std::errc{}) return -1;
            (void)ptr;
            have_length = true;
        } else if (iequals(name, "transfer-encoding")) {
            chunked = contains_token(value, "chunked");
        } else if (iequals(name, "connection")) {
            r.close = contains_token(value, "close");
        } else if (iequals(name, "content-type")) {
            r.content_type = value;
        } else if (iequals(name, "last-modified")) {
            r.last_modified = value;
        } else if (iequals(name, "etag")) {
            r.etag = value;
        }
    }
    std::size_t body_start = head_end + 4;
    bool no_body = r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200);
    if (no_body) return static_cast<long>(body_start);
    if (chunked) {
        scratch.clear();
        std::size_t at = body_start;
        for (;;) {
            auto eol = in.find("\r\n", at);
            if (eol == std::string_view::npos) return 0;
            std::size_t size = 0;
            auto [ptr, ec] = std::from_chars(in.data() + at, in.data() + eol, size, 16);
            if (ec != std::errc{}) return -1;
            (void)ptr;
            at = eol + 2;
            if (size == 0) {
                // Trailers are not expected; the body ends with an empty line.
                auto end = in.find("\r\n", at);
                if (end == std::string_view::npos) return 0;
                r.body = scratch;
                return static_cast<long>(end + 2);
            }
            if (in.size() < at + size + 2) return 0;
            scratch.append(in.data() + at, size);
            at += size + 2;
        }
    }
    if (!have_length) {
        if (r.close) return 0;  // body until EOF: the caller handles it at close
        content_length = 0;
    }
    if (n < body_start + content_length) return 0;
    r.body = in.substr(body_start, content_length);
    return static_cast<long>(body_start + content_length);
}

bool multipart_parts(std::string_view ct, std::string_view body, std::vector<std::string_view>& parts) {
    parts.clear();
    auto b = ct.find("boundary=");
    if (b == std::string_view::npos) return false;
    std::string_view boundary = ct.substr(b + 9);
    boundary = boundary.substr(0, boundary.find(';'));
    if (!boundary.empty() && boundary.front() == '"') {
        boundary.remove_prefix(1);
        boundary = boundary.substr(0, boundary.find('"'));
    }
    std::string delim = "--";
    delim.append(boundary);
    std::size_t at = body.find(delim);
    while (at != std::string_view::npos) {
        at += delim.size();
        if (body.substr(at, 2) == "--") break;  // closing delimiter
        auto head_end = body.find("\r\n\r\n", at);
        std::size_t start;
        if (head_end == std::string_view::npos) break;
        // A part with no headers has its blank line right after the delimiter's CRLF.
        start = head_end + 4;
        if (body.substr(at, 2) == "\r\n" && body.substr(at + 2, 2) == "\r\n") start = at + 4;
        auto next = body.find("\r\n" + delim, start);
        if (next == std::string_view::npos) break;
        parts.push_back(body.substr(start, next - start));
        at = next + 2;
    }
    return true;
}

namespace ws {

long parse_frame(const char* p, std::size_t n, frame& f) {
    if (n < 2) return 0;
    auto b0 = static_cast<std::uint8_t>(p[0]), b1 = static_cast<std::uint8_t>(p[1]);
    if (b0 & 0x70) return -1;  // RSV bits: no extension was negotiated
    if (b1 & 0x80) return -1;  // servers never mask
    f.fin = b0 & 0x80;
    f.op = b0 & 0x0f;
    std::uint64_t len = b1 & 0x7f;
    std::size_t at = 2;
    if (len == 126) {
        if (n < 4) return 0;
        len = (std::uint64_t(std::uint8_t(p[2])) << 8) | std::uint8_t(p[3]);
        at = 4;
    } else if (len == 127) {
        if (n < 10) return 0;
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | std::uint8_t(p[2 + i]);
        at = 10;
        if (len > (1ull << 31)) return -1;
    }
    if (n < at + len) return 0;
    f.payload = std::string_view(p + at, static_cast<std::size_t>(len));
    return static_cast<long>(at + len);
}

void append_frame(std::string& out, std::uint8_t op, std::string_view payload) {
    char h[14];
    std::size_t hl = 0;
    h[hl++] = static_cast<char>(0x80 | op);
    std::size_t len = payload.size();
    if (len < 126) {
        h[hl++] = static_cast<char>(0x80 | len);
    } else if (len <= 0xffff) {
        h[hl++] = static_cast<char>(0x80 | 126);
        h[hl++] = static_cast<char>(len >> 8);
        h[hl++] = static_cast<char>(len & 0xff);
    } else {
        h[hl++] = static_cast<char>(0x80 | 127);
        for (int i = 7; i >= 0; --i) h[hl++] = static_cast<char>((std::uint64_t(len) >> (8 * i)) & 0xff);
    }
    for (int i = 0; i < 4; ++i) h[hl++] = 0;  // masking key 0
    out.append(h, hl);
    out.append(payload);
}

std::string upgrade_request(const url& u, std::string_view path) {
    std::string r = "GET ";
    r += path;
    r += " HTTP/1.1\r\nHost: ";
    r += u.host;
    r += ':';
    r += std::to_string(u.port);
    r += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: ZW5ja2UtYmVuY2gta2V5IQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    return r;
}

}  // namespace ws

namespace stomp {

long parse_frame(const char* p, std::size_t n, frame& f) {
    f = frame{};
    std::size_t at = 0;
    // Heart-beats: bare end-of-lines between frames.
    while (at < n && (p[at] == '\n' || (p[at] == '\r' && at + 1 < n && p[at + 1] == '\n')))
        at += p[at] == '\n' ? 1 : 2;
    if (at > 0) return static_cast<long>(at);
    std::string_view in(p, n);
    auto eol = in.find('\n');
    if (eol == std::string_view::npos) return n > 256 ? -1 : 0;
    f.command = in.substr(0, eol);
    if (!f.command.empty() && f.command.back() == '\r') f.command.remove_suffix(1);
    if (f.command.empty()) return -1;
    // The headers end at the first empty line.
    std::size_t head = eol + 1, line = head;
    for (;;) {
        auto e = in.find('\n', line);
        if (e == std::string_view::npos) return n > (1 << 20) ? -1 : 0;
        if (e == line || (e == line + 1 && p[line] == '\r')) {
            f.headers = in.substr(head, line - head);
            line = e + 1;
            break;
        }
        line = e + 1;
    }
    std::size_t body = line;
    if (auto cl = header(f, "content-length"); !cl.empty()) {
        std::size_t len = 0;
        auto [ptr, ec] = std::from_chars(cl.data(), cl.data() + cl.size(), len);
        if (ec != std::errc{} || ptr != cl.data() + cl.size()) return -1;
        if (n < body + len + 1) return 0;
        if (p[body + len] != '\0') return -1;
        f.body = in.substr(body, len);
        return static_cast<long>(body + len + 1);
    }
    auto nul = in.find('\0', body);
    if (nul == std::string_view::npos) return n - body > (1 << 24) ? -1 : 0;
    f.body = in.substr(body, nul - body);
    return static_cast<long>(nul + 1);
}

std::string_view header(const frame& f, std::string_view name) {
    std::string_view h = f.headers;
    while (!h.empty()) {
        auto e = h.find('\n');
        std::string_view line = h.substr(0, e);
        if (line.size() > name.size() && line[name.size()] == ':' && line.substr(0, name.size()) == name) {
            line.remove_prefix(name.size() + 1);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            return line;
        }
        if (e == std::string_view::npos) break;
        h.remove_prefix(e + 1);
    }
    return {};
}

}  // namespace stomp

}  // namespace bench
