#include "util/ids.hpp"

#include <openssl/rand.h>

#include <array>
#include <stdexcept>

namespace encke::util {

char base36_digit(unsigned v) noexcept {
    return static_cast<char>(v < 10 ? '0' + v : 'a' + (v - 10));
}

int base36_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'z') return c - 'a' + 10;
    return -1;
}

std::string random_base36(std::size_t n) {
    std::string out;
    out.reserve(n);
    std::array<unsigned char, 64> pool{};
    std::size_t used = pool.size();
    while (out.size() < n) {
        if (used == pool.size()) {
            if (RAND_bytes(pool.data(), static_cast<int>(pool.size())) != 1)
                throw std::runtime_error("OpenSSL RAND_bytes failed");
            used = 0;
        }
        unsigned b = pool[used++];
        if (b < 252) out.push_back(base36_digit(b % 36));  // 252 = 7 * 36: unbiased
    }
    return out;
}

}  // namespace encke::util
