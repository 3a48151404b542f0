#pragma once

// The helpers the files of RecordService share (records/service.cpp and its neighbours); not
// for its callers, who use records/service.hpp.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "db/connection.hpp"
#include "records/service.hpp"

namespace keel::query {
class QueryScope;
}

namespace keel::records::detail {

using Right = security::Operation;

// Link tables of the many2many fields: "entity.field" -> table.
using LinkTables = std::map<std::string, std::string, std::less<>>;

bool is_relation(const schema::Field& f);
std::string_view trim(std::string_view s);
std::vector<std::string_view> split(std::string_view s, char sep);
bool blank(const std::optional<std::string>& s);
// A name from a request in an error message: printable ASCII, at most 64 characters.
std::string shown(std::string_view text);

// Runs a query of a record operation. Its text holds quoted names and $n placeholders only,
// so one shape of request is one prepared statement, cached on the connection
// (db::Connection::exec_cached). `cached` is false for reads inside a transaction the caller
// opened: there a plan made stale by a schema change could not be retried.
db::Result run(db::Connection& conn, bool cached, std::string_view sql, const db::Params& params);

// 403 unless one of the caller's roles grants `op` on `e`; a write to a table that mirrors
// module files is refused to everyone.
void require_right(const security::Policy& policy, const SecurityContext& ctx,
                   const schema::Entity& e, Right op);

// The record rules of `op` on the scope's entity as one SQL predicate; empty when none
// restricts the caller (common.cpp).
std::string rule_predicate(query::QueryScope& scope, const SecurityContext& ctx, Right op);

const std::string& link_of(const LinkTables& links, const schema::Entity& entity,
                           const schema::Field& field);

}  // namespace keel::records::detail
