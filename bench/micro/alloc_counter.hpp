#pragma once
// Heap allocations (operator new) made so far on this thread; see alloc_counter.cpp.
#include <benchmark/benchmark.h>

#include <cstdint>

namespace encke::bench {

std::uint64_t allocations() noexcept;

// Reports `allocs/<what>`: allocations since construction divided by `count`.
class alloc_meter {
  public:
    alloc_meter() : start_(allocations()) {}
    void report(benchmark::State& state, const char* name, double count) const {
        state.counters[name] = static_cast<double>(allocations() - start_) / count;
    }

  private:
    std::uint64_t start_;
};

}  // namespace encke::bench
