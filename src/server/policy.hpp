#pragma once
// The application's decisions for the protocol (bayeux::policy): the [auth] mode (token, JWT or
// webhook), the [[channel]] rules, the hooks of include/encke/, and the directory of who is here.
#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "auth/rules.hpp"
#include "auth/settings.hpp"
#include "auth/token.hpp"
#include "auth/webhook.hpp"
#include "bayeux/policy.hpp"
#include "encke/events.hpp"
#include "engine/directory.hpp"
#include "server/post_gate.hpp"
#include "util/string_hash.hpp"

namespace encke::node {

// The C++ hooks (include/encke/server.hpp). Empty functions are not called.
struct hooks {
    std::function<void(handshake_event&)> handshake;
    std::function<void(subscribe_event&)> subscribe;
    std::function<void(publish_event&)> publish;
    std::function<void(const session_view&)> session_added;
    std::function<void(const session_view&)> session_removed;
    std::unordered_map<std::string, std::function<void(service_request&)>, util::string_hash, std::equal_to<>>
        services;

    bool empty() const noexcept {
        return !handshake && !subscribe && !publish && !session_added && !session_removed && services.empty();
    }
};

class app_policy final : public bayeux::policy {
public:
    // `gate` leads back onto the shards. Throws std::invalid_argument with a one-line reason (a
    // JWT key that does not load, a bad webhook URL).
    app_policy(const auth::settings& s, hooks h, engine::directory& dir, std::shared_ptr<post_gate> gate);
    ~app_policy() override;

    void start();  // the webhook's thread, when there is one
    const auth::rules& rules() const noexcept { return rules_; }
    // `"auth":{...},"hooks_failed":N` for /healthz.
    std::string health_json() const;

    void handshake(const bayeux::handshake_request& r,
                   std::function<void(bayeux::handshake_result)> done) override;
    std::string subscribe(const bayeux::session_info& s, std::string_view subscription) override;
    // Rules or an application subscribe hook: both are asked about wildcard deliveries.
    bool filters_wildcards() const noexcept override { return !rules_.open() || hooks_.subscribe; }
    bool wildcard_checks_call_application() const noexcept override { return static_cast<bool>(hooks_.subscribe); }
    bayeux::receive_verdict may_receive(const bayeux::session_info& s, std::string_view channel) override;
    std::string publish(const bayeux::session_info& s, std::string_view channel, std::string_view data,
                        std::string& replacement) override;
    bool service(const bayeux::session_info& s, std::string_view channel, std::string_view data,
                 std::function<void(std::string_view, std::string_view)> done) override;
    void session_added(const bayeux::session_info& s) override;
    void session_removed(const bayeux::session_info& s) override;
    void subscribed(const bayeux::session_info& s, std::string_view subscription) override;
    void unsubscribed(const bayeux::session_info& s, std::string_view subscription) override;

private:
    // The application's own hook after the configured mode said yes.
    void finish_handshake(const bayeux::handshake_request& r, auth::verdict v,
                          const std::function<void(bayeux::handshake_result)>& done);
    void hook_failed(std::string_view which, const char* what);
    // Runs application code: false when it threw (then logged, at most once a second, and counted).
    template <class F>
    bool guarded(std::string_view which, F&& f) {
        try {
            f();
            return true;
        } catch (const std::exception& x) {
            hook_failed(which, x.what());
        } catch (...) {
            hook_failed(which, "an exception that is not a std::exception");
        }
        return false;
    }

    auth::settings settings_;
    hooks hooks_;
    engine::directory& dir_;
    std::shared_ptr<post_gate> gate_;
    auth::rules rules_;
    std::unique_ptr<auth::jwt_verifier> jwt_;
    std::unique_ptr<auth::webhook> webhook_;
    std::atomic<std::uint64_t> hooks_failed_{0};
    std::atomic<std::uint64_t> auth_allowed_{0};
    std::atomic<std::uint64_t> auth_refused_{0};
    std::atomic<std::uint64_t> auth_unavailable_{0};
    std::atomic<std::int64_t> last_failure_log_{0};
};

// A Bayeux error text for a refusal reason an application gave: "403::<reason>", with the
// reason cut to 100 characters.
std::string refusal(std::string_view reason);

}  // namespace encke::node
