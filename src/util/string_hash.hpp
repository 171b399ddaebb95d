#pragma once
// Transparent hashing so that maps keyed by std::string are searched with a string_view
// (no temporary string on the hot path).
#include <functional>
#include <string_view>

namespace encke::util {

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};

}  // namespace encke::util
