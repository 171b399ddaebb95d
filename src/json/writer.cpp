#include "json/writer.hpp"

#include <charconv>

namespace encke::json {

void append_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    std::size_t run = 0;  // start of the pending run of bytes that need no escaping
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        const char* esc = nullptr;
        char buf[7];
        std::size_t skip = 0;
        if (c == '"') {
            esc = "\\\"";
        } else if (c == '\\') {
            esc = "\\\\";
        } else if (c < 0x20) {
            switch (c) {
                case '\n': esc = "\\n"; break;
                case '\r': esc = "\\r"; break;
                case '\t': esc = "\\t"; break;
                case '\b': esc = "\\b"; break;
                case '\f': esc = "\\f"; break;
                default:
                    buf[0] = '\\'; buf[1] = 'u'; buf[2] = '0'; buf[3] = '0';
                    buf[4] = hex[c >> 4]; buf[5] = hex[c & 15]; buf[6] = 0;
                    esc = buf;
            }
        } else if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
                   (static_cast<unsigned char>(s[i + 2]) == 0xA8 ||
                    static_cast<unsigned char>(s[i + 2]) == 0xA9)) {
            esc = static_cast<unsigned char>(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
            skip = 2;
        }
        if (esc) {
            out.append(s.data() + run, i - run);
            out.append(esc);
            i += skip;
            run = i + 1;
        }
    }
    out.append(s.data() + run, s.size() - run);
    out.push_back('"');
}

void append_key(std::string& out, std::string_view key) {
    append_string(out, key);
    out.push_back(':');
}

void append_int(std::string& out, std::int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

std::string escape_line_separators(std::string_view json) {
    std::string out;
    out.reserve(json.size());
    for (std::size_t i = 0; i < json.size(); ++i) {
        if (static_cast<unsigned char>(json[i]) == 0xE2 && i + 2 < json.size() &&
            static_cast<unsigned char>(json[i + 1]) == 0x80 &&
            (static_cast<unsigned char>(json[i + 2]) == 0xA8 ||
             static_cast<unsigned char>(json[i + 2]) == 0xA9)) {
            out.append(static_cast<unsigned char>(json[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029");
            i += 2;
        } else {
            out.push_back(json[i]);
        }
    }
    return out;
}

}  // namespace encke::json
