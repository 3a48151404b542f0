#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ui/arch.hpp"

namespace keel::db {
class Connection;
}
namespace keel::modules {
struct Manifest;
}
namespace keel::records {
class RecordService;
}
namespace keel::schema {
class Registry;
}
namespace keel::security {
class Policy;
struct Context;
}  // namespace keel::security

namespace keel::ui {

class Catalog;
struct StoredUi;
struct View;

// The UI tables of `base` (core/base/entities/ui.yaml): what installed modules declare, one row
// per view, patch, menu, action and component with its owner module and qualified id, and the
// customisations administrators made at run time (user data: upgrades keep them).

// Rewrites the rows `module` owns from the catalog (install and upgrade).
void store_module(db::Connection& conn, const Catalog& catalog, const std::string& module);
// Deletes the rows `module` owns (uninstall).
void remove_module(db::Connection& conn, const std::string& module);
// Deletes the customisations of the views of `module` (uninstall --purge): user data, deleted
// through RecordService as Keel (security::Context::system()).
void purge_customizations(db::Connection& conn, const records::RecordService& records,
                          const std::string& module);

// A file of `module`'s static/ folder as the module's install or upgrade stored it (every file
// but hidden ones and links out of the folder). nullopt when there is no such file; a nullopt
// inside when the module has no stored file at all (installed by an older Keel: read its disk).
std::optional<std::optional<std::string>> load_asset(db::Connection& conn,
                                                     const std::string& module,
                                                     const std::string& path);

// The rows of the UI tables and the installed versions; nullopt when the database's base
// predates base_view_default (made by an older Keel: `keel module upgrade` brings it up to date).
std::optional<StoredUi> load_stored(db::Connection& conn);
// The catalog a server serves: what the database holds for the installed modules (Catalog::load),
// or, on a database whose base predates it, the files of `modules` (build_catalog). Throws
// ValidationError `view.invalid` when stored rows no longer fit the registry.
std::shared_ptr<const Catalog> load_catalog(db::Connection& conn,
                                            const std::vector<const modules::Manifest*>& modules,
                                            std::shared_ptr<const schema::Registry> registry,
                                            std::shared_ptr<const security::Policy> policy);
// The same from rows load_stored() read already (e.g. while the registry was loading).
std::shared_ptr<const Catalog> load_catalog(std::optional<StoredUi> stored,
                                            const std::vector<const modules::Manifest*>& modules,
                                            std::shared_ptr<const schema::Registry> registry,
                                            std::shared_ptr<const security::Policy> policy);

// A customised arch stored by PUT /ui/views/{id}, with the fingerprint of the arch it was
// made from (to tell that a lower layer changed since).
struct Customization {
  Arch arch;
  std::string base_hash;
};
std::optional<Customization> load_customization(db::Connection& conn, const std::string& view);
// Customisations are records of base_view_customization, written through RecordService in the
// name of `ctx`: its access rights decide who may (base.admin, as base declares no other right).
void save_customization(db::Connection& conn, const records::RecordService& records,
                        const security::Context& ctx, const View& view, const Arch& arch);
// False when there was none.
bool delete_customization(db::Connection& conn, const records::RecordService& records,
                          const security::Context& ctx, const std::string& view);

}  // namespace keel::ui
