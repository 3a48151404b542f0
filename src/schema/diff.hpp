#pragma once

#include <string>
#include <vector>

#include "db/catalog.hpp"
#include "schema/registry.hpp"

namespace keel::schema {

// A database object created for a module, as recorded in the ownership ledger.
struct OwnedObject {
  std::string kind;    // table, column, constraint, index
  std::string table;   // the table it belongs to (the table itself for kind "table")
  std::string name;    // column, constraint or index name; the table name for kind "table"
  std::string module;  // its owner
};

// One DDL statement of a schema plan, with the objects it creates.
struct Statement {
  std::string sql;
  std::string module;                // the module it is run for (named in errors)
  std::vector<OwnedObject> creates;  // recorded in the ownership ledger when it runs
  // An optional guard run before `sql`: a query returning one count that must be 0, and the
  // message when it is not ({} stands for the count).
  std::string check_sql;
  std::string check_message;
};

// The SQL type of a stored field (contract §4 rule 7), as format_type() prints it.
std::string sql_type(const Field& field);

// Builds a name for a constraint or index within PostgreSQL's 63-byte limit.
std::string object_name(const std::string& table, const std::string& column,
                        const std::string& suffix);

// The ordered statements that bring `live` to what `registry` describes: new tables (id
// identity and audit columns), columns, safe type widenings, NOT NULL, defaults, CHECKs of
// selections, unique constraints, foreign keys, indexes and many2many link tables. Nothing is
// ever dropped; a change that would lose data (narrowing a type, an unsafe cast) is reported
// as an error (all of them, as a ValidationError) and needs an explicit migration.
std::vector<Statement> plan_schema(const Registry& registry, const db::LiveSchema& live);

}  // namespace keel::schema
