#include "transport/send_now.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace encke::transport {

int send_now(int fd, std::vector<boost::asio::const_buffer>& bufs, std::vector<iovec>& iov) {
    std::size_t first = 0;
    int error = 0;
    while (first < bufs.size()) {
        std::size_t count = std::min<std::size_t>(bufs.size() - first, 512);  // below IOV_MAX
        iov.resize(count);
        for (std::size_t i = 0; i < count; ++i)
            iov[i] = iovec{const_cast<void*>(bufs[first + i].data()), bufs[first + i].size()};
        msghdr msg{};
        msg.msg_iov = iov.data();
        msg.msg_iovlen = count;
        ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) error = errno;
            break;
        }
        auto left = static_cast<std::size_t>(n);
        while (first < bufs.size() && left >= bufs[first].size()) left -= bufs[first++].size();
        if (left) {
            bufs[first] = bufs[first] + left;
            break;
        }
    }
    bufs.erase(bufs.begin(), bufs.begin() + static_cast<std::ptrdiff_t>(first));
    return error;
}

}  // namespace encke::transport
