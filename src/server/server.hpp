#pragma once
// The assembled server: shards and their threads, the engine, the listener, signals and the
// graceful stop.
#include <memory>

#include "server/config.hpp"

namespace encke::server {

class server {
public:
    explicit server(config c);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Binds the listening socket and starts the shard threads. Throws std::runtime_error with a
    // one-line reason when the address cannot be bound.
    void start();
    // The bound port (useful with port 0).
    unsigned short port() const;
    // Blocks until stop() is called (or SIGINT/SIGTERM arrives, when `signals`), then stops
    // gracefully: no new sockets, held connects answered, sockets given shutdown_timeout_ms to
    // finish, threads joined.
    void run(bool signals);
    // Thread-safe; returns at once.
    void stop();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace encke::server
