#pragma once
// Embedding Encke in a C++ program (docs/embedding.md).
//
//     encke::options o;
//     o.listen = "127.0.0.1:8080";
//     encke::server s(o);
//     s.on_handshake([](encke::handshake_event& e) { ... e.set_user(...) or e.refuse(...) });
//     s.add_service("/service/echo", [](encke::service_request& r) { r.reply(std::string(r.data())); });
//     s.start();
//     s.publish("/news", R"({"text":"hello"})");
//     s.run();  // until s.stop() or SIGINT/SIGTERM
//
// Link with find_package(Encke) and target_link_libraries(app PRIVATE Encke::encke). This header
// and events.hpp use only the standard library; no Asio, Beast or simdjson type appears here.
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "encke/events.hpp"
#include "encke/export.hpp"
#include "encke/version.hpp"

namespace encke {

// A configuration or start-up problem, with a one-line reason.
struct ENCKE_API error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// How the server is built: the built-in defaults, then `config_file` or `config_text` (the TOML
// of `encke serve --config`, encke.toml.example), then each field that is set here.
struct options {
    std::string config_file;
    std::string config_text;                // TOML text, when there is no file
    std::optional<std::string> listen;      // "host:port"; port 0 picks a free port (see port())
    std::optional<unsigned> threads;        // event-loop threads; 0 = one per core
    std::optional<std::string> path;        // Bayeux endpoint, default "/cometd"
    std::optional<std::string> web_root;    // static files at "/"; "" serves none
    std::optional<std::string> log_level;   // trace, debug, info, warn, error, off
    bool handle_signals = true;             // run() also returns on SIGINT / SIGTERM
};

class ENCKE_API server {
public:
    // Reads and checks the configuration. Throws encke::error.
    explicit server(options o = {});
    // Stops the server if it is running (as stop() then run() would). Destroy it after run() has
    // returned, never while another thread is inside run().
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // ---- hooks: set before start() (after it, they throw std::logic_error); a second call
    // replaces the first. What each event offers and the thread rules: events.hpp ----
    void on_handshake(std::function<void(handshake_event&)> hook);
    void on_subscribe(std::function<void(subscribe_event&)> hook);
    void on_publish(std::function<void(publish_event&)> hook);
    // A session began (after its handshake was allowed) or ended (disconnect, expiry, overflow).
    // The messaging functions below may be called from these (they only post work). Exceptions
    // are counted and otherwise ignored.
    void on_session_added(std::function<void(const session_view&)> hook);
    void on_session_removed(std::function<void(const session_view&)> hook);
    // Handles publishes to `channel` (a "/service/..." name without wildcards; throws
    // std::invalid_argument otherwise). One handler per channel.
    void add_service(std::string channel, std::function<void(service_request&)> handler);

    // ---- life ----
    // Binds the listening socket and starts the threads. Throws encke::error (the port is in use,
    // a JWT key that does not load, ...). Call once (a second call throws std::logic_error).
    // Process-wide effects: SIGPIPE is ignored (a peer that went away is an error, not the end of
    // the process), and spdlog's default logger becomes Encke's "encke" logger at the configured
    // level unless the program has registered a logger of that name itself.
    void start();
    // The bound port, while running.
    unsigned short port() const;
    // Blocks until stop() (or a signal, with handle_signals), then stops gracefully: held
    // connects answered, sockets closed within server.shutdown_timeout_ms, threads joined.
    // Starts the server first when start() was not called.
    void run();
    // Any thread, any time (also before start(): run() then returns at once); returns at once.
    // Not from a signal handler (it takes a lock): run() handles SIGINT/SIGTERM itself.
    void stop();

    // ---- messaging: any thread while running (between start() and the end of run(); outside
    // that they throw std::logic_error). They never block: the work for other threads is posted
    // (on one of the server's own threads, that thread's share is done inline) ----
    // Publishes to every subscriber of `channel` (a broadcast channel, no wildcard) as if a
    // client had, with no user attached. Throws std::invalid_argument for a bad channel or when
    // `json` is not one valid JSON value.
    void publish(std::string_view channel, std::string_view json);
    // Delivers to every session of `user`, whatever they subscribe to, on `channel` (the client
    // receives it through a listener or subscription on that channel). Returns the number of
    // sessions it went to (0: the user has none on this node). Throws like publish().
    std::size_t deliver_to_user(std::string_view user, std::string_view channel, std::string_view json);
    // The same for one session (by clientId). Returns false when there is no such session.
    bool deliver_to_session(std::string_view session_id, std::string_view channel, std::string_view json);

    // ---- presence: any thread while running (std::logic_error otherwise); this node only ----
    // The session ids of `user`.
    std::vector<std::string> sessions_of(std::string_view user) const;
    // The sessions whose subscriptions reach `channel` (by name or wildcard; wildcard
    // subscribers that the [[channel]] rules keep out are left out — the on_subscribe hook is
    // not asked here), each once.
    std::vector<session_info> subscribers_of(std::string_view channel) const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace encke
