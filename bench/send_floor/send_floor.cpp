// encke-sendfloor: what one small write to a loopback TCP socket costs the writer, in the pattern
// a push server writes in (a burst of sends to different sockets, then a pause). No server does
// less per delivery than this when it writes each delivery on its own, so it is the floor under
// every "server CPU per delivered message" figure of bench/compare.
//
// A forked reader (pinned to --reader-cpu) drains N connections with epoll; the writer (pinned to
// --writer-cpu) sends --bytes to --burst consecutive connections every --interval-us and reports
// its own user + system CPU per send. On loopback the kernel also runs the receiving side of TCP
// (and wakes the reader) in the writer's context, so that is part of the figure, as it is for a
// server under the benchmark.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "encke-sendfloor: %s\n", what.c_str());
    std::exit(2);
}

void pin(int cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);  // best effort: a 1-CPU machine just shares
}

double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

long arg(int argc, char** argv, const char* name, long def) {
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], name) == 0) {
            char* end = nullptr;
            long v = std::strtol(argv[i + 1], &end, 10);
            if (*end || v < -1) die(std::string(name) + ": not a number: " + argv[i + 1]);
            return v;
        }
    return def;
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::puts("encke-sendfloor [--connections 1000] [--burst 100] [--interval-us 5000] [--sends 100000]\n"
                      "                [--bytes 200] [--writer-cpu 0] [--reader-cpu 1] [--json]");
            return 0;
        }
        if (a == "--json") {
            --i;
            continue;
        }
        static const char* known[] = {"--connections", "--burst", "--interval-us", "--sends",
                                      "--bytes", "--writer-cpu", "--reader-cpu"};
        bool ok = false;
        for (auto* k : known) ok = ok || a == k;
        if (!ok || i + 1 >= argc) die("unknown or incomplete flag: " + a);
    }
    const long conns = arg(argc, argv, "--connections", 1000), burst = arg(argc, argv, "--burst", 100);
    const long interval = arg(argc, argv, "--interval-us", 5000), sends = arg(argc, argv, "--sends", 100000);
    const long bytes = arg(argc, argv, "--bytes", 200);
    const int writer_cpu = static_cast<int>(arg(argc, argv, "--writer-cpu", 0));
    const int reader_cpu = static_cast<int>(arg(argc, argv, "--reader-cpu", 1));
    bool json = false;
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], "--json") == 0) json = true;
    if (conns < 1 || burst < 1 || sends < 1 || bytes < 1 || bytes > 65536) die("sizes must be positive");

    int ls = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) || listen(ls, 4096)) die("listen: " + std::string(strerror(errno)));
    socklen_t al = sizeof a;
    getsockname(ls, reinterpret_cast<sockaddr*>(&a), &al);
    std::vector<int> client(static_cast<std::size_t>(conns)), server(static_cast<std::size_t>(conns));
    int one = 1;
    for (long i = 0; i < conns; ++i) {
        client[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(client[i], reinterpret_cast<sockaddr*>(&a), sizeof a)) die("connect: " + std::string(strerror(errno)));
        server[i] = accept(ls, nullptr, nullptr);
        if (server[i] < 0) die("accept: " + std::string(strerror(errno)));
        setsockopt(server[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    const long want = sends * bytes;
    pid_t reader = fork();
    if (reader == 0) {
        pin(reader_cpu);
        int ep = epoll_create1(0);
        for (long i = 0; i < conns; ++i) {
            epoll_event e{};
            e.events = EPOLLIN;
            e.data.fd = client[i];
            epoll_ctl(ep, EPOLL_CTL_ADD, client[i], &e);
        }
        std::vector<char> buf(65536);
        epoll_event ev[256];
        long got = 0;
        while (got < want) {
            int n = epoll_wait(ep, ev, 256, 10000);
            if (n <= 0) _exit(1);
            for (int i = 0; i < n; ++i) {
                ssize_t r = read(ev[i].data.fd, buf.data(), buf.size());
                if (r > 0) got += r;
            }
        }
        _exit(0);
    }
    pin(writer_cpu);
    std::vector<char> msg(static_cast<std::size_t>(bytes), 'x');
    timespec gap{interval / 1000000, (interval % 1000000) * 1000};
    double c0 = cpu_seconds();
    long k = 0, round = 0;
    while (k < sends) {
        long base = (round++ * burst * 7) % conns;  // a different set of sockets each burst
        for (long j = 0; j < burst && k < sends; ++j, ++k)
            if (send(server[(base + j) % conns], msg.data(), msg.size(), 0) != bytes) die("short send");
        if (interval > 0) nanosleep(&gap, nullptr);
    }
    double used = cpu_seconds() - c0;
    int status = 0;
    waitpid(reader, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("the reader did not receive everything");
    double per = used * 1e6 / static_cast<double>(sends);
    if (json)
        std::printf("{\"sends\":%ld,\"bytes\":%ld,\"connections\":%ld,\"burst\":%ld,\"interval_us\":%ld,"
                    "\"writer_cpu_s\":%.4f,\"us_per_send\":%.3f}\n",
                    sends, bytes, conns, burst, interval, used, per);
    else
        std::printf("%ld sends of %ld bytes over %ld connections, bursts of %ld every %ld us: "
                    "%.3f s of writer CPU, %.2f us per send\n",
                    sends, bytes, conns, burst, interval, used, per);
    return 0;
}
