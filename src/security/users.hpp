#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::db {
class Connection;
}

// Users, their roles and API keys in the tables of `base` (base_user, base_role,
// base_user_roles_rel, base_api_key). Passwords arrive here already hashed (crypto.hpp), so
// that the slow hash never runs under a transaction or a lock.
namespace keel::security {

// Channel notified (by triggers, whoever writes) when users, roles, role grants or API keys
// change: servers drop what they cached about callers.
inline constexpr std::string_view kAuthChannel = "keel_auth";

// Creates the triggers that notify kAuthChannel, once per database (idempotent, serialised by
// an advisory lock). Needs `base` installed.
void install_auth_triggers(db::Connection& conn);

// Whether the database has at least one user.
bool has_users(db::Connection& conn);

// Creates a user with these (qualified) roles; throws keel::Error when the login exists or a
// role is unknown. Returns the user's id.
std::int64_t create_user(db::Connection& conn, std::string_view login,
                         std::string_view password_hash, const std::vector<std::string>& roles);

// Replaces the password hash of `login` and revokes its refresh tokens; throws keel::Error
// when there is no such user.
void set_password(db::Connection& conn, std::string_view login, std::string_view password_hash);
// The same for the user `user_id`, in the caller's transaction (none is opened here): the REST
// routes write the user's record through RecordService and its password in one transaction.
void replace_password(db::Connection& conn, std::int64_t user_id, std::string_view password_hash);

// The shortest password `keel user add`/`passwd` and the REST routes accept.
inline constexpr std::size_t kMinPasswordLength = 8;

// An API key: `<prefix>.<secret>`. Only the prefix and the SHA-256 of the secret are stored.
struct NewApiKey {
  std::int64_t id = 0;
  std::string key;  // shown once
};
NewApiKey create_api_key(db::Connection& conn, std::string_view login, std::string_view name);

// Splits an API key into prefix and secret; nullopt when `key` does not look like one.
std::optional<std::pair<std::string_view, std::string_view>> split_api_key(std::string_view key);

}  // namespace keel::security
