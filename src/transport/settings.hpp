#pragma once
// The [server], [websocket] and [cors] settings the transport enforces. Defaults and reasons are in
// encke.toml.example.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace encke::transport {

struct settings {
    std::string web_root = "web";
    std::int64_t max_connections = 10000;
    std::int64_t header_timeout_ms = 10000;
    std::int64_t body_timeout_ms = 30000;
    std::int64_t idle_timeout_ms = 60000;
    std::size_t max_header_bytes = 16384;
    std::size_t max_body_bytes = 1048576;
    std::int64_t shutdown_timeout_ms = 5000;
    std::size_t ws_max_message_bytes = 1048576;
    std::int64_t ws_idle_timeout_ms = 60000;
    std::vector<std::string> allowed_origins{"*"};
    // [api] keys: bearer keys accepted by POST /api/publish (none: the API answers 403).
    std::vector<std::string> api_keys;

    bool operator==(const settings&) const = default;
};

}  // namespace encke::transport
