#pragma once
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "transport/shard.hpp"

namespace encke::transport {

// Takes over an HTTP connection whose request is a WebSocket upgrade on the Bayeux path. Each
// text message is a batch; replies to one message leave in one frame, deliveries are pushed as
// they come (several queued ones in one frame). `early` is what the client sent after the
// upgrade request without waiting for the 101 (frames, handled once it is written). Call on
// sh's thread.
void start_websocket(shard& sh, boost::beast::tcp_stream stream,
                     boost::beast::http::request<boost::beast::http::string_body> req,
                     connection_slot slot, std::string early = {});

}  // namespace encke::transport
