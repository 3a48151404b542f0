#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "db/connection.hpp"

// Idempotency-Key for creates and updates (issue 16; the IETF httpapi draft
// "The Idempotency-Key HTTP Header Field"). A client that cannot know whether its write was
// done (the connection died after the request was sent: Keel answers 503, or nothing) sends it
// again with the same key and gets the first answer instead of a second write.
namespace keel::records {

// What a write answered: kept with its key, replayed to the retries.
struct IdempotentAnswer {
  int status = 200;
  std::string body;
  std::string location;   // the Location header of a create; empty otherwise
  bool replayed = false;  // true: stored by an earlier request with the same key
};

// How long an answer is kept.
constexpr int kIdempotencyHours = 24;

// The client's key from an Idempotency-Key header value: 1 to 255 visible ASCII characters,
// bare or as a structured-field string ("..."); nullopt when malformed.
std::optional<std::string> parse_idempotency_key(std::string_view header);

// Runs `write` in ONE transaction with the claim of `key` for `user` and the storage of its
// answer, so that a write that committed always has its answer stored, even when its
// acknowledgement was lost:
// - a key never seen (or expired): runs `write`, stores what it answered, returns it;
// - a key whose answer is stored, for the same request (method, path and body: `fingerprint`):
//   returns that answer (`replayed`), writes nothing;
// - a key stored for another request: ApiError 422 `idempotency.key_reused`;
// - a key whose first request is still running: waits for it (then as above), at most
//   `wait_ms`, then ApiError 409 `idempotency.in_progress`.
// A write that fails (an ApiError, a database error) leaves nothing: its key is free again.
IdempotentAnswer run_idempotent(db::Connection& conn, std::int64_t user, std::string_view key,
                                std::string_view fingerprint,
                                const std::function<IdempotentAnswer()>& write,
                                int wait_ms = 10000);

// The fingerprint of a request: SHA-256 of its method, path and body.
std::string request_fingerprint(std::string_view method, std::string_view path,
                                std::string_view body);

}  // namespace keel::records
