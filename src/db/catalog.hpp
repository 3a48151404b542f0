#pragma once

#include <map>
#include <set>
#include <string>

namespace keel::db {

class Connection;

struct LiveColumn {
  std::string type;  // format_type(): "character varying(64)", "numeric(14,2)", "bigint", ...
  bool not_null = false;
  std::string default_expr;  // pg_get_expr() of the default, "" when none
};

struct LiveTable {
  std::map<std::string, LiveColumn> columns;
  std::map<std::string, std::string> constraints;  // name -> pg_get_constraintdef()
  std::set<std::string> indexes;
  std::set<std::string> triggers;  // user-defined triggers
};

// What exists in schema `public`, read from pg_catalog in four queries.
struct LiveSchema {
  std::map<std::string, LiveTable> tables;
  std::map<std::string, std::string> functions;  // name -> prosrc (its body)
  bool has_table(const std::string& name) const { return tables.count(name) > 0; }
};

LiveSchema introspect(Connection& conn);

// Only the functions, and which of `tables` exist with their triggers (no columns, constraints
// or indexes): what planning Keel's own SQL objects needs, without reading the whole catalog at
// every server start (introspect() took ~0.3 s of a start over 500 entities).
LiveSchema introspect_code(Connection& conn, const std::set<std::string>& tables);

}  // namespace keel::db
