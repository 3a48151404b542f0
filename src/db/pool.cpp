#include "db/pool.hpp"

#include <algorithm>

namespace keel::db {

Pool::Lease::Lease(Lease&& other) noexcept : pool_(other.pool_), conn_(std::move(other.conn_)) {}

Pool::Lease::~Lease() {
  if (conn_) pool_->release(std::move(conn_));
}

Pool::Pool(std::string conninfo, Options options)
    : conninfo_(std::move(conninfo)), options_(options) {}

Pool::Lease Pool::acquire() {
  auto deadline = std::chrono::steady_clock::now() + options_.acquire_timeout;
  while (true) {
    std::unique_ptr<Connection> conn;
    bool stale = false;
    {
      std::unique_lock lock(mutex_);
      available_.wait_until(lock, deadline, [&] {
        return !idle_.empty() || (warming_ == 0 && open_ < options_.max_size);
      });
      if (!idle_.empty()) {
        Idle entry = std::move(idle_.back());
        idle_.pop_back();
        stale = std::chrono::steady_clock::now() - entry.since >= options_.ping_after_idle ||
                entry.conn->heard_from_server();
        conn = std::move(entry.conn);
      } else if (open_ < options_.max_size) {
        // After a failed connection attempt, others wait for the backoff to pass instead of
        // knocking on PostgreSQL while it restarts or recovers.
        if (std::chrono::steady_clock::now() < retry_at_)
          throw DbError("the database is not reachable; reconnecting", "08001");
        ++open_;  // reserve the slot; the connection is opened outside the lock
      } else {
        throw DbError("no database connection free within " +
                          std::to_string(options_.acquire_timeout.count()) + " ms",
                      "", "", "raise the pool size or find what holds connections");
      }
    }
    if (conn) {
      if (!stale) return Lease(*this, std::move(conn));
      try {
        conn->exec("SELECT 1");
        return Lease(*this, std::move(conn));
      } catch (const DbError&) {
        conn.reset();  // dead after a restart: replace it
        std::lock_guard lock(mutex_);
        --open_;
        continue;
      }
    }
    try {
      auto opened = std::make_unique<Connection>(Connection::open(conninfo_));
      {
        std::lock_guard lock(mutex_);
        backoff_ = {};
        retry_at_ = {};
      }
      return Lease(*this, std::move(opened));
    } catch (...) {
      std::lock_guard lock(mutex_);
      --open_;
      // 50 ms, doubling up to 500 ms: at most two attempts a second while PostgreSQL is down,
      // and service back within half a second of it accepting connections (plus the time to
      // connect). With a 1 s cap, a loaded machine took 2.06 s (Faults.PostgreSQLRestarts...).
      backoff_ = std::min(backoff_.count() ? backoff_ * 2 : std::chrono::milliseconds(50),
                          std::chrono::milliseconds(500));
      retry_at_ = std::chrono::steady_clock::now() + backoff_;
      available_.notify_one();
      throw;
    }
  }
}

void Pool::warm(size_t n) {
  {
    std::lock_guard lock(mutex_);
    n = std::min(n, options_.max_size - std::min(open_, options_.max_size));
    if (n == 0 || warming_ > 0) return;
    open_ += n;  // reserved, as acquire() does
    warming_ = n;
  }
  warmer_ = std::jthread([this, n](std::stop_token stop) {
    bool failed = false;
    for (size_t k = 0; k < n; ++k) {
      std::unique_ptr<Connection> conn;
      // After a failure, or once the pool is going away, the others are not tried: against a
      // host that drops packets each would wait for the connect timeout.
      if (!failed && !stop.stop_requested()) {
        try {
          conn = std::make_unique<Connection>(Connection::open(conninfo_));
        } catch (const std::exception&) {
          failed = true;  // acquire() tries again, and reports the failure
        }
      }
      std::lock_guard lock(mutex_);
      --warming_;
      if (conn)
        idle_.push_back({std::move(conn), std::chrono::steady_clock::now()});
      else
        --open_;
      available_.notify_all();
    }
  });
}

void Pool::release(std::unique_ptr<Connection> conn) {
  bool healthy = conn->ok() && conn->idle_in_transaction() == false;
  if (!healthy) conn.reset();  // closed outside the lock
  std::lock_guard lock(mutex_);
  if (healthy)
    idle_.push_back({std::move(conn), std::chrono::steady_clock::now()});
  else
    --open_;
  available_.notify_one();
}

Pool::Stats Pool::stats() const {
  std::lock_guard lock(mutex_);
  return {open_, idle_.size(), open_ - idle_.size(), options_.max_size};
}

}  // namespace keel::db
