#pragma once
#include <string>

namespace encke::app {

// `encke publish`: handshake, publish, disconnect over long-polling. Prints the server's reply to
// the publish on stdout. Returns the exit code: 0 published, 1 refused or unreachable, 2 bad input.
int publish(const std::string& url, const std::string& channel, const std::string& data,
            int timeout_ms);

}  // namespace encke::app
