#pragma once
// The fixture shared by the protocol_*_test.cpp files: one protocol (one shard) driven by a
// manual clock, fake connections that record what they were sent, and a publisher that loops
// every broadcast back into the same protocol (what the memory engine does on one shard).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "../support/json_probe.hpp"
#include "bayeux/protocol.hpp"
#include "json/batch.hpp"
#include "util/clock.hpp"

namespace encke::bayeux::test {

using encke::test::at;
using encke::test::field;
using encke::test::has;
using encke::test::json_probe;
using encke::test::str;

inline std::string join(const std::vector<frame>& parts) {
    std::string out = "[";
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i) out += ',';
        out += *parts[i];
    }
    out += ']';
    return out;
}

// A connection: an HTTP request (answered once) or a WebSocket (persistent).
class fake_sink final : public sink {
  public:
    explicit fake_sink(bool persistent) : persistent_(persistent) {}
    bool persistent() const noexcept override { return persistent_; }
    bool open() const noexcept override { return is_open; }
    void send(std::vector<frame> parts) override { sent.push_back(join(parts)); }
    void fail(int http_status) override { failed.push_back(http_status); }

    std::vector<std::string> sent;  // each a JSON array
    std::vector<int> failed;
    bool is_open = true;  // false: the connection is gone

  private:
    bool persistent_;
};

class loopback_publisher final : public publisher {
  public:
    void publish(std::string_view channel, frame message, std::string_view origin) override {
        ++count;
        target->deliver_local(channel, message, origin);
    }
    protocol* target = nullptr;
    int count = 0;
};

struct client {
    std::string id;
    transport_kind kind = transport_kind::long_polling;
    std::string browser;                // cookie sent with every HTTP request ("" = none)
    std::shared_ptr<fake_sink> socket;  // WebSocket clients only
};

struct response {
    outcome out;
    std::shared_ptr<fake_sink> conn;  // the connection the batch arrived on
    std::string id;                   // raw id of the last connect sent by a helper
    std::string body() const { return join(out.parts); }
};

class ProtocolTest : public ::testing::Test {
  protected:
    protocol& proto() {
        if (!proto_) {
            proto_ = std::make_unique<protocol>(cfg, clock, 0);
            pub.target = proto_.get();
            proto_->set_publisher(&pub);
            proto_->set_flush_request([this] { ++flush_requests; });
        }
        return *proto_;
    }

    static client http(std::string browser = "") {
        client c;
        c.browser = std::move(browser);
        return c;
    }
    static client websocket() {
        client c;
        c.kind = transport_kind::websocket;
        c.socket = std::make_shared<fake_sink>(true);
        return c;
    }

    // Sends one batch; "$C" in the text stands for the client's id. Each HTTP batch arrives on a
    // new request; a WebSocket batch on the client's socket.
    response send(const client& c, std::string batch) {
        for (auto pos = batch.find("$C"); pos != std::string::npos; pos = batch.find("$C", pos))
            batch.replace(pos, 2, c.id);
        response r;
        r.conn =
            c.kind == transport_kind::websocket ? c.socket : std::make_shared<fake_sink>(false);
        std::vector<json::message> msgs;
        auto e = parser.parse(batch, msgs);
        EXPECT_EQ(e, json::parse_error::none) << batch;
        request_context ctx;
        ctx.kind = c.kind;
        ctx.browser_id = c.browser;
        ctx.cookie_sent = !c.browser.empty();
        ctx.out = r.conn;
        proto().handle(msgs, ctx, r.out);
        return r;
    }

    response handshake(client& c, std::string_view ext = "") {
        std::string m =
            R"([{"id":"1","channel":"/meta/handshake","version":"1.0",)"
            R"("supportedConnectionTypes":["websocket","long-polling","callback-polling"])";
        if (!ext.empty()) {
            m += R"(,"ext":)";
            m += ext;
        }
        m += "}]";
        auto r = send(c, m);
        c.id = r.out.created;
        EXPECT_FALSE(c.id.empty()) << r.body();
        return r;
    }

    // A /meta/connect with a fresh id; `extra` is appended inside the message (",\"advice\":...").
    response connect(const client& c, std::string_view extra = "") {
        std::string id = "\"" + std::to_string(++next_id_) + "\"";
        const char* type = c.kind == transport_kind::websocket ? "websocket" : "long-polling";
        auto r = send(c, R"([{"id":)" + id +
                             R"(,"channel":"/meta/connect","clientId":"$C","connectionType":")" +
                             type + "\"" + std::string(extra) + "}]");
        r.id = id;
        return r;
    }

    response subscribe(const client& c, std::string_view subscription_json) {
        return send(c, R"([{"id":"s","channel":"/meta/subscribe","clientId":"$C","subscription":)" +
                           std::string(subscription_json) + "}]");
    }
    response unsubscribe(const client& c, std::string_view subscription_json) {
        return send(c,
                    R"([{"id":"u","channel":"/meta/unsubscribe","clientId":"$C","subscription":)" +
                        std::string(subscription_json) + "}]");
    }
    response publish(const client& c, std::string_view channel, std::string_view data = R"("hi")") {
        return send(c, R"([{"id":"p","channel":")" + std::string(channel) +
                           R"(","clientId":"$C","data":)" + std::string(data) + "}]");
    }

    // Handshake plus the first connect (which is answered at once), ready for held connects.
    client ready(client c, std::string_view ext = "", std::string_view connect_extra = "") {
        handshake(c, ext);
        auto r = connect(c, connect_extra);
        EXPECT_FALSE(r.out.held);
        return c;
    }
    client ready_subscriber(std::string_view channel_json, client c = http()) {
        c = ready(std::move(c));
        json_probe r(subscribe(c, channel_json).body());
        EXPECT_EQ(field(r[0], "successful"), "true") << r.text();
        return c;
    }

    // The advice every successful connect reply carries with the default settings.
    static constexpr std::string_view default_advice =
        R"({"reconnect":"retry","interval":0,"timeout":30000,"maxInterval":10000})";

    // Advances the clock in steps of at most one second, ticking after each step.
    void advance(util::millis d) {
        while (d > util::millis(0)) {
            auto step = std::min(d, util::millis(1000));
            clock.advance(step);
            proto().tick();
            d -= step;
        }
    }

    settings cfg;  // change before the first proto() call
    util::manual_clock clock;
    loopback_publisher pub;
    json::batch_parser parser{64};
    int flush_requests = 0;

  private:
    std::unique_ptr<protocol> proto_;
    int next_id_ = 1;
};

}  // namespace encke::bayeux::test
