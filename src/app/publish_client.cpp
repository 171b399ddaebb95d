#include "app/publish_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <iostream>

#include "bayeux/channel.hpp"
#include "json/batch.hpp"
#include "json/writer.hpp"

namespace encke::app {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

struct client {
    std::string host, port, target;
    std::string cookie;
    std::chrono::milliseconds timeout;

    // One request on a new connection. Asynchronous under the hood so that --timeout-ms bounds
    // every step (the blocking calls would ignore the stream's deadline).
    std::string post(const std::string& body) {
        asio::io_context ioc;
        beast::tcp_stream stream(ioc);
        asio::ip::tcp::resolver resolver(ioc);
        http::request<http::string_body> req{http::verb::post, target, 11};
        req.set(http::field::host, host + ":" + port);
        req.set(http::field::content_type, "application/json");
        req.set(http::field::user_agent, "encke-publish");
        if (!cookie.empty()) req.set(http::field::cookie, cookie);
        req.body() = body;
        req.prepare_payload();
        beast::flat_buffer buf;
        http::response<http::string_body> res;
        beast::error_code failure;
        auto fail = [&](beast::error_code ec) { failure = ec; };
        stream.expires_after(timeout);
        resolver.async_resolve(host, port, [&](beast::error_code ec, auto results) {
            if (ec) return fail(ec);
            stream.async_connect(results, [&](beast::error_code ec, auto) {
                if (ec) return fail(ec);
                http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
                    if (ec) return fail(ec);
                    http::async_read(stream, buf, res, [&](beast::error_code ec, std::size_t) {
                        if (ec) fail(ec);
                    });
                });
            });
        });
        ioc.run();
        if (failure == beast::error::timeout)
            throw std::runtime_error("no answer from " + host + ":" + port + " within " +
                                     std::to_string(timeout.count()) + " ms");
        if (failure) throw std::runtime_error(host + ":" + port + ": " + failure.message());
        if (auto c = res[http::field::set_cookie]; !c.empty()) cookie = std::string(c.substr(0, c.find(';')));
        if (res.result_int() != 200)
            throw std::runtime_error("HTTP " + std::to_string(res.result_int()) + " from " + host + ":" + port + target + ": " + res.body());
        return res.body();
    }
};

bool successful(const json::message& m) {
    for (auto& f : m.others)
        if (f.key == "successful") return f.raw == "true";
    return false;
}

std::string error_of(const json::message& m) {
    for (auto& f : m.others)
        if (f.key == "error") return std::string(f.raw);
    return "no error given";
}

}  // namespace

int publish(const std::string& url, const std::string& channel, const std::string& data,
            int timeout_ms) {
    // http://HOST[:PORT][/PATH] (TLS endpoints are for a later release).
    std::string_view rest = url;
    if (!rest.starts_with("http://")) {
        std::cerr << "encke publish: --url must be an http:// URL such as http://127.0.0.1:8080/cometd\n";
        return 2;
    }
    rest.remove_prefix(7);
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    std::string host(authority), port = "80";
    if (auto colon = authority.rfind(':'); colon != std::string_view::npos && authority.back() != ']') {
        host = std::string(authority.substr(0, colon));
        port = std::string(authority.substr(colon + 1));
    }
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    if (host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string::npos) {
        std::cerr << "encke publish: cannot read host and port from --url " << url << "\n";
        return 2;
    }
    if (!bayeux::is_valid_channel(channel) || bayeux::is_wildcard(channel) ||
        bayeux::kind_of(channel) == bayeux::channel_kind::meta) {
        std::cerr << "encke publish: '" << channel << "' is not a channel one can publish to\n";
        return 2;
    }
    json::batch_parser parser(64);
    std::vector<json::message> msgs;
    std::string publish_body = "[{\"channel\":";
    json::append_string(publish_body, channel);
    publish_body += ",\"data\":" + data + ",\"clientId\":\"CLIENT\",\"id\":\"2\"}]";
    if (parser.parse(publish_body, msgs) != json::parse_error::none || msgs.size() != 1 ||
        msgs[0].data.empty()) {
        std::cerr << "encke publish: --data is not valid JSON: " << data << "\n";
        return 2;
    }
    client c{host, port, target, {}, std::chrono::milliseconds(timeout_ms)};
    try {
        auto hs = c.post(R"([{"channel":"/meta/handshake","version":"1.0","minimumVersion":"1.0",)"
                         R"("supportedConnectionTypes":["long-polling"],"id":"1"}])");
        if (parser.parse(hs, msgs) != json::parse_error::none || msgs.empty() || !successful(msgs[0])) {
            std::cerr << "encke publish: handshake refused: " << hs << "\n";
            return 1;
        }
        std::string client_id(msgs[0].client_id);
        auto pos = publish_body.find("\"CLIENT\"");
        publish_body.replace(pos, 8, "\"" + client_id + "\"");
        auto reply = c.post(publish_body);
        std::cout << reply << std::endl;
        bool ok = parser.parse(reply, msgs) == json::parse_error::none && !msgs.empty();
        bool published = false;
        std::string error = "malformed reply";
        for (auto& m : msgs) {
            if (m.id == "\"2\"") {
                published = successful(m);
                error = error_of(m);
            }
        }
        try {
            c.post(R"([{"channel":"/meta/disconnect","clientId":")" + client_id + R"(","id":"3"}])");
        } catch (const std::exception&) {
            // The publish already happened; a failed disconnect only leaves a session to expire.
        }
        if (!ok || !published) {
            std::cerr << "encke publish: refused: " << error << "\n";
            return 1;
        }
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "encke publish: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace encke::app
