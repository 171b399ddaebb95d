#pragma once
// The broker bridges of one server: each [[bridge]] of the configuration is a connector (STOMP or
// AMQP, on its own thread) and its routes. Broker messages become Bayeux deliveries handed to the
// engine, and are acknowledged to the broker only once every shard has queued them; publishes on
// channels an outbound route takes go to the broker, and the publisher's reply waits for the
// broker's confirmation.
#include <memory>
#include <string>
#include <vector>

#include "bayeux/protocol.hpp"
#include "bridge/connector.hpp"
#include "bridge/route.hpp"

namespace encke::engine {
class engine;
}

namespace encke::bridge {

struct settings {
    std::string name;
    std::string url;            // as configured, for logs and /healthz (never holds a password)
    connector_options connector;
    std::vector<route> routes;
    bool operator==(const settings&) const = default;
};

// "stomp://host:port" etc. into o.scheme/host/port. Returns "" or what is wrong.
std::string parse_url(const std::string& url, connector_options& o);

class bridges final : public bayeux::forwarder {
public:
    // `max_json_depth`: a broker body nested deeper than the protocol accepts is not JSON to us.
    bridges(std::vector<settings> all, engine::engine& eng, std::size_t max_json_depth);
    ~bridges() override;
    bridges(const bridges&) = delete;
    bridges& operator=(const bridges&) = delete;

    bool empty() const noexcept;
    // Starts every connector (each connects in the background; a broker that is down is retried).
    void start();
    // Stops every connector: pending publishes fail with 503::broker_unavailable.
    void stop();

    bool forward(std::string_view channel, std::string_view data,
                 std::function<void(std::string_view error)> done) override;

    // `[{"name":…,"state":…,…},…]`: each bridge's state and counters, for /healthz.
    std::string health_json() const;

private:
    struct one;
    std::vector<std::unique_ptr<one>> all_;
    engine::engine& engine_;
};

}  // namespace encke::bridge
