#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace keel::db {

class Connection;

// A position in PostgreSQL's write-ahead log ("16/B374D848" in SQL, pg_lsn).
using Lsn = std::uint64_t;
std::optional<Lsn> parse_lsn(std::string_view text);
std::string format_lsn(Lsn lsn);
// pg_current_wal_insert_lsn() on `conn` (the primary): at least the end of every transaction
// that committed before the call, on any connection.
Lsn current_lsn(Connection& conn);

// Where reads may go besides the primary (docs/scaling.md "Read replicas"): streaming replicas,
// checked every `check_interval` by a thread of their own, never per request.
//
// Each check samples the primary's pg_current_wal_insert_lsn() (with the time of the sample),
// then each replica's pg_last_wal_replay_lsn(). A replica that has replayed the LSN sampled at
// time t shows every transaction that committed on the primary before t: it is "consistent as
// of t", and its lag is now - t. A replica is chosen for a read only if
//   - its last check succeeded and no statement lost its connection since (failed()),
//   - its lag is at most `max_lag`,
//   - it has replayed the read's minimum LSN: the highest LSN the reading user was told after a
//     write on this server (note_write()), the one the client sent (Keel-LSN), and the floor
//     (the primary's LSN when this server last reloaded its registry, so that a replica that
//     has not replayed a module's tables yet is not asked for them).
// Otherwise the read goes to the primary. Among the eligible replicas, round robin.
class Replicas {
 public:
  struct Options {
    std::vector<std::string> conninfos;
    std::chrono::milliseconds max_lag{1000};
    std::chrono::milliseconds check_interval{100};
  };

  // Starts the checking thread; the first check runs at once (until it succeeds, reads go to
  // the primary).
  Replicas(std::string primary_conninfo, Options options);
  ~Replicas();
  Replicas(const Replicas&) = delete;
  Replicas& operator=(const Replicas&) = delete;

  size_t size() const { return replicas_.size(); }
  const std::string& conninfo(size_t replica) const { return replicas_[replica].conninfo; }

  // The replica for a read by `user` (0: none) that must see `client_lsn` (0: none); nullopt:
  // the primary. Counts the choice (stats()).
  std::optional<size_t> choose(std::int64_t user, Lsn client_lsn);
  // A read on `replica` failed: counted; with `lost` (the connection failed), the replica is
  // skipped until a check reaches it again.
  void failed(size_t replica, bool lost);
  // `user` wrote, and the primary's LSN after the commit is `lsn`.
  void note_write(std::int64_t user, Lsn lsn);
  void raise_floor(Lsn lsn);

  struct ReplicaState {
    bool up = false;
    Lsn replayed = 0;
    double lag_seconds = -1;  // -1: unknown (never reached, or behind every kept sample)
    unsigned long long reads = 0, failures = 0;
  };
  struct Stats {
    std::vector<ReplicaState> replicas;
    unsigned long long primary_reads = 0;
  };
  Stats stats() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Replica {
    std::string conninfo;
    bool up = false;
    Lsn replayed = 0;
    std::optional<Clock::time_point> consistent_as_of;
    std::atomic<unsigned long long> reads{0}, failures{0};
    explicit Replica(std::string c) : conninfo(std::move(c)) {}
    Replica(Replica&& o) noexcept : conninfo(std::move(o.conninfo)) {}
  };
  struct Sample {
    Clock::time_point at;
    Lsn lsn;
  };
  void run();
  void check();

  std::string primary_conninfo_;
  Options options_;
  std::vector<Replica> replicas_;  // fixed size; states under mutex_
  mutable std::mutex mutex_;
  std::deque<Sample> samples_;  // the primary's LSN, oldest first, covering max_lag and more
  std::unordered_map<std::int64_t, Lsn> written_;  // by user; pruned once every replica has it
  Lsn floor_ = 0;
  std::atomic<unsigned> next_{0};
  std::atomic<unsigned long long> primary_reads_{0};
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace keel::db
