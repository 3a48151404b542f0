#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "db/connection.hpp"

namespace keel::db {

// A bounded pool of connections for explicit transactions and administrative work. Leases
// block while every connection is in use (up to a timeout). A connection that failed (after a
// PostgreSQL restart, a killed backend) is dropped when its lease ends; one that sat idle for a
// while, or that PostgreSQL wrote to or closed while idle (a restart), is checked with a ping
// before it is handed out, and replaced when the ping fails. Failed attempts to connect back
// off (50 ms doubling to 500 ms). The lock is never held during I/O.
class Pool {
 public:
  struct Options {
    size_t max_size = 8;
    std::chrono::milliseconds acquire_timeout{5000};
    std::chrono::milliseconds ping_after_idle{2000};
  };

  class Lease {
   public:
    Lease(Lease&&) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }

   private:
    friend class Pool;
    Lease(Pool& pool, std::unique_ptr<Connection> conn) : pool_(&pool), conn_(std::move(conn)) {}
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  Pool(std::string conninfo, Options options);
  explicit Pool(std::string conninfo) : Pool(std::move(conninfo), Options{}) {}

  // A healthy connection; throws DbError when none is free within the timeout or when
  // PostgreSQL cannot be reached.
  Lease acquire();

  // Opens `n` connections on a thread of its own, while the caller does other work (a server's
  // start); acquire() waits for one of them rather than opening another.
  void warm(size_t n);

  struct Stats {
    size_t open = 0;  // connections that exist (idle + leased)
    size_t idle = 0;
    size_t leased = 0;
    size_t max = 0;
  };
  Stats stats() const;
  // The connection string, for listeners of the same database.
  const std::string& conninfo() const { return conninfo_; }

 private:
  struct Idle {
    std::unique_ptr<Connection> conn;
    std::chrono::steady_clock::time_point since;
  };
  void release(std::unique_ptr<Connection> conn);

  std::string conninfo_;
  Options options_;
  mutable std::mutex mutex_;
  std::condition_variable available_;
  std::vector<Idle> idle_;
  size_t open_ = 0;  // idle + leased + being opened
  // After a failed attempt to connect, no new connection is tried before retry_at_ (the wait
  // doubles with every failure, up to 500 ms); acquire() fails at once meanwhile.
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point retry_at_{};
  size_t warming_ = 0;   // connections warm() is still opening
  std::jthread warmer_;  // last: joined before the rest goes
};

}  // namespace keel::db
