#include "engine/directory.hpp"

#include <algorithm>
#include <mutex>
#include <unordered_set>

#include "bayeux/channel.hpp"

namespace encke::engine {

void directory::add_session(std::string_view id, std::string_view user) {
    if (!track_ && user.empty()) return;
    std::unique_lock lock(m_);
    if (track_) sessions_.emplace(std::string(id), std::string(user));
    if (user.empty()) return;
    auto it = users_.find(user);
    if (it == users_.end()) it = users_.emplace(std::string(user), id_set{}).first;
    it->second.emplace(id);
}

void directory::remove_session(std::string_view id, std::string_view user) {
    if (!track_ && user.empty()) return;
    std::unique_lock lock(m_);
    if (auto it = sessions_.find(id); it != sessions_.end()) sessions_.erase(it);
    if (user.empty()) return;
    auto it = users_.find(user);
    if (it == users_.end()) return;
    if (auto pos = it->second.find(id); pos != it->second.end()) it->second.erase(pos);
    if (it->second.empty()) users_.erase(it);
}

void directory::subscribe(std::string_view id, std::string_view user, std::string_view subscription) {
    if (!track_) return;
    std::unique_lock lock(m_);
    auto it = subscriptions_.find(subscription);
    if (it == subscriptions_.end()) it = subscriptions_.emplace(std::string(subscription), id_map{}).first;
    it->second.emplace(std::string(id), std::string(user));
}

void directory::unsubscribe(std::string_view id, std::string_view subscription) {
    if (!track_) return;
    std::unique_lock lock(m_);
    auto it = subscriptions_.find(subscription);
    if (it == subscriptions_.end()) return;
    if (auto s = it->second.find(id); s != it->second.end()) it->second.erase(s);
    if (it->second.empty()) subscriptions_.erase(it);
}

std::vector<std::string> directory::sessions_of(std::string_view user) const {
    std::shared_lock lock(m_);
    auto it = users_.find(user);
    if (it == users_.end()) return {};
    return {it->second.begin(), it->second.end()};
}

std::vector<session_entry> directory::subscribers_of(std::string_view channel) const {
    std::vector<session_entry> out;
    std::unordered_set<std::string_view> seen;
    std::string buf;
    std::shared_lock lock(m_);
    bayeux::for_each_matching_pattern(channel, buf, [&](std::string_view p) {
        auto it = subscriptions_.find(p);
        if (it == subscriptions_.end()) return;
        for (auto& [id, user] : it->second)
            if (seen.insert(id).second) out.push_back({id, user});
    });
    return out;
}

std::optional<std::string> directory::user_of(std::string_view id) const {
    std::shared_lock lock(m_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return std::nullopt;
    return it->second;
}

std::size_t directory::session_count() const {
    std::shared_lock lock(m_);
    return sessions_.size();
}

std::size_t directory::user_count() const {
    std::shared_lock lock(m_);
    return users_.size();
}

}  // namespace encke::engine
