#include "json/values.hpp"

#include <simdjson.h>

namespace encke::json {

namespace dom = simdjson::dom;

namespace {

bool parse_dom(dom::parser& p, std::string_view text, std::size_t max_depth, dom::element& out) {
    if (p.allocate(std::max<std::size_t>(text.size(), 64), max_depth)) return false;
    return !p.parse(text.data(), text.size(), true).get(out);
}

}  // namespace

bool is_valid_value(std::string_view text, std::size_t max_depth) {
    dom::parser p;
    dom::element e;
    return parse_dom(p, text, max_depth, e);
}

std::optional<std::string> string_member(std::string_view object_raw, std::string_view key) {
    if (object_raw.empty()) return std::nullopt;
    dom::parser p;
    dom::element e;
    dom::object o;
    if (!parse_dom(p, object_raw, 64, e) || e.get_object().get(o)) return std::nullopt;
    std::string_view v;
    if (o.at_key(key).get_string().get(v)) return std::nullopt;
    return std::string(v);
}

api_parse parse_api_publish(std::string_view body, std::size_t max_items, std::size_t max_depth) {
    api_parse r;
    auto fail = [&](std::string code, std::string message) {
        r.items.clear();
        r.error = std::move(code);
        r.message = std::move(message);
        return r;
    };
    dom::parser p;
    dom::element root;
    if (!parse_dom(p, body, max_depth, root))
        return fail("invalid_json", "the body is not valid JSON (or nests deeper than " +
                                        std::to_string(max_depth) + ")");
    std::vector<dom::element> list;
    dom::array arr;
    if (!root.get_array().get(arr)) {
        for (dom::element el : arr) list.push_back(el);
        if (list.empty()) return fail("empty_batch", "the array holds no messages");
    } else {
        list.push_back(root);
    }
    if (list.size() > max_items)
        return fail("too_many_messages", "at most " + std::to_string(max_items) + " messages per request");
    for (std::size_t i = 0; i < list.size(); ++i) {
        std::string where = list.size() > 1 ? "message " + std::to_string(i) + ": " : "";
        dom::object o;
        if (list[i].get_object().get(o)) return fail("not_an_object", where + "expected {\"channel\":...,\"data\":...}");
        api_item item;
        bool has_data = false;
        for (auto field : o) {
            if (field.key == "channel") {
                std::string_view c;
                if (field.value.get_string().get(c)) return fail("channel_invalid", where + "channel must be a string");
                item.channel = std::string(c);
            } else if (field.key == "data") {
                item.data = simdjson::minify(field.value);
                has_data = true;
            } else if (field.key == "user") {
                std::string_view u;
                if (field.value.get_string().get(u)) return fail("user_invalid", where + "user must be a string");
                item.user = std::string(u);
            } else {
                return fail("unknown_field", where + "unknown member '" + std::string(field.key) +
                                                 "' (expected channel, data, user)");
            }
        }
        if (item.channel.empty()) return fail("channel_missing", where + "channel is required");
        if (!has_data) return fail("data_missing", where + "data is required");
        r.items.push_back(std::move(item));
    }
    return r;
}

}  // namespace encke::json
