#pragma once
// Channel names (PROTOCOL.md §1.4, §3.1, §3.2).
#include <string>
#include <string_view>

namespace encke::bayeux {

enum class channel_kind { meta, service, broadcast };

// Valid name or pattern: "/" then non-empty segments of the CometD character set (letters, digits,
// and ` !#$()+-.@_{~}`), with `*` and `**` allowed only as the whole final segment.
bool is_valid_channel(std::string_view name) noexcept;

// `/a/*` or `/a/**` (or `/*`, `/**`). Assumes a valid name.
bool is_wildcard(std::string_view name) noexcept;

// By first segment: `/meta/...` and `/service/...` (and the bare `/meta`, `/service`).
channel_kind kind_of(std::string_view name) noexcept;

// Does subscription `pattern` receive messages published on the non-wildcard `channel`?
// `/a/*` matches one more segment, `/a/**` any positive number of them.
bool matches(std::string_view pattern, std::string_view channel) noexcept;

// Calls f(pattern) for every subscription pattern that matches `channel`: the channel itself, its
// parent's `/*`, and every ancestor's `/**` (PROTOCOL.md §3.2). Linear in the channel's depth;
// reuses one buffer, so it allocates nothing once the buffer has grown.
template <class F>
void for_each_matching_pattern(std::string_view channel, std::string& buf, F&& f) {
    f(channel);
    // Positions of every '/' that starts a segment.
    std::size_t last = channel.rfind('/');
    // parent + "/*"
    buf.assign(channel.substr(0, last));
    buf.append("/*");
    f(std::string_view(buf));
    // every ancestor (including the root) + "/**"
    std::size_t pos = last;
    while (true) {
        buf.assign(channel.substr(0, pos));
        buf.append("/**");
        f(std::string_view(buf));
        if (pos == 0) break;
        pos = channel.rfind('/', pos - 1);
    }
}

}  // namespace encke::bayeux
