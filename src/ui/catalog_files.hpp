#pragma once

// The views files of a set of modules read, checked and merged (ui/catalog_files.cpp): what
// Catalog::build (ui/catalog.cpp) keeps. Not for other callers.

#include <map>
#include <string>
#include <vector>

#include "app/error.hpp"
#include "ui/catalog.hpp"

namespace keel::ui::detail {

// What the `views:` files of the modules declare: every problem goes to `diagnostics`.
struct CatalogFiles {
  std::vector<Component> components;  // by name
  std::vector<View> views;            // patches applied
  std::vector<Patch> patches;
  std::vector<Action> actions;
  std::vector<Menu> menus;
  std::map<std::string, DefaultsHint, std::less<>> defaults;  // entity -> hint
};

// `modules` in dependency order, as for Catalog::build.
CatalogFiles read_catalog_files(const std::vector<const modules::Manifest*>& modules,
                                const schema::Registry& registry, Diagnostics& diagnostics);

// `s` as a JSON string literal (quoted, escaped).
std::string json_string(const std::string& s);

}  // namespace keel::ui::detail
