// The Builder of a Catalog (ui/catalog_builder.hpp): the rows of the UI tables added as the
// files would be, the merge (dependency order, then priority, then file order), the cross-checks
// of views, patches, menus, actions and components, and Catalog::build and Catalog::load.
#include <algorithm>
#include <set>

#include "app/yaml_reader.hpp"
#include "modules/manifest.hpp"
#include "schema/registry.hpp"
#include "ui/catalog_builder.hpp"

namespace keel::ui {
namespace detail {

namespace {

std::string module_of(const std::string& qualified) {
  return qualified.substr(0, qualified.find('.'));
}

}  // namespace

Builder::Builder(const std::vector<const modules::Manifest*>& modules,
                 const schema::Registry& registry, Diagnostics& d)
    : registry_(registry), diagnostics_(d) {
  for (size_t i = 0; i < modules.size(); ++i) {
    const auto* m = modules[i];
    index_[m->name] = i;
    auto& mine = deps_[m->name];
    for (const auto& dep : m->depends) {
      mine.insert(dep.name);
      if (auto it = deps_.find(dep.name); it != deps_.end())
        mine.insert(it->second.begin(), it->second.end());
    }
  }
}

template <typename Row>
std::vector<const Row*> Builder::installed(const std::vector<Row>& rows) const {
  std::vector<const Row*> out;
  for (const auto& row : rows)
    if (index_.count(row.module)) out.push_back(&row);
  std::stable_sort(out.begin(), out.end(), [this](const Row* a, const Row* b) {
    return index_.find(a->module)->second < index_.find(b->module)->second;
  });
  return out;
}

void Builder::add_stored(const StoredUi& s) {
  for (const auto* row : installed(s.components))
    components_.push_back({*row, next_order(row->module)});
  for (const auto* row : installed(s.views)) {
    SourceLocation at{"base_view " + row->id, 0, 0};
    if (!stored_entity(at, "view", row->id, row->module, row->entity)) continue;
    View v;
    v.id = row->id;
    v.module = row->module;
    v.entity = row->entity;
    v.type = row->type;
    v.label = row->label;
    v.priority = row->priority;
    v.location = at;
    YamlReader r(at.file, diagnostics_);  // JSON is YAML: the attributes keep their text
    if (auto doc = r.parse(row->arch)) v.declared = arch_from_yaml(r, *doc, "arch");
    views_.push_back({std::move(v), next_order(row->module)});
  }
  for (const auto* row : installed(s.patches)) {
    Patch p;
    p.id = row->id;
    p.module = row->module;
    p.inherit = row->inherit;
    p.priority = row->priority;
    p.location = SourceLocation{"base_view_patch " + row->id, 0, 0};
    YamlReader r(p.location.file, diagnostics_);
    if (auto doc = r.parse(row->steps)) p.steps = read_steps(r, *doc, p.json);
    patches_.push_back({std::move(p), next_order(row->module)});
  }
  for (const auto* row : installed(s.menus)) {
    Menu m = *row;
    m.location = SourceLocation{"base_menu " + m.id, 0, 0};
    menu_places_[m.id] = {m.location, m.location};
    menus_.push_back({std::move(m), next_order(row->module)});
  }
  for (const auto* row : installed(s.actions)) {
    Action a = *row;
    a.location = SourceLocation{"base_action " + a.id, 0, 0};
    if (!stored_entity(a.location, "action", a.id, a.module, a.entity)) continue;
    actions_.push_back({std::move(a), next_order(row->module)});
  }
  for (const auto* row : installed(s.defaults)) {
    if (!registry_.entity(row->entity)) continue;  // a generated view needs the entity anyway
    DefaultsHint& hint = defaults[row->entity];
    hint.module = row->module;
    for (const auto& [type, fields] : row->fields)
      hint.fields[type] = fields;
    declared_row(row->module, row->entity).fields = row->fields;
  }
}

StoredUi::DefaultsRow& Builder::declared_row(const std::string& module, const std::string& entity) {
  for (auto& row : declared_defaults)
    if (row.module == module && row.entity == entity) return row;
  declared_defaults.push_back({module, entity, {}});
  return declared_defaults.back();
}

bool Builder::stored_entity(const SourceLocation& at, const char* what, const std::string& id,
                            const std::string& module, const std::string& entity) {
  if (registry_.entity(entity)) return true;
  diagnostics_.error(at,
                     std::string(what) + " \"" + id + "\" of module \"" + module +
                         "\" is of entity \"" + entity + "\", which no installed module declares",
                     "the module's entity files changed without an upgrade: run `keel module "
                     "upgrade " +
                         module + "`");
  return false;
}

bool Builder::depends_on(const std::string& module, const std::string& other) const {
  if (module == other) return true;
  auto it = deps_.find(module);
  return it != deps_.end() && it->second.count(other) > 0;
}

size_t Builder::next_order(const std::string& module) {
  return index_[module] * 1000000 + ++position_;
}

template <typename T>
std::vector<T> Builder::sorted(std::vector<Entry<T>>& entries) {
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.order < b.order; });
  std::vector<T> out;
  for (auto& e : entries)
    out.push_back(std::move(e.value));
  return out;
}

