#include "install/lifecycle.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>

#include "db/catalog.hpp"
#include "db/connection.hpp"
#include "install/data.hpp"
#include "native/host.hpp"
#include "query/filter.hpp"
#include "records/service.hpp"
#include "runtime/snapshot.hpp"
#include "schema/registry.hpp"
#include "security/users.hpp"
#include "ui/catalog.hpp"
#include "ui/store.hpp"

namespace keel::install {
namespace fs = std::filesystem;
using db::Params;
using db::quote_ident;

namespace {

// pg_advisory_xact_lock key shared by every Keel process: "keel" in ASCII.
constexpr std::int64_t kLockKey = 0x6b65656c;

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The snapshot of `modules` (runtime/snapshot.hpp): every file checked before anything is
// written; native code loaded (and its registrations checked) unless `native` is false.
runtime::Snapshot snapshot_of(const std::vector<const modules::Manifest*>& modules, bool native,
                              const native::IsolationSettings& isolation) {
  runtime::BuildOptions options;
  options.load_native = native;
  options.isolation = isolation;
  return runtime::build(modules, options);
}

// Keel's own SQL objects (functions, triggers), created through the schema plan.
std::vector<schema::SqlObject> keel_objects() {
  auto out = records::sql_objects();
  auto auth = security::auth_sql_objects();
  out.insert(out.end(), auth.begin(), auth.end());
  return out;
}

// The schema plan of `registry` against the live database, then Keel's own objects.
std::vector<schema::Statement> plan_statements(db::Connection& conn,
                                               const schema::Registry& registry) {
  auto live = db::introspect(conn);
  auto statements = schema::plan_schema(registry, live);
  std::set<std::string> tables;  // created by the statements before (link tables included)
  for (const auto& st : statements)
    for (const auto& o : st.creates)
      if (o.kind == "table") tables.insert(o.name);
  auto own = schema::plan_sql_objects(keel_objects(), live, tables);
  statements.insert(statements.end(), own.begin(), own.end());
  return statements;
}

// Runs one statement; a failure names the module the statement was run for.
void run_statement(db::Connection& conn, const schema::Statement& st) {
  if (!st.check_sql.empty()) {
    auto count = conn.exec(st.check_sql).get_int(0, 0);
    if (count > 0) {
      std::string message = st.check_message;
      auto pos = message.find("{}");
      if (pos != std::string::npos) message.replace(pos, 2, std::to_string(count));
      throw Error("schema.violation", "module \"" + st.module + "\": " + message,
                  "fix the data first (for example in migrations/<version>/pre.sql)",
                  "statement: " + st.sql);
    }
  }
  try {
    conn.exec(st.sql);
  } catch (const db::DbError& e) {
    throw db::DbError("module \"" + st.module + "\": " + e.what(), e.sqlstate(), e.detail(),
                      e.hint());
  }
}

// Runs the schema plan and records what each statement created in the ownership ledger.
// Statements without a guard go to the server in batches (one round trip each); when a batch
// fails, it is rolled back to its savepoint and replayed one statement at a time, so that the
// error names the exact statement.
void apply_schema(db::Connection& conn, const std::vector<schema::Statement>& statements) {
  constexpr size_t kBatch = 256;
  std::vector<schema::OwnedObject> created;
  size_t i = 0;
  while (i < statements.size()) {
    if (!statements[i].check_sql.empty()) {
      run_statement(conn, statements[i]);
      created.insert(created.end(), statements[i].creates.begin(), statements[i].creates.end());
      ++i;
      continue;
    }
    size_t end = i;
    std::string batch;
    while (end < statements.size() && end - i < kBatch && statements[end].check_sql.empty())
      batch += statements[end++].sql + ";\n";
    bool failed = false;
    {
      db::Savepoint savepoint(conn, "keel_schema_batch");
      try {
        conn.exec(batch);
        savepoint.release();
      } catch (const db::DbError&) {
        failed = true;  // rolled back to the savepoint when it leaves scope
      }
    }
    for (size_t k = i; k < end; ++k) {
      if (failed) run_statement(conn, statements[k]);
      created.insert(created.end(), statements[k].creates.begin(), statements[k].creates.end());
    }
    i = end;
  }
  if (created.empty()) return;
  // One statement for the whole ledger: arrays of the columns, unnested.
  auto array = [](const std::vector<schema::OwnedObject>& objects, auto member) {
    std::string out = "{";
    for (size_t i = 0; i < objects.size(); ++i) {
      out += i ? ",\"" : "\"";
      for (char c : objects[i].*member) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      out += '"';
    }
    return out + "}";
  };
  conn.exec(
      "INSERT INTO base_ownership (module, kind, table_name, name) "
      "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])",
      Params()
          .add(array(created, &schema::OwnedObject::module))
          .add(array(created, &schema::OwnedObject::kind))
          .add(array(created, &schema::OwnedObject::table))
          .add(array(created, &schema::OwnedObject::name)));
}

// Rewrites the entity and field metadata tables from the registry (two statements each way).
void sync_metadata(db::Connection& conn, const schema::Registry& registry) {
  conn.exec("DELETE FROM base_entity");
  std::string entities = "[", fields = "[";
  auto json = [](const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
        continue;
      }
      out += c;
    }
    return out + "\"";
  };
  for (const auto& e : registry.entities()) {
    if (entities.size() > 1) entities += ",";
    entities += "{\"name\":" + json(e.name) + ",\"table_name\":" + json(e.table) +
                ",\"label\":" + json(e.label) + ",\"module\":" + json(e.module) + "}";
    for (const auto& f : e.fields) {
      if (fields.size() > 1) fields += ",";
      fields += "{\"entity\":" + json(e.name) + ",\"name\":" + json(f.name) +
                ",\"type\":" + json(std::string(to_string(f.type))) +
                ",\"label\":" + json(f.label) + ",\"required\":" + (f.required ? "true" : "false") +
                ",\"target\":" + (f.target.empty() ? "null" : json(f.target)) +
                ",\"module\":" + json(f.module) + "}";
    }
  }
  entities += "]";
  fields += "]";
  conn.exec(
      "INSERT INTO base_entity (name, table_name, label, module) "
      "SELECT name, table_name, label, module FROM jsonb_to_recordset($1::jsonb) "
      "AS x(name text, table_name text, label text, module text)",
      Params().add(entities));
  conn.exec(
      "INSERT INTO base_field (entity, name, type, label, required, target, module) "
      "SELECT e.id, x.name, x.type, x.label, x.required, x.target, x.module "
      "FROM jsonb_to_recordset($1::jsonb) AS x(entity text, name text, type text, label text, "
      "required boolean, target text, module text) JOIN base_entity e ON e.name = x.entity",
      Params().add(fields));
}

