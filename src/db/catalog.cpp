#include "db/catalog.hpp"

#include "db/connection.hpp"

namespace keel::db {

namespace {

// Functions and the triggers on tables, in one query (kind 'f' / 't').
void read_code(Connection& conn, LiveSchema& schema) {
  auto code = conn.exec(R"(
    SELECT 'f', p.proname, p.prosrc
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'public'
    UNION ALL
    SELECT 't', c.relname, t.tgname
      FROM pg_trigger t
      JOIN pg_class c ON c.oid = t.tgrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND NOT t.tgisinternal)");
  for (int i = 0; i < code.rows(); ++i) {
    if (code.get(i, 0) == "f")
      schema.functions[std::string(code.get(i, 1))] = code.get(i, 2);
    else
      schema.tables[std::string(code.get(i, 1))].triggers.insert(std::string(code.get(i, 2)));
  }
}

}  // namespace

LiveSchema introspect_code(Connection& conn, const std::set<std::string>& tables) {
  LiveSchema schema;
  std::string names;  // table names are identifiers: no comma in them
  for (const auto& t : tables)
    names += (names.empty() ? "" : ",") + t;
  auto found = conn.exec(R"(
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname = ANY(string_to_array($1, ',')))",
                         Params().add(names));
  for (int i = 0; i < found.rows(); ++i)
    schema.tables[std::string(found.get(i, 0))];
  read_code(conn, schema);
  // Triggers of tables outside `tables` are not asked for: keep only the ones asked for.
  std::erase_if(schema.tables, [&](const auto& t) { return !tables.count(t.first); });
  return schema;
}

LiveSchema introspect(Connection& conn) {
  LiveSchema schema;
  auto columns = conn.exec(R"(
    SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
           coalesce(pg_get_expr(d.adbin, d.adrelid), '')
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
     ORDER BY c.relname, a.attnum)");
  for (int i = 0; i < columns.rows(); ++i) {
    auto& column =
        schema.tables[std::string(columns.get(i, 0))].columns[std::string(columns.get(i, 1))];
    column.type = columns.get(i, 2);
    column.not_null = columns.get_bool(i, 3);
    column.default_expr = columns.get(i, 4);
  }
  auto constraints = conn.exec(R"(
    SELECT c.relname, con.conname, pg_get_constraintdef(con.oid)
      FROM pg_constraint con
      JOIN pg_class c ON c.oid = con.conrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public')");
  for (int i = 0; i < constraints.rows(); ++i)
    schema.tables[std::string(constraints.get(i, 0))]
        .constraints[std::string(constraints.get(i, 1))] = constraints.get(i, 2);
  auto indexes = conn.exec(R"(
    SELECT t.relname, i.relname
      FROM pg_index x
      JOIN pg_class i ON i.oid = x.indexrelid
      JOIN pg_class t ON t.oid = x.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE n.nspname = 'public')");
  for (int i = 0; i < indexes.rows(); ++i)
    schema.tables[std::string(indexes.get(i, 0))].indexes.insert(std::string(indexes.get(i, 1)));
  read_code(conn, schema);
  return schema;
}

}  // namespace keel::db
