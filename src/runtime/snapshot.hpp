#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "modules/graph.hpp"
#include "native/isolation.hpp"

namespace keel::db {
class Connection;
}
namespace keel::native {
class Extensions;
}
namespace keel::records {
class RecordService;
}
namespace keel::schema {
class Registry;
}
namespace keel::security {
class Policy;
}
namespace keel::ui {
class Catalog;
}

// What Keel works with for one set of installed modules: built from their files in ONE place,
// for a running server (http::Api, swapped on every module change) and for the commands that
// change or use the database (install::Lifecycle, `keel user`). Never mutated once built.
namespace keel::runtime {

struct Snapshot {
  std::shared_ptr<const schema::Registry> registry;  // entities and fields
  // Roles, access rights and record rules of the same modules, validated against the registry.
  std::shared_ptr<const security::Policy> policy;
  std::shared_ptr<const ui::Catalog> ui;             // views, menus, actions, components
  std::shared_ptr<const native::Extensions> native;  // what the native modules registered
  // THE path to records, over the three above (its statement caches live as long as it does).
  std::shared_ptr<const records::RecordService> records;
};

struct BuildOptions {
  // Load the modules' native code (its registrations checked against the registry). Off for a
  // dry run (`keel module plan`): the snapshot then has no extensions.
  bool load_native = true;
  native::IsolationSettings isolation;  // security.module_isolation
  // Where the registry is cached between starts (schema/registry_cache.hpp); empty: no cache.
  std::filesystem::path registry_cache;
  // When set, the UI catalog is what this database holds for the installed modules
  // (ui::load_catalog: what servers serve), not what their files on this disk say.
  db::Connection* stored_ui = nullptr;
};

// The snapshot of `modules` (in dependency order), from their files: throws ValidationError
// with every diagnostic of invalid entity, security or view files, keel::Error when native code
// fails to load.
Snapshot build(const std::vector<const modules::Manifest*>& modules,
               const BuildOptions& options = {});

// Installed modules and their versions, read from base_module; empty before base exists.
std::map<std::string, std::string> installed_modules(db::Connection& conn);

// The modules of `graph` that `installed` names, in dependency order. An installed module that
// is not on the addons path is left out, as a server leaves it out (its tables stay, its
// entities are not served).
std::vector<const modules::Manifest*> installed_order(
    const modules::ModuleGraph& graph, const std::map<std::string, std::string>& installed);

// build() of the modules installed in the database.
Snapshot load_installed(db::Connection& conn, const modules::ModuleGraph& graph,
                        const BuildOptions& options = {});

}  // namespace keel::runtime
