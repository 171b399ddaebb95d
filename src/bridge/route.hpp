#pragma once
// Routes between broker destinations and Bayeux channels, and the names on both sides.
//
// A destination is a prefix ending in '/' (or "://") and a key of '.'-separated segments:
// "/topic/prices.EURUSD", "/queue/orders", "topic://prices", "/exchange/amq.topic/a.b". In a
// route's pattern the key may end with a wildcard: `*` is one segment, `>` (ActiveMQ) or `#`
// (RabbitMQ, AMQP topic exchanges) the rest. The segments a wildcard matched become channel
// segments, and back: with from = "/topic/prices.>" and to = "/prices", "prices.EURUSD"
// arrives on "/prices/EURUSD"; with from = "/orders/**" and to = "/queue/orders", a publish on
// "/orders/eu/new" goes to "/queue/orders.eu.new". A `fixed` route (or one whose `from` has no
// wildcard) uses `to` exactly.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace encke::bridge {

enum class direction { inbound, outbound };  // broker -> browsers, browsers -> broker

struct route {
    direction dir = direction::inbound;
    std::string from;
    std::string to;
    bool fixed = false;
    // inbound
    bool refuse_non_json = false;       // non_json = "refuse" (default "string")
    std::size_t max_bytes = 256 * 1024; // bodies larger than this are refused
    std::vector<std::string> headers;   // broker headers/properties copied into ext.broker
    bool durable = false;
    std::string subscription;           // durable subscription name
    // outbound
    bool persistent = true;

    bool operator==(const route&) const = default;
};

// A broker-side name or pattern, split once.
struct destination_pattern {
    std::string prefix;                 // up to and including the last '/'
    std::vector<std::string> segments;  // the key, split on '.'; the last may be *, > or #

    bool wildcard() const noexcept;
};

// Parses a destination (pattern when `allow_wildcards`). Returns an error text, or "" on success.
std::string parse_destination(std::string_view text, bool allow_wildcards, destination_pattern& out);

// Is this text written like a broker destination ("/topic/...", "/queue/...", "topic://...",
// "/exchange/...", ...) rather than a channel? Used to tell a route's direction.
bool looks_like_destination(std::string_view text) noexcept;

// Checks a route and fills in what follows from it. Returns "" or one line saying what is wrong.
std::string check_route(route& r);

// Inbound: the channel for a message the broker sent to `destination` on route `r` (whose `from`
// is `pattern`), or nullopt when it does not map to a valid channel.
std::optional<std::string> channel_for(const route& r, const destination_pattern& pattern,
                                       std::string_view destination);

// Outbound: the destination for a publish on `channel`, or nullopt when `r` does not take it.
std::optional<std::string> destination_for(const route& r, std::string_view channel);

}  // namespace encke::bridge
