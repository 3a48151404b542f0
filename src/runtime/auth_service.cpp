#include "runtime/auth_service.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "db/connection.hpp"
#include "records/service.hpp"
#include "security/crypto.hpp"
#include "security/jwt.hpp"

namespace keel::runtime {

namespace {

using security::random_bytes;
using security::random_token;
using security::sha256_hex;
using security::to_hex;

constexpr std::size_t kRefreshBytes = 32;
constexpr std::string_view kRefreshTokens = "base_refresh_token";
constexpr std::string_view kFailures = "base_login_failure";

// A timestamp of the database as a datetime value of RecordService (ISO 8601, UTC).
#define KEEL_ISO(expr) "to_char((" expr ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

[[noreturn]] void invalid_credentials() {
  throw ApiError(ErrorKind::kUnauthenticated, "auth.invalid_credentials",
                 "invalid login or password");
}

[[noreturn]] void invalid_refresh_token() {
  throw ApiError(ErrorKind::kUnauthenticated, "auth.invalid_token",
                 "the refresh token is not valid", "log in again with POST /api/v1/auth/login");
}

// The first `n` characters (UTF-8) of `s`, as left() in SQL: what the columns hold.
std::string_view left(std::string_view s, std::size_t n) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && chars++ == n) return s.substr(0, i);
  return s;
}

// A JSON object of string, integer and null members: a body or a filter of RecordService.
class Object {
 public:
  Object() : w_(buffer_) { w_.StartObject(); }
  Object& put(const char* key, std::string_view value) {
    w_.Key(key);
    w_.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
    return *this;
  }
  Object& put(const char* key, std::int64_t value) {
    w_.Key(key);
    w_.Int64(value);
    return *this;
  }
  Object& null(const char* key) {
    w_.Key(key);
    w_.Null();
    return *this;
  }
  // {"key": {"op": value}}
  Object& compare(const char* key, const char* op, std::string_view value) {
    w_.Key(key);
    w_.StartObject();
    w_.Key(op);
    w_.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
    w_.EndObject();
    return *this;
  }
  std::string text() {
    w_.EndObject();
    return std::string(buffer_.GetString(), buffer_.GetSize());
  }

 private:
  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> w_;
};

const security::Context& keel() {
  static const security::Context system = security::Context::system();
  return system;
}

