#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "security/policy.hpp"

namespace keel::db {
class Pool;
}

namespace keel::security {

class TokenSigner;

// Turns `Authorization: Bearer <token>` into the caller's Context: a JWT access token
// (TokenSigner) or an API key (`<prefix>.<secret>`), for an active user, with the roles granted
// to the user closed by the Policy of the current snapshot.
//
// A JWT is verified (HMAC, decoding, JSON) once: the claims of tokens seen before are kept,
// keyed by the token's exact text, and only their expiry is checked again.
//
// What a request needs from the database (the user's login, active flag and roles; an API
// key's hash) is cached in memory, so a request costs no query. The cache is dropped on every
// notification of kAuthChannel (triggers send one whenever users, grants, roles or keys
// change: call invalidate()) and entries older than `ttl` are read again, a safety net for
// lost notifications. A user's or key's entry is read again ahead of that: the first request
// that finds it older than ttl / 2 reads it (on a thread that may wait) while the others keep
// using it, and requests that need the same user or key at once share one read. Many clients of one
// user (a load balancer's health checks, a benchmark's connections) then never all miss together.
class Authenticator {
 public:
  Authenticator(db::Pool& pool, const TokenSigner& signer,
                std::chrono::milliseconds ttl = std::chrono::seconds(30));

  // The caller, or nullopt when the header is missing or holds no valid credential.
  std::optional<Context> authenticate(std::string_view authorization, const Policy& policy);
  // authenticate() from memory alone, for a thread that must not wait: nullopt when the answer
  // needs the database (a user or key not cached, or stale; a key's last use to record).
  std::optional<std::optional<Context>> authenticate_cached(std::string_view authorization,
                                                            const Policy& policy);
  // Records that an API key was used (its last_used_at), at most once a minute per key on this
  // server, decided from what the authenticator holds in memory: the owner writes it through
  // RecordService (the security layer writes no record). Set before serving.
  using KeyUsed = std::function<void(std::int64_t key_id)>;
  void on_key_used(KeyUsed key_used) { key_used_ = std::move(key_used); }

  // Forgets everything cached (thread-safe).
  void invalidate();

  struct Stats {
    std::uint64_t hits = 0, misses = 0;
  };
  Stats stats() const { return {hits_.load(), misses_.load()}; }

 private:
  using Clock = std::chrono::steady_clock;
  struct User {
    bool found = false;
    std::string login;
    bool active = false;
    std::vector<std::string> roles;  // granted directly
    std::int64_t generation = 0;     // base_user.token_generation
    Clock::time_point loaded;
  };
  struct Verified {
    std::int64_t user_id = 0;
    std::int64_t expires_at = 0;  // seconds since the epoch
    std::int64_t generation = 0;
  };
  struct Key {
    bool found = false;
    std::int64_t id = 0;
    std::int64_t user_id = 0;
    std::string secret_hash;
    bool active = false;
    std::optional<std::int64_t> expires_at;  // seconds since the epoch
    Clock::time_point loaded;
    Clock::time_point touched;  // last_used_at written
  };

  // `may_query` false: nothing is read or written; `needs_query` is set instead when the
  // answer needs the database.
  std::optional<Context> resolve(std::string_view authorization, const Policy& policy,
                                 bool may_query, bool& needs_query);
  // `token_generation`: a JWT's, which must be the user's current one; nullopt for an API key.
  std::optional<Context> context_of(std::int64_t user_id,
                                    std::optional<std::int64_t> token_generation,
                                    const Policy& policy, bool may_query, bool& needs_query);
  std::optional<std::int64_t> api_key_user(std::string_view prefix, std::string_view secret,
                                           bool may_query, bool& needs_query);
  std::optional<Verified> token_user(std::string_view token);
  User load_user(std::int64_t user_id);
  // Reads of cached entries in progress, and the entries whose early read is claimed.
  template <typename Id, typename Value>
  struct Reads {
    struct Flight {
      std::uint64_t generation = 0;
      std::shared_future<Value> value;
    };
    std::unordered_map<Id, Flight> running;
    std::unordered_set<Id> refreshing;
  };
  // `load()`, once for all the threads that need `id` at the same time (and the same cache
  // generation); the one that read it stores it with `store` unless invalidate() came
  // meanwhile. `leader`: whether this thread read it.
  template <typename Id, typename Value, typename Load, typename Store>
  Value read_once(Reads<Id, Value>& reads, const Id& id, Load load, Store store, bool& leader);
  // Called while a read ahead of the expiry fails (PostgreSQL away for a moment): the entry,
  // which serves until it expires; once expired (or gone), the failure is rethrown.
  template <typename Map, typename Id>
  typename Map::mapped_type still_fresh(const Map& entries, const Id& id);
  // True for the one caller that is to read `id` again ahead of its expiry.
  template <typename Id, typename Value>
  bool claim_refresh(Reads<Id, Value>& reads, const Id& id);
  Key load_key(std::string_view prefix);
  bool fresh(Clock::time_point loaded, Clock::time_point now) const { return now - loaded < ttl_; }

  db::Pool& pool_;
  const TokenSigner& signer_;
  std::chrono::milliseconds ttl_;
  KeyUsed key_used_;
  std::shared_mutex mutex_;
  std::unordered_map<std::int64_t, User> users_;
  struct TextHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const {
      return std::hash<std::string_view>{}(text);
    }
  };
  template <typename T>
  using TextMap = std::unordered_map<std::string, T, TextHash, std::equal_to<>>;
  TextMap<Key> keys_;
  TextMap<Verified> tokens_;                  // JWT text -> its verified claims
  std::atomic<std::uint64_t> generation_{0};  // bumped by invalidate()
  std::mutex reads_mutex_;                    // user_reads_ and key_reads_
  Reads<std::int64_t, User> user_reads_;
  Reads<std::string, Key> key_reads_;
  std::atomic<std::uint64_t> hits_{0}, misses_{0};
};

}  // namespace keel::security
