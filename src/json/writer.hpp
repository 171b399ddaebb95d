#pragma once
// Writing JSON text: escaping for strings the server emits. Raw values taken from a batch are
// appended as they are (they were validated when parsed).
#include <cstdint>
#include <string>
#include <string_view>

namespace encke::json {

// Appends `s` as a JSON string literal (with quotes). Escapes '"', '\\', control characters, and
// U+2028/U+2029 (so the text is also safe inside a JSONP script).
void append_string(std::string& out, std::string_view s);

// Appends `"key":` with the key escaped.
void append_key(std::string& out, std::string_view key);

void append_int(std::string& out, std::int64_t v);

// Replaces raw U+2028/U+2029 bytes (legal in JSON strings) by their \u escapes, for JSONP bodies.
std::string escape_line_separators(std::string_view json);

}  // namespace encke::json
