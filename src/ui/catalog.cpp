// Over 700 lines with a reason: the views files and the stored UI rows go through one Builder
// (the same checks, merge order and diagnostics); splitting it would split that one job.
#include "ui/catalog.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "app/yaml_reader.hpp"
#include "modules/manifest.hpp"
#include "query/filter.hpp"
#include "schema/field_traits.hpp"
#include "schema/registry.hpp"

namespace keel::ui {
namespace fs = std::filesystem;
using schema::FieldType;

namespace {

const std::vector<std::string_view> kFileKeys = {"views", "menus", "actions", "components",
                                                 "defaults"};
const std::vector<std::string_view> kViewKeys = {"id",   "entity",  "type",  "label",
                                                 "arch", "inherit", "patch", "priority"};
const std::vector<std::string_view> kStepKeys = {"op", "target", "node", "set"};
const std::vector<std::string_view> kMenuKeys = {"id",       "parent", "label",
                                                 "sequence", "action", "icon"};
const std::vector<std::string_view> kActionKeys = {"id",     "entity", "label", "views",
                                                   "filter", "sort",   "limit"};
const std::vector<std::string_view> kComponentKeys = {"name", "asset"};
const char* kNameHint = "ids are lowercase letters, digits and _, starting with a letter";

// How many fields a generated list (and kanban) view shows at most.
constexpr size_t kListColumns = 5;
constexpr size_t kKanbanFields = 4;

std::string qualify(const std::string& module, const std::string& id) {
  return id.find('.') == std::string::npos ? module + "." + id : id;
}

std::string module_of(const std::string& qualified) {
  return qualified.substr(0, qualified.find('.'));
}

std::string json_string(const std::string& s) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
  return buffer.GetString();
}

std::optional<std::string> read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A views-file entry before cross-checks, with the module that wrote it and its position.
template <typename T>
struct Entry {
  T value;
  size_t order = 0;  // module index * 1e6 + position: dependency order, then file order
};

class Builder {
 public:
  Builder(const std::vector<const modules::Manifest*>& modules, const schema::Registry& registry,
          Diagnostics& d)
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

  void read_module(const modules::Manifest& m) {
    for (const auto& file : modules::expand_patterns(m, m.views, diagnostics_)) {
      auto text = read_file(file);
      if (!text) {
        diagnostics_.error({file, 0, 0}, "cannot read views file");
        continue;
      }
      YamlReader r(file, diagnostics_);
      auto doc = r.parse(*text);
      if (!doc || doc->IsNull()) continue;
      if (!r.check_map(*doc, kFileKeys, "views file")) continue;
      for_each(r, (*doc)["components"], "components",
               [&](const YAML::Node& n) { read_component(r, m, n); });
      for_each(r, (*doc)["views"], "views", [&](const YAML::Node& n) { read_view(r, m, n); });
      for_each(r, (*doc)["menus"], "menus", [&](const YAML::Node& n) { read_menu(r, m, n); });
      for_each(r, (*doc)["actions"], "actions", [&](const YAML::Node& n) { read_action(r, m, n); });
      read_defaults(r, m, (*doc)["defaults"]);
    }
  }

