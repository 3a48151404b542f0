#include "install/schema_apply.hpp"

#include <set>
#include <string>

#include "app/error.hpp"
#include "db/catalog.hpp"
#include "db/connection.hpp"
#include "install/ledger.hpp"
#include "install/lifecycle.hpp"
#include "records/service.hpp"
#include "schema/registry.hpp"
#include "security/users.hpp"

namespace keel::install {
using db::Params;

namespace {

// Keel's own SQL objects (functions, triggers), created through the schema plan.
std::vector<schema::SqlObject> keel_objects() {
  auto out = records::sql_objects();
  auto auth = security::auth_sql_objects();
  out.insert(out.end(), auth.begin(), auth.end());
  return out;
}

// Runs one statement; a failure names the module the statement was run for.
void run_statement(db::Connection& conn, const schema::Statement& st) {
  if (!st.check_sql.empty()) {
    auto count = conn.exec(st.check_sql).get_int(0, 0);
    if (count > 0) {
      std::string message = st.check_message;
      auto pos = message.find("{}");
      if (pos != std::string::npos) message.replace(pos, 2, std::to_string(count));
      throw Error("schema.violation", "module \"" + st.module + "\": " + message,
                  "fix the data first (for example in migrations/<version>/pre.sql)",
                  "statement: " + st.sql);
    }
  }
  try {
    conn.exec(st.sql);
  } catch (const db::DbError& e) {
    throw db::DbError("module \"" + st.module + "\": " + e.what(), e.sqlstate(), e.detail(),
                      e.hint());
  }
}

}  // namespace

std::vector<schema::Statement> plan_statements(db::Connection& conn,
                                               const schema::Registry& registry) {
  auto live = db::introspect(conn);
  auto statements = schema::plan_schema(registry, live);
  std::set<std::string> tables;  // created by the statements before (link tables included)
  for (const auto& st : statements)
    for (const auto& o : st.creates)
      if (o.kind == "table") tables.insert(o.name);
  auto own = schema::plan_sql_objects(keel_objects(), live, tables);
  statements.insert(statements.end(), own.begin(), own.end());
  return statements;
}

void apply_schema(db::Connection& conn, const std::vector<schema::Statement>& statements) {
  constexpr size_t kBatch = 256;
  std::vector<schema::OwnedObject> created;
  size_t i = 0;
  while (i < statements.size()) {
    if (!statements[i].check_sql.empty()) {
      run_statement(conn, statements[i]);
      created.insert(created.end(), statements[i].creates.begin(), statements[i].creates.end());
      ++i;
      continue;
    }
    size_t end = i;
    std::string batch;
    while (end < statements.size() && end - i < kBatch && statements[end].check_sql.empty())
      batch += statements[end++].sql + ";\n";
    bool failed = false;
    {
      db::Savepoint savepoint(conn, "keel_schema_batch");
      try {
        conn.exec(batch);
        savepoint.release();
      } catch (const db::DbError&) {
        failed = true;  // rolled back to the savepoint when it leaves scope
      }
    }
    for (size_t k = i; k < end; ++k) {
      if (failed) run_statement(conn, statements[k]);
      created.insert(created.end(), statements[k].creates.begin(), statements[k].creates.end());
    }
    i = end;
  }
  record_owned(conn, created);
}

void ensure_sql_objects(db::Connection& conn) {
  auto objects = keel_objects();
  std::set<std::string> tables;
  for (const auto& o : objects)
    if (!o.table.empty()) tables.insert(o.table);
  auto planned = [&] {
    return schema::plan_sql_objects(objects, db::introspect_code(conn, tables));
  };
  if (installed_modules(conn).empty() || planned().empty()) return;
  db::Transaction tx(conn);
  conn.exec("SELECT pg_advisory_xact_lock($1)", Params().add(kLockKey));
  apply_schema(conn, planned());  // what another server did meanwhile is not planned again
  tx.commit();
}

}  // namespace keel::install
