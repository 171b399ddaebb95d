#pragma once
// The [bayeux] settings. Defaults and reasons are documented in encke.toml.example; a unit test
// checks that file against these values.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace encke::bayeux {

struct settings {
    std::string path = "/cometd";
    std::int64_t timeout_ms = 30000;
    std::int64_t interval_ms = 0;
    std::int64_t max_interval_ms = 10000;
    std::size_t max_messages_per_batch = 1000;
    std::size_t max_json_depth = 64;
    std::size_t max_queue_bytes = 8 * 1024 * 1024;
    std::size_t max_subscriptions_per_session = 1000;
    bool broadcast_to_publisher = true;
    std::int64_t max_sessions_per_browser = 1;
    std::int64_t multi_session_interval_ms = 2000;
    int duplicate_connect_status = 500;
    std::string browser_cookie = "BAYEUX_BROWSER";
    bool require_browser_cookie = false;
    std::vector<std::string> strip_ext_keys;
    // The `ext` member in which deliveries carry the publishing session's user id. Whatever a
    // client writes under this key is removed first, so it can never claim to be someone else.
    std::string identity_ext_key = "user";

    bool operator==(const settings&) const = default;
};

}  // namespace encke::bayeux