std::vector<Component> Builder::take_components() {
  auto out = sorted(components_);
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

std::vector<View> Builder::take_views() {
  return sorted(views_);
}

std::vector<Patch> Builder::take_patches() {
  // Dependency order of the patching modules, then priority, then file order.
  std::stable_sort(patches_.begin(), patches_.end(), [this](const auto& a, const auto& b) {
    size_t ma = index_[a.value.module], mb = index_[b.value.module];
    if (ma != mb) return ma < mb;
    if (a.value.priority != b.value.priority) return a.value.priority < b.value.priority;
    return a.order < b.order;
  });
  std::vector<Patch> out;
  for (auto& e : patches_)
    out.push_back(std::move(e.value));
  return out;
}

std::vector<Menu> Builder::take_menus() {
  auto out = sorted(menus_);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.sequence != b.sequence ? a.sequence < b.sequence : a.id < b.id;
  });
  return out;
}

std::vector<Action> Builder::take_actions() {
  auto out = sorted(actions_);
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

void Builder::check_components(const std::vector<Component>& components) {
  std::map<std::string, const Component*> seen;
  for (const auto& c : components) {
    auto [it, fresh] = seen.emplace(c.name, &c);
    if (!fresh)
      diagnostics_.error(c.location,
                         "component \"" + c.name + "\" is already declared by module \"" +
                             it->second->module + "\" (" + it->second->location.to_string() + ")",
                         "choose another name");
    else
      component_modules_[c.name] = c.module;
  }
}

std::function<bool(const std::string&)> Builder::components_of(const std::string& module) {
  return [this, module](const std::string& name) {
    auto it = component_modules_.find(name);
    return it != component_modules_.end() && depends_on(module, it->second);
  };
}

void Builder::check_views(std::vector<View>& views, const std::vector<Patch>& patches) {
  std::map<std::string, SourceLocation> ids;
  for (auto& v : views) {
    auto [it, fresh] = ids.emplace(v.id, v.location);
    if (!fresh)
      diagnostics_.error(v.location, "view \"" + v.id + "\" is declared twice",
                         "the other one is at " + it->second.to_string());
    validate_arch(v.declared, *registry_.entity(v.entity), registry_, components_of(v.module),
                  diagnostics_);
    v.arch = v.declared;
  }
  for (const auto& p : patches) {
    auto [it, fresh] = ids.emplace(p.id, p.location);
    if (!fresh)
      diagnostics_.error(p.location, "view \"" + p.id + "\" is declared twice",
                         "the other one is at " + it->second.to_string());
  }
}

void Builder::apply_patches(std::vector<View>& views, const std::vector<Patch>& patches) {
  std::map<std::string, View*, std::less<>> by_id;
  for (auto& v : views)
    by_id.emplace(v.id, &v);
  // Per view: the targets earlier patches removed or replaced, and by which patch.
  std::map<std::string, std::vector<std::pair<std::string, const Patch*>>> removed;
  for (const auto& p : patches) {
    std::string owner = module_of(p.inherit);
    auto it = by_id.find(p.inherit);
    if (it == by_id.end()) {
      std::string message = "patch \"" + p.id + "\" of module \"" + p.module +
                            "\" inherits from view \"" + p.inherit + "\", which module \"" + owner +
                            "\" does not declare";
      if (!index_.count(owner))
        message = "patch \"" + p.id + "\" of module \"" + p.module + "\" inherits from view \"" +
                  p.inherit + "\" of module \"" + owner + "\", which is not installed";
      std::vector<std::string_view> names;
      for (const auto& [id, v] : by_id)
        names.push_back(id);
      std::string hint = "an upgrade of \"" + owner +
                         "\" may have removed or renamed it; update the patch of \"" + p.module +
                         "\"";
      if (auto near = closest_match(p.inherit, names))
        hint = "did you mean \"" + std::string(*near) + "\"?";
      diagnostics_.error(p.location, message, hint);
      continue;
    }
    View& v = *it->second;
    if (!depends_on(p.module, v.module)) {
      diagnostics_.error(p.location,
                         "module \"" + p.module + "\" patches view \"" + v.id + "\" of module \"" +
                             v.module + "\", which it does not depend on",
                         "add \"" + v.module + "\" to the `depends:` of \"" + p.module + "\"");
      continue;
    }
    const schema::Entity& entity = *registry_.entity(v.entity);
    for (const auto& step : p.steps) {
      validate_arch(step.nodes, entity, registry_, components_of(p.module), diagnostics_);
      if (!apply_patch(v.arch, step)) {
        std::string hint = "the target must be in view \"" + v.id + "\" as declared by \"" +
                           v.module + "\" and patched by the modules before \"" + p.module + "\"";
        for (const auto& [target, by] : removed[v.id])
          if (target == step.target.describe())
            hint = "patch \"" + by->id + "\" of module \"" + by->module +
                   "\", applied before it, removed or replaced that node (patches apply in "
                   "dependency order, then by priority)";
        diagnostics_.error(step.location,
                           "patch \"" + p.id + "\" of module \"" + p.module +
                               "\": " + std::string(to_string(step.op)) + " target " +
                               step.target.describe() + " is not in view \"" + v.id +
                               "\" of module \"" + v.module + "\"",
                           hint);
        continue;
      }
      if (step.op == PatchOp::kRemove || step.op == PatchOp::kReplace)
        removed[v.id].emplace_back(step.target.describe(), &p);
    }
    v.patches.push_back(p.id);
  }
  for (auto& v : views) {
    check_ids(v.arch, diagnostics_);
    v.hash = arch_hash(v.arch);
  }
}

void Builder::check_actions(const std::vector<Action>& actions) {
  std::map<std::string, SourceLocation> ids;
  for (const auto& a : actions) {
    auto [it, fresh] = ids.emplace(a.id, a.location);
    if (!fresh)
      diagnostics_.error(a.location, "action \"" + a.id + "\" is declared twice",
                         "the other one is at " + it->second.to_string());
    action_ids_.insert(a.id);
  }
}

void Builder::check_menus(const std::vector<Menu>& menus) {
  std::map<std::string, const Menu*> by_id;
  for (const auto& m : menus) {
    auto [it, fresh] = by_id.emplace(m.id, &m);
    if (!fresh)
      diagnostics_.error(m.location, "menu \"" + m.id + "\" is declared twice",
                         "the other one is at " + it->second->location.to_string());
  }
  for (const auto& m : menus) {
    const auto& places = menu_places_[m.id];
    if (!m.parent.empty()) {
      auto it = by_id.find(m.parent);
      if (it == by_id.end())
        diagnostics_.error(places.first, "unknown parent menu \"" + m.parent + "\"",
                           "declare it, or depend on the module that does");
      else if (!depends_on(m.module, it->second->module))
        diagnostics_.error(places.first, "parent menu \"" + m.parent + "\" belongs to module \"" +
                                             it->second->module + "\", which \"" + m.module +
                                             "\" does not depend on");
      // A cycle: walking up from here comes back.
      std::set<std::string> seen{m.id};
      for (auto p = by_id.find(m.parent); p != by_id.end(); p = by_id.find(p->second->parent)) {
        if (!seen.insert(p->first).second) {
          diagnostics_.error(places.first, "menu \"" + m.id + "\" is its own ancestor");
          break;
        }
      }
    }
    if (!m.action.empty()) {
      if (!action_ids_.count(m.action))
        diagnostics_.error(places.second, "unknown action \"" + m.action + "\"",
                           "declare it under `actions:`, or depend on the module that does");
      else if (!depends_on(m.module, module_of(m.action)))
        diagnostics_.error(places.second, "action \"" + m.action + "\" belongs to module \"" +
                                              module_of(m.action) + "\", which \"" + m.module +
                                              "\" does not depend on");
    }
  }
}

}  // namespace detail

