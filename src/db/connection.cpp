#include "db/connection.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <charconv>
#include <utility>

namespace keel::db {

bool unavailable(const DbError& e) {
  const std::string& state = e.sqlstate();
  return state.empty() || state.rfind("08", 0) == 0 || state.rfind("57", 0) == 0 ||
         state.rfind("53", 0) == 0;
}

DbError::DbError(std::string message, std::string sqlstate, std::string detail, std::string hint)
    : Error("db." + (sqlstate.empty() ? std::string("connection") : sqlstate), std::move(message),
            std::move(hint), std::move(detail)),
      sqlstate_(std::move(sqlstate)) {}

Result::Result(pg_result* result) : result_(result) {}
Result::Result(Result&& o) noexcept : result_(std::exchange(o.result_, nullptr)) {}
Result& Result::operator=(Result&& o) noexcept {
  if (this != &o) {
    if (result_) PQclear(result_);
    result_ = std::exchange(o.result_, nullptr);
  }
  return *this;
}
Result::~Result() {
  if (result_) PQclear(result_);
}

int Result::rows() const {
  return result_ ? PQntuples(result_) : 0;
}
int Result::columns() const {
  return result_ ? PQnfields(result_) : 0;
}
std::string_view Result::column_name(int column) const {
  return PQfname(result_, column);
}
bool Result::is_null(int row, int column) const {
  return PQgetisnull(result_, row, column);
}
std::string_view Result::get(int row, int column) const {
  return {PQgetvalue(result_, row, column), static_cast<size_t>(PQgetlength(result_, row, column))};
}
std::optional<std::string> Result::optional(int row, int column) const {
  if (is_null(row, column)) return std::nullopt;
  return std::string(get(row, column));
}
std::int64_t Result::get_int(int row, int column) const {
  auto s = get(row, column);
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}
bool Result::get_bool(int row, int column) const {
  return get(row, column) == "t";
}
std::int64_t Result::affected() const {
  const char* s = PQcmdTuples(result_);
  std::int64_t v = 0;
  if (s && *s) std::from_chars(s, s + std::char_traits<char>::length(s), v);
  return v;
}

Connection Connection::open(const std::string& conninfo) {
  pg_conn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = conn ? PQerrorMessage(conn) : "out of memory";
    while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
      message.pop_back();
    PQfinish(conn);
    throw DbError("cannot connect to PostgreSQL: " + message, "", "",
                  "check --db / KEEL_DB_URL / database.url, or leave them unset to use the "
                  "embedded database");
  }
  // Notices (e.g. "relation already exists, skipping") are not errors; keep them quiet.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  // Every session of Keel reads and writes time in UTC with ISO output, whatever the server's
  // defaults: answers write datetimes as RFC 3339 in UTC from this text, and `$today` is the
  // date in UTC.
  Connection c(conn);
  c.exec("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'");
  return c;
}

// The statement cache moves with the connection: std::list nodes stay where they are, so the
// index's keys and iterators remain valid.
Connection::Connection(Connection&& o) noexcept
    : conn_(std::exchange(o.conn_, nullptr)),
      statements_(std::exchange(o.statements_, {})),
      statement_index_(std::exchange(o.statement_index_, {})),
      dropped_(std::exchange(o.dropped_, {})),
      statement_counter_(std::exchange(o.statement_counter_, 0)) {}
Connection& Connection::operator=(Connection&& o) noexcept {
  if (this != &o) {
    if (conn_) PQfinish(conn_);
    conn_ = std::exchange(o.conn_, nullptr);
    statements_ = std::exchange(o.statements_, {});
    statement_index_ = std::exchange(o.statement_index_, {});
    dropped_ = std::exchange(o.dropped_, {});
    statement_counter_ = std::exchange(o.statement_counter_, 0);
  }
  return *this;
}
Connection::~Connection() {
  if (conn_) PQfinish(conn_);
}

bool Connection::ok() const {
  return conn_ && PQstatus(conn_) == CONNECTION_OK;
}

bool Connection::heard_from_server() const {
  if (!ok()) return true;
  int fd = PQsocket(conn_);
  if (fd < 0) return true;
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) != 0;  // readable, closed, or an error
}

bool Connection::idle_in_transaction() const {
  return conn_ && PQtransactionStatus(conn_) != PQTRANS_IDLE;
}

Result Connection::check(pg_result* raw, std::string_view sql) {
  Result result(raw);
  auto status = PQresultStatus(raw);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY)
    return result;
  throw error_of(raw, conn_, sql);
}

DbError Connection::error_of(const pg_result* raw, pg_conn* conn, std::string_view sql) {
  auto field = [&](int code) {
    const char* v = raw ? PQresultErrorField(raw, code) : nullptr;
    return std::string(v ? v : "");
  };
  std::string message = field(PG_DIAG_MESSAGE_PRIMARY);
  if (message.empty()) {
    message = conn ? PQerrorMessage(conn) : "no connection";
    while (!message.empty() && message.back() == '\n')
      message.pop_back();
  }
  std::string detail = field(PG_DIAG_MESSAGE_DETAIL);
  std::string statement(sql.substr(0, 2000));
  detail = detail.empty() ? "statement: " + statement : detail + "; statement: " + statement;
  return DbError(message, field(PG_DIAG_SQLSTATE), std::move(detail), field(PG_DIAG_MESSAGE_HINT));
}

