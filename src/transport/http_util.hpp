#pragma once
// Small HTTP helpers with no Beast dependency (unit-testable): URL and form decoding, cookies,
// dates, content types, JSONP callback names, origin checks.
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace encke::transport {

// Percent-decoding; `plus_is_space` for form values. nullopt on a malformed escape.
std::optional<std::string> url_decode(std::string_view s, bool plus_is_space);

// All values of parameter `name` in a query string or form body, decoded.
std::vector<std::string> form_values(std::string_view query, std::string_view name);

// The value of cookie `name` in a Cookie header, or "".
std::string_view cookie_value(std::string_view header, std::string_view name);

// RFC 7231 IMF-fixdate, and its parser (nullopt when not a valid date).
std::string http_date(std::time_t t);
std::optional<std::time_t> parse_http_date(std::string_view s);

// Content type for a file name's extension ("application/octet-stream" when unknown).
std::string_view content_type_for(std::string_view path);

// 1-64 characters of [A-Za-z0-9._$-] (PROTOCOL.md §4.3 decision).
bool valid_jsonp_callback(std::string_view name);

// `allowed` holds origins such as "https://app.example", or "*" for any.
bool origin_allowed(const std::vector<std::string>& allowed, std::string_view origin);

// Joins a Bayeux batch from form `message` values: each an array or one object.
std::string join_message_values(const std::vector<std::string>& values);

}  // namespace encke::transport
