#include "bridge/route.hpp"

#include <algorithm>
#include <array>

#include "bayeux/channel.hpp"

namespace encke::bridge {

namespace {

bool multi(std::string_view seg) noexcept { return seg == ">" || seg == "#"; }

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (true) {
        auto end = s.find(sep, start);
        if (end == std::string_view::npos) {
            out.push_back(s.substr(start));
            return out;
        }
        out.push_back(s.substr(start, end - start));
        start = end + 1;
    }
}

}  // namespace

bool destination_pattern::wildcard() const noexcept {
    return !segments.empty() && (segments.back() == "*" || multi(segments.back()) ||
                                 std::find(segments.begin(), segments.end(), "*") != segments.end());
}

std::string parse_destination(std::string_view text, bool allow_wildcards, destination_pattern& out) {
    out = {};
    if (text.empty()) return "is empty";
    for (char c : text)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "holds a control character";
    auto slash = text.rfind('/');
    if (slash == std::string_view::npos) {
        // A bare AMQP address ("prices"): all key.
        slash = 0;
    } else {
        ++slash;
    }
    out.prefix = std::string(text.substr(0, slash));
    std::string_view key = text.substr(slash);
    if (key.empty()) return "has no name after its last '/'";
    auto segs = split(key, '.');
    for (std::size_t i = 0; i < segs.size(); ++i) {
        auto s = segs[i];
        if (s.empty()) return "has an empty segment (\"..\" or a '.' at either end)";
        bool wild = s == "*" || multi(s);
        if (!wild && (s.find('*') != std::string_view::npos || s.find('>') != std::string_view::npos))
            return "uses a wildcard inside a segment (wildcards are whole segments)";
        if (wild && !allow_wildcards) return "may not hold a wildcard here";
        if (multi(s) && i + 1 != segs.size()) return "has '>' or '#' before its last segment";
        out.segments.emplace_back(s);
    }
    return {};
}

bool looks_like_destination(std::string_view t) noexcept {
    static constexpr std::array<std::string_view, 11> prefixes = {
        "/topic/", "/queue/", "/temp-topic/", "/temp-queue/", "/exchange/", "/amq/queue/",
        "/reply-queue/", "topic://", "queue://", "temp-topic://", "temp-queue://"};
    for (auto p : prefixes)
        if (t.starts_with(p)) return true;
    return false;
}

std::string check_route(route& r) {
    destination_pattern p;
    if (r.dir == direction::inbound) {
        if (auto e = parse_destination(r.from, true, p); !e.empty()) return "from \"" + r.from + "\" " + e;
        if (!bayeux::is_valid_channel(r.to) || bayeux::is_wildcard(r.to))
            return "to \"" + r.to + "\" is not a valid channel name (\"/a/b\", no wildcard)";
        if (bayeux::kind_of(r.to) != bayeux::channel_kind::broadcast)
            return "to \"" + r.to + "\" is a /meta or /service channel; messages go to broadcast channels";
        if (!p.wildcard()) r.fixed = true;
        if (r.max_bytes == 0) return "max_bytes must be positive";
        if (r.durable && r.subscription.empty()) return "a durable route needs a subscription name";
    } else {
        if (!bayeux::is_valid_channel(r.from))
            return "from \"" + r.from + "\" is not a valid channel or channel pattern";
        if (bayeux::kind_of(r.from) != bayeux::channel_kind::broadcast)
            return "from \"" + r.from + "\" is a /meta or /service channel; only broadcast publishes are bridged";
        if (auto e = parse_destination(r.to, false, p); !e.empty()) return "to \"" + r.to + "\" " + e;
        if (!bayeux::is_wildcard(r.from)) r.fixed = true;
        if (r.durable) return "durable applies to routes from the broker";
    }
    return {};
}

std::optional<std::string> channel_for(const route& r, const destination_pattern& pattern,
                                       std::string_view destination) {
    if (r.fixed) return r.to;
    if (!destination.starts_with(pattern.prefix)) return std::nullopt;
    auto key = destination.substr(pattern.prefix.size());
    if (key.find('/') != std::string_view::npos) return std::nullopt;  // one segment, two channel segments
    auto segs = split(key, '.');
    std::string channel = r.to;
    std::size_t i = 0;
    for (; i < pattern.segments.size(); ++i) {
        const auto& want = pattern.segments[i];
        if (multi(want)) {
            if (want == ">" && i >= segs.size()) return std::nullopt;  // '>' needs one or more
            for (std::size_t j = i; j < segs.size(); ++j) {
                channel += '/';
                channel += segs[j];
            }
            i = segs.size();
            break;
        }
        if (i >= segs.size()) return std::nullopt;
        if (want == "*") {
            channel += '/';
            channel += segs[i];
        } else if (want != segs[i]) {
            return std::nullopt;
        }
    }
    if (i != segs.size()) return std::nullopt;
    if (!bayeux::is_valid_channel(channel) || bayeux::is_wildcard(channel)) return std::nullopt;
    return channel;
}

std::optional<std::string> destination_for(const route& r, std::string_view channel) {
    if (!bayeux::matches(r.from, channel)) return std::nullopt;
    if (r.fixed) return r.to;
    // The part of the channel the wildcard matched: after the pattern's prefix ("/orders/").
    std::string_view prefix(r.from);
    prefix = prefix.substr(0, prefix.rfind('/') + 1);
    std::string d = r.to;
    for (auto seg : split(channel.substr(prefix.size()), '/')) {
        d += '.';
        d += seg;
    }
    return d;
}

}  // namespace encke::bridge
