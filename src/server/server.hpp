#pragma once
// The assembled server: shards and their threads, the engine, the listener, signals and the
// graceful stop.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/directory.hpp"
#include "server/config.hpp"
#include "server/policy.hpp"
#include "transport/shard.hpp"

namespace encke::node {

class server {
public:
    // Throws config_error with a one-line reason (e.g. a JWT key that does not load).
    // `track_presence`: keep every session and the subscribers of each channel in directory()
    // (the embedding API's deliver_to_session and subscribers_of need them; `encke serve` has no
    // use for them and saves the memory).
    explicit server(config c, hooks h = {}, bool track_presence = false);
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

    // Any thread, after start(). `data` must be valid JSON (the caller checked it); `channel` a
    // valid broadcast channel. Publish: to every subscriber. Deliver: to one session, or to each
    // session of a user, whatever its subscriptions; returns how many sessions it went to.
    void publish(std::string_view channel, std::string_view data);
    bool deliver_to_session(std::string_view id, std::string_view channel, std::string_view data);
    std::size_t deliver_to_user(std::string_view user, std::string_view channel, std::string_view data);
    const engine::directory& directory() const;
    // Would the [[channel]] rules let `user` subscribe to `channel`?
    bool may_subscribe(std::string_view user, std::string_view channel) const;

private:
    transport::context::api_result api_publish(std::string_view authorization, std::string_view body);
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace encke::node