using detail::Builder;

std::shared_ptr<const Catalog> Catalog::build(const std::vector<const modules::Manifest*>& modules,
                                              std::shared_ptr<const schema::Registry> registry,
                                              std::shared_ptr<const security::Policy> policy,
                                              Diagnostics& diagnostics) {
  return make(modules, std::move(registry), std::move(policy), nullptr, diagnostics);
}

std::shared_ptr<const Catalog> Catalog::load(const StoredUi& stored,
                                             const std::vector<const modules::Manifest*>& modules,
                                             std::shared_ptr<const schema::Registry> registry,
                                             std::shared_ptr<const security::Policy> policy,
                                             Diagnostics& diagnostics) {
  return make(modules, std::move(registry), std::move(policy), &stored, diagnostics);
}

std::shared_ptr<const Catalog> Catalog::make(const std::vector<const modules::Manifest*>& modules,
                                             std::shared_ptr<const schema::Registry> registry,
                                             std::shared_ptr<const security::Policy> policy,
                                             const StoredUi* stored, Diagnostics& diagnostics) {
  auto out = std::make_shared<Catalog>();
  out->registry_ = registry;
  out->policy_ = std::move(policy);
  Builder b(modules, *registry, diagnostics);
  for (const auto* m : modules) {
    std::string version = m->version.to_string();
    if (stored)
      if (auto v = stored->versions.find(m->name); v != stored->versions.end()) version = v->second;
    out->modules_[m->name] = {m->dir, version};
    if (!stored) b.read_module(*m);
  }
  if (stored) b.add_stored(*stored);
  out->stored_ = stored != nullptr;
  out->components_ = b.take_components();
  b.check_components(out->components_);
  out->views_ = b.take_views();
  out->patches_ = b.take_patches();
  b.check_views(out->views_, out->patches_);
  b.apply_patches(out->views_, out->patches_);
  out->actions_ = b.take_actions();
  b.check_actions(out->actions_);
  out->menus_ = b.take_menus();
  b.check_menus(out->menus_);
  out->defaults_ = std::move(b.defaults);
  out->declared_defaults_ = std::move(b.declared_defaults);
  return out;
}

std::shared_ptr<const Catalog> build_catalog(const std::vector<const modules::Manifest*>& modules,
                                             std::shared_ptr<const schema::Registry> registry,
                                             std::shared_ptr<const security::Policy> policy) {
  Diagnostics diagnostics;
  auto catalog = Catalog::build(modules, std::move(registry), std::move(policy), diagnostics);
  throw_if_errors(diagnostics, "view.invalid", "invalid views, menus or actions");
  return catalog;
}

}  // namespace keel::ui
