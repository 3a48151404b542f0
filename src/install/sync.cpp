#include "install/sync.hpp"

#include <string>

#include "db/connection.hpp"
#include "install/bulk.hpp"
#include "schema/registry.hpp"
#include "security/policy.hpp"

namespace keel::install {
using db::Params;

namespace {

std::string flag(bool b) {
  return b ? "t" : "f";
}

std::optional<std::string> or_null(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return s;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items)
    out += (out.empty() ? "" : ",") + i;
  return out;
}

}  // namespace

void sync_metadata(db::Connection& conn, const schema::Registry& registry) {
  conn.exec("DELETE FROM base_entity");
  BulkRows entities({"name", "table_name", "label", "module"});
  BulkRows fields({"entity", "name", "type", "label", "required", "target", "module"});
  for (const auto& e : registry.entities()) {
    entities.add({e.name, e.table, e.label, e.module});
    for (const auto& f : e.fields)
      fields.add({e.name, f.name, std::string(to_string(f.type)), f.label, flag(f.required),
                  or_null(f.target), f.module});
  }
  Params p;
  std::string source = entities.source(p);
  conn.exec(
      "INSERT INTO base_entity (name, table_name, label, module) "
      "SELECT x.name, x.table_name, x.label, x.module FROM " +
          source,
      p);
  Params q;
  source = fields.source(q);
  conn.exec(
      "INSERT INTO base_field (entity, name, type, label, required, target, module) "
      "SELECT e.id, x.name, x.type, x.label, x.required::boolean, x.target, x.module FROM " +
          source + " JOIN base_entity e ON e.name = x.entity",
      q);
}

void sync_security(db::Connection& conn, const security::Policy& policy) {
  BulkRows roles({"name", "label", "implies", "module"});
  for (const auto& r : policy.roles())
    roles.add({r.name, r.label, joined(r.implies), r.module});
  Params p;
  std::string source = roles.source(p);
  conn.exec("WITH x AS (SELECT * FROM " + source +
                "), "
                "gone AS (DELETE FROM base_role WHERE name NOT IN (SELECT name FROM x)) "
                "INSERT INTO base_role (name, label, implies, module) SELECT name, label, "
                "implies, module FROM x ON CONFLICT (name) DO UPDATE SET label = EXCLUDED.label, "
                "implies = EXCLUDED.implies, module = EXCLUDED.module, updated_at = now()",
            p);

  BulkRows access(
      {"entity", "role", "can_read", "can_create", "can_update", "can_delete", "module"});
  for (const auto& a : policy.access()) {
    std::vector<std::optional<std::string>> row{a.entity, a.role};
    for (size_t i = 0; i < security::kOperationCount; ++i)
      row.push_back(flag(a.allow[i]));
    row.push_back(a.module);
    access.add(std::move(row));
  }
  conn.exec("DELETE FROM base_access");
  Params q;
  source = access.source(q);
  conn.exec(
      "INSERT INTO base_access (entity, role, can_read, can_create, can_update, "
      "can_delete, module) SELECT x.entity, r.id, x.can_read::boolean, "
      "x.can_create::boolean, x.can_update::boolean, x.can_delete::boolean, x.module FROM " +
          source + " JOIN base_role r ON r.name = x.role",
      q);

  BulkRows rules({"entity", "role", "operations", "filter", "module"});
  for (const auto& r : policy.rules()) {
    std::vector<std::string> ops;
    for (size_t i = 0; i < security::kOperationCount; ++i)
      if (r.operations[i])
        ops.emplace_back(security::to_string(static_cast<security::Operation>(i)));
    rules.add({r.entity, or_null(r.role), joined(ops), r.filter, r.module});
  }
  conn.exec("DELETE FROM base_rule");
  Params s;
  source = rules.source(s);
  conn.exec(
      "INSERT INTO base_rule (entity, role, operations, filter, module) "
      "SELECT x.entity, r.id, x.operations, x.filter::jsonb, x.module FROM " +
          source + " LEFT JOIN base_role r ON r.name = x.role",
      s);
}

void record_module(db::Connection& conn, const modules::Manifest& m, bool fresh) {
  conn.exec(std::string("INSERT INTO base_module (name, version, state, core, summary, "
                        "installed_at) VALUES ($1, $2, 'installed', $3, $4, now()) "
                        "ON CONFLICT (name) DO UPDATE SET version = excluded.version, "
                        "state = 'installed', core = excluded.core, summary = excluded.summary, ") +
                (fresh ? "installed_at = now(), " : "") + "updated_at = now()",
            Params().add(m.name).add(m.version.to_string()).add(m.core).add(m.summary));
}

void notify_servers(db::Connection& conn) {
  conn.exec("NOTIFY keel_modules");
}

}  // namespace keel::install
