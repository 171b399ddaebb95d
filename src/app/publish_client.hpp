#pragma once
#include <string>

namespace encke::app {

struct publish_request {
    std::string url;      // http://HOST[:PORT][/PATH]
    std::string channel;  // a channel one may publish to (no wildcard, no /meta)
    std::string data;     // the message data as JSON text, sent as is
    // Set (even to ""): POST {"channel","data"[,"user"]} to the server's /api/publish with
    // "Authorization: Bearer <key>" instead of publishing through a Bayeux session.
    bool use_api = false;
    std::string key;
    // api only: deliver to every session of this user id, whatever their subscriptions, instead
    // of to the channel's subscribers ("" for a broadcast).
    std::string user;
    // Bayeux only: the handshake carries ext {"<token_field>": token}, for a server with
    // [auth] mode token or jwt (the message is then published as that token's user).
    std::string token;
    std::string token_field = "token";
    int timeout_ms = 10000;
};

// `encke publish`. Bayeux: handshake, publish, disconnect over long-polling, printing the reply to
// the publish. API: one POST, printing the body of a 200 answer; any other status is one line
// "encke publish: HTTP <status>: <body>" on stderr. Returns the exit code: 0 published, 1 refused
// or unreachable, 2 bad input. Blocks the calling thread for at most timeout_ms per request.
int publish(const publish_request& r);

}  // namespace encke::app
