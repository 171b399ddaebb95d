#pragma once
// STOMP 1.2 frames (https://stomp.github.io/stomp-specification-1.2.html): the command line,
// headers with the 1.2 escapes (\r \n \c \\; not in CONNECT/CONNECTED), a blank line, the body,
// NUL. A body is read by its content-length when there is one, else up to the first NUL.
// Pure: no I/O, so it is unit-tested on its own.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/connector.hpp"

namespace encke::bridge::stomp {

struct frame {
    std::string command;
    std::vector<header> headers;  // in order; on a repeated name the first one counts
    std::string body;
    // The body was over the parser's limit: it was read and dropped (body is empty), so that
    // one oversized message can be refused without losing the connection.
    bool oversized = false;
    std::size_t body_bytes = 0;  // its size, when oversized

    // The value of the first header called `name`, or nullptr.
    const std::string* get(std::string_view name) const noexcept;
};

// Appends the wire form of `f` to `out`. Header names and values are escaped unless the command
// is CONNECT/STOMP. `content_length` adds the header (a STOMP body with NUL needs it; without
// it ActiveMQ makes a JMS TextMessage).
void encode(const frame& f, bool content_length, std::string& out);

class parser {
public:
    explicit parser(std::size_t max_frame_bytes) : max_(max_frame_bytes) {}

    enum class result { need_more, frame, error };
    // Adds bytes read from the socket.
    void feed(std::string_view bytes) { buf_.append(bytes); }
    // Takes the next complete frame out of what was fed. Heart-beat end-of-lines between frames
    // are skipped (and counted in `heartbeats`). On error, `error()` says what was wrong.
    result next(frame& f);
    const std::string& error() const noexcept { return error_; }
    std::size_t heartbeats = 0;
    // Drops everything buffered (a new connection).
    void reset() {
        buf_.clear();
        pos_ = 0;
        error_.clear();
        skipping_ = false;
        skipped_ = {};
    }

private:
    result skip(frame& f);

    bool skipping_ = false;         // dropping the body of an oversized frame
    std::size_t skip_left_ = 0;     // bytes of it still to drop (content-length), or
    bool skip_to_nul_ = false;      // drop up to the NUL (no content-length)
    frame skipped_;                 // its command and headers
    std::string buf_;
    std::size_t pos_ = 0;  // start of the unparsed bytes
    std::size_t max_;
    std::string error_;
};

// STOMP 1.2 header escaping.
std::string escape(std::string_view s);
// Returns false on an undefined escape sequence.
bool unescape(std::string_view s, std::string& out);

}  // namespace encke::bridge::stomp
