#pragma once

#include <optional>
#include <string>

#include "ui/arch.hpp"

namespace keel::db {
class Connection;
}

namespace keel::ui {

class Catalog;
struct View;

// The UI tables of `base` (core/base/entities/ui.yaml): what installed modules declare, one row
// per view, patch, menu, action and component with its owner module and qualified id, and the
// customisations administrators made at run time (user data: upgrades keep them).

// Rewrites the rows `module` owns from the catalog (install and upgrade).
void store_module(db::Connection& conn, const Catalog& catalog, const std::string& module);
// Deletes the rows `module` owns (uninstall); `purge` also deletes the customisations of its
// views.
void remove_module(db::Connection& conn, const std::string& module, bool purge);

// A customised arch stored by PUT /ui/views/{id}, with the fingerprint of the arch it was
// made from (to tell that a lower layer changed since).
struct Customization {
  Arch arch;
  std::string base_hash;
};
std::optional<Customization> load_customization(db::Connection& conn, const std::string& view);
void save_customization(db::Connection& conn, const View& view, const Arch& arch);
// False when there was none.
bool delete_customization(db::Connection& conn, const std::string& view);

}  // namespace keel::ui
