#pragma once

#include <string>
#include <vector>

#include "schema/diff.hpp"

namespace keel::db {
class Connection;
}

// The ownership ledger (base_ownership): every table, column, constraint, index, function and
// trigger the schema plan created, with the module it was created for. Uninstall reads it to
// know what a module owns.
namespace keel::install {

// Records `objects` (one statement for all of them); one recorded already keeps its one row.
void record_owned(db::Connection& conn, const std::vector<schema::OwnedObject>& objects);

// Drops exactly what the ledger says `module` created (its tables last, with CASCADE), then
// forgets it (uninstall --purge).
void drop_owned(db::Connection& conn, const std::string& module);

// Uninstall without purge: the data stays, but the columns `module` added to the tables of
// other modules must not keep rejecting rows written without them (DROP NOT NULL).
void relax_owned_columns(db::Connection& conn, const std::string& module);

}  // namespace keel::install
