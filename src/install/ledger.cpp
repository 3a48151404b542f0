#include "install/ledger.hpp"

#include <set>

#include "db/connection.hpp"
#include "install/bulk.hpp"

namespace keel::install {
using db::Params;
using db::quote_ident;

void record_owned(db::Connection& conn, const std::vector<schema::OwnedObject>& objects) {
  if (objects.empty()) return;
  BulkRows rows({"module", "kind", "table_name", "name"});
  for (const auto& o : objects)
    rows.add({o.module, o.kind, o.table, o.name});
  Params params;
  std::string source = rows.source(params);
  conn.exec(
      "INSERT INTO base_ownership (module, kind, table_name, name) "
      "SELECT DISTINCT x.module, x.kind, x.table_name, x.name FROM " +
          source +
          // An object recreated after it was dropped by hand keeps its one row.
          " WHERE NOT EXISTS (SELECT 1 FROM base_ownership o WHERE o.module = x.module AND "
          "o.kind = x.kind AND o.table_name IS NOT DISTINCT FROM x.table_name AND o.name = x.name)",
      params);
}

void drop_owned(db::Connection& conn, const std::string& module) {
  auto owned = conn.exec(
      "SELECT kind, table_name, name FROM base_ownership WHERE module = $1 ORDER BY id DESC",
      Params().add(module));
  std::set<std::string> dropped_tables;
  for (int i = 0; i < owned.rows(); ++i)
    if (owned.get(i, 0) == "table") dropped_tables.insert(std::string(owned.get(i, 2)));
  for (int i = 0; i < owned.rows(); ++i) {
    std::string kind(owned.get(i, 0)), table(owned.get(i, 1)), name(owned.get(i, 2));
    if (kind == "table") continue;
    if (dropped_tables.count(table)) continue;
    if (kind == "column")
      conn.exec("ALTER TABLE " + quote_ident(table) + " DROP COLUMN IF EXISTS " +
                quote_ident(name) + " CASCADE");
    else if (kind == "constraint")
      conn.exec("ALTER TABLE " + quote_ident(table) + " DROP CONSTRAINT IF EXISTS " +
                quote_ident(name));
    else if (kind == "index")
      conn.exec("DROP INDEX IF EXISTS " + quote_ident(name));
    else if (kind == "trigger")
      conn.exec("DROP TRIGGER IF EXISTS " + quote_ident(name) + " ON " + quote_ident(table));
    else if (kind == "function")
      conn.exec("DROP FUNCTION IF EXISTS " + quote_ident(name) + " CASCADE");
  }
  for (const auto& table : dropped_tables)
    conn.exec("DROP TABLE IF EXISTS " + quote_ident(table) + " CASCADE");
  conn.exec("DELETE FROM base_ownership WHERE module = $1", Params().add(module));
}

void relax_owned_columns(db::Connection& conn, const std::string& module) {
  auto columns = conn.exec(
      "SELECT o.table_name, o.name FROM base_ownership o WHERE o.module = $1 AND "
      "o.kind = 'column' AND NOT EXISTS (SELECT 1 FROM base_ownership t WHERE t.module = $1 "
      "AND t.kind = 'table' AND t.name = o.table_name)",
      Params().add(module));
  for (int i = 0; i < columns.rows(); ++i)
    conn.exec("ALTER TABLE " + quote_ident(std::string(columns.get(i, 0))) + " ALTER COLUMN " +
              quote_ident(std::string(columns.get(i, 1))) + " DROP NOT NULL");
}

}  // namespace keel::install
