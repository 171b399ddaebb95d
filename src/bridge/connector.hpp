#pragma once
// A connection to one message broker, as the bridge sees it. STOMP 1.2 (stomp_connector.cpp, over
// Asio) and AMQP 1.0 (amqp_connector.cpp, over Qpid Proton C++) implement it. A connector owns a
// thread of its own: it connects, subscribes to every source it was given, reconnects with
// backoff when the broker goes away, and never blocks a shard. Everything it reports goes through
// `connector_listener`, called on the connector's own thread.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace encke::bridge {

enum class link_state { connecting, connected, disconnected, stopped };
const char* to_string(link_state s) noexcept;

struct header {
    std::string name;
    std::string value;
    bool operator==(const header&) const = default;
};

// A message from the broker.
struct broker_message {
    std::string destination;   // where the broker says it was sent (STOMP `destination`, AMQP `to`
                               // or the link's address), e.g. "/topic/prices.EURUSD"
    std::string body;          // the text (or bytes) of the body
    std::string content_type;  // "" when the broker gave none
    std::vector<header> headers;  // every header / property, values as text
    // Non-empty when the connector could not read the message (a frame over max_frame_bytes, an
    // AMQP body that is not text or bytes, a property it cannot render): the bridge refuses it
    // for this reason, so that one bad message never drops the connection and loops.
    std::string problem;
};

// What the connector subscribes to, one entry per inbound route (same index).
struct source {
    std::string address;        // e.g. "/topic/prices.>" (STOMP) or "/topic/prices.#" (RabbitMQ AMQP)
    bool durable = false;       // a JMS durable subscription / AMQP durable terminus
    std::string durable_name;   // its name (STOMP activemq.subscriptionName, AMQP link name)
    bool operator==(const source&) const = default;
};

struct connector_options {
    std::string name;           // the bridge's name, for logs
    std::string scheme;         // "stomp", "stomp+ssl", "amqp", "amqps"
    std::string host;
    unsigned short port = 0;
    std::string login;          // "" = anonymous (SASL ANONYMOUS for AMQP)
    std::string passcode;
    std::string vhost;          // STOMP `host` header / AMQP hostname; "" = the host above
    std::string client_id;      // STOMP client-id / AMQP container id (required for durable sources)
    std::chrono::milliseconds heartbeat{10'000};
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds reconnect_min{500};
    std::chrono::milliseconds reconnect_max{30'000};
    std::chrono::milliseconds send_timeout{10'000};
    std::size_t max_frame_bytes = 16 << 20;  // a larger frame is a protocol error (reconnect)
    unsigned prefetch = 1000;   // unacknowledged messages the broker may send (credit window)
    std::string ack_mode = "client";  // STOMP only: "client" (cumulative) or "client-individual"
    bool tls_verify = true;     // stomp+ssl / amqps: verify the broker's certificate
    std::string tls_ca_file;    // extra CA bundle; "" = the system's
    std::vector<source> sources;
    bool operator==(const connector_options&) const = default;
};

// Called by a connector on its own thread.
class connector_listener {
public:
    virtual ~connector_listener() = default;
    // Each change of state, once. `detail` says why (the error, or the broker's name/version).
    virtual void on_state(link_state s, const std::string& detail) = 0;
    // A message for sources[index]. `settle` must be called exactly once, from any thread:
    // true acknowledges it (Encke has accepted it for delivery), false refuses it (AMQP
    // `rejected`; over STOMP an ACK too, since a NACK means "redeliver"). Until it is settled
    // the message counts against `prefetch`.
    virtual void on_message(std::size_t index, broker_message m, std::function<void(bool)> settle) = 0;
    // After a burst of on_message calls (what one read brought): the listener may hold messages
    // until then and hand them on together. Always called before the connector waits again.
    virtual void on_batch_end() {}
    // The outbound links now open (AMQP: one sender per destination recently sent to).
    virtual void on_out_links(std::size_t) {}
};

struct send_options {
    bool persistent = true;     // STOMP persistent:true / AMQP durable header
    std::string content_type = "application/json";
    std::vector<header> headers;  // extra headers / application properties
};

class connector {
public:
    virtual ~connector() = default;
    // Starts the thread; returns at once. Connecting, subscribing and reconnecting happen there.
    virtual void start() = 0;
    // Closes the connection, fails pending sends ("broker_unavailable") and joins the thread.
    virtual void stop() = 0;
    // Thread-safe. Sends `body` to `destination` and calls `done` exactly once — on the
    // connector's thread, or at once on the caller's when the answer is known without the
    // broker (not connected, stopped): with "" once the broker has confirmed it (STOMP RECEIPT, AMQP
    // accepted), or with a short error: "broker_unavailable" (not connected), "broker_timeout"
    // (no confirmation within send_timeout), "broker_refused: <reason>" (STOMP ERROR, AMQP
    // rejected/released/modified).
    virtual void send(std::string destination, std::string body, send_options opts,
                      std::function<void(std::string_view error)> done) = 0;
};

std::unique_ptr<connector> make_stomp_connector(connector_options o, connector_listener& l);
std::unique_ptr<connector> make_amqp_connector(connector_options o, connector_listener& l);

// The delay before reconnect attempt `attempt` (0-based): exponential from reconnect_min,
// capped at reconnect_max, with full jitter in [d/2, d].
std::chrono::milliseconds backoff(const connector_options& o, unsigned attempt);

}  // namespace encke::bridge
