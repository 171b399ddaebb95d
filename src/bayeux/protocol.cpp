#include "bayeux/protocol.hpp"

#include <algorithm>
#include <optional>

#include "bayeux/channel.hpp"
#include "json/writer.hpp"
#include "util/ids.hpp"

namespace encke::bayeux {

namespace {

constexpr std::string_view supported_types_json = R"(["websocket","long-polling","callback-polling"])";
constexpr std::string_view known_types[] = {"websocket", "long-polling", "callback-polling"};
constexpr std::string_view advice_handshake = R"({"reconnect":"handshake","interval":0})";
constexpr std::string_view advice_none = R"({"reconnect":"none"})";

bool is_meta(std::string_view ch, std::string_view name) { return ch == name; }

// tc + o + l - ts for the timesync extension. The operands come from the client, so the sum is
// computed wide and saturated instead of overflowing.
std::int64_t saturated_offset(std::int64_t tc, std::int64_t o, std::int64_t l, std::int64_t ts) {
    __extension__ using wide = __int128;
    wide v = static_cast<wide>(tc) + o + l - ts;
    if (v > INT64_MAX) return INT64_MAX;
    if (v < INT64_MIN) return INT64_MIN;
    return static_cast<std::int64_t>(v);
}

// The CometD timesync reply member `"timesync":{tc, ts, p, a}`: `ts` when the request arrived,
// `p` the time the server kept it (a held connect's hold), `a` the client's offset error.
void append_timesync(std::string& r, std::int64_t tc, std::int64_t l, std::int64_t o,
                     std::int64_t ts, std::int64_t now) {
    r += "\"timesync\":{\"tc\":";
    json::append_int(r, tc);
    r += ",\"ts\":";
    json::append_int(r, ts);
    r += ",\"p\":";
    json::append_int(r, saturated_offset(now, 0, 0, ts));
    r += ",\"a\":";
    json::append_int(r, saturated_offset(tc, o, l, ts));
    r += '}';
}

}  // namespace

protocol::protocol(const settings& s, const util::clock& clock, unsigned shard_index)
    : settings_(s), clock_(clock), shard_(shard_index) {
    auto advice = [&](bool multiple) {
        std::string a = "{";
        if (multiple) a += "\"multiple-clients\":true,";
        a += "\"reconnect\":\"retry\",\"interval\":";
        json::append_int(a, multiple ? settings_.multi_session_interval_ms : settings_.interval_ms);
        a += ",\"timeout\":";
        json::append_int(a, settings_.timeout_ms);
        a += ",\"maxInterval\":";
        json::append_int(a, settings_.max_interval_ms);
        a += "}";
        return a;
    };
    advice_retry_ = advice(false);
    advice_multiple_ = advice(true);
    strip_keys_ = settings_.strip_ext_keys;
    if (!settings_.identity_ext_key.empty()) strip_keys_.push_back(settings_.identity_ext_key);
    next_sweep_ = clock_.now();
}

protocol::~protocol() = default;

int protocol::shard_of(std::string_view client_id) noexcept {
    if (client_id.size() != 26) return -1;
    return util::base36_value(client_id[0]);
}

std::string protocol::error_body(std::string_view error) {
    std::string r = R"([{"channel":"/meta/unsuccessful","successful":false,"error":)";
    json::append_string(r, error);
    r += "}]";
    return r;
}

namespace {
std::string error_reply(std::string head, std::string_view error) {
    head += ",\"error\":";
    json::append_string(head, error);
    head += '}';
    return head;
}
}  // namespace

// Replies to publishes that a bridge forwarded, on an HTTP request: the response is sent once the
// last of them is known. (On a WebSocket each reply is sent on its own as it comes.)
struct protocol::deferred_replies {
    std::vector<frame> parts;  // the whole response, with empty places for the waiting replies
    std::size_t waiting = 0;
    bool released = false;     // handle() has finished and moved the response in
    sink_ptr out;
};

std::string protocol::reply_head(const json::message& m, std::string_view channel, bool ok) const {
    std::string r;
    r.reserve(96);
    r += '{';
    if (!m.id.empty()) {
        r += "\"id\":";
        r += m.id;
        r += ',';
    }
    r += "\"channel\":";
    json::append_string(r, channel);
    r += ok ? ",\"successful\":true" : ",\"successful\":false";
    return r;
}

void protocol::timesync_ext(std::string& r, const json::message& m) const {
    if (!m.has_timesync) return;
    std::int64_t now = clock_.epoch_ms();
    r += ",\"ext\":{";
    append_timesync(r, m.timesync_tc, m.timesync_l, m.timesync_o, now, now);
    r += '}';
}

void protocol::handle(std::span<const json::message> batch, const request_context& ctx,
                      outcome& out) {
    auto now = clock_.now();
    if (batch.size() > settings_.max_messages_per_batch) {
        // Every message is refused, so no client callback waits for a reply that never comes.
        for (auto& m : batch) {
            std::string r = reply_head(m, m.channel_ok ? m.channel : "/meta/unsuccessful", false);
            r += ",\"error\":\"400::too_many_messages\"}";
            out.parts.push_back(make_frame(std::move(r)));
        }
        stats_.refused.fetch_add(batch.size(), std::memory_order_relaxed);
        return;
    }
    bool alone = batch.size() == 1;
    std::shared_ptr<deferred_replies> deferred;
    for (auto& m : batch) {
        if (!m.channel_ok) {
            std::string r = reply_head(m, "/meta/unsuccessful", false);
            r += m.has_channel ? ",\"error\":\"405::channel_invalid\"}"
                               : ",\"error\":\"400::channel_missing\"}";
            out.parts.push_back(make_frame(std::move(r)));
            stats_.refused.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        std::string_view ch = m.channel;
        if (is_meta(ch, "/meta/handshake")) {
            handshake(m, ctx, out, deferred);
            continue;
        }
        if (is_meta(ch, "/meta/connect")) {
            connect(m, ctx, alone, out);
            continue;
        }
        session* s = find(m, ctx);
        if (!s) {
            std::string r = reply_head(m, ch, false);
            r += ",\"error\":\"402::session_unknown\"}";
            out.parts.push_back(make_frame(std::move(r)));
            continue;
        }
        // Any message keeps the session alive for at least maxInterval more.
        s->expires_at = std::max(s->expires_at, now + util::millis(settings_.max_interval_ms));
        if (is_meta(ch, "/meta/subscribe")) subscribe(m, *s, false, out);
        else if (is_meta(ch, "/meta/unsubscribe")) subscribe(m, *s, true, out);
        else if (is_meta(ch, "/meta/disconnect")) disconnect(m, *s, out);
        else publish(m, *s, ctx, out, deferred);
    }
    if (deferred && deferred->waiting > 0) {
        // HTTP: the whole response waits for the broker; the replies keep their places.
        deferred->parts = std::move(out.parts);
        out.parts.clear();
        out.held = true;
        deferred->released = true;
    }
}

session* protocol::find(const json::message& m, const request_context& ctx) {
    if (m.client_id.empty()) return nullptr;
    auto it = sessions_.find(m.client_id);
    if (it == sessions_.end()) return nullptr;
    session& s = *it->second;
    if (ctx.kind != transport_kind::websocket && !s.browser_id.empty()) {
        // A different browser cookie never continues the session (it is someone else's id);
        // a missing one does unless the strict mode asks for it (PROTOCOL.md §4.2 decision).
        if (ctx.cookie_sent && ctx.browser_id != s.browser_id) return nullptr;
        if (!ctx.cookie_sent && settings_.require_browser_cookie) return nullptr;
    }
    if (ctx.kind == transport_kind::websocket && ctx.out && s.socket != ctx.out) s.socket = ctx.out;
    return &s;
}

void protocol::handshake(const json::message& m, const request_context& ctx, outcome& out,
                         std::shared_ptr<deferred_replies>& deferred) {
    if (m.has_supported_types) {
        bool common = std::any_of(m.supported_types.begin(), m.supported_types.end(), [](auto t) {
            return std::find(std::begin(known_types), std::end(known_types), t) !=
                   std::end(known_types);
        });
        if (!common) {
            std::string r = reply_head(m, "/meta/handshake", false);
            std::string types;
            for (std::size_t i = 0; i < m.supported_types.size(); ++i) {
                if (i) types += ',';
                types += m.supported_types[i];
            }
            r += ",\"error\":";
            json::append_string(r, "301:" + types + ":Connection types not supported");
            r += ",\"version\":\"1.0\",\"supportedConnectionTypes\":";
            r += supported_types_json;
            r += ",\"advice\":";
            r += advice_none;
            r += '}';
            out.parts.push_back(make_frame(std::move(r)));
            stats_.refused.fetch_add(1, std::memory_order_relaxed);
            return;
        }
    }
    handshake_args a{std::string(m.id), m.ext_ack_flag.value_or(false), stamp(m)};
    if (!policy_) {
        out.parts.push_back(make_frame(open_session(a, ctx, {}, &out.created)));
        return;
    }
    // The policy answers inside the call (a token) or later on this thread (a webhook).
    struct state {
        bool inside = true;
        std::optional<handshake_result> result;
        std::function<void(std::string)> reply;  // set when the answer comes later
    };
    auto st = std::make_shared<state>();
    handshake_request req;
    req.ext = m.ext;
    req.headers = ctx.headers;
    req.kind = ctx.kind;
    req.shard = shard_;
    policy_->handshake(req, [this, st, a, ctx](handshake_result r) mutable {
        if (st->inside) {
            st->result = std::move(r);
            return;
        }
        if (!st->reply) return;
        // A stopping server opens no session: the client comes back to the next process.
        if (stopping_ && r.error.empty()) r.error = "503::shutting_down";
        st->reply(r.error.empty() ? open_session(a, ctx, std::move(r.user), nullptr)
                                  : refuse_handshake(a, r.error));
    });
    st->inside = false;
    if (!st->result) {
        st->reply = defer_reply(ctx, out, deferred, [this, a] { return refuse_handshake(a, "503::shutting_down"); });
        return;
    }
    auto& r = *st->result;
    out.parts.push_back(make_frame(r.error.empty() ? open_session(a, ctx, std::move(r.user), &out.created)
                                                   : refuse_handshake(a, r.error)));
}

std::string protocol::refuse_handshake(const handshake_args& a, std::string_view error) {
    stats_.refused.fetch_add(1, std::memory_order_relaxed);
    stats_.handshakes_refused.fetch_add(1, std::memory_order_relaxed);
    json::message m;
    m.id = a.id;
    std::string r = reply_head(m, "/meta/handshake", false);
    r += ",\"error\":";
    json::append_string(r, error);
    // A refusal stands (403: the credentials will not get better by retrying, and a hook that
    // failed would most likely fail again); an unavailable authenticator or a stopping server
    // (503) is worth another try after a pause.
    r += error.starts_with("503") ? R"(,"advice":{"reconnect":"handshake","interval":2000})"
                                  : R"(,"advice":{"reconnect":"none"})";
    r += '}';
    return r;
}

std::string protocol::open_session(const handshake_args& a, const request_context& ctx,
                                   std::string user, std::string* created) {
    std::string id;
    id.reserve(26);
    id.push_back(util::base36_digit(shard_));
    id += util::random_base36(25);  // 25 * log2(36) ≈ 129 random bits
    auto s = std::make_shared<session>(id);
    s->browser_id = std::string(ctx.browser_id);
    s->user = std::move(user);
    s->kind = ctx.kind;
    s->expires_at = clock_.now() + util::millis(settings_.interval_ms + settings_.max_interval_ms);
    s->ack = a.ack;
    if (ctx.kind == transport_kind::websocket) s->socket = ctx.out;
    sessions_.emplace(id, s);
    if (created) *created = id;
    stats_.sessions.fetch_add(1, std::memory_order_relaxed);
    stats_.handshakes.fetch_add(1, std::memory_order_relaxed);
    if (policy_) policy_->session_added(info(*s));

    json::message m;
    m.id = a.id;
    std::string r = reply_head(m, "/meta/handshake", true);
    r += ",\"clientId\":\"";
    r += id;
    r += "\",\"version\":\"1.0\",\"minimumVersion\":\"1.0\",\"supportedConnectionTypes\":";
    r += supported_types_json;
    r += ",\"advice\":";
    r += advice_retry_;
    if (s->ack || a.ts.present) {
        r += ",\"ext\":{";
        if (s->ack) r += "\"ack\":true";
        if (a.ts.present) {
            if (s->ack) r += ',';
            append_timesync(r, a.ts.tc, a.ts.l, a.ts.o, a.ts.ts, clock_.epoch_ms());
        }
        r += '}';
    }
    r += '}';
    return r;
}

std::function<void(std::string)> protocol::defer_reply(const request_context& ctx, outcome& out,
                                                        std::shared_ptr<deferred_replies>& deferred,
                                                        std::function<std::string()> fallback) {
    if (!ctx.out) return [](std::string) {};
    // Remembered until answered, so that a stopping server answers it (shutdown()) instead of
    // leaving the client waiting for a reply that will never come.
    auto p = std::make_shared<pending_reply>();
    p->fallback = std::move(fallback);
    pending_.push_back(p);
    auto once = [p](std::string reply) {
        if (p->done) return;
        p->done = true;
        p->fill(std::move(reply));
    };
    if (ctx.out->persistent()) {
        // WebSocket: the reply is a frame of its own, whenever it comes.
        p->fill = [sink = ctx.out](std::string reply) {
            if (sink->open()) sink->send({make_frame(std::move(reply))});
        };
        return once;
    }
    // HTTP: the whole response waits; the reply keeps its place in it.
    if (!deferred) {
        deferred = std::make_shared<deferred_replies>();
        deferred->out = ctx.out;
    }
    std::size_t place = out.parts.size();
    out.parts.push_back(nullptr);
    ++deferred->waiting;
    // Never called before handle() has moved the response into `d` (every late answer is posted
    // back to this shard, or comes from the next loop turn).
    p->fill = [d = deferred, place](std::string reply) {
        d->parts[place] = make_frame(std::move(reply));
        if (--d->waiting == 0 && d->released && d->out->open()) d->out->send(std::move(d->parts));
    };
    return once;
}

void protocol::connect(const json::message& m, const request_context& ctx, bool alone,
                       outcome& out) {
    session* sp = find(m, ctx);
    if (!sp) {
        std::string r = reply_head(m, "/meta/connect", false);
        r += ",\"error\":\"402::session_unknown\",\"advice\":";
        r += advice_handshake;
        r += '}';
        out.parts.push_back(make_frame(std::move(r)));
        return;
    }
    session& s = *sp;
    auto now = clock_.now();
    if (s.ack && m.ext_ack_batch) drop_acknowledged(s, *m.ext_ack_batch);
    // One held connect per session: the newer one wins (PROTOCOL.md §2.2 item 4).
    if (s.held) {
        auto old = release_hold(s);
        if (!old.out->persistent()) old.out->fail(settings_.duplicate_connect_status);
    }
    // The client may ask for a shorter hold (0: answer now), never a longer one than the server's.
    std::int64_t timeout = std::clamp<std::int64_t>(m.advice_timeout.value_or(settings_.timeout_ms), 0,
                                                    settings_.timeout_ms);
    bool first = !s.connected;
    s.connected = true;
    s.kind = ctx.kind;
    bool websocket = ctx.kind == transport_kind::websocket;
    // Deliveries follow the transport of the latest connect (CometD's fallback from WebSocket to
    // long-polling keeps the session but leaves the old socket idle).
    if (!websocket) s.socket.reset();
    bool hold = timeout > 0 && !first && (websocket || alone) && !s.has_deliverable() && ctx.out &&
                !stopping_;
    std::string_view advice = advice_retry_;
    bool counted = false;
    if (hold && !websocket && settings_.max_sessions_per_browser > 0 && !ctx.browser_id.empty()) {
        // Browsers keep few connections per host; a second held long-poll from the same browser
        // would starve its other requests, so extra sessions poll instead (PROTOCOL.md §4.2).
        auto& n = browser_holds_[std::string(ctx.browser_id)];
        if (n >= settings_.max_sessions_per_browser) {
            hold = false;
            advice = advice_multiple_;
        } else {
            ++n;
            counted = true;
        }
    }
    if (hold) {
        held_connect h;
        h.out = ctx.out;
        h.id = std::string(m.id);
        h.deadline = now + util::millis(timeout);
        h.generation = ++generation_;
        if (counted) h.browser = std::string(ctx.browser_id);
        h.timesync = stamp(m);
        s.held = std::move(h);
        s.expires_at = util::time_point::max();
        // A hold answered early leaves its entry until the deadline: at one connect per
        // long-polling delivery that is rate × timeout entries. Once stale entries must
        // outnumber the live ones (a session holds one connect at most), they are dropped.
        if (timers_.size() >= 2 * sessions_.size() + 1024) compact_timers();
        timers_.push_back({s.held->deadline, s.held->generation, s.weak_from_this()});
        std::push_heap(timers_.begin(), timers_.end(), std::greater<>{});
        if (!websocket) out.held = true;
        return;
    }
    take_deliverable(s, out.parts);
    out.parts.push_back(make_frame(connect_reply(s, m.id, advice, stamp(m))));
    s.expires_at = now + util::millis(settings_.interval_ms + settings_.max_interval_ms);
}

timesync_stamp protocol::stamp(const json::message& m) const {
    if (!m.has_timesync) return {};
    return {true, m.timesync_tc, m.timesync_l, m.timesync_o, clock_.epoch_ms()};
}

std::string protocol::connect_reply(session& s, std::string_view id, std::string_view advice,
                                    const timesync_stamp& ts) {
    std::string r;
    r.reserve(160);
    r += '{';
    if (!id.empty()) {
        r += "\"id\":";
        r += id;
        r += ',';
    }
    r += R"("channel":"/meta/connect","successful":true,"advice":)";
    r += advice;
    bool timesync = ts.present;
    if (s.ack || timesync) {
        r += ",\"ext\":{";
        if (s.ack) {
            r += "\"ack\":";
            json::append_int(r, static_cast<std::int64_t>(s.ack_batch));
            ++s.ack_batch;
        }
        if (timesync) {
            if (s.ack) r += ',';
            append_timesync(r, ts.tc, ts.l, ts.o, ts.ts, clock_.epoch_ms());
        }
        r += '}';
    }
    r += '}';
    return r;
}

void protocol::take_deliverable(session& s, std::vector<frame>& parts) {
    if (s.ack) {
        // Everything not yet acknowledged goes out again, tagged with the batch being closed.
        for (auto& q : s.queue) parts.push_back(q.data);
        s.unsent = 0;
        return;
    }
    parts.reserve(parts.size() + s.queue.size() + 1);
    for (auto& q : s.queue) parts.push_back(std::move(q.data));
    stats_.delivered.fetch_add(s.queue.size(), std::memory_order_relaxed);
    s.queue.clear();
    s.queued_bytes = 0;
}

void protocol::drop_acknowledged(session& s, std::int64_t upto) {
    while (!s.queue.empty() && static_cast<std::int64_t>(s.queue.front().batch) <= upto &&
           s.queue.size() > s.unsent) {
        s.queued_bytes -= s.queue.front().data->size();
        s.queue.pop_front();
        stats_.delivered.fetch_add(1, std::memory_order_relaxed);
    }
}

held_connect protocol::release_hold(session& s) {
    held_connect h = std::move(*s.held);
    s.held.reset();
    if (!h.browser.empty()) {
        auto it = browser_holds_.find(h.browser);
        if (it != browser_holds_.end() && --it->second <= 0) browser_holds_.erase(it);
    }
    s.expires_at = clock_.now() + util::millis(settings_.interval_ms + settings_.max_interval_ms);
    return h;
}

void protocol::complete_held(session& s, end_reason why) {
    if (!s.held) return;
    held_connect h = release_hold(s);
    std::vector<frame> parts;
    if (why == end_reason::overflow) {
        // The session is gone with its queue: the client must handshake again.
        json::message m;
        m.id = h.id;
        std::string r = reply_head(m, "/meta/connect", false);
        r += ",\"error\":\"402::session_unknown\",\"advice\":";
        r += advice_handshake;
        r += '}';
        parts.push_back(make_frame(std::move(r)));
    } else {
        // A sink whose connection is gone gets nothing: the messages wait for the next connect.
        if (why != end_reason::disconnected && h.out->open()) take_deliverable(s, parts);
        std::string_view advice = why == end_reason::disconnected ? advice_none : advice_retry_;
        parts.push_back(make_frame(connect_reply(s, h.id, advice, h.timesync)));
    }
    h.out->send(std::move(parts));
}

void protocol::mark_dirty(session& s) {
    if (s.dirty) return;
    s.dirty = true;
    dirty_.push_back(s.shared_from_this());
    if (!flush_requested_ && request_flush_) {
        flush_requested_ = true;
        request_flush_();
    }
}

void protocol::subscribe(const json::message& m, session& s, bool unsubscribe, outcome& out) {
    std::string_view ch = unsubscribe ? "/meta/unsubscribe" : "/meta/subscribe";
    std::string_view error;
    std::string refusal;
    if (!m.has_subscription) {
        error = "403::subscription_missing";
    } else if (!m.subscription_ok) {
        error = "403::subscription_invalid";
    } else {
        // Every entry is judged before any is applied: a refused one leaves the session as it was
        // (the reply says successful:false for the whole message).
        std::vector<std::string_view> apply;
        for (auto sub : m.subscriptions) {
            if (!is_valid_channel(sub)) {
                error = "405::channel_invalid";
                break;
            }
            auto kind = kind_of(sub);
            if (kind == channel_kind::meta) {
                error = unsubscribe ? "403:denied_by_security_policy:unsubscribe_denied"
                                    : "403:denied_by_security_policy:subscribe_denied";
                break;
            }
            if (kind == channel_kind::service) continue;  // a successful no-op (CometD)
            bool has = s.subscriptions.contains(std::string(sub));
            bool twice = std::find(apply.begin(), apply.end(), sub) != apply.end();
            if (unsubscribe ? !has || twice : has || twice) continue;
            if (!unsubscribe) {
                if (s.subscriptions.size() + apply.size() >= settings_.max_subscriptions_per_session) {
                    error = "403::too_many_subscriptions";
                    break;
                }
                if (policy_) {
                    refusal = policy_->subscribe(info(s), sub);
                    if (!refusal.empty()) {
                        error = refusal;
                        break;
                    }
                }
            }
            apply.push_back(sub);
        }
        if (error.empty()) {
            for (auto sub : apply) {
                if (unsubscribe) {
                    index_.remove(sub, &s);
                    s.subscriptions.erase(std::string(sub));
                    if (policy_) policy_->unsubscribed(info(s), sub);
                } else {
                    s.subscriptions.emplace(sub);
                    index_.add(sub, &s);
                    if (policy_) policy_->subscribed(info(s), sub);
                }
            }
        }
    }
    std::string r = reply_head(m, ch, error.empty());
    if (!m.subscription_raw.empty()) {
        r += ",\"subscription\":";
        r += m.subscription_raw;
    }
    if (!error.empty()) {
        r += ",\"error\":";
        json::append_string(r, error);
        stats_.refused.fetch_add(1, std::memory_order_relaxed);
    }
    timesync_ext(r, m);
    r += '}';
    out.parts.push_back(make_frame(std::move(r)));
}

void protocol::disconnect(const json::message& m, session& s, outcome& out) {
    std::string r = reply_head(m, "/meta/disconnect", true);
    timesync_ext(r, m);
    r += '}';
    remove(s, end_reason::disconnected);
    out.parts.push_back(make_frame(std::move(r)));
}

void protocol::publish(const json::message& m, session& s, const request_context& ctx, outcome& out,
                       std::shared_ptr<deferred_replies>& deferred) {
    std::string_view ch = m.channel;
    std::string error;
    std::string replacement;
    if (!is_valid_channel(ch) || is_wildcard(ch)) error = "405::channel_invalid";
    else if (kind_of(ch) == channel_kind::meta) error = "403:denied_by_security_policy:publish_denied";
    else if (m.data.empty()) error = "402:data:Missing required parameter";
    else if (policy_) error = policy_->publish(info(s), ch, m.data, replacement);
    if (!error.empty()) {
        out.parts.push_back(make_frame(error_reply(reply_head(m, ch, false), error)));
        stats_.refused.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    std::string_view data = replacement.empty() ? m.data : std::string_view(replacement);
    auto kind = kind_of(ch);
    if (kind == channel_kind::service && policy_) {
        // A remote call: the handler's answer is the reply, with the answer as its `data`.
        std::string ok = reply_head(m, ch, true);
        std::string failed = reply_head(m, ch, false);
        struct state {
            bool inside = true;
            std::optional<std::string> reply;
            std::function<void(std::string)> later;
        };
        auto st = std::make_shared<state>();
        auto* counters = &stats_;
        bool handled = policy_->service(
            info(s), ch, data,
            [st, ok = std::move(ok), failed = std::move(failed), counters](std::string_view error,
                                                                           std::string_view answer) {
                std::string r;
                if (error.empty()) {
                    r = ok;
                    r += ",\"data\":";
                    r += answer.empty() ? std::string_view("null") : answer;
                    r += '}';
                } else {
                    counters->refused.fetch_add(1, std::memory_order_relaxed);
                    r = error_reply(failed, error);
                }
                if (st->inside) st->reply = std::move(r);
                else if (st->later) st->later(std::move(r));
            });
        st->inside = false;
        if (handled) {
            if (st->reply) out.parts.push_back(make_frame(std::move(*st->reply)));
            else st->later = defer_reply(ctx, out, deferred, [f = error_reply(reply_head(m, ch, false), "503::shutting_down")] { return f; });
            return;
        }
    }
    if (kind == channel_kind::broadcast && forwarder_ && ctx.out) {
        // The reply waits for the broker: `successful:true` only once it has the message. The
        // forwarder never answers inside forward(), so the reply's place is reserved first.
        std::string ok = reply_head(m, ch, true) + "}";
        std::string failed = reply_head(m, ch, false);
        std::size_t mark = out.parts.size();
        auto was_deferred = deferred;
        auto reply = defer_reply(ctx, out, deferred,
                                 [f = error_reply(reply_head(m, ch, false), "503::broker_unavailable")] { return f; });
        auto* counters = &stats_;
        if (forwarder_->forward(ch, data, [ok = std::move(ok), failed = std::move(failed), reply,
                                           counters](std::string_view error) {
                if (!error.empty()) counters->refused.fetch_add(1, std::memory_order_relaxed);
                reply(error.empty() ? ok : error_reply(failed, error));
            })) {
            stats_.published.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        // No route takes the channel: give the reserved place back.
        pending_.back()->done = true;
        if (out.parts.size() > mark) {
            out.parts.resize(mark);
            if (deferred && --deferred->waiting == 0 && !was_deferred) deferred.reset();
        }
    }
    if (kind == channel_kind::broadcast && publisher_) {
        // The delivery: the published message without id and clientId (PROTOCOL.md §3.5),
        // serialized once here and shared by every subscriber on every shard.
        std::string d;
        d.reserve(ch.size() + data.size() + m.ext.size() + 32);
        d += "{\"channel\":";
        json::append_string(d, ch);
        d += ",\"data\":";
        d += data;
        append_delivery_ext(d, m.ext, s.user);
        for (auto& f : m.others) {
            if (f.key == "successful" || f.key == "error") continue;
            d += ',';
            json::append_key(d, f.key);
            d += f.raw;
        }
        d += '}';
        stats_.published.fetch_add(1, std::memory_order_relaxed);
        publisher_->publish(ch, make_frame(std::move(d)), s.id());
    }
    // Service channels nothing handles: acknowledged, never fanned out.
    std::string r = reply_head(m, ch, true);
    r += '}';
    out.parts.push_back(make_frame(std::move(r)));
}

void protocol::append_delivery_ext(std::string& d, std::string_view ext, std::string_view user) const {
    const std::string& key = settings_.identity_ext_key;
    std::string_view kept = ext;
    std::string stripped;
    if (!ext.empty()) {
        // The identity key is the server's to write: a client's own value is dropped, whatever
        // escaping it hides behind (so the cheap test looks for the key and for any backslash).
        bool maybe_identity = !key.empty() && (ext.find(key) != std::string_view::npos ||
                                               ext.find('\\') != std::string_view::npos);
        if (maybe_identity || !settings_.strip_ext_keys.empty()) {
            stripped = json::without_keys(ext, strip_keys_);
            kept = stripped;
        }
    }
    if (user.empty() || key.empty()) {
        if (kept.empty()) return;
        d += ",\"ext\":";
        d += kept;
        return;
    }
    d += ",\"ext\":{";
    json::append_key(d, key);
    json::append_string(d, user);
    // The client's members follow, when its ext is an object with any.
    auto open = kept.find('{');
    auto close = kept.rfind('}');
    if (open != std::string_view::npos && close != std::string_view::npos && close > open &&
        kept.substr(0, open).find_first_not_of(" \t\r\n") == std::string_view::npos) {
        auto inner = kept.substr(open + 1, close - open - 1);
        if (inner.find_first_not_of(" \t\r\n") != std::string_view::npos) {
            d += ',';
            d += inner;
        }
    }
    d += '}';
}

void protocol::deliver_local(std::string_view channel, const frame& message,
                             std::string_view origin) {
    std::uint64_t epoch = ++fanout_epoch_;
    bool skip_origin = !settings_.broadcast_to_publisher && !origin.empty();
    bool filter = policy_ && policy_->filters_wildcards();
    bool ask_later = filter && policy_->wildcard_checks_call_application();
    std::vector<session_ptr> ask;  // wildcard subscribers the application is to be asked about
    index_.for_each_subscriber(channel, [&](session* s, std::string_view pattern) {
        if (s->fanout_epoch == epoch || s->doomed) return;
        // A wildcard never reaches a channel its session could not subscribe to by name. (An
        // exact subscription is visited first, so a session that has one is served by then.)
        if (filter && pattern.back() == '*') {
            if (ask_later) {
                auto known = remembered_verdict(*s, channel);
                if (!known) {
                    s->fanout_epoch = epoch;
                    ask.push_back(s->shared_from_this());
                    return;
                }
                if (!*known) return;
            } else if (policy_->may_receive(info(*s), channel) != receive_verdict::allow) {
                return;
            }
        }
        s->fanout_epoch = epoch;
        if (skip_origin && s->id() == origin) return;
        enqueue(*s, message);
    });
    // Application code runs only now, after the walk of the index: it may publish, which walks
    // the index again.
    for (auto& s : ask) {
        if (s->removed || s->doomed || !ask_application(*s, channel)) continue;
        if (skip_origin && s->id() == origin) continue;
        enqueue(*s, message);
    }
    // Sessions over their bound are removed in flush(), never inside a fan-out (the publisher
    // itself may be one of them, with its publish still on the stack).
    if (!doomed_.empty() && !flush_requested_ && request_flush_) {
        flush_requested_ = true;
        request_flush_();
    }
}

std::optional<bool> protocol::remembered_verdict(const session& s, std::string_view channel) const {
    if (!s.receive_verdicts) return std::nullopt;
    auto it = s.receive_verdicts->find(channel);
    if (it == s.receive_verdicts->end()) return std::nullopt;
    return it->second;
}

bool protocol::ask_application(session& s, std::string_view channel) {
    auto verdict = policy_->may_receive(info(s), channel);
    // Kept so that the application is asked once per session and channel, not per message;
    // bounded in entries and bytes (a long channel name is asked about each time).
    constexpr std::size_t max_entries = 32, max_channel = 128;
    if (verdict != receive_verdict::deny_once && channel.size() <= max_channel) {
        if (!s.receive_verdicts) s.receive_verdicts = std::make_unique<session::verdicts>();
        auto& v = *s.receive_verdicts;
        if (v.size() >= max_entries) v.clear();
        v.emplace(std::string(channel), verdict == receive_verdict::allow);
    }
    return verdict == receive_verdict::allow;
}

void protocol::enqueue(session& s, const frame& message) {
    if (s.queued_bytes + message->size() > settings_.max_queue_bytes) {
        // A client this far behind is cut off (after the fan-out, never inside it).
        s.doomed = true;
        doomed_.push_back(s.shared_from_this());
        return;
    }
    s.queue.push_back({message, s.ack ? s.ack_batch : 0});
    s.queued_bytes += message->size();
    if (s.ack) ++s.unsent;
    if (s.held || s.socket) mark_dirty(s);
}

bool protocol::deliver_to(std::string_view client_id, const frame& message) {
    auto it = sessions_.find(client_id);
    if (it == sessions_.end() || it->second->doomed) return false;
    enqueue(*it->second, message);
    stats_.private_delivered.fetch_add(1, std::memory_order_relaxed);
    if (!doomed_.empty() && !flush_requested_ && request_flush_) {
        flush_requested_ = true;
        request_flush_();
    }
    return true;
}

void protocol::flush() {
    flush_requested_ = false;
    if (!doomed_.empty()) {
        auto doomed = std::move(doomed_);
        doomed_.clear();
        for (auto& s : doomed) {
            stats_.sessions_overflowed.fetch_add(1, std::memory_order_relaxed);
            remove(*s, end_reason::overflow);
        }
    }
    auto dirty = std::move(dirty_);
    dirty_.clear();
    for (auto& sp : dirty) {
        session& s = *sp;
        s.dirty = false;
        if (s.doomed || s.removed) continue;
        if (s.held && (s.ack || !s.held->out->persistent())) {
            complete_held(s, end_reason::normal);
        } else if (!s.ack && !s.queue.empty()) {
            if (s.socket && !s.socket->open()) s.socket.reset();
            sink_ptr out = s.socket ? s.socket : (s.held ? s.held->out : nullptr);
            if (!out || !out->open()) continue;
            std::vector<frame> parts;
            take_deliverable(s, parts);
            out->send(std::move(parts));
        }
    }
}

void protocol::compact_timers() {
    std::erase_if(timers_, [](const hold_timer& t) {
        auto s = t.s.lock();
        return !s || !s->held || s->held->generation != t.generation;
    });
    std::make_heap(timers_.begin(), timers_.end(), std::greater<>{});
    if (timers_.capacity() > 4 * timers_.size() + 4096) timers_.shrink_to_fit();
}

void protocol::tick() {
    auto now = clock_.now();
    while (!timers_.empty() && timers_.front().deadline <= now) {
        std::pop_heap(timers_.begin(), timers_.end(), std::greater<>{});
        auto t = std::move(timers_.back());
        timers_.pop_back();
        auto s = t.s.lock();
        if (s && s->held && s->held->generation == t.generation) complete_held(*s, end_reason::normal);
    }
    if (now < next_sweep_) return;
    next_sweep_ = now + util::millis(1000);
    std::erase_if(pending_, [](const auto& p) { return p->done; });
    std::vector<session_ptr> expired;
    for (auto& [id, s] : sessions_)
        if (!s->held && s->expires_at <= now) expired.push_back(s);
    for (auto& s : expired) {
        stats_.sessions_expired.fetch_add(1, std::memory_order_relaxed);
        remove(*s, end_reason::disconnected);
    }
}

void protocol::remove(session& s, end_reason why) {
    auto keep = sessions_.find(s.id());
    if (keep == sessions_.end()) return;
    session_ptr alive = keep->second;  // `s` stays valid until the end of this function
    sessions_.erase(keep);
    s.removed = true;
    stats_.sessions.fetch_sub(1, std::memory_order_relaxed);
    for (auto& sub : s.subscriptions) {
        index_.remove(sub, &s);
        if (policy_) policy_->unsubscribed(info(s), sub);
    }
    s.subscriptions.clear();
    if (policy_) policy_->session_removed(info(s));
    complete_held(s, why);
    s.queue.clear();
    s.queued_bytes = 0;
    s.socket.reset();
}

void protocol::detach(std::string_view client_id, const sink* gone) {
    auto it = sessions_.find(client_id);
    if (it == sessions_.end()) return;
    session& s = *it->second;
    if (s.socket.get() == gone) s.socket.reset();
    if (s.held && s.held->out.get() == gone) release_hold(s);  // nothing to answer: it is gone
}

void protocol::shutdown() {
    stopping_ = true;  // from now on connects are answered at once
    for (auto& [id, s] : sessions_) complete_held(*s, end_reason::shutdown);
    // Replies still waiting for a webhook, a handler or a broker: answered now, with a 503 the
    // client retries against the next process.
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& p : pending) {
        if (p->done) continue;
        p->done = true;
        p->fill(p->fallback ? p->fallback() : std::string());
    }
}

}  // namespace encke::bayeux