Result Connection::exec(std::string_view sql) {
  std::string text(sql);
  return check(PQexec(conn_, text.c_str()), sql);
}

namespace {

std::vector<const char*> param_values(const Params& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& v : params.values())
    values.push_back(v ? v->c_str() : nullptr);
  return values;
}

std::string_view sqlstate_of(const pg_result* result) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  return state ? state : "";
}

// "cached plan must not change result type", "prepared statement ... does not exist".
bool stale_sqlstate(std::string_view state) {
  return state == "0A000" || state == "26000";
}

}  // namespace

Result Connection::exec(std::string_view sql, const Params& params) {
  std::string text(sql);
  auto values = param_values(params);
  return check(PQexecParams(conn_, text.c_str(), static_cast<int>(values.size()), nullptr,
                            values.data(), nullptr, nullptr, 0),
               sql);
}

bool Connection::stale_statement(const DbError& error) {
  return stale_sqlstate(error.sqlstate());
}

Result Connection::exec_cached(std::string_view sql, const Params& params) {
  deallocate_dropped();
  auto values = param_values(params);
  const int n = static_cast<int>(values.size());
  for (bool retried = false;; retried = true) {
    bool in_transaction = PQtransactionStatus(conn_) != PQTRANS_IDLE;
    bool fresh = false;
    const Statement& s = statement(sql, params.size(), fresh);
    pg_result* raw = PQexecPrepared(conn_, s.name.c_str(), n, values.data(), nullptr, nullptr, 0);
    if (!fresh && PQresultStatus(raw) == PGRES_FATAL_ERROR && stale_sqlstate(sqlstate_of(raw))) {
      // A plan from before a schema change: PREPARE again. Outside a transaction block the
      // failed statement changed nothing and can run again; inside one the transaction is
      // aborted and only the caller can start it over.
      drop(sql);
      if (!in_transaction && !retried) {
        PQclear(raw);
        continue;
      }
    }
    return check(raw, sql);
  }
}

const Connection::Statement& Connection::statement(std::string_view sql, size_t params,
                                                   bool& fresh) {
  if (auto it = statement_index_.find(sql); it != statement_index_.end()) {
    if (it->second->params == params) {
      statements_.splice(statements_.begin(), statements_, it->second);
      fresh = false;
      return statements_.front();
    }
    drop(sql);  // the same text with another number of parameters: PostgreSQL will say why
  }
  std::string name = "k" + std::to_string(++statement_counter_);
  std::string text(sql);
  // Parameter types are left to PostgreSQL, as exec() does; a failure throws what exec throws.
  check(PQprepare(conn_, name.c_str(), text.c_str(), static_cast<int>(params), nullptr), sql);
  statements_.push_front({std::move(text), std::move(name), params});
  statement_index_.emplace(statements_.front().sql, statements_.begin());
  if (statements_.size() > kStatementCacheSize) {
    drop(statements_.back().sql);
    deallocate_dropped();
  }
  fresh = true;
  return statements_.front();
}

void Connection::drop(std::string_view sql) {
  auto it = statement_index_.find(sql);
  if (it == statement_index_.end()) return;
  auto node = it->second;
  statement_index_.erase(it);
  dropped_.push_back(std::move(node->name));
  statements_.erase(node);
}

void Connection::deallocate_dropped() {
  // Not inside a transaction block: a failing DEALLOCATE (the statement already gone) must not
  // abort the caller's transaction.
  if (dropped_.empty() || PQtransactionStatus(conn_) != PQTRANS_IDLE) return;
  for (const auto& name : dropped_)
    PQclear(PQexec(conn_, ("DEALLOCATE " + name).c_str()));
  dropped_.clear();
}

Transaction::Transaction(Connection& conn) : conn_(conn) {
  conn_.exec("BEGIN");
}
Transaction::~Transaction() {
  if (!open_) return;
  try {
    conn_.exec("ROLLBACK");
  } catch (...) {
    // The connection is gone: PostgreSQL rolls back on its own.
  }
}
void Transaction::commit() {
  conn_.exec("COMMIT");
  open_ = false;
}
void Transaction::rollback() {
  open_ = false;
  conn_.exec("ROLLBACK");
}

Savepoint::Savepoint(Connection& conn, std::string name) : conn_(conn), name_(std::move(name)) {
  conn_.exec("SAVEPOINT " + quote_ident(name_));
}
Savepoint::~Savepoint() {
  if (!open_) return;
  try {
    conn_.exec("ROLLBACK TO SAVEPOINT " + quote_ident(name_));
  } catch (...) {
  }
}
void Savepoint::release() {
  conn_.exec("RELEASE SAVEPOINT " + quote_ident(name_));
  open_ = false;
}

std::string quote_ident(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

std::string quote_literal(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  // A backslash makes PostgreSQL read E'' semantics only with E prefix; standard strings
  // (standard_conforming_strings=on, the default since 9.1) take it literally.
  return out;
}

}  // namespace keel::db
