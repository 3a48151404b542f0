#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "modules/graph.hpp"
#include "native/isolation.hpp"
#include "runtime/snapshot.hpp"
#include "schema/diff.hpp"

namespace keel::db {
class Connection;
}

namespace keel::install {

// Reports progress of long work: (module, step), e.g. ("sales", "schema: 12 statements").
using Progress = std::function<void(const std::string& module, const std::string& step)>;

// Installed modules and their versions, read from base_module; empty before base exists.
using runtime::installed_modules;

// Creates Keel's own SQL objects (records::sql_objects, security::auth_sql_objects) missing from
// a database made by an older Keel, through the same plan and ownership ledger as an install,
// under the install lock. A starting server calls it; nothing to do on a current database.
void ensure_sql_objects(db::Connection& conn);

// A module on the addons path with its state in the database: `uninstalled`, `installed`, or
// `to upgrade` when the addons path holds a newer version than the installed one.
struct ModuleState {
  const modules::Manifest* manifest;
  std::string installed_version;  // empty when not installed
  std::string state;
};

// Every module of `graph` (sorted by name) with its state, given installed_modules().
std::vector<ModuleState> module_states(const modules::ModuleGraph& graph,
                                       const std::map<std::string, std::string>& installed);

struct InstallPlan {
  std::vector<const modules::Manifest*> modules;  // to install, in dependency order
  std::vector<schema::Statement> statements;      // schema changes, in order
};

// Module installation, upgrade and removal (contract §1, §2 "Schema and migrations", §4 rules
// 3 and 8). Every operation is ONE transaction under a PostgreSQL advisory lock: when anything
// fails the database is exactly as before, and the error names the module, the file and the
// statement. A second operation started meanwhile waits for the lock, then sees what the first
// one did.
class Lifecycle {
 public:
  Lifecycle(db::Connection& conn, const modules::ModuleGraph& graph, Progress progress = {});

  // Called by install() and upgrade() with the modules they are about to install or change,
  // before anything is written; throwing refuses the operation (the signature check of
  // security.require_signed_modules, see modules/signing.hpp).
  using ModuleCheck = std::function<void(const std::vector<const modules::Manifest*>&)>;
  void set_module_check(ModuleCheck check) { check_ = std::move(check); }
  // Where the native code of the modules is loaded to be checked (security.module_isolation):
  // isolated modules are loaded by a module host, never by this process.
  void set_isolation(native::IsolationSettings isolation) { isolation_ = std::move(isolation); }
  // Where the built registry is cached for the servers' next start (schema/registry_cache.hpp):
  // `<var>/cache`; empty, the default, caches nothing.
  void set_registry_cache(std::filesystem::path dir) { registry_cache_ = std::move(dir); }

  // What `install(names)` would do; changes nothing (not even on an empty database).
  InstallPlan plan(const std::vector<std::string>& names);

  // Installs the modules with their missing dependencies and auto_install glue; `base` first on
  // an empty database. Returns the modules installed, in order (empty when all were installed).
  std::vector<std::string> install(const std::vector<std::string>& names, bool demo = false);

  // Applies the new manifest versions of installed modules (all installed ones when `names` is
  // empty): pre.sql migrations, the schema difference, post.sql migrations, data files.
  std::vector<std::string> upgrade(const std::vector<std::string>& names);

  // The modules `uninstall(names)` would remove, dependents first.
  std::vector<std::string> uninstall_closure(const std::vector<std::string>& names);

  // Uninstalls the modules and their installed dependents. Data stays unless `purge`, which
  // drops exactly the tables, columns, constraints and indexes the ledger says they created,
  // and deletes the records their data files created.
  std::vector<std::string> uninstall(const std::vector<std::string>& names, bool purge);

 private:
  void step(const std::string& module, const std::string& what) const;

  db::Connection& conn_;
  const modules::ModuleGraph& graph_;
  Progress progress_;
  native::IsolationSettings isolation_;
  std::filesystem::path registry_cache_;
  // How snapshots of this lifecycle are built: isolation_ and registry_cache_.
  runtime::BuildOptions build_options() const {
    runtime::BuildOptions options;
    options.isolation = isolation_;
    options.registry_cache = registry_cache_;
    return options;
  }
  ModuleCheck check_;
};

}  // namespace keel::install
