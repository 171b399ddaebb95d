#pragma once
// Serving the web root: content types, ETag/Last-Modified validators, and no path traversal.
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <string>
#include <string_view>

namespace encke::transport {

struct static_result {
    int status = 404;          // 200, 304, 400, 403, 404
    std::string body;          // file contents (200 only; empty for HEAD)
    std::uint64_t size = 0;    // file size (for HEAD's Content-Length)
    std::string content_type;
    std::string etag;
    std::string last_modified;
};

class static_files {
public:
    // An empty root serves nothing (every request is a 404).
    explicit static_files(const std::string& root);

    bool enabled() const noexcept { return !root_.empty(); }

    // `target` is the request path (no query), still percent-encoded. The decoded path may not
    // contain NUL, backslashes or "." / ".." segments, and the resolved file must lie inside the
    // root (symlinks are resolved before that check).
    static_result get(std::string_view target, std::string_view if_none_match,
                      std::string_view if_modified_since, bool head) const;

private:
    std::filesystem::path root_;
};

}  // namespace encke::transport
