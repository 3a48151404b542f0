// The helpers RecordService's files share: names and lists from requests, running a statement,
// rights and record rules (contract §2 Security, §4 rules 10 and 12).

#include "records/common.hpp"

#include <algorithm>

#include "app/error.hpp"
#include "query/filter.hpp"
#include "schema/field_traits.hpp"

namespace keel::records::detail {

using query::QueryScope;
using schema::Entity;
using schema::Field;
using schema::FieldType;

bool is_relation(const Field& f) {
  return !schema::traits(f.type).column;
}

std::string_view trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(trim(s.substr(start, pos == std::string_view::npos ? s.npos : pos - start)));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

bool blank(const std::optional<std::string>& s) {
  return !s || trim(*s).empty();
}

// A name from a request in an error message: printable ASCII, at most 64 characters.
std::string shown(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 64))
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (text.size() > 64) out += "...";
  return out;
}

// Runs a query of a record operation. Its text holds quoted names and $n placeholders only,
// so one shape of request is one prepared statement, cached on the connection
// (db::Connection::exec_cached). `cached` is false for reads inside a transaction the caller
// opened: there a plan made stale by a schema change could not be retried.
db::Result run(db::Connection& conn, bool cached, std::string_view sql, const db::Params& params) {
  return cached ? conn.exec_cached(sql, params) : conn.exec(sql, params);
}

// ---------------------------------------------------------------------------------------
// Rights (contract §2 Security, §4 rules 10 and 12).

namespace {

// The tables that mirror the files of the installed modules (written by install/ at install,
// upgrade and uninstall, from manifests, entities, security and views files). Keel acts on the
// files, so a row changed through the API would only make these tables lie (a base_module row
// set to uninstalled, an access row no policy enforces): they are read-only through the API, for
// administrators too. Users and their roles (base_user, its roles many2many), API keys and view
// customisations are data, and stay writable.
bool mirrors_module_files(const Entity& e) {
  static const std::vector<std::string_view> kMirrors = {
      "base_module",    "base_entity",       "base_field",        "base_external_id",
      "base_ownership", "base_migration",    "base_role",         "base_access",
      "base_rule",      "base_view",         "base_view_patch",   "base_menu",
      "base_action",    "base_ui_component", "base_view_default", "base_ui_asset"};
  return e.module == "base" &&
         std::find(kMirrors.begin(), kMirrors.end(), e.name) != kMirrors.end();
}

}  // namespace

// 403 unless one of the caller's roles grants `op` on `e`; a write to a table that mirrors
// module files is refused to everyone.
void require_right(const security::Policy& policy, const SecurityContext& ctx, const Entity& e,
                   Right op) {
  if (op != Right::kRead && mirrors_module_files(e))
    throw ApiError(ErrorKind::kForbidden, "records.read_only",
                   e.name +
                       " records mirror the files of the installed modules: they are read-only "
                       "through the API; change the module's files and upgrade it",
                   "keel module upgrade <module>");
  if (policy.allowed(ctx, e.name, op)) return;
  throw ApiError(ErrorKind::kForbidden, "security.forbidden",
                 "you may not " + std::string(security::to_string(op)) + " " + e.name + " records",
                 "ask an administrator for a role that grants it");
}

// The record rules of `op` on the scope's entity as one SQL predicate; empty when none
// restricts the caller. Global rules are AND-ed; then, for at least one of the caller's roles
// that grants `op`, all of that role's rules hold (a granting role without rules grants every
// row). Rules compile into the same scope as the request's filter (their values bound, their
// joins apart from the caller's), so a rule is a predicate, never a list of ids.
std::string rule_predicate(QueryScope& scope, const SecurityContext& ctx, Right op) {
  (void)ctx;  // the scope's
  return scope.rules(op);
}

const std::string& link_of(const LinkTables& links, const Entity& entity, const Field& field) {
  return links.at(entity.name + "." + field.name);
}

}  // namespace keel::records::detail
