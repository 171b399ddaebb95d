#include "transport/static_files.hpp"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "transport/http_util.hpp"

namespace encke::transport {

namespace fs = std::filesystem;

static_files::static_files(const std::string& root) {
    if (root.empty()) return;
    std::error_code ec;
    root_ = fs::weakly_canonical(fs::absolute(root), ec);
    if (ec) root_ = fs::absolute(root);
}

static_result static_files::get(std::string_view target, std::string_view if_none_match,
                                std::string_view if_modified_since, bool head) const {
    static_result r;
    if (root_.empty()) return r;
    auto decoded = url_decode(target, false);
    if (!decoded || decoded->empty() || (*decoded)[0] != '/') {
        r.status = 400;
        return r;
    }
    std::string_view path = *decoded;
    if (path.find('\0') != std::string_view::npos || path.find('\\') != std::string_view::npos) {
        r.status = 400;
        return r;
    }
    // Reject "." and ".." segments outright rather than normalising them away.
    std::size_t start = 1;
    while (start <= path.size()) {
        auto end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        auto seg = path.substr(start, end - start);
        if (seg == "." || seg == "..") {
            r.status = 403;
            return r;
        }
        start = end + 1;
    }
    std::string rel(path.substr(1));
    fs::path full = root_ / rel;
    std::error_code ec;
    if (fs::is_directory(full, ec)) full /= "index.html";
    fs::path canon = fs::weakly_canonical(full, ec);
    if (ec) return r;
    auto [root_end, canon_it] = std::mismatch(root_.begin(), root_.end(), canon.begin(), canon.end());
    if (root_end != root_.end()) {
        r.status = 403;
        return r;
    }
    struct stat st{};
    if (::stat(canon.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return r;
    char etag[64];
    std::snprintf(etag, sizeof etag, "\"%llx-%llx\"", static_cast<unsigned long long>(st.st_size),
                  static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ULL +
                      static_cast<unsigned long long>(st.st_mtim.tv_nsec));
    r.etag = etag;
    r.size = static_cast<std::uint64_t>(st.st_size);
    r.last_modified = http_date(st.st_mtim.tv_sec);
    r.content_type = std::string(content_type_for(canon.filename().string()));
    bool not_modified = false;
    if (!if_none_match.empty()) {
        not_modified = if_none_match == "*" || if_none_match.find(r.etag) != std::string_view::npos;
    } else if (!if_modified_since.empty()) {
        auto since = parse_http_date(if_modified_since);
        not_modified = since && st.st_mtim.tv_sec <= *since;
    }
    if (not_modified) {
        r.status = 304;
        return r;
    }
    r.status = 200;
    if (!head) {
        std::ifstream in(canon, std::ios::binary);
        if (!in) {
            r.status = 403;
            return r;
        }
        std::ostringstream ss;
        ss << in.rdbuf();
        r.body = std::move(ss).str();
    }
    return r;
}

}  // namespace encke::transport
