#pragma once
// The whole configuration: built-in defaults, overridden by a TOML file, overridden by flags.
#include <stdexcept>
#include <string>

#include "auth/settings.hpp"
#include "bayeux/settings.hpp"
#include "bridge/bridge.hpp"
#include "transport/settings.hpp"

namespace encke::node {

struct config {
    std::string listen = "127.0.0.1:8080";
    unsigned threads = 0;  // 0: one per core
    std::string log_level = "info";
    transport::settings http;
    bayeux::settings bayeux;
    std::vector<bridge::settings> bridges;  // [[bridge]] tables, in order
    auth::settings auth;                    // [auth] and [[channel]]

    bool operator==(const config&) const = default;
};

// A configuration problem, reported as one line and exit code 2.
struct config_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Reads a TOML file over the defaults. Unknown keys, wrong types and out-of-range values throw
// config_error naming the file, key and problem.
config load_config_file(const std::string& path);
config parse_config(std::string_view toml_text, const std::string& source_name);

// Checks cross-field rules (e.g. the WebSocket idle timeout must exceed the connect hold).
void validate(const config& c);

// "host:port" → host and port; throws config_error.
std::pair<std::string, unsigned short> split_listen(const std::string& listen);

}  // namespace encke::node
