#include "auth/rules.hpp"

#include <stdexcept>

#include "auth/token.hpp"

namespace encke::auth {

namespace {

constexpr std::string_view user_segment = "{user}";

// A name the rules can judge: "/a/b", no empty segment. The protocol refuses other names before
// asking; refusing them here too keeps a malformed name from slipping past a rule to a default.
bool well_formed(std::string_view channel) noexcept {
    return channel.size() >= 2 && channel.front() == '/' && channel.back() != '/' &&
           channel.find("//") == std::string_view::npos;
}

// Matches a well-formed channel against a rule's segments without allocating; `bound` receives
// the channel segment under `{user}`. Linear in the number of segments.
bool match(const std::vector<std::string>& pattern, std::string_view channel,
           std::string_view* bound) noexcept {
    std::string_view rest = channel.substr(1);  // well-formed: non-empty, no empty segment
    for (const auto& p : pattern) {
        if (p == "**") return !rest.empty();  // last by construction; one or more segments
        if (rest.empty()) return false;
        auto slash = rest.find('/');
        std::string_view seg = rest.substr(0, slash);
        rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
        if (p == "*") continue;
        if (p == user_segment) {
            if (bound) *bound = seg;
            continue;
        }
        if (p != seg) return false;
    }
    return rest.empty();
}

}  // namespace

rules::rules(std::vector<channel_rule> list, who default_subscribe, who default_publish)
    : default_subscribe_(default_subscribe), default_publish_(default_publish) {
    // A default applies to channels no rule matched, so there is no `{user}` to own.
    if (default_subscribe == who::owner || default_publish == who::owner)
        throw std::invalid_argument(
            "channel rules: the default cannot be 'owner' (it needs a pattern with '{user}')");
    rules_.reserve(list.size());
    for (auto& rule : list) {
        auto fail = [&](std::string_view problem) {
            throw std::invalid_argument("channel rule '" + rule.pattern +
                                        "': " + std::string(problem));
        };
        std::string_view pattern = rule.pattern;
        if (pattern.empty() || pattern.front() != '/') fail("must start with '/'");
        compiled c{{}, rule.subscribe, rule.publish};
        bool has_user = false;
        std::string_view rest = pattern.substr(1);
        while (true) {
            auto slash = rest.find('/');
            std::string_view seg = rest.substr(0, slash);
            bool last = slash == std::string_view::npos;
            if (seg.empty()) fail("empty segment");
            if (seg == "**") {
                if (!last) fail("'**' must be the last segment");
            } else if (seg == user_segment) {
                if (has_user) fail("'{user}' may appear only once");
                has_user = true;
            } else if (seg.find_first_of("{}") != std::string_view::npos) {
                fail("'{' and '}' are allowed only as the whole segment '{user}'");
            } else if (seg != "*" && seg.find('*') != std::string_view::npos) {
                fail("'*' is allowed only as a whole segment '*' or '**'");
            }
            c.segments.emplace_back(seg);
            if (last) break;
            rest = rest.substr(slash + 1);
        }
        if (!has_user && (rule.subscribe == who::owner || rule.publish == who::owner))
            fail("'owner' needs a '{user}' segment in the pattern");
        rules_.push_back(std::move(c));
    }
    open_ = rules_.empty() && default_subscribe == who::anyone && default_publish == who::anyone;
}

bool rules::may_subscribe(std::string_view user, std::string_view channel) const {
    if (open_) return true;
    if (!well_formed(channel)) return false;
    const compiled* r = find(channel);
    return allowed(r ? r->subscribe : default_subscribe_, r, user, channel);
}

bool rules::may_publish(std::string_view user, std::string_view channel) const {
    if (open_) return true;
    if (!well_formed(channel)) return false;
    const compiled* r = find(channel);
    return allowed(r ? r->publish : default_publish_, r, user, channel);
}

bool rules::allowed(who w, const compiled* r, std::string_view user,
                    std::string_view channel) const {
    switch (w) {
        case who::anyone:
            return true;
        case who::authenticated:
            return !user.empty();
        case who::none:
            return false;
        case who::owner: {
            // A user id that is not a valid one (say "*", from an embedder's own auth) must not
            // own the literal segment "*" of a wildcard subscription such as `/users/*/**`.
            if (!r || !valid_user_id(user)) return false;
            std::string_view bound;
            return match(r->segments, channel, &bound) && bound == user;
        }
    }
    return false;
}

// Linear in the number of rules (first match wins, so order matters and no index is kept).
const rules::compiled* rules::find(std::string_view channel) const {
    for (const auto& r : rules_)
        if (match(r.segments, channel, nullptr)) return &r;
    return nullptr;
}

}  // namespace encke::auth
