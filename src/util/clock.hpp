#pragma once
// Time as the protocol sees it. Logic never reads the wall clock directly: the protocol is given a
// clock, so tests drive it with manual_clock and expiry/holds are tested without sleeping.
#include <chrono>
#include <cstdint>

namespace encke::util {

using steady = std::chrono::steady_clock;
using time_point = steady::time_point;
using millis = std::chrono::milliseconds;

class clock {
public:
    virtual ~clock() = default;
    virtual time_point now() const = 0;
    // Milliseconds since the Unix epoch (for the timesync extension only).
    virtual std::int64_t epoch_ms() const = 0;
};

class system_clock final : public clock {
public:
    time_point now() const override { return steady::now(); }
    std::int64_t epoch_ms() const override {
        return std::chrono::duration_cast<millis>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
};

class manual_clock final : public clock {
public:
    time_point now() const override { return now_; }
    std::int64_t epoch_ms() const override {
        return 1'700'000'000'000 +
               std::chrono::duration_cast<millis>(now_.time_since_epoch()).count();
    }
    void advance(millis d) { now_ += d; }

private:
    time_point now_{std::chrono::hours(1)};
};

}  // namespace encke::util
