// The `encke` command: serve, publish, --version, --help.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>

#include "app/publish_client.hpp"
#include "server/config.hpp"
#include "server/server.hpp"

namespace {

int serve(const std::string& file, const std::string& listen, const std::string& path,
          int threads, const std::string& web_root, const std::string& log_level) {
    // Writes to a peer that has gone away must be errors, never the end of the process (every
    // write passes MSG_NOSIGNAL; this is the backstop).
    std::signal(SIGPIPE, SIG_IGN);
    using namespace encke::server;
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

    std::string url, channel, data;
    int timeout_ms = 10000;
    auto* pub = app.add_subcommand("publish", "Publish one message through a Bayeux server");
    pub->add_option("--url", url, "Bayeux endpoint, e.g. http://127.0.0.1:8080/cometd")->required();
    pub->add_option("--channel", channel, "Channel, e.g. /chat/lobby")->required();
    pub->add_option("--data", data, "Message data as JSON, e.g. '{\"text\":\"hi\"}'")->required();
    pub->add_option("--timeout-ms", timeout_ms, "Give up after this long")->check(CLI::Range(1, 600000));

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "encke: " << e.what() << " (see encke --help)\n";
        return 2;
    }
    if (serve_cmd->parsed()) return serve(file, listen, path, threads, web_root, log_level);
    if (pub->parsed()) return encke::app::publish(url, channel, data, timeout_ms);
    return 2;
}
