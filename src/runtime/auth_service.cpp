#include "security/auth_service.hpp"

#include <algorithm>

#include "db/connection.hpp"
#include "security/crypto.hpp"
#include "security/jwt.hpp"

namespace keel::security {

namespace {

constexpr std::size_t kRefreshBytes = 32;

[[noreturn]] void invalid_credentials() {
  throw ApiError(ErrorKind::kUnauthenticated, "auth.invalid_credentials",
                 "invalid login or password");
}

[[noreturn]] void invalid_refresh_token() {
  throw ApiError(ErrorKind::kUnauthenticated, "auth.invalid_token",
                 "the refresh token is not valid", "log in again with POST /api/v1/auth/login");
}

// The user's token generation, which an access token carries: logout, a new password or a
// change of the active flag raise it, and tokens of an older one stop working.
std::int64_t token_generation(db::Connection& conn, std::int64_t user_id) {
  auto r = conn.exec_cached("SELECT token_generation FROM base_user WHERE id = $1",
                            db::Params().add(user_id));
  return r.rows() ? r.get_int(0, 0) : 0;
}

}  // namespace

ThrottledError::ThrottledError(std::int64_t retry_after)
    : ApiError(ErrorKind::kTooMany, "auth.throttled", "too many failed logins; try again later"),
      retry_after_(retry_after) {}

AuthService::AuthService(const TokenSigner& signer, Options options)
    : signer_(signer), options_(options) {}

void AuthService::count_attempt(db::Connection& conn, std::string_view login,
                                std::string_view address) const {
  const auto window = std::to_string(options_.failure_window.count());
  // Failures older than the window never count again.
  conn.exec_cached("DELETE FROM base_login_failure WHERE at < now() - make_interval(secs => $1)",
                   db::Params().add(window));
  db::Transaction tx(conn);
  // Attempts of one login (and from one address) take their turn, on every server of the
  // database: each sees the failures counted before it (a new snapshot per statement). Always
  // the login first, then the address: no two attempts wait for each other in a cycle.
  conn.exec_cached("SELECT pg_advisory_xact_lock(1263691116, hashtext(left($1, 128)))",
                   db::Params().add(login));
  if (!address.empty())
    conn.exec_cached("SELECT pg_advisory_xact_lock(1263691105, hashtext(left($1, 64)))",
                     db::Params().add(address));
  // The seconds until the oldest of the last N failures leaves the window, when there are N.
  auto wait = [&](const char* column, std::string_view value, int limit) -> std::int64_t {
    auto r = conn.exec_cached(
        std::string("SELECT greatest(1, ceil(extract(epoch FROM at + make_interval(secs => $1) - "
                    "now())))::bigint FROM base_login_failure WHERE ") +
            column +
            " = left($2, 128) AND at > now() - make_interval(secs => $1) "
            "ORDER BY at DESC OFFSET $3 LIMIT 1",
        db::Params().add(window).add(value).add(limit - 1));
    return r.rows() ? r.get_int(0, 0) : 0;
  };
  auto retry =
      std::max(wait("login", login, options_.max_failures_per_login),
               address.empty() ? std::int64_t{0}
                               : wait("address", address, options_.max_failures_per_address));
  if (retry > 0) {
    tx.commit();
    throw ThrottledError(retry);
  }
  conn.exec_cached(
      "INSERT INTO base_login_failure (login, address, at) VALUES (left($1, 128), "
      "left($2, 64), now())",
      db::Params().add(login).add(address));
  tx.commit();
}

TokenPair AuthService::login(db::Connection& conn, std::string_view login,
                             std::string_view password, std::string_view address) const {
  // Counted as a failure first, then hashed: concurrent wrong passwords cannot all pass the
  // check during the ~0.3 s of hashing.
  count_attempt(conn, login, address);
  auto user = conn.exec_cached("SELECT id, password, active FROM base_user WHERE login = $1",
                               db::Params().add(login));
  // Always one full verification, even for a user that does not exist.
  std::string_view hash = user.rows() ? user.get(0, 1) : std::string_view{};
  bool ok = verify_password(hash, password);
  if (!ok || user.rows() == 0 || !user.get_bool(0, 2)) invalid_credentials();
  std::int64_t id = user.get_int(0, 0);
  conn.exec_cached("DELETE FROM base_login_failure WHERE login = left($1, 128)",
                   db::Params().add(login));
  conn.exec_cached("DELETE FROM base_refresh_token WHERE expires_at < now()", db::Params());
  TokenPair pair;
  pair.refresh_token = open_refresh_token(conn, id, to_hex(random_bytes(16)));
  pair.access_token = signer_.issue(id, token_generation(conn, id));
  pair.expires_in = signer_.lifetime().count();
  return pair;
}

std::string AuthService::open_refresh_token(db::Connection& conn, std::int64_t user_id,
                                            const std::string& chain) const {
  std::string token = random_token(kRefreshBytes);
  conn.exec_cached(
      "INSERT INTO base_refresh_token (\"user\", token_hash, chain, expires_at) "
      "VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
      db::Params()
          .add(user_id)
          .add(sha256_hex(token))
          .add(chain)
          .add(static_cast<std::int64_t>(options_.refresh_lifetime.count())));
  return token;
}

TokenPair AuthService::refresh(db::Connection& conn, std::string_view refresh_token) const {
  if (refresh_token.empty() || refresh_token.size() > 256) invalid_refresh_token();
  db::Transaction tx(conn);
  auto r = conn.exec_cached(
      "SELECT t.id, t.\"user\", t.chain, t.retired_at IS NOT NULL, t.revoked_at IS NOT NULL, "
      "t.expires_at <= now(), u.active FROM base_refresh_token t "
      "JOIN base_user u ON u.id = t.\"user\" WHERE t.token_hash = $1 FOR UPDATE OF t",
      db::Params().add(sha256_hex(refresh_token)));
  if (r.rows() == 0) invalid_refresh_token();
  std::int64_t id = r.get_int(0, 0), user = r.get_int(0, 1);
  std::string chain(r.get(0, 2));
  bool retired = r.get_bool(0, 3), revoked = r.get_bool(0, 4), expired = r.get_bool(0, 5),
       active = r.get_bool(0, 6);
  if (retired && !revoked) {
    // A token that was already exchanged comes back: someone kept a copy. End the session.
    conn.exec_cached(
        "UPDATE base_refresh_token SET revoked_at = now() WHERE chain = $1 AND revoked_at IS NULL",
        db::Params().add(chain));
    tx.commit();
    invalid_refresh_token();
  }
  if (retired || revoked || expired || !active) invalid_refresh_token();
  conn.exec_cached("UPDATE base_refresh_token SET retired_at = now() WHERE id = $1",
                   db::Params().add(id));
  TokenPair pair;
  pair.refresh_token = open_refresh_token(conn, user, chain);
  tx.commit();
  pair.access_token = signer_.issue(user, token_generation(conn, user));
  pair.expires_in = signer_.lifetime().count();
  return pair;
}

void AuthService::logout(db::Connection& conn, std::int64_t user_id,
                         std::string_view refresh_token) const {
  // Every access token of the user stops working, on every server (base_user's trigger
  // notifies the authenticators); other sessions get new ones with their refresh tokens.
  if (user_id > 0)
    conn.exec_cached("UPDATE base_user SET token_generation = token_generation + 1 WHERE id = $1",
                     db::Params().add(user_id));
  if (refresh_token.empty() || refresh_token.size() > 256) return;
  conn.exec_cached(
      "UPDATE base_refresh_token SET revoked_at = now() WHERE revoked_at IS NULL AND chain = "
      "(SELECT chain FROM base_refresh_token WHERE token_hash = $1 AND \"user\" = $2)",
      db::Params().add(sha256_hex(refresh_token)).add(user_id));
}

}  // namespace keel::security
