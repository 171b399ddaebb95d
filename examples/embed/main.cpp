// Encke embedded in a C++ program (docs/embedding.md walks through it).
//
// - Handshakes must carry ext {"user": "...", "password": "..."}: a user whose password is
//   "secret-<user>" is let in and attached as that user; anyone else is refused with
//   403::bad_credentials. (A real application checks its own user store here.)
// - Publishes to /chat/** are filtered: a message whose "text" says "spam" is refused, and every
//   other message is delivered with the server's clock added ({"text":..., "server_ms":...}).
//   The text "throw" makes the hook throw, to show that this costs one refusal, not the server.
// - /service/echo answers each caller with what it sent (a CometD remote call).
// - /service/whoami answers with the caller's user and the sessions that user has open.
//
// Usage: encke-embed-example [HOST:PORT]   (default 127.0.0.1:8090; port 0 picks a free one)
#include <encke/encke.hpp>

#include <chrono>
#include <iostream>
#include <stdexcept>
#include <string>

namespace {

// The top-level "text" member of the object `data`, as its JSON string token (quotes and escapes
// included), or "" when there is none or it is not a string. A tiny reader, because the example
// has no JSON library: the server has already checked that `data` is valid JSON, so it only
// follows strings and nesting. (A real application parses with its JSON library; this one does
// not decode escapes, so it would not see "sp\u0061m" as spam.)
std::string text_token(std::string_view data) {
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    auto skip_space = [&](std::size_t i) {
        while (i < data.size() && space(data[i])) ++i;
        return i;
    };
    auto string_end = [&](std::size_t open) {  // just past the string that starts at `open`
        for (auto i = open + 1; i < data.size(); ++i) {
            if (data[i] == '\\') ++i;
            else if (data[i] == '"') return i + 1;
        }
        return data.size();
    };
    std::size_t i = skip_space(0);
    if (i == data.size() || data[i] != '{') return {};
    int depth = 0;
    bool key_next = false;  // at depth 1, after '{' or ',': the next string is a member name
    for (; i < data.size(); ++i) {
        char c = data[i];
        if (space(c)) continue;
        if (c == '"') {
            auto end = string_end(i);
            bool is_key = depth == 1 && key_next;
            key_next = false;
            if (is_key && data.substr(i, end - i) == "\"text\"") {
                auto colon = skip_space(end);
                auto value = colon < data.size() && data[colon] == ':' ? skip_space(colon + 1) : data.size();
                if (value == data.size() || data[value] != '"') return {};  // not a string
                return std::string(data.substr(value, string_end(value) - value));
            }
            i = end - 1;
            continue;
        }
        if (c == '{' || c == '[') ++depth;
        else if (c == '}' || c == ']') --depth;
        key_next = depth == 1 && (c == '{' || c == ',');
    }
    return {};
}

std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
    encke::options options;
    options.listen = argc > 1 ? argv[1] : "127.0.0.1:8090";
    options.web_root = "";  // this program serves no files
    try {
        encke::server server(options);

        server.on_handshake([](encke::handshake_event& e) {
            auto user = e.ext_string("user");
            auto password = e.ext_string("password");
            if (!user || !password || *password != "secret-" + *user) return e.refuse("bad_credentials");
            e.set_user(*user);  // throws for a user id that cannot be one: a refusal, not a crash
        });

        server.on_publish([](encke::publish_event& e) {
            if (!e.channel().starts_with("/chat/")) return;
            std::string text = text_token(e.data());  // e.g. "\"hello\"", or "" without a text
            if (text.find("spam") != std::string::npos) return e.refuse("spam");
            // A hook that throws is a refusal for that client (500::hook_failed), counted in
            // /healthz, and nothing more: the server and every other client go on.
            if (text == "\"throw\"") throw std::runtime_error("the example's publish hook was asked to throw");
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
            e.replace_data("{\"text\":" + (text.empty() ? std::string("\"\"") : text) +
                           ",\"server_ms\":" + std::to_string(ms) + "}");
        });

        server.add_service("/service/echo", [](encke::service_request& r) { r.reply(std::string(r.data())); });

        server.add_service("/service/whoami", [&server](encke::service_request& r) {
            auto sessions = server.sessions_of(r.session().user);
            r.reply("{\"user\":" + quoted(r.session().user) + ",\"sessions\":" + std::to_string(sessions.size()) + "}");
        });

        server.on_session_added([](const encke::session_view& s) {
            std::cout << "session added: " << s.user << std::endl;
        });

        server.start();
        std::cout << "encke-embed-example listening on port " << server.port() << std::endl;
        server.publish("/chat/lobby", R"({"text":"the example started"})");
        server.run();  // until SIGINT or SIGTERM
    } catch (const encke::error& e) {
        std::cerr << "encke-embed-example: " << e.what() << "\n";
        return 2;
    }
    return 0;
}