// Rewrites roles, access rows and record rules from the policy. Roles keep their
// ids (users' role assignments refer to them); a role no installed module declares any more is
// deleted, and with it its assignments, access rows and rules (cascade).
void sync_security(db::Connection& conn, const security::Policy& policy) {
  rapidjson::StringBuffer roles_buf, access_buf, rules_buf;
  {
    rapidjson::Writer<rapidjson::StringBuffer> w(roles_buf);
    w.StartArray();
    for (const auto& r : policy.roles()) {
      std::string implies;
      for (const auto& i : r.implies)
        implies += (implies.empty() ? "" : ",") + i;
      w.StartObject();
      w.Key("name");
      w.String(r.name.c_str());
      w.Key("label");
      w.String(r.label.c_str());
      w.Key("implies");
      w.String(implies.c_str());
      w.Key("module");
      w.String(r.module.c_str());
      w.EndObject();
    }
    w.EndArray();
  }
  {
    rapidjson::Writer<rapidjson::StringBuffer> w(access_buf);
    w.StartArray();
    for (const auto& a : policy.access()) {
      w.StartObject();
      w.Key("entity");
      w.String(a.entity.c_str());
      w.Key("role");
      w.String(a.role.c_str());
      for (size_t i = 0; i < security::kOperationCount; ++i) {
        std::string key =
            "can_" + std::string(security::to_string(static_cast<security::Operation>(i)));
        w.Key(key.c_str());
        w.Bool(a.allow[i]);
      }
      w.Key("module");
      w.String(a.module.c_str());
      w.EndObject();
    }
    w.EndArray();
  }
  {
    rapidjson::Writer<rapidjson::StringBuffer> w(rules_buf);
    w.StartArray();
    for (const auto& r : policy.rules()) {
      std::string ops;
      for (size_t i = 0; i < security::kOperationCount; ++i)
        if (r.operations[i])
          ops += (ops.empty() ? "" : ",") +
                 std::string(security::to_string(static_cast<security::Operation>(i)));
      w.StartObject();
      w.Key("entity");
      w.String(r.entity.c_str());
      w.Key("role");
      if (r.role.empty())
        w.Null();
      else
        w.String(r.role.c_str());
      w.Key("operations");
      w.String(ops.c_str());
      w.Key("filter");
      w.String(r.filter.c_str());
      w.Key("module");
      w.String(r.module.c_str());
      w.EndObject();
    }
    w.EndArray();
  }
  conn.exec(
      "WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) "
      "AS x(name text, label text, implies text, module text)), "
      "gone AS (DELETE FROM base_role WHERE name NOT IN (SELECT name FROM x)) "
      "INSERT INTO base_role (name, label, implies, module) SELECT name, label, implies, module "
      "FROM x ON CONFLICT (name) DO UPDATE SET label = EXCLUDED.label, implies = "
      "EXCLUDED.implies, module = EXCLUDED.module, updated_at = now()",
      Params().add(std::string(roles_buf.GetString())));
  conn.exec("DELETE FROM base_access");
  conn.exec(
      "INSERT INTO base_access (entity, role, can_read, can_create, can_update, can_delete, "
      "module) SELECT x.entity, r.id, x.can_read, x.can_create, x.can_update, x.can_delete, "
      "x.module FROM jsonb_to_recordset($1::jsonb) AS x(entity text, role text, can_read boolean, "
      "can_create boolean, can_update boolean, can_delete boolean, module text) "
      "JOIN base_role r ON r.name = x.role",
      Params().add(std::string(access_buf.GetString())));
  conn.exec("DELETE FROM base_rule");
  conn.exec(
      "INSERT INTO base_rule (entity, role, operations, filter, module) "
      "SELECT x.entity, r.id, x.operations, x.filter::jsonb, x.module "
      "FROM jsonb_to_recordset($1::jsonb) AS x(entity text, role text, operations text, "
      "filter text, module text) LEFT JOIN base_role r ON r.name = x.role",
      Params().add(std::string(rules_buf.GetString())));
}

