#include "db/replicas.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include "db/connection.hpp"

namespace keel::db {

std::optional<Lsn> parse_lsn(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size() || slash > 8 ||
      text.size() - slash - 1 > 8)
    return std::nullopt;
  std::uint32_t high = 0, low = 0;
  auto h = std::from_chars(text.data(), text.data() + slash, high, 16);
  auto l = std::from_chars(text.data() + slash + 1, text.data() + text.size(), low, 16);
  if (h.ec != std::errc() || h.ptr != text.data() + slash || l.ec != std::errc() ||
      l.ptr != text.data() + text.size())
    return std::nullopt;
  return (static_cast<Lsn>(high) << 32) | low;
}

std::string format_lsn(Lsn lsn) {
  char buf[32];
  auto high = std::to_chars(buf, buf + 16, static_cast<std::uint32_t>(lsn >> 32), 16);
  *high.ptr = '/';
  auto low = std::to_chars(high.ptr + 1, buf + sizeof buf, static_cast<std::uint32_t>(lsn), 16);
  std::string out(buf, low.ptr);
  std::transform(out.begin(), out.end(), out.begin(), ::toupper);
  return out;
}

Lsn current_lsn(Connection& conn) {
  auto r = conn.exec("SELECT pg_current_wal_insert_lsn()::text");
  return parse_lsn(r.get(0, 0)).value_or(0);
}

Replicas::Replicas(std::string primary_conninfo, Options options)
    : primary_conninfo_(std::move(primary_conninfo)), options_(std::move(options)) {
  replicas_.reserve(options_.conninfos.size());
  for (auto& c : options_.conninfos)
    replicas_.emplace_back(c);
  thread_ = std::thread([this] { run(); });
}

Replicas::~Replicas() {
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  thread_.join();
}

void Replicas::run() {
  // The checker's own connections, opened again after a failure (at the next check).
  std::optional<Connection> primary;
  std::vector<std::optional<Connection>> conns(replicas_.size());
  std::vector<bool> warned(replicas_.size(), false);
  auto lag_keep = options_.max_lag + 4 * options_.check_interval + std::chrono::seconds(1);
  for (;;) {
    {
      std::unique_lock lock(stop_mutex_);
      if (stopping_) return;
    }
    auto at = Clock::now();
    std::optional<Lsn> sampled;
    try {
      if (!primary || !primary->ok()) primary.emplace(Connection::open(primary_conninfo_));
      sampled = current_lsn(*primary);
    } catch (const std::exception& e) {
      primary.reset();
      spdlog::warn("replica check: the primary did not answer: {}", e.what());
    }
    std::vector<std::optional<Lsn>> replayed(replicas_.size());
    for (size_t i = 0; i < replicas_.size(); ++i) {
      try {
        if (!conns[i] || !conns[i]->ok()) conns[i].emplace(Connection::open(replicas_[i].conninfo));
        auto r = conns[i]->exec("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text");
        if (!r.get_bool(0, 0))
          throw std::runtime_error("it is not a replica (not in recovery; promoted?)");
        replayed[i] = parse_lsn(r.get(0, 1));
        if (!replayed[i]) throw std::runtime_error("it has replayed nothing yet");
        if (warned[i]) spdlog::info("replica {} is back", i);
        warned[i] = false;
      } catch (const std::exception& e) {
        conns[i].reset();
        if (!warned[i])
          spdlog::warn("replica {} is skipped: {}", i, e.what());  // not its conninfo: a password
        warned[i] = true;
      }
    }
    {
      std::lock_guard lock(mutex_);
      if (sampled) samples_.push_back({at, *sampled});
      while (samples_.size() > 1 && Clock::now() - samples_[1].at > lag_keep)
        samples_.pop_front();
      for (size_t i = 0; i < replicas_.size(); ++i) {
        auto& r = replicas_[i];
        r.up = replayed[i].has_value();
        if (!r.up) continue;
        r.replayed = *replayed[i];
        // The latest sample it has replayed.
        for (auto it = samples_.rbegin(); it != samples_.rend(); ++it)
          if (it->lsn <= r.replayed) {
            r.consistent_as_of = std::max(r.consistent_as_of.value_or(it->at), it->at);
            break;
          }
      }
      // Writes that every replica within the bound has replayed need no memory: such a replica
      // has replayed a sample taken less than max_lag ago, and the oldest sample older than
      // that is at least their LSN.
      if (!samples_.empty() && Clock::now() - samples_.front().at > options_.max_lag) {
        Lsn old = samples_.front().lsn;
        std::erase_if(written_, [old](const auto& w) { return w.second <= old; });
      }
    }
    std::unique_lock lock(stop_mutex_);
    stop_cv_.wait_until(lock, at + options_.check_interval, [this] { return stopping_; });
  }
}

std::optional<size_t> Replicas::choose(std::int64_t user, Lsn client_lsn) {
  auto now = Clock::now();
  std::optional<size_t> chosen;
  {
    std::lock_guard lock(mutex_);
    Lsn need = std::max(client_lsn, floor_);
    if (user) {
      if (auto it = written_.find(user); it != written_.end()) need = std::max(need, it->second);
    }
    size_t n = replicas_.size();
    unsigned start = next_.fetch_add(1, std::memory_order_relaxed);
    for (size_t k = 0; k < n; ++k) {
      size_t i = (start + k) % n;
      const auto& r = replicas_[i];
      if (r.up && r.consistent_as_of && now - *r.consistent_as_of <= options_.max_lag &&
          r.replayed >= need) {
        chosen = i;
        break;
      }
    }
  }
  if (chosen)
    replicas_[*chosen].reads.fetch_add(1, std::memory_order_relaxed);
  else
    primary_reads_.fetch_add(1, std::memory_order_relaxed);
  return chosen;
}

void Replicas::failed(size_t replica, bool lost) {
  replicas_[replica].failures.fetch_add(1, std::memory_order_relaxed);
  if (!lost) return;
  std::lock_guard lock(mutex_);
  replicas_[replica].up = false;
}

void Replicas::note_write(std::int64_t user, Lsn lsn) {
  if (!user || !lsn) return;
  std::lock_guard lock(mutex_);
  auto& w = written_[user];
  w = std::max(w, lsn);
}

void Replicas::raise_floor(Lsn lsn) {
  std::lock_guard lock(mutex_);
  floor_ = std::max(floor_, lsn);
}

Replicas::Stats Replicas::stats() const {
  Stats s;
  auto now = Clock::now();
  std::lock_guard lock(mutex_);
  for (const auto& r : replicas_) {
    ReplicaState state;
    state.up = r.up;
    state.replayed = r.replayed;
    if (r.consistent_as_of)
      state.lag_seconds = std::chrono::duration<double>(now - *r.consistent_as_of).count();
    state.reads = r.reads.load(std::memory_order_relaxed);
    state.failures = r.failures.load(std::memory_order_relaxed);
    s.replicas.push_back(state);
  }
  s.primary_reads = primary_reads_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace keel::db
