#pragma once
#include <boost/asio/ip/tcp.hpp>

#include "transport/shard.hpp"

namespace encke::transport {

// Serves one accepted socket on `sh`: HTTP/1.1 keep-alive, Bayeux long-polling and JSONP, CORS,
// static files, /healthz, and the upgrade to WebSocket. Call on sh's thread.
void start_http_connection(shard& sh, boost::asio::ip::tcp::socket socket, connection_slot slot);

// The health document: {"status","sessions","connections","uptime_seconds",...}.
std::string health_json(context& ctx);

}  // namespace encke::transport
