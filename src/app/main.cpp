// The `encke` command: serve, publish, token, --version, --help.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>

#include "app/publish_client.hpp"
#include "auth/token.hpp"
#include "server/config.hpp"
#include "server/server.hpp"

namespace {

int serve(const std::string& file, const std::string& listen, const std::string& path,
          int threads, const std::string& web_root, const std::string& log_level) {
    // Writes to a peer that has gone away must be errors, never the end of the process (every
    // write passes MSG_NOSIGNAL; this is the backstop).
    std::signal(SIGPIPE, SIG_IGN);
    using namespace encke::node;
    config c;
    try {
        if (!file.empty()) c = load_config_file(file);
        if (!listen.empty()) c.listen = listen;
        if (!path.empty()) {
            if (path.size() < 2 || path[0] != '/' || path.back() == '/')
                throw config_error("--path must start with '/' and not end with '/'");
            c.bayeux.path = path;
        }
        if (threads >= 0) c.threads = static_cast<unsigned>(threads);
        if (!web_root.empty()) c.http.web_root = web_root;
        if (!log_level.empty()) c.log_level = log_level;
        validate(c);
    } catch (const config_error& e) {
        std::cerr << "encke: " << e.what() << "\n";
        return 2;
    }
    auto logger = spdlog::stderr_color_mt("encke");
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(c.log_level));
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    if (!c.http.web_root.empty() && !std::filesystem::is_directory(c.http.web_root))
        spdlog::warn("web root '{}' is not a directory: no static files will be served",
                     c.http.web_root);
    try {
        server s(c);
        s.start();
        auto [host, port] = split_listen(c.listen);
        std::cout << "encke listening on http://" << host << ":" << s.port() << "/" << std::endl;
        spdlog::info("encke {} serving Bayeux at {} (threads: {}, web root: '{}')", ENCKE_VERSION,
                     c.bayeux.path, c.threads ? c.threads : std::thread::hardware_concurrency(),
                     c.http.web_root);
        s.run(true);
    } catch (const std::exception& e) {
        std::cerr << "encke: " << e.what() << "\n";
        return 2;
    }
    return 0;
}