  // Rows of the UI tables (Catalog::load), in dependency order of their modules, each module's
  // in the order it declared them. Checked against the registry like files, not re-read.
  void add_stored(const StoredUi& s) {
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

  std::map<std::string, DefaultsHint, std::less<>> defaults;
  std::vector<StoredUi::DefaultsRow> declared_defaults;  // per module and entity

 private:
  StoredUi::DefaultsRow& declared_row(const std::string& module, const std::string& entity) {
    for (auto& row : declared_defaults)
      if (row.module == module && row.entity == entity) return row;
    declared_defaults.push_back({module, entity, {}});
    return declared_defaults.back();
  }

  // The rows of modules in the dependency order (stable: a module's rows keep their order).
  template <typename Row>
  std::vector<const Row*> installed(const std::vector<Row>& rows) const {
    std::vector<const Row*> out;
    for (const auto& row : rows)
      if (index_.count(row.module)) out.push_back(&row);
    std::stable_sort(out.begin(), out.end(), [this](const Row* a, const Row* b) {
      return index_.find(a->module)->second < index_.find(b->module)->second;
    });
    return out;
  }

  // The entity of a stored view or action, which the entity files on this disk may have lost.
  bool stored_entity(const SourceLocation& at, const char* what, const std::string& id,
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

  bool depends_on(const std::string& module, const std::string& other) const {
    if (module == other) return true;
    auto it = deps_.find(module);
    return it != deps_.end() && it->second.count(other) > 0;
  }

  size_t next_order(const std::string& module) { return index_[module] * 1000000 + ++position_; }

  template <typename F>
  void for_each(YamlReader& r, const YAML::Node& list, const char* what, F f) {
    if (!list.IsDefined() || list.IsNull()) return;
    if (!list.IsSequence()) {
      r.error(list,
              std::string("\"") + what + "\" must be a list, got " + std::string(yaml_kind(list)));
      return;
    }
    for (const auto& item : list)
      f(item);
  }

  // A declared id: a plain name, qualified with the module.
  std::optional<std::string> own_id(YamlReader& r, const YAML::Node& node, const char* key,
                                    const modules::Manifest& m) {
    auto id = r.string(node, key, true);
    if (!id) return std::nullopt;
    if (!modules::is_valid_name(id->value)) {
      r.diagnostics().error(id->location, "bad " + std::string(key) + " \"" + id->value + "\"",
                            kNameHint);
      return std::nullopt;
    }
    return m.name + "." + id->value;
  }

  // The entity a view or action of module `m` names: declared, by `m` or a dependency.
  const schema::Entity* entity_for(const modules::Manifest& m, const LocatedString& name) {
    const schema::Entity* e = registry_.entity(name.value);
    if (!e) {
      std::vector<std::string_view> names;
      for (const auto& x : registry_.entities())
        names.push_back(x.name);
      std::string hint = "declare it, or depend on the module that does";
      if (auto near = closest_match(name.value, names))
        hint = "did you mean \"" + std::string(*near) + "\"?";
      diagnostics_.error(name.location, "unknown entity \"" + name.value + "\"", hint);
      return nullptr;
    }
    if (!depends_on(m.name, e->module)) {
      diagnostics_.error(name.location,
                         "entity \"" + e->name + "\" belongs to module \"" + e->module +
                             "\", which \"" + m.name + "\" does not depend on",
                         "add \"" + e->module + "\" to the `depends:` of \"" + m.name + "\"");
      return nullptr;
    }
    return e;
  }

  std::optional<int> priority(YamlReader& r, const YAML::Node& node) {
    auto p = r.integer(node, "priority");
    if (p && (*p < 0 || *p > 1000000)) {
      r.error(node["priority"], "\"priority\" must be between 0 and 1000000");
      return std::nullopt;
    }
    return p ? std::optional<int>(static_cast<int>(*p)) : std::nullopt;
  }

  void read_component(YamlReader& r, const modules::Manifest& m, const YAML::Node& node) {
    if (!r.check_map(node, kComponentKeys, "component")) return;
    auto name = r.string(node, "name", true);
    auto asset = r.string(node, "asset");
    if (!name) return;
    Component c{name->value, m.name, asset ? asset->value : "", r.at(node)};
    if (!modules::is_valid_name(c.name)) {
      r.diagnostics().error(name->location, "bad component name \"" + c.name + "\"", kNameHint);
      return;
    }
    if (asset) {
      fs::path rel = fs::path(c.asset).lexically_normal();
      bool inside = !rel.is_absolute() && rel.begin() != rel.end() && *rel.begin() == "static" &&
                    std::none_of(rel.begin(), rel.end(), [](const fs::path& p) {
                      return p == ".." || p.string().starts_with(".");
                    });
      std::error_code ec;
      if (!inside)
        r.diagnostics().error(asset->location,
                              "asset \"" + c.asset + "\" is not in the module's static/ folder",
                              "write a path such as static/" + c.name + ".js");
      else if (!fs::is_regular_file(m.dir / rel, ec))
        r.diagnostics().error(asset->location,
                              "asset \"" + c.asset + "\" does not exist in " + m.dir.string());
      c.asset = rel.generic_string();
    }
    components_.push_back({std::move(c), next_order(m.name)});
  }

  static std::vector<PatchStep> read_steps(YamlReader& r, const YAML::Node& list,
                                           std::string& json) {
    std::vector<PatchStep> steps;
    if (!list.IsSequence()) {
      r.error(list, "\"patch\" must be a list of steps, got " + std::string(yaml_kind(list)));
      return steps;
    }
    json = yaml_to_json(list);
    for (const auto& node : list) {
      if (!r.check_map(node, kStepKeys, "patch step")) continue;
      auto op_name = r.string(node, "op", true);
      if (!op_name) continue;
      PatchStep step;
      step.location = r.at(node);
      auto op = parse_patch_op(op_name->value);
      if (!op) {
        r.diagnostics().error(op_name->location, "unknown patch op \"" + op_name->value + "\"",
                              "use before, after, inside, replace, remove or attrs");
        continue;
      }
      step.op = *op;
      YAML::Node target = node["target"];
      bool ok = true;
      if (!target.IsDefined() || target.IsNull()) {
        r.error(node, "a patch step needs `target: {field: name}` or `target: {id: node_id}`");
        ok = false;
      } else if (r.check_map(target, {"field", "id"}, "target")) {
        auto field = r.string(target, "field");
        auto id = r.string(target, "id");
        if (!field == !id) {
          r.error(target, "a target names either `field:` or `id:`");
          ok = false;
        } else {
          step.target.field = field ? field->value : "";
          step.target.id = id ? id->value : "";
        }
      } else {
        ok = false;
      }
      YAML::Node nodes = node["node"];
      bool takes_nodes = step.op == PatchOp::kBefore || step.op == PatchOp::kAfter ||
                         step.op == PatchOp::kInside || step.op == PatchOp::kReplace;
      if (takes_nodes) {
        if (!nodes.IsDefined() || nodes.IsNull()) {
          r.error(node, "op " + op_name->value + " needs `node:` (a node or a list of nodes)");
          ok = false;
        } else if (nodes.IsMap()) {
          YAML::Node one(YAML::NodeType::Sequence);
          one.push_back(nodes);
          size_t before = r.diagnostics().items().size();
          step.nodes = arch_from_yaml(r, one, "node");
          ok = ok && r.diagnostics().items().size() == before;
        } else {
          size_t before = r.diagnostics().items().size();
          step.nodes = arch_from_yaml(r, nodes, "node");
          ok = ok && r.diagnostics().items().size() == before;
        }
      } else if (nodes.IsDefined()) {
        r.error(nodes, "op " + op_name->value + " takes no `node:`");
        ok = false;
      }
      YAML::Node set = node["set"];
      if (step.op == PatchOp::kAttrs) {
        if (!set.IsMap()) {
          r.error(set.IsDefined() ? set : YAML::Node(node),
                  "op attrs needs `set: {attribute: value}`", "a null value removes the attribute");
          ok = false;
        } else {
          for (auto it = set.begin(); it != set.end(); ++it) {
            const YAML::Node key = it->first;
            const YAML::Node value = it->second;
            std::string k = key.IsScalar() ? key.Scalar() : "";
            if (k.empty() || k == "component" || k == "field" || k == "id" || k == "children") {
              r.error(key, "attrs cannot set \"" + k + "\"", "use replace to change a node");
              ok = false;
              continue;
            }
            if (value.IsNull() ||
                (value.IsScalar() && value.Scalar() == "null" && value.Tag() != "!"))
              step.set[k] = std::nullopt;
            else
              step.set[k] = yaml_to_json(value);
          }
        }
      } else if (set.IsDefined()) {
        r.error(set, "only op attrs takes `set:`");
        ok = false;
      }
      if (ok) steps.push_back(std::move(step));
    }
    return steps;
  }

  void read_view(YamlReader& r, const modules::Manifest& m, const YAML::Node& node) {
    if (!r.check_map(node, kViewKeys, "view")) return;
    auto id = own_id(r, node, "id", m);
    auto inherit = r.string(node, "inherit");
    auto prio = priority(r, node);
    if (inherit) {
      for (const char* k : {"entity", "type", "arch"})
        if (node[k].IsDefined())
          r.error(node[k], std::string("a patch (a view with `inherit:`) takes no `") + k + ":`",
                  "it changes the view it inherits from");
      YAML::Node steps = node["patch"];
      if (!steps.IsDefined() || steps.IsNull()) {
        r.error(node, "a view with `inherit:` needs `patch:` (a list of steps)");
        return;
      }
      Patch p;
      p.module = m.name;
      p.inherit = qualify(m.name, inherit->value);
      p.priority = prio.value_or(16);
      p.location = inherit->location;
      p.steps = read_steps(r, steps, p.json);
      if (!id) return;
      p.id = *id;
      patches_.push_back({std::move(p), next_order(m.name)});
      return;
    }
    if (node["patch"].IsDefined()) r.error(node["patch"], "`patch:` needs `inherit:`");
    auto entity = r.string(node, "entity", true);
    auto type = r.string(node, "type", true);
    auto label = r.string(node, "label");
    YAML::Node arch = node["arch"];
    if (!arch.IsDefined() || arch.IsNull()) r.error(node, "a view needs `arch:` (a list of nodes)");
    View v;
    v.module = m.name;
    v.priority = prio.value_or(16);
    v.location = r.at(node);
    v.declared = arch_from_yaml(r, arch, "arch");
    if (!id || !entity || !type) return;
    v.id = *id;
    const auto& types = view_types();
    if (std::find(types.begin(), types.end(), type->value) == types.end()) {
      r.diagnostics().error(type->location, "unknown view type \"" + type->value + "\"",
                            "use list, form, search or kanban");
      return;
    }
    v.type = type->value;
    const schema::Entity* e = entity_for(m, *entity);
    if (!e) return;
    v.entity = e->name;
    v.label = label ? label->value : e->label;
    views_.push_back({std::move(v), next_order(m.name)});
  }

  void read_menu(YamlReader& r, const modules::Manifest& m, const YAML::Node& node) {
    if (!r.check_map(node, kMenuKeys, "menu")) return;
    auto id = own_id(r, node, "id", m);
    auto label = r.string(node, "label", true);
    auto parent = r.string(node, "parent");
    auto action = r.string(node, "action");
    auto icon = r.string(node, "icon");
    auto sequence = r.integer(node, "sequence");
    if (!id || !label) return;
    Menu menu{*id,
              m.name,
              parent ? qualify(m.name, parent->value) : "",
              label->value,
              static_cast<int>(sequence.value_or(10)),
              action ? qualify(m.name, action->value) : "",
              icon ? icon->value : "",
              r.at(node)};
    menu_places_[menu.id] = {parent ? parent->location : SourceLocation{},
                             action ? action->location : SourceLocation{}};
    menus_.push_back({std::move(menu), next_order(m.name)});
  }

  void read_action(YamlReader& r, const modules::Manifest& m, const YAML::Node& node) {
    if (!r.check_map(node, kActionKeys, "action")) return;
    auto id = own_id(r, node, "id", m);
    auto entity = r.string(node, "entity", true);
    auto label = r.string(node, "label");
    auto views = r.string_list(node, "views");
    auto sort = r.string(node, "sort");
    auto limit = r.integer(node, "limit");
    if (!id || !entity) return;
    Action a;
    a.id = *id;
    a.module = m.name;
    a.location = r.at(node);
    const schema::Entity* e = entity_for(m, *entity);
    if (!e) return;
    a.entity = e->name;
    a.label = label ? label->value : e->label;
    const auto& types = view_types();
    if (views) {
      for (const auto& v : *views) {
        if (std::find(types.begin(), types.end(), v.value) == types.end())
          r.diagnostics().error(v.location, "unknown view type \"" + v.value + "\"",
                                "use list, form, search or kanban");
        else
          a.views.push_back(v.value);
      }
    } else {
      a.views = {"list", "form"};
    }
    if (YAML::Node f = node["filter"]; f.IsDefined() && !f.IsNull()) {
      if (!f.IsMap()) {
        r.error(f, "\"filter\" must be a map in the filter language");
      } else {
        a.filter = yaml_to_json(f);
        try {
          // Actions are checked as Keel itself (field rights apply when a caller opens the
          // action).
          query::check_filter(registry_, *e, a.filter);
        } catch (const Error& err) {
          r.error(f, std::string("invalid filter: ") + err.what());
        }
      }
    }
    if (sort) a.sort = sort->value;
    if (limit && (*limit < 1 || *limit > 1000))
      r.error(node["limit"], "\"limit\" must be between 1 and 1000");
    else
      a.limit = limit;
    actions_.push_back({std::move(a), next_order(m.name)});
  }

  void read_defaults(YamlReader& r, const modules::Manifest& m, const YAML::Node& node) {
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsMap()) {
      r.error(node, "\"defaults\" must be a map of entity: {list: [fields], ...}");
      return;
    }
    std::vector<std::string_view> types(view_types().begin(), view_types().end());
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!key.IsScalar()) continue;
      const schema::Entity* e = entity_for(m, {key.Scalar(), r.at(key)});
      if (!e || !r.check_map(value, types, "defaults of \"" + key.Scalar() + "\"")) continue;
      DefaultsHint& hint = defaults[e->name];
      hint.module = m.name;
      auto& mine = declared_row(m.name, e->name).fields;
      for (auto type : types) {
        auto list = r.string_list(value, type);
        if (!list) continue;
        std::vector<std::string> fields;
        for (const auto& f : *list) {
          const schema::Field* field = e->field(f.value);
          if (!field || field->secret)
            r.diagnostics().error(
                f.location, "unknown field \"" + f.value + "\" of entity \"" + e->name + "\"");
          else
            fields.push_back(f.value);
        }
        mine[std::string(type)] = fields;
        hint.fields[std::string(type)] = std::move(fields);
      }
    }
  }

