#include "bayeux/channel_index.hpp"

#include <algorithm>

namespace encke::bayeux {

void channel_index::add(std::string_view pattern, session* s) {
    auto it = map_.find(pattern);
    if (it == map_.end()) it = map_.emplace(std::string(pattern), std::vector<session*>{}).first;
    it->second.push_back(s);
}

bool channel_index::remove(std::string_view pattern, session* s) {
    auto it = map_.find(pattern);
    if (it == map_.end()) return false;
    auto& v = it->second;
    auto pos = std::find(v.begin(), v.end(), s);
    if (pos == v.end()) return false;
    *pos = v.back();
    v.pop_back();
    if (v.empty()) map_.erase(it);
    return true;
}

}  // namespace encke::bayeux
