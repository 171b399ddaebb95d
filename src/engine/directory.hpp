#pragma once
// Who is here: the sessions of each user and the subscribers of each channel, across the shards
// of this node. Thread-safe (one reader-writer lock); written on handshake, subscribe,
// unsubscribe and session end, read by presence queries and private deliveries.
#include <cstddef>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "util/string_hash.hpp"

namespace encke::engine {

struct session_entry {
    std::string id;
    std::string user;  // "" anonymous
    bool operator==(const session_entry&) const = default;
};

class directory {
public:
    // Off: only the sessions of each user are kept (what deliveries to a user need); user_of()
    // knows no session and subscribers_of() is empty. Saves ~120 bytes per session and ~170 per
    // subscription where nobody asks (encke serve). Set before the first session.
    void track_everything(bool on) noexcept { track_ = on; }
    void add_session(std::string_view id, std::string_view user);
    void remove_session(std::string_view id, std::string_view user);
    void subscribe(std::string_view id, std::string_view user, std::string_view subscription);
    void unsubscribe(std::string_view id, std::string_view subscription);

    // The session ids of `user` (empty for ""). Linear in that user's sessions; adding and
    // removing one is O(1).
    std::vector<std::string> sessions_of(std::string_view user) const;
    // Sessions whose subscriptions match `channel` (exact name or wildcard), each once. Linear in
    // the channel's depth plus the matching subscriptions.
    std::vector<session_entry> subscribers_of(std::string_view channel) const;
    // The user of session `id`, or nullopt when this node has no such session (tracking on).
    std::optional<std::string> user_of(std::string_view id) const;
    std::size_t session_count() const;
    std::size_t user_count() const;

private:
    using id_map = std::unordered_map<std::string, std::string, util::string_hash, std::equal_to<>>;
    mutable std::shared_mutex m_;
    using id_set = std::unordered_set<std::string, util::string_hash, std::equal_to<>>;
    std::unordered_map<std::string, id_set, util::string_hash, std::equal_to<>> users_;
    // subscription → (session id → user)
    std::unordered_map<std::string, id_map, util::string_hash, std::equal_to<>> subscriptions_;
    id_map sessions_;  // session id → user
    bool track_ = true;
};

}  // namespace encke::engine
