#pragma once
#include <memory>
#include <string>

#include "transport/shard.hpp"

namespace encke::transport {

// Accepts on shard 0 and spreads sockets over the shards round-robin. Past max_connections a
// socket gets "503 Service Unavailable" and is closed, so existing clients keep their descriptors.
class listener {
public:
    // Binds and listens now; throws std::runtime_error with a one-line reason (e.g. the port is
    // in use). Port 0 picks a free port; port() tells which.
    listener(context& ctx, const std::string& host, unsigned short port);
    ~listener();
    void start();
    void stop();  // on shard 0's thread
    unsigned short port() const noexcept;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace encke::transport
