#include "bayeux/channel.hpp"

namespace encke::bayeux {

namespace {
bool name_char(char c) noexcept {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
        case ' ': case '!': case '#': case '$': case '(': case ')': case '+': case '-':
        case '.': case '@': case '_': case '{': case '}': case '~':
            return true;
        default:
            return false;
    }
}
}  // namespace

bool is_valid_channel(std::string_view name) noexcept {
    if (name.size() < 2 || name[0] != '/') return false;
    std::size_t start = 1;
    while (start <= name.size()) {
        std::size_t end = name.find('/', start);
        bool final = end == std::string_view::npos;
        if (final) end = name.size();
        std::string_view seg = name.substr(start, end - start);
        if (seg.empty()) return false;
        if (seg == "*" || seg == "**") {
            if (!final) return false;
        } else {
            for (char c : seg)
                if (!name_char(c)) return false;
        }
        if (final) break;
        start = end + 1;
    }
    return true;
}

bool is_wildcard(std::string_view name) noexcept {
    return name.ends_with("/*") || name.ends_with("/**");
}

channel_kind kind_of(std::string_view name) noexcept {
    auto first = name.substr(1, name.find('/', 1) - 1);
    if (first == "meta") return channel_kind::meta;
    if (first == "service") return channel_kind::service;
    return channel_kind::broadcast;
}

bool matches(std::string_view pattern, std::string_view channel) noexcept {
    if (pattern.ends_with("/**")) {
        auto prefix = pattern.substr(0, pattern.size() - 2);  // keeps the trailing '/'
        return channel.size() > prefix.size() && channel.starts_with(prefix);
    }
    if (pattern.ends_with("/*")) {
        auto prefix = pattern.substr(0, pattern.size() - 1);
        return channel.size() > prefix.size() && channel.starts_with(prefix) &&
               channel.find('/', prefix.size()) == std::string_view::npos;
    }
    return pattern == channel;
}

}  // namespace encke::bayeux
