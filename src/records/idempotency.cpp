#include "records/idempotency.hpp"

#include <atomic>

#include "app/error.hpp"
#include "security/crypto.hpp"

namespace keel::records {

std::optional<std::string> parse_idempotency_key(std::string_view header) {
  if (header.size() >= 2 && header.front() == '"' && header.back() == '"')
    header = header.substr(1, header.size() - 2);
  if (header.empty() || header.size() > 255) return std::nullopt;
  for (char c : header)
    if (c < 0x21 || c > 0x7e || c == '"' || c == '\\') return std::nullopt;
  return std::string(header);
}

std::string request_fingerprint(std::string_view method, std::string_view path,
                                std::string_view body) {
  std::string text;
  text.reserve(method.size() + path.size() + body.size() + 2);
  text.append(method).append(" ").append(path).append("\n").append(body);
  return security::sha256_hex(text);
}

namespace {

// Expired answers are deleted by every 256th claim, outside its transaction (an index on
// expires_at makes it cheap); a key claimed again after it expired is freed by the claim itself.
std::atomic<unsigned> t_claims{0};

constexpr std::string_view kInProgressHint =
    "retry after the first request with this key has been answered";

}  // namespace

IdempotentAnswer run_idempotent(db::Connection& conn, std::int64_t user, std::string_view key,
                                std::string_view fingerprint,
                                const std::function<IdempotentAnswer()>& write, int wait_ms) {
  if (t_claims.fetch_add(1, std::memory_order_relaxed) % 256 == 0)
    conn.exec_cached("DELETE FROM base_idempotency_key WHERE expires_at <= now()", db::Params());
  const std::string scoped = std::to_string(user) + ":" + std::string(key);

  db::Transaction tx(conn);
  conn.exec_cached("DELETE FROM base_idempotency_key WHERE key = $1 AND expires_at <= now()",
                   db::Params().add(scoped));
  // The claim: a first request with this key inserts its row; a second one waits on the unique
  // index until the first ends (its row committed: a conflict; rolled back: the claim is ours).
  auto previous = conn.exec_cached(
      "SELECT current_setting('lock_timeout'), set_config('lock_timeout', $1, true)",
      db::Params().add(std::to_string(wait_ms) + "ms"));
  std::string restore(previous.get(0, 0));
  db::Result claimed;
  try {
    claimed = conn.exec_cached(
        "INSERT INTO base_idempotency_key (key, \"user\", request_hash, status, expires_at) "
        "VALUES ($1, $2, $3, 0, now() + make_interval(hours => $4)) "
        "ON CONFLICT (key) DO NOTHING RETURNING id",
        db::Params().add(scoped).add(user).add(fingerprint).add(kIdempotencyHours));
  } catch (const db::DbError& e) {
    if (e.sqlstate() != "55P03") throw;  // lock_not_available: the first one still runs
    throw ApiError(ErrorKind::kConflict, "idempotency.in_progress",
                   "a request with this Idempotency-Key is still being processed",
                   std::string(kInProgressHint));
  }
  conn.exec_cached("SELECT set_config('lock_timeout', $1, true)", db::Params().add(restore));

  if (claimed.rows() == 0) {
    auto stored = conn.exec_cached(
        "SELECT request_hash, status, response, location FROM base_idempotency_key "
        "WHERE key = $1",
        db::Params().add(scoped));
    if (stored.rows() == 0)  // deleted meanwhile (expired): cannot happen within 24 hours
      throw ApiError(ErrorKind::kConflict, "idempotency.in_progress",
                     "the request with this Idempotency-Key changed meanwhile",
                     std::string(kInProgressHint));
    if (stored.get(0, 0) != fingerprint)
      throw ApiError(ErrorKind::kInvalid, "idempotency.key_reused",
                     "this Idempotency-Key was used for another request (another method, path "
                     "or body)",
                     "use a new key for each different request; reuse a key only to retry the "
                     "same request");
    IdempotentAnswer answer;
    answer.status = static_cast<int>(stored.get_int(0, 1));
    answer.body = std::string(stored.get(0, 2));
    answer.location = std::string(stored.get(0, 3));
    answer.replayed = true;
    tx.commit();
    return answer;
  }

  auto answer = write();
  conn.exec_cached(
      "UPDATE base_idempotency_key SET status = $2, response = $3, location = $4 WHERE id = $1",
      db::Params()
          .add(claimed.get_int(0, 0))
          .add(answer.status)
          .add(answer.body)
          .add(answer.location.empty() ? std::optional<std::string>() : answer.location));
  tx.commit();
  return answer;
}

}  // namespace keel::records