// Running servers reload their registry when the transaction commits (LISTEN keel_modules).
void notify_servers(db::Connection& conn) {
  conn.exec("NOTIFY keel_modules");
}

std::vector<std::string> names_of(const std::vector<const modules::Manifest*>& modules) {
  std::vector<std::string> out;
  for (const auto* m : modules)
    out.push_back(m->name);
  return out;
}

// The migrations/<version>/<script> of `m` with from < version <= to, in semver order.
std::vector<std::pair<modules::Version, fs::path>> migrations(const modules::Manifest& m,
                                                              const modules::Version& from,
                                                              const modules::Version& to,
                                                              const std::string& script) {
  std::vector<std::pair<modules::Version, fs::path>> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(m.dir / "migrations", ec)) {
    auto v = modules::Version::parse(entry.path().filename().string());
    if (!v || !(from < *v) || to < *v) continue;
    fs::path file = entry.path() / script;
    if (fs::is_regular_file(file)) out.emplace_back(*v, file);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

}  // namespace

void ensure_sql_objects(db::Connection& conn) {
  auto planned = [&] { return schema::plan_sql_objects(keel_objects(), db::introspect(conn)); };
  if (installed_modules(conn).empty() || planned().empty()) return;
  db::Transaction tx(conn);
  conn.exec("SELECT pg_advisory_xact_lock($1)", Params().add(kLockKey));
  apply_schema(conn, planned());  // what another server did meanwhile is not planned again
  tx.commit();
}

std::vector<ModuleState> module_states(const modules::ModuleGraph& graph,
                                       const std::map<std::string, std::string>& installed) {
  std::vector<ModuleState> out;
  for (const auto& m : graph.modules()) {
    auto it = installed.find(m.name);
    if (it == installed.end()) {
      out.push_back({&m, "", "uninstalled"});
      continue;
    }
    auto version = modules::Version::parse(it->second);
    bool newer = version && *version < m.version;
    out.push_back({&m, it->second, newer ? "to upgrade" : "installed"});
  }
  return out;
}

Lifecycle::Lifecycle(db::Connection& conn, const modules::ModuleGraph& graph, Progress progress)
    : conn_(conn), graph_(graph), progress_(std::move(progress)) {}

void Lifecycle::step(const std::string& module, const std::string& what) const {
  if (progress_) progress_(module, what);
}

