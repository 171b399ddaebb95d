// encke::server (include/encke/server.hpp) over the internal node::server.
#include "encke/server.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <mutex>

#include "bayeux/channel.hpp"
#include "json/values.hpp"
#include "server/config.hpp"
#include "server/server.hpp"

namespace encke {

struct server::impl {
    node::config cfg;
    node::hooks hooks;
    std::unique_ptr<node::server> running;  // set by start(), before `started`
    bool handle_signals = true;
    std::atomic<bool> started{false};        // start() succeeded and run() has not returned
    std::atomic<bool> stop_requested{false}; // stop() came (possibly before start() or run())
    std::mutex m;                            // start() against stop() from another thread

    node::server& live() const {
        if (!started.load()) throw std::logic_error("encke::server: not running (call start() first)");
        return *running;
    }
    void not_started(const char* what) const {
        if (running) throw std::logic_error(std::string("encke::server: ") + what + " must come before start()");
    }
};

namespace {

// Publishes go to broadcast channels; deliveries to one session may also use a service channel.
void check_message(std::string_view channel, std::string_view json, bool service_too = false) {
    auto kind = bayeux::kind_of(channel);
    bool fits = kind == bayeux::channel_kind::broadcast || (service_too && kind == bayeux::channel_kind::service);
    if (!bayeux::is_valid_channel(channel) || bayeux::is_wildcard(channel) || !fits)
        throw std::invalid_argument("'" + std::string(channel) + "' is not a channel one can send to");
    if (!json::is_valid_value(json)) throw std::invalid_argument("the message data is not one valid JSON value");
}

// Encke logs through spdlog's logger named "encke": created on first use and made the default
// logger, unless the program has registered a logger of that name itself (then that one is used
// as it is).
void ensure_logger(const std::string& level) {
    static std::once_flag once;
    std::call_once(once, [] {
        if (!spdlog::get("encke")) {
            auto logger = spdlog::stderr_color_mt("encke");
            logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
            spdlog::set_default_logger(logger);
        }
    });
    spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace

server::server(options o) : impl_(std::make_unique<impl>()) {
    auto& c = impl_->cfg;
    try {
        if (!o.config_file.empty()) c = node::load_config_file(o.config_file);
        else if (!o.config_text.empty()) c = node::parse_config(o.config_text, "options.config_text");
        if (o.listen) c.listen = *o.listen;
        if (o.threads) c.threads = *o.threads;
        if (o.path) c.bayeux.path = *o.path;
        if (o.web_root) c.http.web_root = *o.web_root;
        if (o.log_level) c.log_level = *o.log_level;
        node::split_listen(c.listen);
        if (c.bayeux.path.size() < 2 || c.bayeux.path[0] != '/' || c.bayeux.path.back() == '/')
            throw node::config_error("path must start with '/' and not end with '/'");
        node::validate(c);
    } catch (const node::config_error& e) {
        throw error(e.what());
    }
    impl_->handle_signals = o.handle_signals;
}

server::~server() {
    if (impl_->started.load()) {
        impl_->running->stop();
        impl_->running->run(false);
    }
}

void server::on_handshake(std::function<void(handshake_event&)> hook) {
    impl_->not_started("on_handshake");
    impl_->hooks.handshake = std::move(hook);
}
void server::on_subscribe(std::function<void(subscribe_event&)> hook) {
    impl_->not_started("on_subscribe");
    impl_->hooks.subscribe = std::move(hook);
}
void server::on_publish(std::function<void(publish_event&)> hook) {
    impl_->not_started("on_publish");
    impl_->hooks.publish = std::move(hook);
}
void server::on_session_added(std::function<void(const session_view&)> hook) {
    impl_->not_started("on_session_added");
    impl_->hooks.session_added = std::move(hook);
}
void server::on_session_removed(std::function<void(const session_view&)> hook) {
    impl_->not_started("on_session_removed");
    impl_->hooks.session_removed = std::move(hook);
}

void server::add_service(std::string channel, std::function<void(service_request&)> handler) {
    impl_->not_started("add_service");
    if (!bayeux::is_valid_channel(channel) || bayeux::is_wildcard(channel) ||
        bayeux::kind_of(channel) != bayeux::channel_kind::service || channel == "/service")
        throw std::invalid_argument("add_service: '" + channel + "' is not a /service/... channel");
    if (!handler) throw std::invalid_argument("add_service: empty handler for " + channel);
    impl_->hooks.services[channel] = std::move(handler);
}

void server::start() {
    auto& d = *impl_;
    std::lock_guard lock(d.m);
    if (d.running) throw std::logic_error("encke::server: start() may be called once");
    ensure_logger(d.cfg.log_level);
    // Writes to a peer that has gone away must be errors, never the end of the process.
    std::signal(SIGPIPE, SIG_IGN);
    try {
        d.running = std::make_unique<node::server>(d.cfg, d.hooks, true);
    } catch (const std::exception& e) {
        throw error(e.what());
    }
    // Running from here: a hook may call publish() or sessions_of() as soon as the threads start.
    d.started = true;
    try {
        d.running->start();
    } catch (const std::exception& e) {
        d.started = false;
        d.running.reset();
        throw error(e.what());
    }
    if (d.stop_requested.load()) d.running->stop();  // stop() came first: run() returns at once
}

unsigned short server::port() const { return impl_->live().port(); }

void server::run() {
    if (!impl_->running) start();
    impl_->running->run(impl_->handle_signals);
    impl_->started = false;
}

void server::stop() {
    std::lock_guard lock(impl_->m);
    impl_->stop_requested = true;
    if (impl_->running) impl_->running->stop();
}

void server::publish(std::string_view channel, std::string_view json) {
    check_message(channel, json);
    impl_->live().publish(channel, json);
}

std::size_t server::deliver_to_user(std::string_view user, std::string_view channel, std::string_view json) {
    check_message(channel, json, true);
    return impl_->live().deliver_to_user(user, channel, json);
}

bool server::deliver_to_session(std::string_view session_id, std::string_view channel, std::string_view json) {
    check_message(channel, json, true);
    return impl_->live().deliver_to_session(session_id, channel, json);
}

std::vector<std::string> server::sessions_of(std::string_view user) const {
    return impl_->live().directory().sessions_of(user);
}

std::vector<session_info> server::subscribers_of(std::string_view channel) const {
    auto& s = impl_->live();
    std::vector<session_info> out;
    for (auto& e : s.directory().subscribers_of(channel)) {
        // A wildcard subscriber the rules keep out of `channel` does not receive it.
        if (!s.may_subscribe(e.user, channel)) continue;
        out.push_back({std::move(e.id), std::move(e.user)});
    }
    return out;
}

}  // namespace encke
