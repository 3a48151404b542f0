#pragma once

#include "db/connection.hpp"

namespace keel::records {

// Runs `body` in a transaction, or in a savepoint when the caller has one open. A cached
// statement made stale by a schema change aborts the transaction (see
// db::Connection::exec_cached): `body` then runs once more, from the start, in a new one.
template <typename F>
auto atomically(db::Connection& conn, F&& body) -> decltype(body()) {
  for (bool retried = false;; retried = true) {
    try {
      if (conn.idle_in_transaction()) {
        db::Savepoint savepoint(conn, "keel_records");
        auto result = body();
        savepoint.release();
        return result;
      }
      db::Transaction tx(conn);
      auto result = body();
      tx.commit();
      return result;
    } catch (const db::DbError& e) {
      if (retried || !db::Connection::stale_statement(e)) throw;
    }
  }
}

}  // namespace keel::records
