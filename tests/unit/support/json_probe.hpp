#pragma once
// Test helper: parses a JSON text the server produced so that assertions can look at fields.
// field() returns a member as minified JSON text ("" when absent), so a test states the exact
// value and its type at once: field(m, "id") == R"("1")", field(m, "successful") == "true".
#include <simdjson.h>

#include <memory>
#include <string>
#include <string_view>

namespace encke::test {

class json_probe {
  public:
    explicit json_probe(std::string_view text)
        : parser_(std::make_unique<simdjson::dom::parser>()) {
        text_ = std::string(text);
        error_ = parser_->parse(text_).get(root_);
    }

    // The text was valid JSON.
    bool ok() const { return error_ == simdjson::SUCCESS; }
    simdjson::dom::element root() const { return root_; }

    // Length of the root array (0 when the root is not an array).
    std::size_t size() const {
        simdjson::dom::array a;
        if (root_.get_array().get(a)) return 0;
        return a.size();
    }

    simdjson::dom::element operator[](std::size_t i) const {
        simdjson::dom::element e;
        if (root_.at(i).get(e)) return root_;  // callers ASSERT size() first
        return e;
    }

    const std::string& text() const { return text_; }

  private:
    std::unique_ptr<simdjson::dom::parser> parser_;
    std::string text_;
    simdjson::dom::element root_;
    simdjson::error_code error_;
};

// Member `key` of object `e` as minified JSON, or "" when absent.
inline std::string field(simdjson::dom::element e, std::string_view key) {
    simdjson::dom::element v;
    if (e.at_key(key).get(v)) return {};
    return simdjson::minify(v);
}

inline bool has(simdjson::dom::element e, std::string_view key) {
    simdjson::dom::element v;
    return !e.at_key(key).get(v);
}

// Member `key` as an unquoted string ("" when absent or not a string).
inline std::string str(simdjson::dom::element e, std::string_view key) {
    std::string_view s;
    if (e.at_key(key).get_string().get(s)) return {};
    return std::string(s);
}

// Member at a JSON pointer ("/ext/ack") as minified JSON, or "".
inline std::string at(simdjson::dom::element e, std::string_view pointer) {
    simdjson::dom::element v;
    if (e.at_pointer(pointer).get(v)) return {};
    return simdjson::minify(v);
}

}  // namespace encke::test
