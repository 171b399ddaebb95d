#pragma once
// Parsing one Bayeux batch (an HTTP body or a WebSocket frame) into messages.
//
// Values the server forwards (`data`, `ext`, `id`, unknown fields) are kept as raw JSON text: they
// are never re-serialized, so a subscriber receives the publisher's bytes exactly. Values the server
// acts on (channel, clientId, subscription, advice, the ack and timesync extensions) are decoded.
// simdjson stays behind a pimpl so that only batch.cpp pays for its header.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace encke::json {

enum class parse_error { none, invalid_json, invalid_utf8, too_deep, not_messages, empty };

// Short machine-readable reason, used in the `400::<reason>` error string.
std::string_view to_string(parse_error e) noexcept;

struct field {
    std::string_view key;  // unescaped
    std::string_view raw;  // the value's JSON text
};

struct message {
    std::string_view channel;  // unescaped; meaningful when channel_ok
    bool has_channel = false;
    bool channel_ok = false;        // present and a string
    std::string_view id;            // raw JSON token (keeps its type); empty when absent
    std::string_view client_id;     // unescaped; empty when absent or not a string
    std::string_view data;          // raw JSON; empty when absent
    std::string_view ext;           // raw JSON; empty when absent
    std::string_view connection_type;
    bool has_supported_types = false;
    std::vector<std::string_view> supported_types;
    bool has_subscription = false;
    bool subscription_ok = false;   // a string, or a non-empty array of strings
    std::string_view subscription_raw;
    std::vector<std::string_view> subscriptions;
    std::optional<std::int64_t> advice_timeout;
    std::optional<std::int64_t> advice_interval;
    // ext.ack: true/false in a handshake, a batch number in a connect.
    std::optional<bool> ext_ack_flag;
    std::optional<std::int64_t> ext_ack_batch;
    // ext.timesync {tc, l, o} (CometD timesync extension).
    bool has_timesync = false;
    std::int64_t timesync_tc = 0, timesync_l = 0, timesync_o = 0;
    bool timesync_has_l = false;
    std::vector<field> others;  // every other top-level field, forwarded with a publish
};

class batch_parser {
public:
    // max_depth: deepest array/object nesting accepted (the batch array itself counts as 1).
    explicit batch_parser(std::size_t max_depth);
    ~batch_parser();
    batch_parser(const batch_parser&) = delete;
    batch_parser& operator=(const batch_parser&) = delete;

    // Parses a JSON array of message objects, or a single message object. On success `out` holds
    // the messages; their views point into this parser and stay valid until the next parse().
    // The whole text is validated (syntax, UTF-8, depth) before anything is extracted.
    parse_error parse(std::string_view text, std::vector<message>& out);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// The JSON object `object_raw` without the members named in `keys` (other members keep their
// exact text). Returns the input unchanged when it is not an object or names none of the keys.
std::string without_keys(std::string_view object_raw, const std::vector<std::string>& keys);

}  // namespace encke::json
