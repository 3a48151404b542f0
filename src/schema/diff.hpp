#pragma once

#include <set>
#include <string>
#include <vector>

#include "db/catalog.hpp"
#include "schema/registry.hpp"

namespace keel::schema {

// A database object created for a module, as recorded in the ownership ledger.
struct OwnedObject {
  std::string kind;    // table, column, constraint, index, function, trigger
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

// The link table of many2many `field` of `entity`, as plan_schema() names it when no table of
// another registry holds the name in the database: "<table>_<field>_rel" (shortened with a
// hash past 63 bytes), or a hashed name when an entity table or another link table of
// `registry` wants the same one. RecordService reads and writes many2many through it.
std::string link_table(const Registry& registry, const Entity& entity, const Field& field);

// The ordered statements that bring `live` to what `registry` describes: new tables (id
// identity and audit columns), columns, safe type widenings, defaults and NOT NULL (set, or
// dropped when the entity no longer asks for them: loosening loses nothing), CHECKs of
// selections (replaced when the options change), unique constraints, foreign keys (replaced
// when on_delete or the target changes), indexes and many2many link tables. Columns, tables
// and data are never dropped; a change that would lose data (narrowing a type, an unsafe cast)
// is reported as an error (all of them, as a ValidationError) and needs an explicit migration.
//
// Names: constraints and indexes are "<table>_<column>_<suffix>" (key, fkey, idx,
// check_<hash of the options>), link tables "<table>_<field>_rel", shortened with a hash past
// 63 bytes. Index and link-table names share the schema's namespace: when two objects would
// get the same one ("sale"."order_date" and "sale_order"."date" both give
// "sale_order_date_idx"), those not yet in the database get a hashed name instead; a name
// the database already has for the same object is always kept.
std::vector<Statement> plan_schema(const Registry& registry, const db::LiveSchema& live);

// An SQL object of Keel itself that the entities do not describe: a function that statements of
// RecordService call (keel_refuse), a trigger that notifies servers (security/users.hpp).
// Created through the schema plan like the entities' tables, so that `keel module plan` shows
// it and the ownership ledger records it under `module`.
struct SqlObject {
  std::string kind;    // function, trigger
  std::string table;   // a trigger's table; empty for a function
  std::string name;    // the function's or the trigger's name
  std::string module;  // its owner in the ledger ("base")
  std::string sql;     // CREATE OR REPLACE ... (idempotent)
  std::string body;    // a function's source between its $$ (prosrc): changed when it differs
};

// The statements that create the objects missing from `live` (or replace a function whose body
// differs), in order. A trigger is planned when its table exists or is one of `new_tables`
// (created by the statements before).
std::vector<Statement> plan_sql_objects(const std::vector<SqlObject>& objects,
                                        const db::LiveSchema& live,
                                        const std::set<std::string>& new_tables = {});

}  // namespace keel::schema
