#include "app/publish_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <iostream>

#include "auth/token.hpp"
#include "bayeux/channel.hpp"
#include "json/batch.hpp"
#include "json/writer.hpp"

namespace encke::app {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

struct reply {
    unsigned status = 0;
    std::string body;
};

struct client {
    std::string host, port, target;
    std::string cookie;
    std::chrono::milliseconds timeout;
    std::string authorization;  // "" for none

    // One request on a new connection, any status. Asynchronous under the hood so that
    // --timeout-ms bounds every step (the blocking calls would ignore the stream's deadline).
    // Throws std::runtime_error when there is no answer.
    reply send(const std::string& body) {
        asio::io_context ioc;
        beast::tcp_stream stream(ioc);
        asio::ip::tcp::resolver resolver(ioc);
        http::request<http::string_body> req{http::verb::post, target, 11};
        req.set(http::field::host, host + ":" + port);
        req.set(http::field::content_type, "application/json");
        req.set(http::field::user_agent, "encke-publish");
        if (!cookie.empty()) req.set(http::field::cookie, cookie);
        if (!authorization.empty()) req.set(http::field::authorization, authorization);
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
        return {res.result_int(), std::move(res.body())};
    }

    // send(), where anything but 200 is an error.
    std::string post(const std::string& body) {
        auto r = send(body);
        if (r.status != 200)
            throw std::runtime_error("HTTP " + std::to_string(r.status) + " from " + host + ":" + port + target + ": " + r.body);
        return std::move(r.body);
    }
};

struct endpoint {
    std::string host, port, target;
};

// http://HOST[:PORT][/PATH] (TLS endpoints are for a later release). Prints the problem and
// returns false when the URL cannot be used.
bool parse_url(const std::string& url, endpoint& e) {
    std::string_view rest = url;
    if (!rest.starts_with("http://")) {
        std::cerr << "encke publish: --url must be an http:// URL such as http://127.0.0.1:8080/cometd\n";
        return false;
    }
    rest.remove_prefix(7);
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    e.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    e.host = std::string(authority);
    e.port = "80";
    if (auto colon = authority.rfind(':'); colon != std::string_view::npos && authority.back() != ']') {
        e.host = std::string(authority.substr(0, colon));
        e.port = std::string(authority.substr(colon + 1));
    }
    if (e.host.size() > 2 && e.host.front() == '[') e.host = e.host.substr(1, e.host.size() - 2);
    if (e.host.empty() || e.port.empty() || e.port.find_first_not_of("0123456789") != std::string::npos) {
        std::cerr << "encke publish: cannot read host and port from --url " << url << "\n";
        return false;
    }
    return true;
}

// A server's answer on one line of bounded length (an error page from a proxy can be long).
std::string one_line(std::string_view text) {
    constexpr std::size_t max_chars = 1000;
    std::string out;
    for (char ch : text.substr(0, max_chars)) out += (ch == '\r' || ch == '\n' || ch == '\t') ? ' ' : ch;
    out.erase(out.find_last_not_of(' ') + 1);
    if (text.size() > max_chars) out += "...";
    return out.empty() ? "(empty body)" : out;
}

// POST /api/publish: one request, the server does the rest.
int publish_api(const publish_request& r, endpoint e) {
    if (!e.target.ends_with("/api/publish")) e.target = "/api/publish";
    std::string body = "{\"channel\":";
    json::append_string(body, r.channel);
    body += ",\"data\":" + r.data;
    if (!r.user.empty()) {
        body += ",\"user\":";
        json::append_string(body, r.user);
    }
    body += "}";
    client c{e.host, e.port, e.target, {}, std::chrono::milliseconds(r.timeout_ms), "Bearer " + r.key};
    try {
        auto answer = c.send(body);
        if (answer.status != 200) {
            std::cerr << "encke publish: HTTP " << answer.status << ": " << one_line(answer.body) << "\n";
            return 1;
        }
        std::cout << answer.body;
        if (!answer.body.ends_with('\n')) std::cout << '\n';
        std::cout.flush();
        return 0;
    } catch (const std::exception& ex) {
        std::cerr << "encke publish: " << ex.what() << "\n";
        return 1;
    }
}

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

int publish(const publish_request& r) {
    endpoint e;
    if (!parse_url(r.url, e)) return 2;
    const std::string& channel = r.channel;
    const std::string& data = r.data;
    if (!bayeux::is_valid_channel(channel) || bayeux::is_wildcard(channel) ||
        bayeux::kind_of(channel) == bayeux::channel_kind::meta) {
        std::cerr << "encke publish: '" << channel << "' is not a channel one can publish to\n";
        return 2;
    }
    if (r.use_api) {
        if (r.key.empty() || !std::all_of(r.key.begin(), r.key.end(), [](unsigned char ch) { return ch > 0x20 && ch < 0x7f; })) {
            std::cerr << "encke publish: --key must be a non-empty key of visible ASCII characters\n";
            return 2;
        }
        if (!r.user.empty() && !auth::valid_user_id(r.user)) {
            std::cerr << "encke publish: --user is not a valid user id (1-128 letters, digits or !#$()+-.@_~)\n";
            return 2;
        }
    } else if (!r.user.empty()) {
        std::cerr << "encke publish: --user needs --key (only the HTTP publish API can deliver to a user's sessions)\n";
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
    if (r.use_api) return publish_api(r, std::move(e));
    // A URL naming only the server means its Bayeux endpoint at the default path.
    if (e.target == "/") e.target = "/cometd";
    client c{e.host, e.port, e.target, {}, std::chrono::milliseconds(r.timeout_ms), {}};
    try {
        std::string handshake = R"([{"channel":"/meta/handshake","version":"1.0","minimumVersion":"1.0",)"
                                R"("supportedConnectionTypes":["long-polling"],"id":"1")";
        if (!r.token.empty()) {
            handshake += ",\"ext\":{";
            json::append_key(handshake, r.token_field);
            json::append_string(handshake, r.token);
            handshake += '}';
        }
        auto hs = c.post(handshake + "}]");
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
    } catch (const std::exception& ex) {
        std::cerr << "encke publish: " << ex.what() << "\n";
        return 1;
    }
}

}  // namespace encke::app
