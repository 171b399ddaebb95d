#pragma once
// The first attempt of every response and WebSocket frame: hand the kernel what it takes now.
#include <boost/asio/buffer.hpp>

#include <sys/uio.h>

#include <vector>

namespace encke::transport {

// One or more gather `sendmsg` calls on `fd` that never block and never raise SIGPIPE
// (MSG_DONTWAIT | MSG_NOSIGNAL). What was written is dropped from the front of `bufs`, so an empty
// `bufs` means all of it went out and the rest is for an asynchronous write. Returns 0, or the
// errno of a failure other than "would block". `iov` is the caller's reusable scratch.
int send_now(int fd, std::vector<boost::asio::const_buffer>& bufs, std::vector<iovec>& iov);

}  // namespace encke::transport
