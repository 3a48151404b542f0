#pragma once

#include <cstdint>
#include <vector>

#include "schema/diff.hpp"

namespace keel::db {
class Connection;
}

// Schema application: the plan of a registry against the live database, Keel's own SQL objects
// included, run statement by statement (in batches) with what each creates recorded in the
// ownership ledger.
namespace keel::install {

// pg_advisory_xact_lock key shared by every Keel process that changes modules: "keel" in ASCII.
inline constexpr std::int64_t kLockKey = 0x6b65656c;

// The schema plan of `registry` against the live database, then Keel's own SQL objects
// (records::sql_objects, security::auth_sql_objects) that are missing or changed.
std::vector<schema::Statement> plan_statements(db::Connection& conn,
                                               const schema::Registry& registry);

// Runs the statements and records what each created in the ownership ledger. Statements
// without a guard go to the server in batches (one round trip each); when a batch fails, it is
// rolled back to its savepoint and replayed one statement at a time, so that the error names
// the exact statement and its module.
void apply_schema(db::Connection& conn, const std::vector<schema::Statement>& statements);

}  // namespace keel::install
