#include "install/lifecycle.hpp"

#include <algorithm>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string_view>

#include "db/connection.hpp"
#include "install/data.hpp"
#include "install/ledger.hpp"
#include "install/schema_apply.hpp"
#include "install/sync.hpp"
#include "records/service.hpp"
#include "runtime/snapshot.hpp"
#include "schema/registry.hpp"
#include "ui/catalog.hpp"
#include "ui/store.hpp"

// Install, upgrade and uninstall: which modules, in which order, under one transaction and the
// install lock. The work itself is in schema_apply (plan and DDL with the ownership ledger),
// ledger (what a module owns), sync (the tables that mirror module files), data (data files)
// and ui/store (the UI tables).

namespace keel::install {
namespace fs = std::filesystem;
using db::Params;

namespace {

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The snapshot of `modules` (runtime/snapshot.hpp): every file checked before anything is
// written; native code loaded (and its registrations checked) unless `native` is false.
runtime::Snapshot snapshot_of(const std::vector<const modules::Manifest*>& modules, bool native,
                              runtime::BuildOptions options) {
  options.load_native = native;
  return runtime::build(modules, options);
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

namespace {

// What install() and upgrade() share. Before anything is written: the module check (signatures),
// then the snapshot of every module that will be installed, each file checked and native code
// loaded (its registrations checked): a library that fails fails the operation, which then
// leaves nothing.
runtime::Snapshot prepare(const Lifecycle::ModuleCheck& check,
                          const std::vector<const modules::Manifest*>& changing,
                          const std::vector<const modules::Manifest*>& all,
                          const runtime::BuildOptions& options) {
  if (check) check(changing);
  return snapshot_of(all, /*native=*/true, options);
}

using Step = std::function<void(const std::string& module, const std::string& what)>;

// The schema difference, with Keel's own objects, applied and recorded in the ledger.
void apply_schema_step(db::Connection& conn, const runtime::Snapshot& snap, const Step& step) {
  auto statements = plan_statements(conn, *snap.registry);
  step("schema", std::to_string(statements.size()) + " statements");
  apply_schema(conn, statements);
}

// A module's data files, UI rows and base_module row; `fresh`: it is being installed.
void write_module(db::Connection& conn, const runtime::Snapshot& snap, const modules::Manifest& m,
                  bool demo, bool fresh, const Step& step) {
  step(m.name, "data");
  load_data(conn, *snap.records, m, demo, fresh ? DataMode::kInstall : DataMode::kUpgrade);
  ui::store_module(conn, *snap.ui, m.name);
  record_module(conn, m, fresh);
}

// Stored computed fields (of new columns, of records of data files), the mirror tables, the
// servers told, the transaction committed.
void finish(db::Connection& conn, const runtime::Snapshot& snap, db::Transaction& tx) {
  snap.records->fill_stored_computed(conn);
  sync_metadata(conn, *snap.registry);
  sync_security(conn, *snap.policy);
  notify_servers(conn);
  tx.commit();
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
  auto snap = snapshot_of(all, /*native=*/false, build_options());  // files only, views too
  plan.statements = plan_statements(conn_, *snap.registry);
  return plan;
}

std::vector<std::string> Lifecycle::install(const std::vector<std::string>& names, bool demo) {
  Step progress = [this](const std::string& m, const std::string& what) { step(m, what); };
  db::Transaction tx(conn_);
  conn_.exec("SELECT pg_advisory_xact_lock($1)", Params().add(kLockKey));
  auto installed = keys_of(installed_modules(conn_));
  std::vector<std::string> wanted = names;
  if (!installed.count("base")) wanted.insert(wanted.begin(), "base");
  auto adding = graph_.install_closure(wanted, installed);
  if (adding.empty()) return {};
  auto snap = prepare(check_, adding, with_installed(graph_, installed, adding), build_options());
  apply_schema_step(conn_, snap, progress);
  for (const auto* m : adding) {
    write_module(conn_, snap, *m, demo, /*fresh=*/true, progress);
    step(m->name, "installed " + m->version.to_string());
  }
  finish(conn_, snap, tx);
  return names_of(adding);
}

std::vector<std::string> Lifecycle::upgrade(const std::vector<std::string>& names) {
  Step progress = [this](const std::string& m, const std::string& what) { step(m, what); };
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
  auto changing = adding;
  changing.insert(changing.end(), upgrading.begin(), upgrading.end());
  auto snap = prepare(check_, changing, all, build_options());  // before the migrations, as install
  run_scripts("pre.sql");
  apply_schema_step(conn_, snap, progress);
  run_scripts("post.sql");
  std::set<std::string> adding_names;
  for (const auto* m : adding)
    adding_names.insert(m->name);
  std::vector<std::string> changed;
  for (const auto* m : all) {
    bool is_new = adding_names.count(m->name) > 0;
    if (!is_new && !target_set.count(m->name)) continue;
    write_module(conn_, snap, *m, /*demo=*/false, is_new, progress);
    changed.push_back(m->name);
  }
  finish(conn_, snap, tx);
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
  auto snap = snapshot_of(with_installed(graph_, remaining, {}), purge, build_options());
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
      drop_owned(conn_, m->name);
    } else {
      // Data stays; the columns it added to other modules' tables stop being required.
      relax_owned_columns(conn_, m->name);
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
