#pragma once
// `auth = "webhook"`: each handshake is POSTed to the application's URL, which answers who the
// session is (docs/security.md). Runs on its own thread with its own event loop; callable from
// any thread.
//
// Request:  POST <url>, Content-Type: application/json, body {"ext":<handshake ext or null>,
//           "headers":{"<name>":"<value>",...},"transport":"websocket"|"long-polling"|...}
// Answers:  200 {"user":"alice"}        allowed as alice (user must be a valid user id)
//           200 {} or {"user":null}     allowed, anonymous
//           401 / 403 [{"reason":"x"}]  refused: 403::x (403::refused without a reason)
//           anything else, a timeout, a connection error: refused with 503::auth_unavailable
//           (fails closed), logged at most once a second.
// 200, 401 and 403 answers are cached for cache_ms per identical request body.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "auth/token.hpp"

namespace encke::auth {

class webhook {
public:
    // Throws std::invalid_argument for a URL that is not http://host[:port]/path or
    // https://host[:port]/path.
    webhook(std::string url, std::int64_t timeout_ms, std::int64_t cache_ms);
    ~webhook();  // stops the thread; pending checks complete with 503::auth_unavailable
    webhook(const webhook&) = delete;
    webhook& operator=(const webhook&) = delete;

    // Starts the thread (idempotent).
    void start();
    // Any thread. `done` runs exactly once, on the webhook's thread (or inline when answered
    // from the cache), and must not block.
    void check(std::string body_json, std::function<void(verdict)> done);

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace encke::auth
