#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <string>

#include "db/connection.hpp"

namespace boost::asio {
class io_context;
}

namespace keel::db {

// Single statements without a thread waiting for each: a few libpq connections in pipeline
// mode, driven by one thread of their own (an Asio io_context over the connections' sockets).
// exec_cached() queues a statement on the least busy connection and returns at once; the
// statements that arrive together go out back to back, PostgreSQL answers them in order, and
// `done` runs on the pipeline's thread with the rows or the error (a DbError, as
// Connection::exec_cached would throw it). Keep `done` short: hand the rows to another thread
// for real work.
//
// Each statement is followed by its own sync, so a failing statement aborts nothing queued
// behind it. Statements are prepared once per connection (named, like exec_cached); one whose
// plan a schema change made stale is prepared again and retried once. A connection that fails
// answers everything queued on it with the error and is opened again for the next statement;
// one that PostgreSQL closed while it was idle is replaced before a statement is sent on it.
// Only for statements that need no transaction but their own (reads, a one-statement create):
// transactions keep the Pool.
//
// A pipeline can also live on an event loop it does not own (an I/O thread of the HTTP
// server): then exec_cached() called on that loop's thread sends at once and `done` runs on
// the same thread, so a request never changes threads for its query.
class Pipeline {
 public:
  using Done = std::function<void(Result rows, std::exception_ptr error)>;

  // Opens the first of `connections` connections (throws DbError when PostgreSQL cannot be
  // reached), the others in the background, and starts the thread.
  Pipeline(std::string conninfo, unsigned connections);
  // On `loop`, run by a thread of the caller's; destroy it only after the loop stopped (its
  // handlers refer to it). The connections open one after another on a thread of their own,
  // each joining the loop when ready. kFirstNow opens the first before returning (throws
  // DbError as above); kBackground returns at once, and statements sent before the first
  // connection is open wait for it (a server's start does not wait for its backends).
  enum class Open { kFirstNow, kBackground };
  Pipeline(std::string conninfo, unsigned connections, boost::asio::io_context& loop,
           Open open = Open::kFirstNow);
  ~Pipeline();  // fails what is still queued, stops the thread (if it has one)
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Thread-safe (cheapest on the thread of the pipeline's loop).
  void exec_cached(std::string sql, Params params, Done done);

  // At most this many statements of one turn of the loop go back to back on one connection
  // (default 8); 1: each on a connection of its own while one is idle. Before the first
  // statement.
  void batch_per_turn(size_t statements);

  struct Stats {
    unsigned connections = 0;
    unsigned long long statements = 0;  // sent since the start
  };
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::db