namespace {

std::set<std::string> keys_of(const std::map<std::string, std::string>& m) {
  std::set<std::string> out;
  for (const auto& [k, v] : m)
    out.insert(k);
  return out;
}

// Every module that will be installed once `adding` is: installed ones and the new ones, in
// dependency order.
std::vector<const modules::Manifest*> with_installed(
    const modules::ModuleGraph& graph, const std::set<std::string>& installed,
    const std::vector<const modules::Manifest*>& adding) {
  std::set<std::string> all = installed;
  for (const auto* m : adding)
    all.insert(m->name);
  std::vector<const modules::Manifest*> out;
  for (const auto* m : graph.order())
    if (all.count(m->name)) out.push_back(m);
  for (const auto& name : all)
    if (!graph.find(name))
      throw Error("module.missing", "installed module \"" + name + "\" is not on the addons path",
                  "add its directory to the addons path");
  return out;
}

}  // namespace

InstallPlan Lifecycle::plan(const std::vector<std::string>& names) {
  // Read-only: a transaction that is always rolled back.
  db::Transaction tx(conn_);
  auto installed = keys_of(installed_modules(conn_));
  std::vector<std::string> wanted = names;
  if (!installed.count("base")) wanted.insert(wanted.begin(), "base");
  InstallPlan plan;
  plan.modules = graph_.install_closure(wanted, installed);
  auto all = with_installed(graph_, installed, plan.modules);
  auto snap = snapshot_of(all, /*native=*/false, isolation_);  // files only, views too
  plan.statements = plan_statements(conn_, *snap.registry);
  return plan;
}

std::vector<std::string> Lifecycle::install(const std::vector<std::string>& names, bool demo) {
  db::Transaction tx(conn_);
  conn_.exec("SELECT pg_advisory_xact_lock($1)", Params().add(kLockKey));
  auto installed = keys_of(installed_modules(conn_));
  std::vector<std::string> wanted = names;
  if (!installed.count("base")) wanted.insert(wanted.begin(), "base");
  auto adding = graph_.install_closure(wanted, installed);
  if (adding.empty()) return {};
  if (check_) check_(adding);
  auto all = with_installed(graph_, installed, adding);
  // Native code loads (and its registrations are checked) before the schema, data and
  // migrations: a library that fails fails the install, which then leaves nothing.
  auto snap = snapshot_of(all, /*native=*/true, isolation_);
  const auto& service = *snap.records;
  auto statements = plan_statements(conn_, *snap.registry);
  step("schema", std::to_string(statements.size()) + " statements");
  apply_schema(conn_, statements);
  for (const auto* m : adding) {
    step(m->name, "data");
    load_data(conn_, service, *m, demo, DataMode::kInstall);
    ui::store_module(conn_, *snap.ui, m->name);
    conn_.exec(
        "INSERT INTO base_module (name, version, state, core, summary, installed_at) "
        "VALUES ($1, $2, 'installed', $3, $4, now()) "
        "ON CONFLICT (name) DO UPDATE SET version = excluded.version, state = 'installed', "
        "core = excluded.core, summary = excluded.summary, installed_at = now(), "
        "updated_at = now()",
        Params().add(m->name).add(m->version.to_string()).add(m->core).add(m->summary));
    step(m->name, "installed " + m->version.to_string());
  }
  // Stored computed fields of new columns.
  service.fill_stored_computed(conn_);
  sync_metadata(conn_, *snap.registry);
  sync_security(conn_, *snap.policy);
  notify_servers(conn_);
  tx.commit();
  return names_of(adding);
}

