#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schema/diff.hpp"

namespace keel::db {
class Connection;
}

// Users, their roles and API keys in the tables of `base` (base_user, base_role,
// base_user_roles_rel, base_api_key): what authentication needs to know about them. They are
// written through RecordService (runtime/users.hpp).
namespace keel::security {

// Channel notified (by triggers, whoever writes) when users, roles, role grants or API keys
// change: servers drop what they cached about callers.
inline constexpr std::string_view kAuthChannel = "keel_auth";

// The triggers that notify kAuthChannel, and the one that outdates a user's access tokens when
// its password or active flag changes, with their functions: created through the schema plan
// of an install or upgrade (install/lifecycle.cpp), owned by base in the ledger.
std::vector<schema::SqlObject> auth_sql_objects();

// Whether the database has at least one user.
bool has_users(db::Connection& conn);

// The shortest password `keel user add`/`passwd` and the REST routes accept.
inline constexpr std::size_t kMinPasswordLength = 8;

// An API key: `<prefix>.<secret>`. Only the prefix and the SHA-256 of the secret are stored
// (runtime::create_api_key writes it through RecordService).
inline constexpr std::size_t kApiKeyPrefixBytes = 6;  // 12 hex digits
inline constexpr std::size_t kApiKeySecretBytes = 32;
struct NewApiKey {
  std::int64_t id = 0;
  std::string key;  // shown once
};

// Splits an API key into prefix and secret; nullopt when `key` does not look like one.
std::optional<std::pair<std::string_view, std::string_view>> split_api_key(std::string_view key);

}  // namespace keel::security
