#pragma once
// Channel rules (docs/security.md): per channel pattern, who may subscribe and who may publish.
// Immutable after construction; thread-safe.
//
// Rule patterns are channel names whose segments may be `*` (any one segment), `**` (one or more
// segments, last only) or `{user}` (any one segment, bound to the owner). The first rule whose
// pattern matches decides; when none does, the defaults decide.
//
// A subscription name is matched as written: `/users/*` is a name of two segments whose second is
// the text "*". So a wildcard subscription is judged by the rules that match it literally, and the
// protocol also asks may_subscribe() for each channel a wildcard subscription would deliver
// (so `/**` never reaches a channel its session could not subscribe to directly).
#include <string>
#include <string_view>
#include <vector>

#include "auth/settings.hpp"

namespace encke::auth {

class rules {
public:
    // Throws std::invalid_argument with a one-line reason naming the rule: an invalid pattern,
    // `{user}` twice, or `owner` on a pattern without `{user}`.
    rules(std::vector<channel_rule> list, who default_subscribe, who default_publish);
    rules() : rules({}, who::anyone, who::anyone) {}

    // `user` is "" for an anonymous session.
    bool may_subscribe(std::string_view user, std::string_view channel) const;
    bool may_publish(std::string_view user, std::string_view channel) const;
    // True when every channel is open to anyone (no rules, defaults `anyone`): callers may skip
    // the checks.
    bool open() const noexcept { return open_; }

private:
    struct compiled {
        std::vector<std::string> segments;  // "*", "**", "{user}" or literal
        who subscribe, publish;
    };
    bool allowed(who w, const compiled* r, std::string_view user, std::string_view channel) const;
    const compiled* find(std::string_view channel) const;

    std::vector<compiled> rules_;
    who default_subscribe_, default_publish_;
    bool open_ = true;
};

}  // namespace encke::auth
