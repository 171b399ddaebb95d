// Client-side wire formats, just enough for a load generator: URLs, HTTP/1.1 responses
// (Content-Length, chunked, multipart/mixed bodies), WebSocket frames (RFC 6455) and STOMP 1.2
// frames (the broker bridge's benchmark).
// Everything parses in place from a read buffer; nothing is copied unless a body is chunked.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

struct url {
    std::string host;
    std::uint16_t port = 80;
    std::string path;  // starts with '/'
};

// http://host[:port]/path, ws://host[:port]/path or stomp://host[:port] (default port 61613);
// false if it is none of them.
bool parse_url(std::string_view text, url& out);

// HOST:PORT (no scheme, the port required); false if it is not that.
bool parse_host_port(std::string_view text, url& out);

// Case-insensitive compare of an ASCII header name.
bool iequals(std::string_view a, std::string_view b);

struct http_response {
    int status = 0;
    bool close = false;               // Connection: close
    std::string_view content_type;    // views into the read buffer (valid until it is consumed)
    std::string_view last_modified;
    std::string_view etag;
    std::string_view body;            // into the buffer, or into `scratch` for a chunked body
};

// Parses one whole response from [p, p+n). Returns the bytes it spans, 0 if more input is
// needed, -1 if the bytes are not HTTP. A chunked body is joined into `scratch`.
long parse_http_response(const char* p, std::size_t n, http_response& r, std::string& scratch);

// The parts of a multipart/mixed body (RFC 2046), given the response's Content-Type.
// Returns false if the content type carries no boundary.
bool multipart_parts(std::string_view content_type, std::string_view body,
                     std::vector<std::string_view>& parts);

namespace ws {

enum opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

struct frame {
    bool fin = false;
    std::uint8_t op = 0;
    std::string_view payload;
};

// One server-to-client (unmasked) frame from [p, p+n): bytes spanned, 0 if incomplete, -1 if
// malformed (a masked frame, reserved bits).
long parse_frame(const char* p, std::size_t n, frame& f);

// Appends a client-to-server frame. Clients must mask; the key is all zeros, which leaves the
// payload as it is (servers unmask whatever key is sent) and costs no XOR pass.
void append_frame(std::string& out, std::uint8_t op, std::string_view payload);

// The HTTP upgrade request for `u`.
std::string upgrade_request(const url& u, std::string_view path);

}  // namespace ws

namespace stomp {

// One server-to-client frame, as views into the read buffer. Header values are left escaped: the
// generator only reads content-length, receipt-id and message, which never need unescaping.
struct frame {
    std::string_view command;  // empty for a heart-beat (end-of-lines only)
    std::string_view headers;  // the header lines, each ending in '\n' (a '\r' before it is kept)
    std::string_view body;
};

// One frame from [p, p+n): bytes spanned (up to and including its NUL), 0 if incomplete, -1 if
// malformed. End-of-lines before a frame are heart-beats: alone, they are returned as a frame
// with an empty command. A body is read by its content-length when there is one, else up to the
// first NUL (a JMS TextMessage from ActiveMQ has no content-length).
long parse_frame(const char* p, std::size_t n, frame& f);

// The value of the first header `name` of `f`, or an empty view.
std::string_view header(const frame& f, std::string_view name);

}  // namespace stomp

}  // namespace bench
