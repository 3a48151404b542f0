#pragma once

#include <optional>
#include <string>

#include "ui/arch.hpp"

namespace keel::db {
class Connection;
}
namespace keel::records {
class RecordService;
}
namespace keel::security {
struct Context;
}

namespace keel::ui {

class Catalog;
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
