#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/error.hpp"
#include "ui/arch.hpp"

namespace keel::modules {
struct Manifest;
}
namespace keel::schema {
class Registry;
struct Entity;
}  // namespace keel::schema
namespace keel::security {
class Policy;
}

namespace keel::ui {

// The view types a front end renders.
const std::vector<std::string_view>& view_types();

// A view as served: the declared arch with every patch applied (or a generated one).
struct View {
  std::string id;  // qualified: sales.sale_order_form; generated: contacts.contact.list
  std::string module;
  std::string entity;
  std::string type;
  std::string label;
  int priority = 16;
  bool generated = false;
  Arch declared;                     // as its module wrote it
  Arch arch;                         // declared + patches
  std::vector<std::string> patches;  // qualified ids of the patches applied, in order
  std::string hash;                  // arch_hash(arch): tells a customisation the base changed
  SourceLocation location;
};

// A view entry with `inherit:`: steps applied to another module's view.
struct Patch {
  std::string id;  // qualified
  std::string module;
  std::string inherit;  // qualified id of the patched view
  int priority = 16;
  std::vector<PatchStep> steps;
  std::string json;  // the steps as written, JSON (stored in base_view_patch)
  SourceLocation location;
};

struct Menu {
  std::string id;  // qualified
  std::string module;
  std::string parent;  // qualified; empty for a root
  std::string label;
  int sequence = 10;
  std::string action;  // qualified; may be empty
  std::string icon;
  SourceLocation location;
};

struct Action {
  std::string id;  // qualified
  std::string module;
  std::string entity;
  std::string label;
  std::vector<std::string> views;  // view types, in order
  std::string filter;              // JSON text; empty when none
  std::string sort;                // "-date,name"; empty when none
  std::optional<long long> limit;
  SourceLocation location;
};

struct Component {
  std::string name;
  std::string module;
  std::string asset;  // relative to the module folder: static/margin_badge.js
  SourceLocation location;
};

// The fields a generated view of an entity uses instead of the built-in choice
// (`defaults:` of a views file).
struct DefaultsHint {
  std::map<std::string, std::vector<std::string>> fields;  // view type -> field names
  std::string module;
};

// What the UI tables of `base` hold for the installed modules (ui/store.hpp load_stored): each
// module's rows in the order the module declared them. JSON is the exact text the sync wrote
// (jsonb would reorder keys and respell numbers, and the served bytes and the fingerprints of
// customised views must not change).
struct StoredUi {
  struct ViewRow {
    std::string id, module, entity, type, label;
    int priority = 16;
    std::string arch;  // arch_json of the declared arch
  };
  struct PatchRow {
    std::string id, module, inherit;
    int priority = 16;
    std::string steps;  // the steps as written, JSON
  };
  struct DefaultsRow {
    std::string module, entity;
    std::map<std::string, std::vector<std::string>> fields;  // view type -> field names
  };
  std::vector<ViewRow> views;
  std::vector<PatchRow> patches;
  std::vector<Menu> menus;
  std::vector<Action> actions;
  std::vector<Component> components;
  std::vector<DefaultsRow> defaults;
  std::map<std::string, std::string> versions;  // installed module -> version
};

// Everything the `views:` files of a set of modules declare, validated against the Registry and
// merged: patches applied in dependency order of their modules, then by priority, then in file
// order. Built once per module change, never mutated.
class Catalog {
 public:
  // `modules` in dependency order (those the Registry was built from); `policy` decides what a
  // caller may read (query::load_policy of the same modules). Every problem of every module goes
  // to `diagnostics` (file:line:col); the result is meaningful only without errors.
  static std::shared_ptr<const Catalog> build(const std::vector<const modules::Manifest*>& modules,
                                              std::shared_ptr<const schema::Registry> registry,
                                              std::shared_ptr<const security::Policy> policy,
                                              Diagnostics& diagnostics);
  // The same catalog from what the UI tables hold (what a server serves: the database, not the
  // files on its disk, is the truth for installed modules). `modules` give the dependency order
  // and the folders of component assets; rows of modules not among them are ignored.
  static std::shared_ptr<const Catalog> load(const StoredUi& stored,
                                             const std::vector<const modules::Manifest*>& modules,
                                             std::shared_ptr<const schema::Registry> registry,
                                             std::shared_ptr<const security::Policy> policy,
                                             Diagnostics& diagnostics);

  const schema::Registry& registry() const { return *registry_; }
  const security::Policy& policy() const { return *policy_; }

  // A declared view, or a generated one (`module.entity.type`); nullopt when neither exists.
  std::optional<View> view(std::string_view id) const;
  // The view of `entity` of `type`: the declared one with the lowest priority (then the first
  // in dependency order), or one generated from the entity's fields.
  std::optional<View> view_for(std::string_view entity, std::string_view type) const;
  // The view generated from the fields of `entity` (documented in docs/views.md).
  View generate(const schema::Entity& entity, std::string_view type) const;

  const std::vector<View>& views() const { return views_; }  // declared, dependency order
  const std::vector<Patch>& patches() const { return patches_; }
  const std::vector<Menu>& menus() const { return menus_; }  // by sequence, then id
  const std::vector<Action>& actions() const { return actions_; }
  const Action* action(std::string_view id) const;
  const std::vector<Component>& components() const { return components_; }  // by name
  const Component* component(std::string_view name) const;
  // The `defaults:` each module declared, per module and entity (stored in base_view_default).
  const std::vector<StoredUi::DefaultsRow>& declared_defaults() const { return declared_defaults_; }

  // Whether it was loaded from the UI tables (then the files of static/ are read from
  // base_ui_asset too), not built from the views files.
  bool stored() const { return stored_; }

  // Folder and version of an installed module (component assets, cache busting).
  const std::filesystem::path* module_dir(std::string_view module) const;
  std::string module_version(std::string_view module) const;

 private:
  // build (from the files, `stored` null) or load (from `stored`).
  static std::shared_ptr<const Catalog> make(const std::vector<const modules::Manifest*>& modules,
                                             std::shared_ptr<const schema::Registry> registry,
                                             std::shared_ptr<const security::Policy> policy,
                                             const StoredUi* stored, Diagnostics& diagnostics);

  std::shared_ptr<const schema::Registry> registry_;
  std::shared_ptr<const security::Policy> policy_;
  std::vector<View> views_;
  std::vector<Patch> patches_;
  std::vector<Menu> menus_;
  std::vector<Action> actions_;
  std::vector<Component> components_;
  std::map<std::string, DefaultsHint, std::less<>> defaults_;  // entity -> hint
  std::vector<StoredUi::DefaultsRow> declared_defaults_;
  bool stored_ = false;
  std::map<std::string, std::pair<std::filesystem::path, std::string>, std::less<>> modules_;
};

// Catalog::build that throws ValidationError `view.invalid` with every diagnostic.
std::shared_ptr<const Catalog> build_catalog(const std::vector<const modules::Manifest*>& modules,
                                             std::shared_ptr<const schema::Registry> registry,
                                             std::shared_ptr<const security::Policy> policy);

}  // namespace keel::ui
