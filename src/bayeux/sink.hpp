#pragma once
// How the protocol reaches a client connection without doing I/O itself.
#include <memory>
#include <string>
#include <vector>

namespace encke::bayeux {

// One immutable, shared JSON text: a serialized message (a delivery, written once and shared by
// every subscriber) or a reply. A response is a JSON array of frames: `[`, f1, `,`, f2, `]`.
using frame = std::shared_ptr<const std::string>;

inline frame make_frame(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

// Implemented by the transport. Called on the thread of the shard that owns the session; an
// implementation whose connection lives on another shard posts to that shard. Never blocks.
class sink {
public:
    virtual ~sink() = default;
    // A persistent socket (WebSocket) rather than one held HTTP request.
    virtual bool persistent() const noexcept = 0;
    // False once the connection is known to be gone (safe to call from any thread). Messages are
    // not handed to a sink that is not open: they stay queued for the session's next connect.
    virtual bool open() const noexcept = 0;
    // Writes `parts` as one JSON array: for HTTP this completes the held request (only once);
    // for WebSocket it is one frame.
    virtual void send(std::vector<frame> parts) = 0;
    // HTTP only: completes the held request with an error status and no Bayeux body (a connect
    // superseded by a newer one).
    virtual void fail(int http_status) = 0;
};

using sink_ptr = std::shared_ptr<sink>;

}  // namespace encke::bayeux
