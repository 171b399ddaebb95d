#pragma once
// Identifiers that must be unguessable: clientIds and browser ids.
#include <cstddef>
#include <string>

namespace encke::util {

// `n` characters of [0-9a-z], each drawn uniformly from OpenSSL's CSPRNG (rejection sampling,
// so no modulo bias): n characters carry n * log2(36) ≈ 5.17 n bits. Thread-safe.
// Throws std::runtime_error only if the CSPRNG itself fails (never expected on Linux).
std::string random_base36(std::size_t n);

// The base-36 digit for 0..35, and back (-1 for a character that is not a digit).
char base36_digit(unsigned v) noexcept;
int base36_value(char c) noexcept;

}  // namespace encke::util
