// Measurement: a log-linear latency histogram (HDR-style, < 1% relative error) and the CPU time
// and resident memory of a process tree read from /proc.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <vector>

namespace bench {

class histogram {
public:
    void record(std::uint64_t ns) noexcept {
        ++counts_[index(ns)];
        ++total_;
        if (ns > max_) max_ = ns;
    }
    void merge(const histogram& o) noexcept {
        for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
        total_ += o.total_;
        if (o.max_ > max_) max_ = o.max_;
    }
    void clear() noexcept { *this = histogram{}; }
    std::uint64_t total() const noexcept { return total_; }
    std::uint64_t max() const noexcept { return max_; }
    // The value at quantile q (0..1), as the upper edge of its bucket, in nanoseconds.
    std::uint64_t quantile(double q) const noexcept;

private:
    static constexpr int sub_bits = 7;  // 128 buckets per power of two
    static constexpr std::size_t buckets = (64 - sub_bits + 1) << sub_bits;
    static std::size_t index(std::uint64_t v) noexcept {
        if (v < (1u << sub_bits)) return static_cast<std::size_t>(v);
        int e = 63 - __builtin_clzll(v);  // >= sub_bits
        auto sub = (v >> (e - sub_bits)) & ((1u << sub_bits) - 1);
        return (static_cast<std::size_t>(e - sub_bits + 1) << sub_bits) + sub;
    }
    static std::uint64_t upper(std::size_t i) noexcept {
        if (i < (1u << sub_bits)) return i;
        std::size_t e = (i >> sub_bits) + sub_bits - 1, sub = i & ((1u << sub_bits) - 1);
        return ((std::uint64_t(1) << sub_bits | sub) + 1) << (e - sub_bits);
    }
    std::array<std::uint64_t, buckets> counts_{};
    std::uint64_t total_ = 0, max_ = 0;
};

struct proc_sample {
    bool ok = false;
    double cpu_s = 0;            // user + system, the process and its children
    std::uint64_t rss_kib = 0;   // resident set, summed the same way
};

// `pid` and its direct children (nginx's workers are children of its master).
proc_sample sample_process_tree(pid_t pid);

// This process's user + system CPU seconds.
double self_cpu_seconds();

// CPU seconds the whole machine has been busy since boot (all CPUs, /proc/stat): with the server's,
// the broker's and our own, it shows how much went to other processes (a shared machine).
double machine_busy_seconds();

}  // namespace bench
