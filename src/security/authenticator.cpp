#include "security/authenticator.hpp"

#include <mutex>

#include "db/pool.hpp"
#include "security/crypto.hpp"
#include "security/jwt.hpp"
#include "security/users.hpp"

namespace keel::security {

namespace {

constexpr std::size_t kMaxEntries = 100000;  // beyond this, a cache starts again empty

std::int64_t epoch_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<std::string> split_roles(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

Authenticator::Authenticator(db::Pool& pool, const TokenSigner& signer,
                             std::chrono::milliseconds ttl)
    : pool_(pool), signer_(signer), ttl_(ttl) {}

void Authenticator::invalidate() {
  std::unique_lock lock(mutex_);
  ++generation_;
  users_.clear();
  std::lock_guard reads(reads_mutex_);
  user_reads_.refreshing.clear();
  key_reads_.refreshing.clear();
  keys_.clear();
}

std::optional<Context> Authenticator::authenticate(std::string_view authorization,
                                                   const Policy& policy) {
  bool needs_query = false;
  return resolve(authorization, policy, true, needs_query);
}

std::optional<std::optional<Context>> Authenticator::authenticate_cached(
    std::string_view authorization, const Policy& policy) {
  bool needs_query = false;
  auto context = resolve(authorization, policy, false, needs_query);
  if (needs_query) return std::nullopt;
  return context;
}

std::optional<Context> Authenticator::resolve(std::string_view authorization, const Policy& policy,
                                              bool may_query, bool& needs_query) {
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() <= scheme.size()) return std::nullopt;
  for (size_t i = 0; i < scheme.size(); ++i)
    if (static_cast<char>(std::tolower(static_cast<unsigned char>(authorization[i]))) != scheme[i])
      return std::nullopt;
  auto token = authorization.substr(scheme.size());
  while (!token.empty() && token.front() == ' ')
    token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ')
    token.remove_suffix(1);

  std::optional<std::int64_t> user, generation;
  if (auto key = split_api_key(token)) {
    user = api_key_user(key->first, key->second, may_query, needs_query);
  } else if (auto verified = token_user(token)) {
    user = verified->user_id;
    generation = verified->generation;
  }
  if (!user) return std::nullopt;
  return context_of(*user, generation, policy, may_query, needs_query);
}

std::optional<Context> Authenticator::context_of(std::int64_t user_id,
                                                 std::optional<std::int64_t> token_generation,
                                                 const Policy& policy, bool may_query,
                                                 bool& needs_query) {
  // A token of an older generation was ended by logout, a new password or deactivation.
  auto valid = [&](const User& u) {
    return u.found && u.active && (!token_generation || *token_generation == u.generation);
  };
  auto now = Clock::now();
  {
    std::shared_lock lock(mutex_);
    auto it = users_.find(user_id);
    if (it != users_.end() && fresh(it->second.loaded, now)) {
      // Past half its life, it is read again: by the first thread that must not wait, handed
      // to a thread that may (the others use the entry meanwhile); a thread that may wait reads
      // it again itself (sharing the read).
      bool early = now - it->second.loaded >= ttl_ / 2;
      if (!early || (!may_query && !claim_refresh(user_reads_, user_id))) {
        ++hits_;
        if (!valid(it->second)) return std::nullopt;
        return policy.context(user_id, it->second.login, it->second.roles);
      }
    }
  }
  if (!may_query) {
    needs_query = true;
    return std::nullopt;
  }
  bool leader = false;
  User user;
  try {
    user = read_once(
        user_reads_, user_id, [&] { return load_user(user_id); },
        [&](const User& read) {
          if (users_.size() >= kMaxEntries) users_.clear();
          users_[user_id] = read;
        },
        leader);
  } catch (...) {
    user = still_fresh(users_, user_id);
  }
  if (!valid(user)) return std::nullopt;
  return policy.context(user_id, user.login, user.roles);
}

template <typename Map, typename Id>
typename Map::mapped_type Authenticator::still_fresh(const Map& entries, const Id& id) {
  std::shared_lock lock(mutex_);
  auto it = entries.find(id);
  if (it == entries.end() || !fresh(it->second.loaded, Clock::now())) throw;
  return it->second;
}

template <typename Id, typename Value>
bool Authenticator::claim_refresh(Reads<Id, Value>& reads, const Id& id) {
  std::lock_guard lock(reads_mutex_);
  return reads.refreshing.insert(id).second;
}

template <typename Id, typename Value, typename Load, typename Store>
Value Authenticator::read_once(Reads<Id, Value>& reads, const Id& id, Load load, Store store,
                               bool& leader) {
  auto generation = generation_.load();
  std::promise<Value> promise;
  std::shared_future<Value> flight;
  leader = false;
  {
    std::lock_guard lock(reads_mutex_);
    auto it = reads.running.find(id);
    // A read begun before an invalidate() may have missed the change: not shared after it.
    if (it == reads.running.end() || it->second.generation != generation) {
      flight = promise.get_future().share();
      reads.running[id] = {generation, flight};
      leader = true;
    } else {
      flight = it->second.value;
    }
  }
  if (!leader) return flight.get();  // rethrows the leader's failure
  ++misses_;
  std::optional<Value> value;
  try {
    value = load();
    promise.set_value(*value);
  } catch (...) {
    promise.set_exception(std::current_exception());
  }
  if (value) {
    // Stored before the read is forgotten: a thread that comes in between finds one or the
    // other, and reads nothing again.
    std::unique_lock lock(mutex_);
    if (generation == generation_.load()) store(*value);  // not invalidated meanwhile
  }
  {
    std::lock_guard lock(reads_mutex_);
    auto it = reads.running.find(id);
    if (it != reads.running.end() && it->second.generation == generation) reads.running.erase(it);
    reads.refreshing.erase(id);
  }
  if (!value) return flight.get();  // rethrows
  return std::move(*value);
}

std::optional<Authenticator::Verified> Authenticator::token_user(std::string_view token) {
  std::int64_t now = epoch_seconds();
  {
    std::shared_lock lock(mutex_);
    auto it = tokens_.find(token);
    if (it != tokens_.end()) {
      if (it->second.expires_at <= now) return std::nullopt;
      return it->second;
    }
  }
  auto claims = signer_.verify(token);
  if (!claims) return std::nullopt;
  std::unique_lock lock(mutex_);
  if (tokens_.size() >= kMaxEntries) tokens_.clear();
  Verified verified{claims->user_id, claims->expires_at, claims->generation};
  tokens_.emplace(std::string(token), verified);
  return verified;
}

std::optional<std::int64_t> Authenticator::api_key_user(std::string_view prefix,
                                                        std::string_view secret, bool may_query,
                                                        bool& needs_query) {
  auto now = Clock::now();
  auto check = [&](const Key& key) -> std::optional<std::int64_t> {
    // Hash first, compare in constant time, and only then look at the rest.
    bool match = constant_time_equal(sha256_hex(secret), key.found ? key.secret_hash : "");
    if (!match || !key.found || !key.active) return std::nullopt;
    if (key.expires_at && *key.expires_at <= epoch_seconds()) return std::nullopt;
    return key.user_id;
  };
  std::optional<std::int64_t> user;
  bool touch = false, read = true;
  std::int64_t key_id = 0;
  {
    std::shared_lock lock(mutex_);
    auto it = keys_.find(prefix);
    if (it != keys_.end() && fresh(it->second.loaded, now)) {
      // Read again past half its life, as a user is (context_of).
      bool early = now - it->second.loaded >= ttl_ / 2;
      if (!early || (!may_query && !claim_refresh(key_reads_, std::string(prefix)))) {
        ++hits_;
        read = false;
        user = check(it->second);
        touch = user && now - it->second.touched > std::chrono::minutes(1);
        key_id = it->second.id;
        if (!touch) return user;
      }
    }
  }
  if (!may_query) {
    needs_query = true;
    return std::nullopt;
  }
  if (read) {
    bool leader = false, due = true;
    Key key;
    try {
      key = read_once(
          key_reads_, std::string(prefix), [&] { return load_key(prefix); },
          [&](const Key& loaded) {
            // A read again keeps when the use was last recorded (at most once a minute).
            Key stored = loaded;
            stored.touched = now;
            auto old = keys_.find(prefix);
            if (old != keys_.end() && now - old->second.touched <= std::chrono::minutes(1)) {
              stored.touched = old->second.touched;
              due = false;
            }
            if (keys_.size() >= kMaxEntries) keys_.clear();
            keys_[std::string(prefix)] = std::move(stored);
          },
          leader);
    } catch (...) {
      key = still_fresh(keys_, prefix);
      due = false;
    }
    user = check(key);
    touch = leader && due && user.has_value();  // the reader records it, for all
    key_id = key.id;
  } else {
    std::unique_lock lock(mutex_);
    auto it = keys_.find(prefix);
    if (it != keys_.end()) it->second.touched = now;
  }
  // At most once a minute per key and server: when the key was last used.
  if (touch && key_used_) key_used_(key_id);
  return user;
}

Authenticator::User Authenticator::load_user(std::int64_t user_id) {
  auto conn = pool_.acquire();
  auto r = conn->exec_cached(
      "SELECT u.login, u.active, coalesce(string_agg(r.name, ',' ORDER BY r.name), ''), "
      "u.token_generation "
      "FROM base_user u LEFT JOIN base_user_roles_rel l ON l.source_id = u.id "
      "LEFT JOIN base_role r ON r.id = l.target_id WHERE u.id = $1 GROUP BY u.id",
      db::Params().add(user_id));
  User user;
  user.loaded = Clock::now();
  if (r.rows() == 0) return user;
  user.found = true;
  user.login = std::string(r.get(0, 0));
  user.active = r.get_bool(0, 1);
  user.roles = split_roles(r.get(0, 2));
  user.generation = r.get_int(0, 3);
  return user;
}

Authenticator::Key Authenticator::load_key(std::string_view prefix) {
  auto conn = pool_.acquire();
  auto r = conn->exec_cached(
      "SELECT \"user\", secret_hash, active, extract(epoch FROM expires_at)::bigint, id "
      "FROM base_api_key WHERE prefix = $1",
      db::Params().add(prefix));
  Key key;
  key.loaded = Clock::now();
  if (r.rows() == 0) return key;
  key.found = true;
  key.user_id = r.get_int(0, 0);
  key.secret_hash = std::string(r.get(0, 1));
  key.active = r.get_bool(0, 2);
  if (!r.is_null(0, 3)) key.expires_at = r.get_int(0, 3);
  key.id = r.get_int(0, 4);
  return key;
}

}  // namespace keel::security
