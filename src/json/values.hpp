#pragma once
// Small JSON reads outside the Bayeux batch: checking a value, reading one member, and the body of
// POST /api/publish. simdjson stays in values.cpp.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace encke::json {

// One valid JSON value (any type), valid UTF-8, nested at most `max_depth` deep.
bool is_valid_value(std::string_view text, std::size_t max_depth = 64);

// The top-level member `key` of the JSON object `object_raw` when it is a string (unescaped);
// nullopt when the text is not an object, lacks the member, or the member is not a string.
std::optional<std::string> string_member(std::string_view object_raw, std::string_view key);

// POST /api/publish bodies: one object {"channel","data"[,"user"]} or an array of them.
struct api_item {
    std::string channel;
    std::string data;  // raw JSON
    std::optional<std::string> user;
};
struct api_parse {
    std::vector<api_item> items;
    std::string error;    // "" when fine: otherwise a code such as "invalid_json"
    std::string message;  // a sentence for the caller
};
api_parse parse_api_publish(std::string_view body, std::size_t max_items, std::size_t max_depth);

}  // namespace encke::json
