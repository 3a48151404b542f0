#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "security/users.hpp"

namespace keel::db {
class Connection;
}
namespace keel::records {
class RecordService;
}

// User administration as Keel does it for itself (`keel user`, the first `keel serve`) and for
// the REST routes (http/admin_routes.cpp): every write of a user, a role grant, a password or an
// API key goes through RecordService with security::Context::system(), so that what modules
// declare on base_user and base_api_key (field rules, defaults, native hooks) applies to the
// command line as to the API. Passwords arrive already hashed (security/crypto.hpp): the slow
// hash never runs under a transaction.
namespace keel::runtime {

// Creates a user with these (qualified) roles in one transaction; throws keel::Error
// user.exists when the login exists, user.unknown_role naming the known roles, or what
// RecordService refuses (kInvalid with the fields at fault). Returns the user's id.
std::int64_t create_user(db::Connection& conn, const records::RecordService& records,
                         std::string_view login, std::string_view password_hash,
                         const std::vector<std::string>& roles);

// Replaces the password hash of `login` and ends its sessions; user.unknown when absent.
void set_password(db::Connection& conn, const records::RecordService& records,
                  std::string_view login, std::string_view password_hash);
// The same for the user `user_id`, in the caller's transaction (none is opened here).
void replace_password(db::Connection& conn, const records::RecordService& records,
                      std::int64_t user_id, std::string_view password_hash);

// A new API key of `login` / of `user_id` (in the caller's transaction): only its prefix and the
// SHA-256 of its secret are stored; the key is answered once.
security::NewApiKey create_api_key(db::Connection& conn, const records::RecordService& records,
                                   std::string_view login, std::string_view name);
security::NewApiKey create_api_key(db::Connection& conn, const records::RecordService& records,
                                   std::int64_t user_id, std::string_view name);

// Writes the time of a use of API key `key_id` (its last_used_at, now) through `records`; a key
// removed meanwhile is skipped. The authenticator decides when
// (security::Authenticator::on_key_used).
void record_key_use(db::Connection& conn, const records::RecordService& records,
                    std::int64_t key_id);

}  // namespace keel::runtime
