#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "app/error.hpp"

namespace keel::db {
class Connection;
}
namespace keel::records {
class RecordService;
}
namespace keel::security {
class TokenSigner;
}

namespace keel::runtime {

using security::TokenSigner;

// What login and refresh answer.
struct TokenPair {
  std::string access_token;
  std::string refresh_token;
  std::int64_t expires_in = 0;  // seconds the access token is valid
};

// Too many failed logins (contract §4 rule 13): 429, with the seconds to wait.
class ThrottledError : public ApiError {
 public:
  explicit ThrottledError(std::int64_t retry_after);
  std::int64_t retry_after() const { return retry_after_; }

 private:
  std::int64_t retry_after_;
};

// Login, refresh and logout over the tables of `base`. Every write (failed logins, refresh
// tokens, a user's token generation) goes through RecordService as security::Context::system(),
// so that what modules declare on these entities (hooks, defaults, field rules) applies; reads
// are its own statements. Every failure is an ApiError unauthenticated
// with the same message whatever went wrong, so that nothing tells a missing user from a wrong
// password, and the same work is done either way (a password is always verified). login()
// hashes: call it off the I/O threads.
class AuthService {
 public:
  struct Options {
    std::chrono::seconds refresh_lifetime = std::chrono::hours(24 * 30);
    std::chrono::seconds failure_window = std::chrono::minutes(15);
    int max_failures_per_login = 5;
    int max_failures_per_address = 20;
  };

  // `records`: the RecordService of the current snapshot, asked once per operation.
  using Records = std::function<std::shared_ptr<const records::RecordService>()>;
  AuthService(const TokenSigner& signer, Options options, Records records);

  // Checks the password of `login` (from `address`, for throttling) and opens a session: an
  // access token and the first refresh token of a new chain.
  TokenPair login(db::Connection& conn, std::string_view login, std::string_view password,
                  std::string_view address) const;
  // Rotates a refresh token: a new pair, the old refresh token retired. Presenting a retired
  // one again revokes its whole chain.
  TokenPair refresh(db::Connection& conn, std::string_view refresh_token) const;
  // Ends every access token of `user_id` (its token generation is raised) and revokes the
  // chain of a refresh token of it (unknown tokens are ignored), in one transaction.
  void logout(db::Connection& conn, std::int64_t user_id, std::string_view refresh_token) const;

 private:
  // A new refresh token of `chain`, valid until `expires_at` (ISO 8601).
  std::string open_refresh_token(db::Connection& conn, const records::RecordService& records,
                                 std::int64_t user_id, const std::string& chain,
                                 const std::string& expires_at) const;
  // Counts an attempt of `login` from `address` as a failure before its password is checked
  // (login() clears the failures of a login that succeeds), or throws ThrottledError when too
  // many failures are already counted. Check and count are one step under an advisory lock per
  // login and per address, so concurrent attempts, on any server, cannot all pass the check.
  void count_attempt(db::Connection& conn, const records::RecordService& records,
                     std::string_view login, std::string_view address) const;

  const TokenSigner& signer_;
  Options options_;
  Records records_;
};

// Revokes every refresh token of `user_id` still in use (`keel user passwd`, a new password
// through the API), through `records`: the sessions opened with the old password end.
void revoke_sessions(db::Connection& conn, const records::RecordService& records,
                     std::int64_t user_id);

}  // namespace keel::runtime
