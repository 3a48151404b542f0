#pragma once

// The Builder of a Catalog (ui/catalog.hpp), internal to ui/: both sources of a catalog feed it
// (the views files of the modules, read in catalog_files.cpp, and the rows of the UI tables,
// added in catalog_build.cpp), and both then go through the same merge order, checks and
// diagnostics (catalog_build.cpp).

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "app/error.hpp"
#include "app/yaml_reader.hpp"
#include "ui/catalog.hpp"

namespace keel::ui::detail {

// A views-file entry before cross-checks, with the module that wrote it and its position.
template <typename T>
struct Entry {
  T value;
  size_t order = 0;  // module index * 1e6 + position: dependency order, then file order
};

class Builder {
 public:
  Builder(const std::vector<const modules::Manifest*>& modules, const schema::Registry& registry,
          Diagnostics& d);
  void read_module(const modules::Manifest& m);
  // Rows of the UI tables (Catalog::load), in dependency order of their modules, each module's
  // in the order it declared them. Checked against the registry like files, not re-read.
  void add_stored(const StoredUi& s);

  // The `defaults:` read: per entity (the last module's wins), and per module and entity.
  std::map<std::string, DefaultsHint, std::less<>> defaults;
  std::vector<StoredUi::DefaultsRow> declared_defaults;

  std::vector<Component> take_components();
  std::vector<View> take_views();
  std::vector<Patch> take_patches();
  std::vector<Menu> take_menus();
  std::vector<Action> take_actions();
  void check_components(const std::vector<Component>& components);
  std::function<bool(const std::string&)> components_of(const std::string& module);
  void check_views(std::vector<View>& views, const std::vector<Patch>& patches);
  void apply_patches(std::vector<View>& views, const std::vector<Patch>& patches);
  void check_actions(const std::vector<Action>& actions);
  void check_menus(const std::vector<Menu>& menus);

 private:
  StoredUi::DefaultsRow& declared_row(const std::string& module, const std::string& entity);
  // The rows of modules in the dependency order (stable: a module's rows keep their order).
  template <typename Row>
  std::vector<const Row*> installed(const std::vector<Row>& rows) const;
  // The entity of a stored view or action, which the entity files on this disk may have lost.
  bool stored_entity(const SourceLocation& at, const char* what, const std::string& id,
                     const std::string& module, const std::string& entity);
  bool depends_on(const std::string& module, const std::string& other) const;
  size_t next_order(const std::string& module);
  template <typename F>
  void for_each(YamlReader& r, const YAML::Node& list, const char* what, F f);
  // A declared id: a plain name, qualified with the module.
  std::optional<std::string> own_id(YamlReader& r, const YAML::Node& node, const char* key,
                                    const modules::Manifest& m);
  // The entity a view or action of module `m` names: declared, by `m` or a dependency.
  const schema::Entity* entity_for(const modules::Manifest& m, const LocatedString& name);
  std::optional<int> priority(YamlReader& r, const YAML::Node& node);
  void read_component(YamlReader& r, const modules::Manifest& m, const YAML::Node& node);
  static std::vector<PatchStep> read_steps(YamlReader& r, const YAML::Node& list,
                                           std::string& json);
  void read_view(YamlReader& r, const modules::Manifest& m, const YAML::Node& node);
  void read_menu(YamlReader& r, const modules::Manifest& m, const YAML::Node& node);
  void read_action(YamlReader& r, const modules::Manifest& m, const YAML::Node& node);
  void read_defaults(YamlReader& r, const modules::Manifest& m, const YAML::Node& node);
  template <typename T>
  static std::vector<T> sorted(std::vector<Entry<T>>& entries);

  const schema::Registry& registry_;
  Diagnostics& diagnostics_;
  std::map<std::string, size_t> index_;  // module -> dependency position
  std::map<std::string, std::set<std::string>> deps_;
  size_t position_ = 0;
  std::vector<Entry<Component>> components_;
  std::vector<Entry<View>> views_;
  std::vector<Entry<Patch>> patches_;
  std::vector<Entry<Menu>> menus_;
  std::vector<Entry<Action>> actions_;
  std::map<std::string, std::pair<SourceLocation, SourceLocation>> menu_places_;
  std::map<std::string, std::string> component_modules_;  // name -> module
  std::set<std::string> action_ids_;
};

}  // namespace keel::ui::detail