// Revokes the refresh tokens of `chain` (or of `user_id`, when `chain` is empty) still in
// use at `now`: retired ones cannot be exchanged any more (presenting one again revokes its
// chain), so that a long session costs one row to revoke, not one per refresh.
void revoke(db::Connection& conn, const records::RecordService& records, std::string_view chain,
            std::int64_t user_id, std::string_view now) {
  Object filter;
  if (chain.empty())
    filter.put("user", user_id);
  else
    filter.put("chain", chain);
  filter.null("retired_at").null("revoked_at");
  records.update_where(conn, keel(), kRefreshTokens, filter.text(),
                       Object().put("revoked_at", now).text());
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

AuthService::AuthService(const TokenSigner& signer, Options options, Records records)
    : signer_(signer), options_(options), records_(std::move(records)) {}

void AuthService::count_attempt(db::Connection& conn, const records::RecordService& records,
                                std::string_view login, std::string_view address) const {
  const auto window = std::to_string(options_.failure_window.count());
  // Failures older than the window never count again.
  auto cutoff = conn.exec_cached("SELECT " KEEL_ISO("now() - make_interval(secs => $1)"),
                                 db::Params().add(window));
  records.remove_where(conn, keel(), kFailures,
                       Object().compare("at", "lt", cutoff.get(0, 0)).text());
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
  records.create(conn, keel(), kFailures,
                 Object().put("login", left(login, 128)).put("address", left(address, 64)).text());
  tx.commit();
}

TokenPair AuthService::login(db::Connection& conn, std::string_view login,
                             std::string_view password, std::string_view address) const {
  auto records = records_();
  // Counted as a failure first, then hashed: concurrent wrong passwords cannot all pass the
  // check during the ~0.3 s of hashing.
  count_attempt(conn, *records, login, address);
  auto user = conn.exec_cached(
      "SELECT id, password, active, " KEEL_ISO("now() + make_interval(secs => $2)") " "
      "FROM base_user WHERE login = $1",
      db::Params().add(login).add(static_cast<std::int64_t>(options_.refresh_lifetime.count())));
  // Always one full verification, even for a user that does not exist.
  std::string_view hash = user.rows() ? user.get(0, 1) : std::string_view{};
  bool ok = security::verify_password(hash, password);
  if (!ok || user.rows() == 0 || !user.get_bool(0, 2)) invalid_credentials();
  std::int64_t id = user.get_int(0, 0);
  records->remove_where(conn, keel(), kFailures, Object().put("login", left(login, 128)).text());
  records->remove_where(conn, keel(), kRefreshTokens,
                        Object().compare("expires_at", "lt", "$now").text());
  TokenPair pair;
  pair.refresh_token =
      open_refresh_token(conn, *records, id, to_hex(random_bytes(16)), std::string(user.get(0, 3)));
  pair.access_token = signer_.issue(id, token_generation(conn, id));
  pair.expires_in = signer_.lifetime().count();
  return pair;
}

std::string AuthService::open_refresh_token(db::Connection& conn,
                                            const records::RecordService& records,
                                            std::int64_t user_id, const std::string& chain,
                                            const std::string& expires_at) const {
  std::string token = random_token(kRefreshBytes);
  records.create(conn, keel(), kRefreshTokens,
                 Object()
                     .put("user", user_id)
                     .put("token_hash", sha256_hex(token))
                     .put("chain", chain)
                     .put("expires_at", expires_at)
                     .text());
  return token;
}

TokenPair AuthService::refresh(db::Connection& conn, std::string_view refresh_token) const {
  if (refresh_token.empty() || refresh_token.size() > 256) invalid_refresh_token();
  auto records = records_();
  db::Transaction tx(conn);
  auto r = conn.exec_cached(
      "SELECT t.id, t.\"user\", t.chain, t.retired_at IS NOT NULL, t.revoked_at IS NOT NULL, "
      "t.expires_at <= now(), u.active, " KEEL_ISO("now()") ", " KEEL_ISO(
          "now() + make_interval(secs => $2)") " FROM base_refresh_token t "
                                               "JOIN base_user u ON u.id = t.\"user\" WHERE "
                                               "t.token_hash = $1 FOR UPDATE OF t",
      db::Params()
          .add(sha256_hex(refresh_token))
          .add(static_cast<std::int64_t>(options_.refresh_lifetime.count())));
  if (r.rows() == 0) invalid_refresh_token();
  std::int64_t id = r.get_int(0, 0), user = r.get_int(0, 1);
  std::string chain(r.get(0, 2)), now(r.get(0, 7));
  bool retired = r.get_bool(0, 3), revoked = r.get_bool(0, 4), expired = r.get_bool(0, 5),
       active = r.get_bool(0, 6);
  if (retired && !revoked) {
    // A token that was already exchanged comes back: someone kept a copy. End the session.
    revoke(conn, *records, chain, user, now);
    tx.commit();
    invalid_refresh_token();
  }
  if (retired || revoked || expired || !active) invalid_refresh_token();
  records->update_where(conn, keel(), kRefreshTokens, Object().put("id", id).text(),
                        Object().put("retired_at", now).text());
  TokenPair pair;
  pair.refresh_token = open_refresh_token(conn, *records, user, chain, std::string(r.get(0, 8)));
  tx.commit();
  pair.access_token = signer_.issue(user, token_generation(conn, user));
  pair.expires_in = signer_.lifetime().count();
  return pair;
}

void AuthService::logout(db::Connection& conn, std::int64_t user_id,
                         std::string_view refresh_token) const {
  auto records = records_();
  db::Transaction tx(conn);
  // Every access token of the user stops working, on every server (base_user's trigger
  // notifies the authenticators); other sessions get new ones with their refresh tokens.
  if (user_id > 0) {
    auto r = conn.exec_cached("SELECT token_generation FROM base_user WHERE id = $1 FOR UPDATE",
                              db::Params().add(user_id));
    if (r.rows() > 0)
      records->update(conn, keel(), "base_user", user_id,
                      Object().put("token_generation", r.get_int(0, 0) + 1).text());
  }
  if (!refresh_token.empty() && refresh_token.size() <= 256) {
    auto r = conn.exec_cached("SELECT chain, " KEEL_ISO("now()") " FROM base_refresh_token "
                              "WHERE token_hash = $1 AND \"user\" = $2",
                              db::Params().add(sha256_hex(refresh_token)).add(user_id));
    if (r.rows() > 0) revoke(conn, *records, r.get(0, 0), user_id, r.get(0, 1));
  }
  tx.commit();
}

void revoke_sessions(db::Connection& conn, const records::RecordService& records,
                     std::int64_t user_id) {
  auto now = conn.exec_cached("SELECT " KEEL_ISO("now()"), db::Params());
  revoke(conn, records, {}, user_id, now.get(0, 0));
}

}  // namespace keel::runtime

#undef KEEL_ISO