std::vector<std::string> Lifecycle::upgrade(const std::vector<std::string>& names) {
  db::Transaction tx(conn_);
  conn_.exec("SELECT pg_advisory_xact_lock($1)", Params().add(kLockKey));
  auto versions = installed_modules(conn_);
  auto installed = keys_of(versions);
  std::vector<std::string> targets = names;
  if (targets.empty()) targets.assign(installed.begin(), installed.end());
  if (targets.empty()) return {};  // nothing installed: not even the bookkeeping tables exist
  for (const auto& name : targets) {
    if (!graph_.find(name)) {
      std::vector<std::string_view> known;
      for (const auto& m : graph_.modules())
        known.push_back(m.name);
      auto near = closest_match(name, known);
      throw Error("module.unknown", "no module named \"" + name + "\" on the addons path",
                  near ? "did you mean \"" + std::string(*near) + "\"?"
                       : "check the name and the addons path");
    }
    if (!installed.count(name))
      throw Error("module.not_installed", "module \"" + name + "\" is not installed",
                  "install it with `keel module install " + name + "`");
  }
  // New dependencies of the upgraded modules are installed with them.
  std::vector<std::string> missing;
  for (const auto& name : targets)
    for (const auto& dep : graph_.find(name)->depends)
      if (!installed.count(dep.name) &&
          std::find(missing.begin(), missing.end(), dep.name) == missing.end())
        missing.push_back(dep.name);
  std::vector<const modules::Manifest*> adding;
  if (!missing.empty()) adding = graph_.install_closure(missing, installed);
  auto all = with_installed(graph_, installed, adding);
  std::vector<const modules::Manifest*> upgrading;
  std::set<std::string> target_set(targets.begin(), targets.end());
  for (const auto* m : all) {
    if (!target_set.count(m->name)) continue;
    auto from = modules::Version::parse(versions[m->name]);
    if (from && m->version < *from)
      throw Error("module.downgrade",
                  "module \"" + m->name + "\" " + m->version.to_string() +
                      " on the addons path is older than the installed " + versions[m->name],
                  "put the newer version back on the addons path");
    upgrading.push_back(m);
  }
  if (check_) {
    auto checked = adding;
    checked.insert(checked.end(), upgrading.begin(), upgrading.end());
    check_(checked);
  }
  auto run_scripts = [&](const char* script) {
    for (const auto* m : upgrading) {
      auto from = modules::Version::parse(versions[m->name]).value_or(modules::Version());
      for (const auto& [version, file] : migrations(*m, from, m->version, script)) {
        std::string key = m->name + ":" + version.to_string() + ":" + script;
        auto done = conn_.exec(
            "SELECT count(*) FROM base_migration WHERE module = $1 AND version = $2 AND "
            "script = $3",
            Params().add(m->name).add(version.to_string()).add(script));
        if (done.get_int(0, 0) > 0) continue;
        step(m->name, std::string("migration ") + version.to_string() + "/" + script);
        try {
          conn_.exec(read_text(file));
        } catch (const db::DbError& e) {
          throw db::DbError(
              "module \"" + m->name + "\": migration " + file.string() + " failed: " + e.what(),
              e.sqlstate(), e.detail(), e.hint());
        }
        conn_.exec("INSERT INTO base_migration (module, version, script) VALUES ($1, $2, $3)",
                   Params().add(m->name).add(version.to_string()).add(script));
      }
    }
  };
  // Every file checked and native code loaded before anything runs, like install.
  auto snap = snapshot_of(all, /*native=*/true, isolation_);
  const auto& service = *snap.records;
  run_scripts("pre.sql");
  auto statements = plan_statements(conn_, *snap.registry);
  step("schema", std::to_string(statements.size()) + " statements");
  apply_schema(conn_, statements);
  run_scripts("post.sql");
  std::set<std::string> adding_names;
  for (const auto* m : adding)
    adding_names.insert(m->name);
  std::vector<std::string> changed;
  for (const auto* m : all) {
    bool is_new = adding_names.count(m->name) > 0;
    if (!is_new && !target_set.count(m->name)) continue;
    step(m->name, "data");
    load_data(conn_, service, *m, false, is_new ? DataMode::kInstall : DataMode::kUpgrade);
    ui::store_module(conn_, *snap.ui, m->name);
    conn_.exec(
        "INSERT INTO base_module (name, version, state, core, summary, installed_at) "
        "VALUES ($1, $2, 'installed', $3, $4, now()) "
        "ON CONFLICT (name) DO UPDATE SET version = excluded.version, state = 'installed', "
        "core = excluded.core, summary = excluded.summary, updated_at = now()",
        Params().add(m->name).add(m->version.to_string()).add(m->core).add(m->summary));
    changed.push_back(m->name);
  }
  service.fill_stored_computed(conn_);
  sync_metadata(conn_, *snap.registry);
  sync_security(conn_, *snap.policy);
  notify_servers(conn_);
  tx.commit();
  return changed;
}

std::vector<std::string> Lifecycle::uninstall_closure(const std::vector<std::string>& names) {
  auto installed = keys_of(installed_modules(conn_));
  return names_of(graph_.uninstall_closure(names, installed));
}

