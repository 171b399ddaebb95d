// Counts heap allocations made through operator new, so benchmarks can report allocations per
// operation (the global operator new/delete of this binary are replaced; the count is per thread).
#include <cstdint>
#include <cstdlib>
#include <new>

#include "alloc_counter.hpp"

namespace encke::bench {
namespace {
thread_local std::uint64_t allocs = 0;
}
std::uint64_t allocations() noexcept { return allocs; }
}  // namespace encke::bench

namespace {
void* counted_alloc(std::size_t n) {
    ++encke::bench::allocs;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
