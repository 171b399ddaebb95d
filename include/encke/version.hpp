#pragma once
// Encke's version, for programs that embed the library (encke/server.hpp).

namespace encke {

inline constexpr int version_major = 0;
inline constexpr int version_minor = 1;
inline constexpr int version_patch = 0;
inline constexpr const char* version_string = "0.1.0";

}  // namespace encke
