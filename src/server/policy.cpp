#include "server/policy.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

#include "bayeux/protocol.hpp"
#include "json/values.hpp"
#include "json/writer.hpp"
#include "server/event_access.hpp"

namespace encke::node {

namespace {

std::int64_t now_unix() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string_view transport_name(bayeux::transport_kind k) {
    switch (k) {
        case bayeux::transport_kind::websocket: return "websocket";
        case bayeux::transport_kind::callback_polling: return "callback-polling";
        case bayeux::transport_kind::long_polling: break;
    }
    return "long-polling";
}

session_view view(const bayeux::session_info& s) { return {s.id, s.user}; }

}  // namespace

constexpr std::size_t max_webhook_ext = 16 * 1024;

std::string refusal(std::string_view reason) {
    std::string r = "403::";
    r += reason.empty() ? std::string_view("refused") : reason.substr(0, 100);
    return r;
}

app_policy::app_policy(const auth::settings& s, hooks h, engine::directory& dir,
                       std::shared_ptr<post_gate> gate)
    : settings_(s),
      hooks_(std::move(h)),
      dir_(dir),
      gate_(std::move(gate)),
      rules_(s.rules, s.default_subscribe, s.default_publish) {
    if (s.kind == auth::mode::jwt) jwt_ = std::make_unique<auth::jwt_verifier>(s);
    if (s.kind == auth::mode::webhook)
        webhook_ = std::make_unique<auth::webhook>(s.webhook_url, s.webhook_timeout_ms, s.webhook_cache_ms);
}

app_policy::~app_policy() = default;

void app_policy::start() {
    if (webhook_) webhook_->start();
}

std::string app_policy::health_json() const {
    std::string j = "\"auth\":{\"mode\":\"";
    j += auth::to_string(settings_.kind);
    j += "\",\"allowed\":" + std::to_string(auth_allowed_.load(std::memory_order_relaxed));
    j += ",\"refused\":" + std::to_string(auth_refused_.load(std::memory_order_relaxed));
    j += ",\"unavailable\":" + std::to_string(auth_unavailable_.load(std::memory_order_relaxed));
    j += "},\"hooks_failed\":" + std::to_string(hooks_failed_.load(std::memory_order_relaxed));
    j += ",\"users\":" + std::to_string(dir_.user_count());
    return j;
}

void app_policy::hook_failed(std::string_view which, const char* what) {
    hooks_failed_.fetch_add(1, std::memory_order_relaxed);
    // At most one line a second: a hook that always throws must not flood the log.
    auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    auto last = last_failure_log_.load(std::memory_order_relaxed);
    if (now - last >= 1'000'000'000 && last_failure_log_.compare_exchange_strong(last, now))
        spdlog::warn("{} hook threw: {} (refused; counted in /healthz hooks_failed)", which, what);
}

void app_policy::handshake(const bayeux::handshake_request& r,
                           std::function<void(bayeux::handshake_result)> done) {
    if (settings_.kind == auth::mode::none) return finish_handshake(r, {true, {}, {}}, done);
    if (settings_.kind == auth::mode::webhook) {
        // The whole ext goes to the application and into the cache: a bound keeps both small.
        if (r.ext.size() > max_webhook_ext) return finish_handshake(r, {false, {}, "400::ext_too_large"}, done);
        std::string body = "{\"ext\":";
        body += r.ext.empty() ? std::string_view("null") : r.ext;
        body += ",\"headers\":{";
        for (std::size_t i = 0; i < r.headers.size(); ++i) {
            if (i) body += ',';
            json::append_key(body, r.headers[i].name);
            json::append_string(body, r.headers[i].value);
        }
        body += "},\"transport\":\"";
        body += transport_name(r.kind);
        body += "\"}";
        // The answer comes on the webhook's thread; the rest runs on the shard again. The
        // request's views die with this call, so the hook gets copies.
        struct copy {
            std::string ext;
            std::vector<bayeux::header> headers;
            bayeux::transport_kind kind;
            unsigned shard;
        };
        auto c = std::make_shared<copy>(copy{std::string(r.ext), {r.headers.begin(), r.headers.end()}, r.kind, r.shard});
        webhook_->check(std::move(body), [this, c, done = std::move(done)](auth::verdict v) mutable {
            gate_->post(c->shard, [this, c, v = std::move(v), done = std::move(done)]() mutable {
                bayeux::handshake_request again{c->ext, c->headers, c->kind, c->shard};
                finish_handshake(again, std::move(v), done);
            });
        });
        return;
    }
    auto token = json::string_member(r.ext, settings_.ext_field);
    if (!token) {
        if (settings_.allow_anonymous) return finish_handshake(r, {true, {}, {}}, done);
        return finish_handshake(r, {false, {}, "403::token_missing"}, done);
    }
    auth::verdict v = settings_.kind == auth::mode::token
                          ? auth::verify_token(settings_.secret, *token, now_unix())
                          : jwt_->verify(*token, now_unix());
    finish_handshake(r, std::move(v), done);
}

void app_policy::finish_handshake(const bayeux::handshake_request& r, auth::verdict v,
                                  const std::function<void(bayeux::handshake_result)>& done) {
    if (!v.ok) {
        (v.error.starts_with("5") ? auth_unavailable_ : auth_refused_).fetch_add(1, std::memory_order_relaxed);
        return done({v.error.empty() ? "403::handshake_denied" : v.error, {}});
    }
    if (hooks_.handshake) {
        handshake_event e;
        std::span<const bayeux::header> headers = r.headers;
        detail::event_access::init(e, r.ext, transport_name(r.kind), &headers, std::move(v.user));
        if (!guarded("handshake", [&] { hooks_.handshake(e); })) return done({"500::hook_failed", {}});
        if (detail::event_access::refused(e)) {
            auth_refused_.fetch_add(1, std::memory_order_relaxed);
            return done({refusal(detail::event_access::reason(e)), {}});
        }
        v.user = std::move(detail::event_access::user(e));
    }
    auth_allowed_.fetch_add(1, std::memory_order_relaxed);
    done({{}, std::move(v.user)});
}

std::string app_policy::subscribe(const bayeux::session_info& s, std::string_view subscription) {
    if (!rules_.open() && !rules_.may_subscribe(s.user, subscription)) return "403::subscribe_denied";
    if (!hooks_.subscribe) return {};
    subscribe_event e;
    detail::event_access::init(e, view(s), subscription);
    if (!guarded("subscribe", [&] { hooks_.subscribe(e); })) return "500::hook_failed";
    return detail::event_access::refused(e) ? refusal(detail::event_access::reason(e)) : std::string();
}

bayeux::receive_verdict app_policy::may_receive(const bayeux::session_info& s, std::string_view channel) {
    using v = bayeux::receive_verdict;
    if (!rules_.open() && !rules_.may_subscribe(s.user, channel)) return v::deny;
    if (!hooks_.subscribe) return v::allow;
    // The application's subscribe hook, asked about the concrete channel (the protocol asks once
    // per session and channel): what it would refuse by name, no wildcard delivers.
    subscribe_event e;
    detail::event_access::init(e, view(s), channel, true);
    // A hook that threw is not remembered: the next message asks again.
    if (!guarded("subscribe", [&] { hooks_.subscribe(e); })) return v::deny_once;
    return detail::event_access::refused(e) ? v::deny : v::allow;
}

std::string app_policy::publish(const bayeux::session_info& s, std::string_view channel,
                                std::string_view data, std::string& replacement) {
    if (!rules_.open() && !rules_.may_publish(s.user, channel)) return "403::publish_denied";
    if (!hooks_.publish) return {};
    publish_event e;
    detail::event_access::init(e, view(s), channel, data);
    if (!guarded("publish", [&] { hooks_.publish(e); })) return "500::hook_failed";
    if (detail::event_access::refused(e)) return refusal(detail::event_access::reason(e));
    if (detail::event_access::replaced(e)) replacement = std::move(detail::event_access::replacement(e));
    return {};
}

bool app_policy::service(const bayeux::session_info& s, std::string_view channel, std::string_view data,
                         std::function<void(std::string_view, std::string_view)> done) {
    auto it = hooks_.services.find(channel);
    if (it == hooks_.services.end()) return false;
    int shard = bayeux::protocol::shard_of(s.id);
    auto st = std::make_shared<detail::responder_state>();
    st->done = std::move(done);
    st->gate = gate_;
    st->shard = shard < 0 ? 0u : static_cast<unsigned>(shard);
    st->in_handler = true;
    {
        // The request and the responders the handler keeps own the state; when the last goes
        // unanswered, the client is told (responder_state's destructor).
        service_request req;
        detail::event_access::init(req, view(s), channel, data, st);
        if (!guarded("service", [&] { it->second(req); })) st->answer("500::hook_failed", {});
    }
    // Nobody kept a responder: the request is answered now (500::no_reply, by the state's
    // destructor, into this reply). Otherwise a later answer is posted back to this shard.
    if (st.use_count() > 1) st->in_handler = false;
    st.reset();
    return true;
}

void app_policy::session_added(const bayeux::session_info& s) {
    dir_.add_session(s.id, s.user);
    if (!hooks_.session_added) return;
    guarded("session_added", [&] { hooks_.session_added(view(s)); });
}

void app_policy::session_removed(const bayeux::session_info& s) {
    dir_.remove_session(s.id, s.user);
    if (!hooks_.session_removed) return;
    guarded("session_removed", [&] { hooks_.session_removed(view(s)); });
}

void app_policy::subscribed(const bayeux::session_info& s, std::string_view subscription) {
    dir_.subscribe(s.id, s.user, subscription);
}

void app_policy::unsubscribed(const bayeux::session_info& s, std::string_view subscription) {
    dir_.unsubscribe(s.id, subscription);
}

}  // namespace encke::node