  template <typename T>
  static std::vector<T> sorted(std::vector<Entry<T>>& entries) {
    std::stable_sort(entries.begin(), entries.end(),
                     [](const auto& a, const auto& b) { return a.order < b.order; });
    std::vector<T> out;
    for (auto& e : entries)
      out.push_back(std::move(e.value));
    return out;
  }

 public:
  std::vector<Component> take_components() {
    auto out = sorted(components_);
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
  }
  std::vector<View> take_views() { return sorted(views_); }
  std::vector<Patch> take_patches() {
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
  std::vector<Menu> take_menus() {
    auto out = sorted(menus_);
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return a.sequence != b.sequence ? a.sequence < b.sequence : a.id < b.id;
    });
    return out;
  }
  std::vector<Action> take_actions() {
    auto out = sorted(actions_);
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return a.id < b.id; });
    return out;
  }

  void check_components(const std::vector<Component>& components) {
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

  std::function<bool(const std::string&)> components_of(const std::string& module) {
    return [this, module](const std::string& name) {
      auto it = component_modules_.find(name);
      return it != component_modules_.end() && depends_on(module, it->second);
    };
  }

  void check_views(std::vector<View>& views, const std::vector<Patch>& patches) {
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

  void apply_patches(std::vector<View>& views, const std::vector<Patch>& patches) {
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
                              "\" inherits from view \"" + p.inherit + "\", which module \"" +
                              owner + "\" does not declare";
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
                           "module \"" + p.module + "\" patches view \"" + v.id +
                               "\" of module \"" + v.module + "\", which it does not depend on",
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

  void check_actions(const std::vector<Action>& actions) {
    std::map<std::string, SourceLocation> ids;
    for (const auto& a : actions) {
      auto [it, fresh] = ids.emplace(a.id, a.location);
      if (!fresh)
        diagnostics_.error(a.location, "action \"" + a.id + "\" is declared twice",
                           "the other one is at " + it->second.to_string());
      action_ids_.insert(a.id);
    }
  }

  void check_menus(const std::vector<Menu>& menus) {
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

bool in_list(FieldType t) {
  return schema::traits(t).list_column;
}

bool in_search(FieldType t) {
  return schema::traits(t).search_field;
}

Node field_node(const std::string& name) {
  Node n;
  n.field = name;
  return n;
}

}  // namespace

const std::vector<std::string_view>& view_types() {
  static const std::vector<std::string_view> kTypes = {"list", "form", "search", "kanban"};
  return kTypes;
}

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

std::optional<View> Catalog::view(std::string_view id) const {
  for (const auto& v : views_)
    if (v.id == id) return v;
  // Generated: module.entity.type
  auto first = id.find('.');
  auto last = id.rfind('.');
  if (first == std::string_view::npos || first == last) return std::nullopt;
  const schema::Entity* e = registry_->entity(id.substr(first + 1, last - first - 1));
  std::string_view type = id.substr(last + 1);
  const auto& types = view_types();
  if (!e || e->module != id.substr(0, first) ||
      std::find(types.begin(), types.end(), type) == types.end())
    return std::nullopt;
  return generate(*e, type);
}

std::optional<View> Catalog::view_for(std::string_view entity, std::string_view type) const {
  const View* best = nullptr;
  for (const auto& v : views_)
    if (v.entity == entity && v.type == type && (!best || v.priority < best->priority)) best = &v;
  if (best) return *best;
  const schema::Entity* e = registry_->entity(entity);
  const auto& types = view_types();
  if (!e || std::find(types.begin(), types.end(), type) == types.end()) return std::nullopt;
  return generate(*e, type);
}

View Catalog::generate(const schema::Entity& e, std::string_view type) const {
  View v;
  v.id = e.module + "." + e.name + "." + std::string(type);
  v.module = e.module;
  v.entity = e.name;
  v.type = type;
  v.label = e.label;
  v.generated = true;
  v.location = e.location;
  // The fields to consider: the hint's, or every field with the title first.
  std::vector<const schema::Field*> fields;
  const std::vector<std::string>* hinted = nullptr;
  if (auto it = defaults_.find(e.name); it != defaults_.end())
    if (auto f = it->second.fields.find(std::string(type)); f != it->second.fields.end())
      hinted = &f->second;
  if (hinted) {
    for (const auto& name : *hinted)
      if (const auto* f = e.field(name)) fields.push_back(f);
  } else {
    if (const auto* t = e.title.empty() ? nullptr : e.field(e.title)) fields.push_back(t);
    for (const auto& f : e.fields)
      if (!f.secret && f.name != e.title) fields.push_back(&f);
  }
  if (type == "list" || type == "kanban") {
    size_t most = type == "list" ? kListColumns : kKanbanFields;
    for (const auto* f : fields)
      if ((hinted || in_list(f->type)) && (hinted || v.arch.size() < most))
        v.arch.push_back(field_node(f->name));
  } else if (type == "search") {
    for (const auto* f : fields)
      if (hinted || in_search(f->type)) v.arch.push_back(field_node(f->name));
  } else {  // form: one group of fields, relations in a notebook (a page each)
    Node group, notebook;
    group.component = "group";
    notebook.component = "notebook";
    for (const auto* f : fields) {
      if (f->type == FieldType::kOne2many || f->type == FieldType::kMany2many) {
        Node page;
        page.component = "page";
        page.attrs["label"] = json_string(f->label);
        page.children.push_back(field_node(f->name));
        notebook.children.push_back(std::move(page));
      } else {
        group.children.push_back(field_node(f->name));
      }
    }
    if (!group.children.empty()) v.arch.push_back(std::move(group));
    if (!notebook.children.empty()) v.arch.push_back(std::move(notebook));
  }
  v.declared = v.arch;
  v.hash = arch_hash(v.arch);
  return v;
}

const Action* Catalog::action(std::string_view id) const {
  for (const auto& a : actions_)
    if (a.id == id) return &a;
  return nullptr;
}

const Component* Catalog::component(std::string_view name) const {
  for (const auto& c : components_)
    if (c.name == name) return &c;
  return nullptr;
}

const fs::path* Catalog::module_dir(std::string_view module) const {
  auto it = modules_.find(module);
  return it == modules_.end() ? nullptr : &it->second.first;
}

std::string Catalog::module_version(std::string_view module) const {
  auto it = modules_.find(module);
  return it == modules_.end() ? "" : it->second.second;
}

}  // namespace keel::ui