std::vector<std::string> Lifecycle::uninstall(const std::vector<std::string>& names, bool purge) {
  db::Transaction tx(conn_);
  conn_.exec("SELECT pg_advisory_xact_lock($1)", Params().add(kLockKey));
  auto installed = keys_of(installed_modules(conn_));
  auto removing = graph_.uninstall_closure(names, installed);
  std::set<std::string> removed;
  for (const auto* m : removing)
    removed.insert(m->name);
  std::set<std::string> remaining;
  for (const auto& name : installed)
    if (!removed.count(name)) remaining.insert(name);
  // What stays installed: its RecordService deletes the records of a purge (as Keel: hooks of
  // the remaining modules and stored computed fields see them go), its registry and policy are
  // synced below. Native code is needed for a purge only.
  auto snap = snapshot_of(with_installed(graph_, remaining, {}), purge, isolation_);
  const auto system = security::Context::system();

  for (const auto* m : removing) {
    ui::remove_module(conn_, m->name);
    if (purge) {
      step(m->name, "purge");
      ui::purge_customizations(conn_, *snap.records, m->name);
      // Records its data files created (newest first), then the objects the ledger says it
      // created. A record of an entity that does not stay goes with its table.
      auto records = conn_.exec(
          "SELECT entity, record_id FROM base_external_id WHERE module = $1 ORDER BY id DESC",
          Params().add(m->name));
      for (int i = 0; i < records.rows(); ++i) {
        std::string entity(records.get(i, 0));
        if (!snap.registry->entity(entity)) continue;
        try {
          snap.records->remove(conn_, system, entity, records.get_int(i, 1));
        } catch (const Error& e) {
          if (e.kind() != ErrorKind::kNotFound) throw;  // gone already (a cascade)
        }
      }
      conn_.exec("DELETE FROM base_external_id WHERE module = $1", Params().add(m->name));
      auto owned = conn_.exec(
          "SELECT kind, table_name, name FROM base_ownership WHERE module = $1 ORDER BY id DESC",
          Params().add(m->name));
      std::set<std::string> dropped_tables;
      for (int i = 0; i < owned.rows(); ++i)
        if (owned.get(i, 0) == "table") dropped_tables.insert(std::string(owned.get(i, 2)));
      for (int i = 0; i < owned.rows(); ++i) {
        std::string kind(owned.get(i, 0)), table(owned.get(i, 1)), name(owned.get(i, 2));
        if (kind == "table") continue;
        if (dropped_tables.count(table)) continue;
        if (kind == "column")
          conn_.exec("ALTER TABLE " + quote_ident(table) + " DROP COLUMN IF EXISTS " +
                     quote_ident(name) + " CASCADE");
        else if (kind == "constraint")
          conn_.exec("ALTER TABLE " + quote_ident(table) + " DROP CONSTRAINT IF EXISTS " +
                     quote_ident(name));
        else if (kind == "index")
          conn_.exec("DROP INDEX IF EXISTS " + quote_ident(name));
        else if (kind == "trigger")
          conn_.exec("DROP TRIGGER IF EXISTS " + quote_ident(name) + " ON " + quote_ident(table));
        else if (kind == "function")
          conn_.exec("DROP FUNCTION IF EXISTS " + quote_ident(name) + " CASCADE");
      }
      for (const auto& table : dropped_tables)
        conn_.exec("DROP TABLE IF EXISTS " + quote_ident(table) + " CASCADE");
      conn_.exec("DELETE FROM base_ownership WHERE module = $1", Params().add(m->name));
    } else {
      // Data stays, but columns the module added to other modules' tables must not keep
      // rejecting rows written without them.
      auto columns = conn_.exec(
          "SELECT o.table_name, o.name FROM base_ownership o WHERE o.module = $1 AND "
          "o.kind = 'column' AND NOT EXISTS (SELECT 1 FROM base_ownership t WHERE t.module = $1 "
          "AND t.kind = 'table' AND t.name = o.table_name)",
          Params().add(m->name));
      for (int i = 0; i < columns.rows(); ++i)
        conn_.exec("ALTER TABLE " + quote_ident(std::string(columns.get(i, 0))) + " ALTER COLUMN " +
                   quote_ident(std::string(columns.get(i, 1))) + " DROP NOT NULL");
    }
    conn_.exec("UPDATE base_module SET state = 'uninstalled', updated_at = now() WHERE name = $1",
               Params().add(m->name));
    step(m->name, purge ? "uninstalled and purged" : "uninstalled (data kept)");
  }
  sync_metadata(conn_, *snap.registry);
  sync_security(conn_, *snap.policy);
  notify_servers(conn_);
  tx.commit();
  return names_of(removing);
}

}  // namespace keel::install
