#include "json/batch.hpp"

#include <simdjson.h>

#include <algorithm>

#include "json/writer.hpp"

#include <deque>
#include <string>

namespace encke::json {

namespace od = simdjson::ondemand;

std::string_view to_string(parse_error e) noexcept {
    switch (e) {
        case parse_error::none: return "none";
        case parse_error::invalid_json: return "invalid_json";
        case parse_error::invalid_utf8: return "invalid_utf8";
        case parse_error::too_deep: return "json_too_deep";
        case parse_error::not_messages: return "not_messages";
        case parse_error::empty: return "empty_batch";
    }
    return "invalid_json";
}

struct batch_parser::impl {
    std::size_t max_depth;
    simdjson::dom::parser validator;
    od::parser parser;
    od::parser ext_parser;
    simdjson::padded_string text;
    std::deque<std::string> owned;  // decoded subscription-array strings (stable addresses)
};

batch_parser::batch_parser(std::size_t max_depth) : impl_(std::make_unique<impl>()) {
    impl_->max_depth = max_depth;
}

batch_parser::~batch_parser() = default;

namespace {

void trim_right(std::string_view& s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t'))
        s.remove_suffix(1);
}

// The JSON text of any value. (simdjson 3.0's value has no raw_json(); arrays and objects do.)
simdjson::error_code raw_of(od::value v, std::string_view& out) {
    od::json_type t;
    if (auto e = v.type().get(t)) return e;
    if (t == od::json_type::object) {
        od::object o;
        if (auto e = v.get_object().get(o)) return e;
        if (auto e = o.raw_json().get(out)) return e;
        trim_right(out);
        return simdjson::SUCCESS;
    }
    if (t == od::json_type::array) {
        od::array a;
        if (auto e = v.get_array().get(a)) return e;
        if (auto e = a.raw_json().get(out)) return e;
        trim_right(out);
        return simdjson::SUCCESS;
    }
    out = v.raw_json_token();
    trim_right(out);
    return simdjson::SUCCESS;
}

bool as_int(od::value v, std::int64_t& out) {
    od::number_type nt;
    if (v.get_number_type().get(nt)) return false;
    if (nt == od::number_type::floating_point_number) {
        double d;
        if (v.get_double().get(d)) return false;
        // Saturate: converting an out-of-range double is undefined behaviour.
        if (d >= 9.2e18) out = INT64_MAX;
        else if (d <= -9.2e18) out = INT64_MIN;
        else out = static_cast<std::int64_t>(d);
        return true;
    }
    if (nt == od::number_type::unsigned_integer) {
        std::uint64_t u;
        if (v.get_uint64().get(u)) return false;
        out = u > INT64_MAX ? INT64_MAX : static_cast<std::int64_t>(u);
        return true;
    }
    return !v.get_int64().get(out);
}

void read_advice(od::value v, message& m) {
    od::object o;
    if (v.get_object().get(o)) return;
    for (auto f : o) {
        std::string_view k;
        if (f.unescaped_key().get(k)) return;
        std::int64_t n;
        if (k == "timeout" && as_int(f.value(), n)) m.advice_timeout = n;
        else if (k == "interval" && as_int(f.value(), n)) m.advice_interval = n;
    }
}

// Reads the extension fields the server acts on from the raw `ext` text. The raw text lies inside
// the padded batch buffer, so it can be iterated in place.
void read_ext(od::parser& p, std::string_view raw, std::size_t capacity, message& m) {
    od::document doc;
    if (p.iterate(raw.data(), raw.size(), capacity).get(doc)) return;
    od::object o;
    if (doc.get_object().get(o)) return;
    for (auto f : o) {
        std::string_view k;
        if (f.unescaped_key().get(k)) return;
        od::value v;
        if (f.value().get(v)) return;
        if (k == "ack") {
            od::json_type t;
            if (v.type().get(t)) return;
            if (t == od::json_type::boolean) {
                bool b;
                if (!v.get_bool().get(b)) m.ext_ack_flag = b;
            } else if (t == od::json_type::number) {
                std::int64_t n;
                if (as_int(v, n)) m.ext_ack_batch = n;
            }
        } else if (k == "timesync") {
            od::object ts;
            if (v.get_object().get(ts)) continue;
            m.has_timesync = true;
            for (auto tf : ts) {
                std::string_view tk;
                if (tf.unescaped_key().get(tk)) return;
                std::int64_t n = 0;
                if (!as_int(tf.value(), n)) continue;
                if (tk == "tc") m.timesync_tc = n;
                else if (tk == "l") m.timesync_l = n, m.timesync_has_l = true;
                else if (tk == "o") m.timesync_o = n;
            }
        }
    }
}

simdjson::error_code read_message(od::object obj, message& m, od::parser& ext_parser,
                                  const char* buf_end) {
    for (auto f : obj) {
        std::string_view key;
        if (auto e = f.unescaped_key().get(key)) return e;
        od::value v;
        if (auto e = f.value().get(v)) return e;
        if (key == "channel") {
            m.has_channel = true;
            m.channel_ok = !v.get_string().get(m.channel);
            if (!m.channel_ok) {
                std::string_view ignored;
                if (auto e = raw_of(v, ignored)) return e;
            }
        } else if (key == "clientId") {
            if (v.get_string().get(m.client_id)) {
                std::string_view ignored;
                if (auto e = raw_of(v, ignored)) return e;
            }
        } else if (key == "id") {
            if (auto e = raw_of(v, m.id)) return e;
        } else if (key == "data") {
            if (auto e = raw_of(v, m.data)) return e;
        } else if (key == "ext") {
            if (auto e = raw_of(v, m.ext)) return e;
            if (!m.ext.empty() && m.ext.front() == '{')
                read_ext(ext_parser, m.ext, static_cast<std::size_t>(buf_end - m.ext.data()), m);
        } else if (key == "connectionType") {
            if (v.get_string().get(m.connection_type)) m.connection_type = {};
        } else if (key == "supportedConnectionTypes") {
            m.has_supported_types = true;
            od::array a;
            if (!v.get_array().get(a)) {
                for (auto el : a) {
                    std::string_view s;
                    if (!el.get_string().get(s)) m.supported_types.push_back(s);
                }
            }
        } else if (key == "subscription") {
            m.has_subscription = true;
            od::json_type t;
            if (auto e = v.type().get(t)) return e;
            if (t == od::json_type::string) {
                std::string_view s;
                m.subscription_raw = v.raw_json_token();
                while (!m.subscription_raw.empty() && m.subscription_raw.back() != '"')
                    m.subscription_raw.remove_suffix(1);
                if (auto e = v.get_string().get(s)) return e;
                m.subscriptions.push_back(s);
                m.subscription_ok = true;
            } else if (t == od::json_type::array) {
                od::array a;
                if (auto e = v.get_array().get(a)) return e;
                // Raw text first (for the echo), then the strings from a second pass.
                if (auto e = a.raw_json().get(m.subscription_raw)) return e;
                trim_right(m.subscription_raw);
                m.subscription_ok = true;
            } else {
                std::string_view ignored;
                if (auto e = raw_of(v, ignored)) return e;
            }
        } else if (key == "advice") {
            read_advice(v, m);
        } else {
            std::string_view raw;
            if (auto e = raw_of(v, raw)) return e;
            m.others.push_back({key, raw});
        }
    }
    return simdjson::SUCCESS;
}

// The strings of a subscription array, from its raw text (which lies in the padded buffer).
void read_subscription_array(od::parser& p, const char* buf_end, std::deque<std::string>& owned,
                             message& m) {
    od::document doc;
    auto raw = m.subscription_raw;
    if (p.iterate(raw.data(), raw.size(), static_cast<std::size_t>(buf_end - raw.data())).get(doc)) {
        m.subscription_ok = false;
        return;
    }
    od::array a;
    if (doc.get_array().get(a)) {
        m.subscription_ok = false;
        return;
    }
    for (auto el : a) {
        std::string_view s;
        if (el.get_string().get(s)) {
            m.subscription_ok = false;
            return;
        }
        m.subscriptions.push_back(owned.emplace_back(s));
    }
    if (m.subscriptions.empty()) m.subscription_ok = false;
}

}  // namespace

parse_error batch_parser::parse(std::string_view text, std::vector<message>& out) {
    out.clear();
    auto& d = *impl_;
    d.owned.clear();
    d.text = simdjson::padded_string(text);
    if (d.validator.capacity() < text.size() || d.validator.max_depth() != d.max_depth) {
        if (d.validator.allocate(std::max<std::size_t>(text.size(), 4096), d.max_depth))
            return parse_error::invalid_json;
    }
    simdjson::dom::element root;
    switch (d.validator.parse(d.text).get(root)) {
        case simdjson::SUCCESS: break;
        case simdjson::UTF8_ERROR: return parse_error::invalid_utf8;
        case simdjson::DEPTH_ERROR: return parse_error::too_deep;
        default: return parse_error::invalid_json;
    }
    const char* buf_end = d.text.data() + d.text.size() + simdjson::SIMDJSON_PADDING;
    od::document doc;
    if (d.parser.iterate(d.text).get(doc)) return parse_error::invalid_json;
    od::json_type t;
    if (doc.type().get(t)) return parse_error::invalid_json;
    // Subscription arrays are decoded after the main pass, with the second parser, because one
    // ondemand parser walks one document at a time.
    std::vector<std::size_t> with_array_subscription;
    if (t == od::json_type::object) {
        od::object o;
        if (doc.get_object().get(o)) return parse_error::invalid_json;
        out.emplace_back();
        if (read_message(o, out.back(), d.ext_parser, buf_end)) return parse_error::invalid_json;
    } else if (t == od::json_type::array) {
        od::array a;
        if (doc.get_array().get(a)) return parse_error::invalid_json;
        for (auto el : a) {
            od::object o;
            if (el.get_object().get(o)) return parse_error::not_messages;
            out.emplace_back();
            if (read_message(o, out.back(), d.ext_parser, buf_end)) return parse_error::invalid_json;
        }
        if (out.empty()) return parse_error::empty;
    } else {
        return parse_error::not_messages;
    }
    for (auto& m : out)
        if (m.subscription_ok && !m.subscription_raw.empty() && m.subscription_raw.front() == '[')
            read_subscription_array(d.ext_parser, buf_end, d.owned, m);
    return parse_error::none;
}

std::string without_keys(std::string_view object_raw, const std::vector<std::string>& keys) {
    simdjson::padded_string text(object_raw);
    od::parser p;
    od::document doc;
    od::object o;
    if (p.iterate(text).get(doc) || doc.get_object().get(o)) return std::string(object_raw);
    std::string out = "{";
    bool removed = false;
    for (auto f : o) {
        std::string_view k, raw;
        od::value v;
        if (f.unescaped_key().get(k) || f.value().get(v) || raw_of(v, raw)) return std::string(object_raw);
        if (std::find(keys.begin(), keys.end(), k) != keys.end()) {
            removed = true;
            continue;
        }
        if (out.size() > 1) out += ',';
        append_key(out, k);
        out += raw;
    }
    out += '}';
    return removed ? out : std::string(object_raw);
}

}  // namespace encke::json
