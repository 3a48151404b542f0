#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "app/error.hpp"

struct pg_conn;
struct pg_result;

namespace keel::db {

// A failure reported by PostgreSQL or libpq; `sqlstate` is the five-character SQLSTATE
// ("23505" unique violation, ...) or empty when the failure came from the connection.
class DbError : public Error {
 public:
  DbError(std::string message, std::string sqlstate, std::string detail = {},
          std::string hint = {});
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  std::string sqlstate_;
};

// Whether `e` says the database cannot be used right now (no connection, PostgreSQL starting
// up, shutting down or out of connections: SQLSTATE classes 08, 57 and 53, or no SQLSTATE at
// all) rather than that a statement was wrong: worth a retry later.
bool unavailable(const DbError& e);

// Query parameters, always sent separately from the SQL text (never spliced into it).
// A parameter is text in PostgreSQL's input format, or NULL.
class Params {
 public:
  Params() = default;
  Params& add(std::nullopt_t) {
    values_.emplace_back();
    return *this;
  }
  Params& add(std::string_view v) {
    values_.emplace_back(std::string(v));
    return *this;
  }
  Params& add(const char* v) { return add(std::string_view(v)); }
  Params& add(const std::string& v) { return add(std::string_view(v)); }
  Params& add(std::int64_t v) {
    values_.emplace_back(std::to_string(v));
    return *this;
  }
  Params& add(int v) { return add(static_cast<std::int64_t>(v)); }
  Params& add(bool v) {
    values_.emplace_back(v ? "t" : "f");
    return *this;
  }
  template <typename T>
  Params& add(const std::optional<T>& v) {
    return v ? add(*v) : add(std::nullopt);
  }
  size_t size() const { return values_.size(); }
  const std::vector<std::optional<std::string>>& values() const { return values_; }
  // Replaces the value of $<index + 1>.
  void set(size_t index, std::string v) { values_.at(index) = std::move(v); }

 private:
  std::vector<std::optional<std::string>> values_;
};

// The rows of a query. Values are read in place from libpq's buffer (no copies).
class Result {
 public:
  Result() = default;
  explicit Result(pg_result* result);
  Result(Result&&) noexcept;
  Result& operator=(Result&&) noexcept;
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  ~Result();

  int rows() const;
  int columns() const;
  std::string_view column_name(int column) const;
  bool is_null(int row, int column) const;
  std::string_view get(int row, int column) const;  // "" for NULL
  std::optional<std::string> optional(int row, int column) const;
  std::int64_t get_int(int row, int column) const;
  bool get_bool(int row, int column) const;
  // Rows changed by INSERT/UPDATE/DELETE.
  std::int64_t affected() const;

 private:
  pg_result* result_ = nullptr;
};

// One libpq connection. Not thread-safe; move-only.
class Connection {
 public:
  // Opens a connection from a libpq connection string or postgresql:// URL.
  static Connection open(const std::string& conninfo);

  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Runs one or several statements without parameters (DDL, scripts).
  Result exec(std::string_view sql);
  // Runs one statement with parameters ($1, $2, ...).
  Result exec(std::string_view sql, const Params& params);
  // Like exec(sql, params), as a named prepared statement kept on this connection and reused
  // by every call with the same SQL text: for SQL whose text holds names and $n placeholders
  // only (values are always parameters), so that one shape of query is one statement. The
  // first call prepares it (a failed PREPARE throws what exec would); at most
  // kStatementCacheSize are kept, the least recently used is deallocated beyond that.
  // A statement whose cached plan a schema change invalidated in a way PostgreSQL cannot
  // re-plan ("cached plan must not change result type", SQLSTATE 0A000) or that no longer
  // exists (26000) is dropped and, outside a transaction block, prepared again and retried
  // once; inside one the error is thrown (the transaction is aborted): see
  // stale_statement().
  Result exec_cached(std::string_view sql, const Params& params);
  static constexpr size_t kStatementCacheSize = 256;
  // The statements exec_cached() keeps on this connection.
  size_t cached_statements() const { return statements_.size(); }
  // Whether `error` is the failure of a cached statement that exec_cached() dropped and that
  // succeeds when the transaction it aborted is run again.
  static bool stale_statement(const DbError& error);

  // The DbError of a failed `result` of `sql` (PostgreSQL's message, detail with the
  // statement, SQLSTATE and hint); `conn` gives the message when the result has none.
  static DbError error_of(const pg_result* result, pg_conn* conn, std::string_view sql);

  bool ok() const;
  // Whether an idle connection has something to read or was closed: PostgreSQL only speaks
  // unasked when it ends the session (a shutdown, a restart, pg_terminate_backend), so the
  // connection must be checked before use. Costs one poll(), no round trip.
  bool heard_from_server() const;
  // Whether a transaction was left open (or failed) on this connection.
  bool idle_in_transaction() const;
  pg_conn* native() { return conn_; }

 private:
  struct Statement {
    std::string sql;
    std::string name;  // "k1", "k2", ...
    size_t params = 0;
  };
  explicit Connection(pg_conn* conn) : conn_(conn) {}
  Result check(pg_result* result, std::string_view sql);
  // The cached statement for `sql`, prepared when new; `fresh` tells which.
  const Statement& statement(std::string_view sql, size_t params, bool& fresh);
  // Forgets the statement for `sql`; it is deallocated once no transaction is open.
  void drop(std::string_view sql);
  void deallocate_dropped();

  pg_conn* conn_ = nullptr;
  std::list<Statement> statements_;  // most recently used first
  std::unordered_map<std::string_view, std::list<Statement>::iterator> statement_index_;
  std::vector<std::string> dropped_;  // names still to DEALLOCATE
  std::uint64_t statement_counter_ = 0;
};

// A transaction that rolls back when it leaves scope without commit().
class Transaction {
 public:
  explicit Transaction(Connection& conn);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  Connection& connection() { return conn_; }
  void commit();
  void rollback();

 private:
  Connection& conn_;
  bool open_ = true;
};

// A savepoint inside a transaction: rolls back to itself on scope exit unless released.
class Savepoint {
 public:
  Savepoint(Connection& conn, std::string name);
  Savepoint(const Savepoint&) = delete;
  Savepoint& operator=(const Savepoint&) = delete;
  ~Savepoint();
  void release();

 private:
  Connection& conn_;
  std::string name_;
  bool open_ = true;
};

// Quotes an identifier for SQL text ("order" -> "\"order\""). Identifiers come from validated
// definitions ([a-z][a-z0-9_]*), never from requests; quoting makes SQL keywords safe.
std::string quote_ident(std::string_view name);
// Quotes a literal for DDL that cannot take parameters (column defaults, CHECK lists).
std::string quote_literal(std::string_view value);

}  // namespace keel::db