// "<n>s", "<n>m", "<n>h" or "<n>d" → seconds; nullopt when malformed, zero or beyond 366 days
// (a token that outlives a year is a credential nobody remembers to revoke).
std::optional<std::int64_t> parse_ttl(std::string_view ttl) {
    constexpr std::int64_t max_s = 366LL * 86400;
    if (ttl.size() < 2 || ttl.size() > 10) return std::nullopt;
    auto digits = ttl.substr(0, ttl.size() - 1);
    if (digits.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    std::int64_t n = std::stoll(std::string(digits));
    std::int64_t unit = 0;
    switch (ttl.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: return std::nullopt;
    }
    if (n <= 0 || n > max_s / unit) return std::nullopt;
    return n * unit;
}

// `s` for an error line: control characters shown as '?', so the line stays one line.
std::string printable(std::string_view s) {
    std::string out(s);
    for (auto& ch : out)
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
    return out;
}

struct token_options {
    std::string user, ttl = "1h", config_file, secret;
    bool secret_given = false, jwt = false;
};

// `encke token`: prints a token for the [auth] mode (or an explicit secret) on stdout.
int token(const token_options& o) {
    auto fail = [](const std::string& what) {
        std::cerr << "encke token: " << what << "\n";
        return 2;
    };
    if (o.user.empty()) return fail("--user is required");
    if (!encke::auth::valid_user_id(o.user))
        return fail("--user '" + printable(o.user) +
                    "' is not a valid user id (1-128 letters, digits or !#$()+-.@_~)");
    auto ttl = parse_ttl(o.ttl);
    if (!ttl) return fail("--ttl '" + printable(o.ttl) + "' must be <n>s, <n>m, <n>h or <n>d, from 1s to 366d");
    if (o.config_file.empty() == !o.secret_given)
        return fail(o.secret_given ? "give --config or --secret, not both"
                                   : "give --config FILE (to sign with its [auth] secret) or --secret S");
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    auto expires = now + *ttl;
    try {
        if (o.secret_given) {
            if (o.secret.size() < 16)
                return fail("--secret must be at least 16 bytes, got " + std::to_string(o.secret.size()));
            std::cout << (o.jwt ? encke::auth::issue_jwt_hs256(o.secret, o.user, expires)
                                : encke::auth::issue_token(o.secret, o.user, expires))
                      << std::endl;
            return 0;
        }
        using encke::auth::mode;
        auto c = encke::node::load_config_file(o.config_file);
        const auto& a = c.auth;
        if (a.kind == mode::token && !o.jwt) {
            std::cout << encke::auth::issue_token(a.secret, o.user, expires) << std::endl;
            return 0;
        }
        if (a.kind == mode::jwt && a.algorithm == "HS256") {
            std::cout << encke::auth::issue_jwt_hs256(a.secret, o.user, expires, a.issuer, a.audience)
                      << std::endl;
            return 0;
        }
        if (a.kind == mode::token) return fail("--jwt: auth mode token in " + o.config_file + " takes Encke tokens, not JWTs");
        std::string name = encke::auth::to_string(a.kind);
        if (a.kind == mode::jwt) name += " (" + a.algorithm + ")";
        return fail("auth mode " + name + " has no server-side secret to sign with");
    } catch (const std::exception& e) {
        return fail(e.what());
    }
}

// The subcommand named on the command line ("" for none), so that a parse error is reported as
// "encke <command>: ...".
std::string command_of(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "serve" || a == "publish" || a == "token") return std::string(a);
        if (!a.starts_with("-")) break;
    }
    return {};
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Encke — a Bayeux (Comet) server for the CometD and Faye clients"};
    app.set_version_flag("--version", std::string("encke ") + ENCKE_VERSION);
    app.require_subcommand(1);

    std::string file, listen, path, web_root, log_level;
    int threads = -1;
    auto* serve_cmd = app.add_subcommand("serve", "Run the server");
    serve_cmd->add_option("--config", file, "TOML configuration file (see encke.toml.example)");
    serve_cmd->add_option("--listen", listen, "HOST:PORT to listen on (port 0 picks a free one)");
    serve_cmd->add_option("--path", path, "Mount path of the Bayeux endpoint (default /cometd)");
    serve_cmd->add_option("--threads", threads, "Event-loop threads; 0 = one per core")
        ->check(CLI::Range(0, 36));
    serve_cmd->add_option("--web-root", web_root, "Folder of static files served at /");
    serve_cmd->add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

    encke::app::publish_request pr;
    auto* pub = app.add_subcommand("publish", "Publish one message through a Bayeux server (or, with --key, its HTTP publish API)");
    pub->add_option("--url", pr.url, "Bayeux endpoint, e.g. http://127.0.0.1:8080/cometd (no path: /cometd)")->required();
    pub->add_option("--channel", pr.channel, "Channel, e.g. /chat/lobby")->required();
    pub->add_option("--data", pr.data, "Message data as JSON, e.g. '{\"text\":\"hi\"}'")->required();
    pub->add_option("--timeout-ms", pr.timeout_ms, "Give up after this long")->check(CLI::Range(1, 600000));
    auto* key_opt = pub->add_option("--key", pr.key,
                                    "API key ([api] keys): POST to the server's /api/publish instead of "
                                    "publishing through a Bayeux session");
    pub->add_option("--user", pr.user,
                    "With --key: deliver to every session of this user id only (not to the channel's "
                    "subscribers)");
    auto* token_opt = pub->add_option("--token", pr.token,
                                      "Without --key: handshake with this token or JWT (see encke token) in ext, "
                                      "for a server with [auth] mode token or jwt");
    pub->add_option("--token-field", pr.token_field, "The handshake ext member for --token ([auth] ext_field)")
        ->needs(token_opt);
    token_opt->excludes(key_opt);

    token_options tk;
    auto* tok = app.add_subcommand("token", "Print a signed token (or JWT) for a user, to test [auth] mode token or jwt");
    tok->add_option("--user", tk.user, "User id the token is for (required)");
    tok->add_option("--ttl", tk.ttl, "Lifetime: <n>s, <n>m, <n>h or <n>d, at most 366d (default 1h)");
    tok->add_option("--config", tk.config_file, "Sign as the [auth] section of this config file says");
    auto* secret_opt = tok->add_option("--secret", tk.secret, "Sign with this secret (at least 16 bytes) instead of --config; other local users can read it in ps");
    tok->add_flag("--jwt", tk.jwt, "With --secret: an HS256 JWT instead of an Encke token");

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        auto command = command_of(argc, argv);
        if (command.empty())
            std::cerr << "encke: " << e.what() << " (see encke --help)\n";
        else
            std::cerr << "encke " << command << ": " << e.what() << " (see encke " << command << " --help)\n";
        return 2;
    }
    if (serve_cmd->parsed()) return serve(file, listen, path, threads, web_root, log_level);
    if (pub->parsed()) {
        pr.use_api = key_opt->count() > 0;
        return encke::app::publish(pr);
    }
    if (tok->parsed()) {
        tk.secret_given = secret_opt->count() > 0;
        return token(tk);
    }
    return 2;
}
