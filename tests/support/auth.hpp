#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "db/connection.hpp"
#include "security/users.hpp"

namespace keel::testing {

// The token secret tests put in Config::secret, so that they can mint tokens (bearer_for).
inline constexpr const char* kTestSecret = "keel-test-secret-0123456789abcdef";
inline constexpr const char* kTestPassword = "correct horse battery";

// Creates a user with these roles (`base` installed), as `keel user add` does: through
// RecordService (runtime/users.hpp), with a snapshot of `base` built once per test process. The
// argon2id hash of a password is computed once per test process, so that many users cost one
// hash.
std::int64_t create_user(db::Connection& conn, const std::string& login,
                         const std::vector<std::string>& roles = {"base.user"},
                         const std::string& password = kTestPassword);

// As `keel user passwd` and `keel user apikey` do (runtime/users.hpp).
void set_password(db::Connection& conn, const std::string& login, const std::string& hash);
security::NewApiKey create_api_key(db::Connection& conn, const std::string& login,
                                   const std::string& name);

// Logs in through POST /api/v1/auth/login on a running server; the access token (empty and a
// test failure when the login fails).
std::string login(std::uint16_t port, const std::string& login,
                  const std::string& password = kTestPassword);

// An access token for `user_id` signed with kTestSecret, without a login round trip.
std::string token_for(std::int64_t user_id);

// {"Authorization": "Bearer <token>"}, for http_request's headers.
std::map<std::string, std::string> bearer(const std::string& token);

}  // namespace keel::testing
