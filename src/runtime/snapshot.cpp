#include "runtime/snapshot.hpp"

#include <future>

#include "app/error.hpp"
#include "db/connection.hpp"
#include "native/extensions.hpp"
#include "native/host.hpp"
#include "query/filter.hpp"
#include "records/service.hpp"
#include "schema/registry.hpp"
#include "schema/registry_cache.hpp"
#include "ui/catalog.hpp"
#include "ui/store.hpp"

namespace keel::runtime {

Snapshot build(const std::vector<const modules::Manifest*>& modules, const BuildOptions& options) {
  // The stored UI rows are read (queries: waits) while the registry loads (CPU).
  std::future<std::optional<ui::StoredUi>> stored;
  if (options.stored_ui)
    stored = std::async(std::launch::async,
                        [conn = options.stored_ui] { return ui::load_stored(*conn); });
  Diagnostics diagnostics;
  auto registry = schema::build_registry_cached(modules, diagnostics, options.registry_cache);
  auto policy = query::load_policy(modules, *registry, diagnostics);
  throw_if_errors(diagnostics, "entity.invalid", "invalid entity definitions");
  Snapshot snap;
  snap.registry = registry;
  snap.policy = policy;
  snap.ui = options.stored_ui ? ui::load_catalog(stored.get(), modules, registry, policy)
                              : ui::build_catalog(modules, registry, policy);  // views checked too
  // Native code loads (once per process) after every file was checked and before anything is
  // written: a library that fails fails the operation, which then leaves nothing.
  if (options.load_native)
    snap.native = native::Host::instance().extensions(modules, *registry, options.isolation);
  snap.records = std::make_shared<records::RecordService>(registry, policy, snap.native);
  return snap;
}

std::map<std::string, std::string> installed_modules(db::Connection& conn) {
  std::map<std::string, std::string> out;
  if (conn.exec("SELECT to_regclass('base_module') IS NULL").get_bool(0, 0)) return out;
  auto rows = conn.exec("SELECT name, version FROM base_module WHERE state = 'installed'");
  for (int i = 0; i < rows.rows(); ++i)
    out.emplace(std::string(rows.get(i, 0)), std::string(rows.get(i, 1)));
  return out;
}

std::vector<const modules::Manifest*> installed_order(
    const modules::ModuleGraph& graph, const std::map<std::string, std::string>& installed) {
  std::vector<const modules::Manifest*> out;
  for (const auto* m : graph.order())
    if (installed.count(m->name)) out.push_back(m);
  return out;
}

Snapshot load_installed(db::Connection& conn, const modules::ModuleGraph& graph,
                        const BuildOptions& options) {
  return build(installed_order(graph, installed_modules(conn)), options);
}

}  // namespace keel::runtime
