#include "bridge/stomp_frame.hpp"

namespace encke::bridge::stomp {

const std::string* frame::get(std::string_view name) const noexcept {
    for (auto& h : headers)
        if (h.name == name) return &h.value;
    return nullptr;
}

std::string escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '\r': out += "\\r"; break;
            case '\n': out += "\\n"; break;
            case ':': out += "\\c"; break;
            case '\\': out += "\\\\"; break;
            default: out += c;
        }
    }
    return out;
}

bool unescape(std::string_view s, std::string& out) {
    out.clear();
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\') {
            out += s[i];
            continue;
        }
        if (++i == s.size()) return false;
        switch (s[i]) {
            case 'r': out += '\r'; break;
            case 'n': out += '\n'; break;
            case 'c': out += ':'; break;
            case '\\': out += '\\'; break;
            default: return false;
        }
    }
    return true;
}

void encode(const frame& f, bool content_length, std::string& out) {
    bool raw = f.command == "CONNECT" || f.command == "STOMP";
    out += f.command;
    out += '\n';
    for (auto& h : f.headers) {
        out += raw ? h.name : escape(h.name);
        out += ':';
        out += raw ? h.value : escape(h.value);
        out += '\n';
    }
    if (content_length) {
        out += "content-length:";
        out += std::to_string(f.body.size());
        out += '\n';
    }
    out += '\n';
    out += f.body;
    out += '\0';
}

parser::result parser::skip(frame& f) {
    std::size_t avail = buf_.size() - pos_;
    if (skip_to_nul_) {
        auto nul = buf_.find('\0', pos_);
        skipped_.body_bytes += (nul == std::string::npos ? buf_.size() : nul) - pos_;
        if (nul == std::string::npos) {
            buf_.clear();
            pos_ = 0;
            return result::need_more;
        }
        pos_ = nul + 1;
    } else {
        std::size_t n = std::min(skip_left_, avail);
        pos_ += n;
        skip_left_ -= n;
        if (skip_left_ > 0 || pos_ == buf_.size()) {
            buf_.erase(0, pos_);
            pos_ = 0;
            return result::need_more;
        }
        if (buf_[pos_] != '\0') return error_ = "a frame's body is not followed by NUL after its content-length", result::error;
        ++pos_;
    }
    skipping_ = false;
    f = std::move(skipped_);
    skipped_ = {};
    f.oversized = true;
    return result::frame;
}

parser::result parser::next(frame& f) {
    if (skipping_) return skip(f);
    // Heart-beats: EOLs between frames.
    while (pos_ < buf_.size() && (buf_[pos_] == '\n' || buf_[pos_] == '\r')) {
        if (buf_[pos_] == '\n') ++heartbeats;
        ++pos_;
    }
    if (pos_ == buf_.size()) {
        buf_.clear();
        pos_ = 0;
        return result::need_more;
    }
    std::string_view rest(buf_.data() + pos_, buf_.size() - pos_);
    auto fail = [this](std::string what) {
        error_ = std::move(what);
        return result::error;
    };
    // The blank line that ends the headers: "\n\n" or "\n\r\n", the first one only (a single
    // pass: searching the whole buffer for one form would rescan every frame behind it).
    std::size_t head_end = std::string_view::npos, body_start = 0;
    for (std::size_t nl = rest.find('\n'); nl != std::string_view::npos; nl = rest.find('\n', nl + 1)) {
        if (nl + 1 < rest.size() && rest[nl + 1] == '\n') {
            head_end = nl;
            body_start = nl + 2;
            break;
        }
        if (nl + 2 < rest.size() && rest[nl + 1] == '\r' && rest[nl + 2] == '\n') {
            head_end = nl;
            body_start = nl + 3;
            break;
        }
    }
    if (head_end == std::string_view::npos) {
        if (rest.size() > max_) return fail("a frame's headers are over " + std::to_string(max_) + " bytes");
        return result::need_more;
    }
    std::string_view head = rest.substr(0, head_end);
    f = {};
    std::size_t line_start = 0;
    bool first = true;
    std::size_t content_length = std::string_view::npos;
    while (line_start <= head.size()) {
        auto nl = head.find('\n', line_start);
        std::string_view line = head.substr(line_start, nl == std::string_view::npos ? std::string_view::npos : nl - line_start);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (first) {
            if (line.empty()) return fail("a frame has no command");
            f.command = std::string(line);
            first = false;
        } else {
            auto colon = line.find(':');
            if (colon == std::string_view::npos) return fail("header line without ':' in a " + f.command + " frame");
            bool raw = f.command == "CONNECTED";
            header h;
            if (raw) {
                h.name = std::string(line.substr(0, colon));
                h.value = std::string(line.substr(colon + 1));
            } else if (!unescape(line.substr(0, colon), h.name) || !unescape(line.substr(colon + 1), h.value)) {
                return fail("undefined escape sequence in a header of a " + f.command + " frame");
            }
            if (h.name == "content-length" && content_length == std::string_view::npos) {
                if (h.value.empty() || h.value.size() > 12 || h.value.find_first_not_of("0123456789") != std::string::npos)
                    return fail("bad content-length '" + h.value + "'");
                content_length = std::stoull(h.value);
            }
            f.headers.push_back(std::move(h));
        }
        if (nl == std::string_view::npos) break;
        line_start = nl + 1;
    }
    std::size_t end;  // position of the NUL
    if (content_length != std::string_view::npos) {
        if (content_length > max_) {
            skipping_ = true;
            skip_to_nul_ = false;
            skip_left_ = content_length;
            skipped_ = std::move(f);
            skipped_.body_bytes = content_length;
            pos_ += body_start;
            return skip(f);
        }
        if (rest.size() < body_start + content_length + 1) return result::need_more;
        end = body_start + content_length;
        if (rest[end] != '\0') return fail("a frame's body is not followed by NUL after its content-length");
    } else {
        end = rest.find('\0', body_start);
        if (end == std::string_view::npos) {
            if (rest.size() - body_start > max_) {
                skipping_ = true;
                skip_to_nul_ = true;
                skipped_ = std::move(f);
                pos_ += body_start;
                return skip(f);
            }
            return result::need_more;
        }
    }
    if (end - body_start > max_) {
        // Found whole in the buffer, but over the limit all the same.
        f.oversized = true;
        f.body_bytes = end - body_start;
    } else {
        f.body = std::string(rest.substr(body_start, end - body_start));
    }
    pos_ += end + 1;
    // Keep the buffer from growing without bound when frames keep arriving.
    if (pos_ > 65536 && pos_ * 2 > buf_.size()) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
    return result::frame;
}

}  // namespace encke::bridge::stomp
