// The public event objects' functions (include/encke/events.hpp).
#include <strings.h>

#include "auth/token.hpp"
#include "json/values.hpp"
#include "server/event_access.hpp"
#include "server/policy.hpp"

namespace encke {

std::optional<std::string> handshake_event::ext_string(std::string_view key) const {
    return json::string_member(ext_, key);
}

std::string_view handshake_event::header(std::string_view name) const noexcept {
    if (!headers_) return {};
    for (auto& h : *static_cast<const std::span<const bayeux::header>*>(headers_))
        if (h.name.size() == name.size() && ::strncasecmp(h.name.data(), name.data(), name.size()) == 0)
            return h.value;
    return {};
}

void handshake_event::set_user(std::string user) {
    if (!auth::valid_user_id(user))
        throw std::invalid_argument("set_user: '" + user + "' is not a valid user id (1-128 of A-Z a-z 0-9 !#$()+-.@_~)");
    user_ = std::move(user);
}

void publish_event::replace_data(std::string json) {
    if (!json::is_valid_value(json)) throw std::invalid_argument("replace_data: not one valid JSON value");
    replacement_ = std::move(json);
    replaced_ = true;
}

void responder::reply(std::string json) const {
    if (!json::is_valid_value(json)) throw std::invalid_argument("reply: not one valid JSON value");
    if (state_) state_->answer({}, std::move(json));
}

void responder::fail(std::string reason) const {
    if (state_) state_->answer(node::refusal(reason), {});
}

void service_request::reply(std::string json) { responder_.reply(std::move(json)); }
void service_request::fail(std::string reason) { responder_.fail(std::move(reason)); }
responder service_request::defer() { return responder_; }

namespace detail {

void responder_state::answer(std::string error, std::string data) {
    if (answered.exchange(true)) return;
    if (in_handler.load() && gate->on_shard(shard)) {
        done(error, data);
        return;
    }
    // Dropped once the server has stopped (its pending replies were answered at shutdown).
    gate->post(shard, [d = done, error = std::move(error), data = std::move(data)] { d(error, data); });
}

responder_state::~responder_state() {
    if (answered.load()) return;
    try {
        answer("500::no_reply", {});
    } catch (...) {
        // Destructors do not throw; an unanswered request then times out on the client.
    }
}

}  // namespace detail
}  // namespace encke
