#include "stats.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace bench {

std::uint64_t histogram::quantile(double q) const noexcept {
    if (!total_) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.5);
    if (rank < 1) rank = 1;
    if (rank > total_) rank = total_;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= rank) return upper(i) < max_ ? upper(i) : max_;
    }
    return max_;
}

namespace {

bool read_file(const std::string& path, char* buf, std::size_t cap, std::size_t& len) {
    FILE* f = std::fopen(path.c_str(), "re");
    if (!f) return false;
    len = std::fread(buf, 1, cap - 1, f);
    std::fclose(f);
    buf[len] = 0;
    return true;
}

// utime + stime (ticks) and ppid from /proc/PID/stat; the command name may hold spaces and
// parentheses, so fields are counted from the last ')'.
bool read_stat(pid_t pid, long& ppid, double& cpu_s) {
    char buf[1024];
    std::size_t len = 0;
    if (!read_file("/proc/" + std::to_string(pid) + "/stat", buf, sizeof buf, len)) return false;
    char* p = std::strrchr(buf, ')');
    if (!p) return false;
    // After ") ": state(3) ppid(4) ... utime(14) stime(15)
    p += 2;
    int field = 3;
    unsigned long long ut = 0, st = 0;
    while (*p && field <= 15) {
        char* end = nullptr;
        if (field == 4) ppid = std::strtol(p, &end, 10);
        if (field == 14) ut = std::strtoull(p, &end, 10);
        if (field == 15) st = std::strtoull(p, &end, 10);
        p = std::strchr(p, ' ');
        if (!p) break;
        ++p;
        ++field;
    }
    static const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    cpu_s = static_cast<double>(ut + st) / tick;
    return true;
}

std::uint64_t read_rss_kib(pid_t pid) {
    char buf[64];
    std::size_t len = 0;
    if (!read_file("/proc/" + std::to_string(pid) + "/statm", buf, sizeof buf, len)) return 0;
    unsigned long long size = 0, resident = 0;
    if (std::sscanf(buf, "%llu %llu", &size, &resident) != 2) return 0;
    static const std::uint64_t page_kib = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) / 1024;
    return resident * page_kib;
}

}  // namespace

proc_sample sample_process_tree(pid_t pid) {
    proc_sample s;
    long ppid = 0;
    double cpu = 0;
    if (!read_stat(pid, ppid, cpu)) return s;
    s.ok = true;
    s.cpu_s = cpu;
    s.rss_kib = read_rss_kib(pid);
    if (DIR* d = opendir("/proc")) {
        while (dirent* e = readdir(d)) {
            if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
            pid_t child = static_cast<pid_t>(std::atol(e->d_name));
            long pp = 0;
            double c = 0;
            if (child != pid && read_stat(child, pp, c) && pp == pid) {
                s.cpu_s += c;
                s.rss_kib += read_rss_kib(child);
            }
        }
        closedir(d);
    }
    return s;
}

double self_cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double machine_busy_seconds() {
    char buf[512];
    std::size_t len = 0;
    if (!read_file("/proc/stat", buf, sizeof buf, len)) return 0;
    // "cpu  user nice system idle iowait irq softirq steal ...": everything but idle and iowait.
    unsigned long long v[8] = {};
    if (std::sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                    &v[6], &v[7]) < 7)
        return 0;
    static const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    return static_cast<double>(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / tick;
}

}  // namespace bench
