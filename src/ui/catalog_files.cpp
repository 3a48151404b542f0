// Reading the `views:` files of a module into the Builder (ui/catalog_builder.hpp): components,
// views and patches, menus, actions and defaults, each checked as it is read (file:line:col).
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "app/yaml_reader.hpp"
#include "modules/manifest.hpp"
#include "query/filter.hpp"
#include "schema/registry.hpp"
#include "ui/catalog_builder.hpp"

namespace keel::ui::detail {
namespace fs = std::filesystem;

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

std::string qualify(const std::string& module, const std::string& id) {
  return id.find('.') == std::string::npos ? module + "." + id : id;
}

std::optional<std::string> read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

template <typename F>
void Builder::for_each(YamlReader& r, const YAML::Node& list, const char* what, F f) {
  if (!list.IsDefined() || list.IsNull()) return;
  if (!list.IsSequence()) {
    r.error(list,
            std::string("\"") + what + "\" must be a list, got " + std::string(yaml_kind(list)));
    return;
  }
  for (const auto& item : list)
    f(item);
}

void Builder::read_module(const modules::Manifest& m) {
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

std::optional<std::string> Builder::own_id(YamlReader& r, const YAML::Node& node, const char* key,
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

const schema::Entity* Builder::entity_for(const modules::Manifest& m, const LocatedString& name) {
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

std::optional<int> Builder::priority(YamlReader& r, const YAML::Node& node) {
  auto p = r.integer(node, "priority");
  if (p && (*p < 0 || *p > 1000000)) {
    r.error(node["priority"], "\"priority\" must be between 0 and 1000000");
    return std::nullopt;
  }
  return p ? std::optional<int>(static_cast<int>(*p)) : std::nullopt;
}

void Builder::read_component(YamlReader& r, const modules::Manifest& m, const YAML::Node& node) {
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

std::vector<PatchStep> Builder::read_steps(YamlReader& r, const YAML::Node& list,
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

void Builder::read_view(YamlReader& r, const modules::Manifest& m, const YAML::Node& node) {
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

void Builder::read_menu(YamlReader& r, const modules::Manifest& m, const YAML::Node& node) {
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

void Builder::read_action(YamlReader& r, const modules::Manifest& m, const YAML::Node& node) {
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

void Builder::read_defaults(YamlReader& r, const modules::Manifest& m, const YAML::Node& node) {
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
          r.diagnostics().error(f.location,
                                "unknown field \"" + f.value + "\" of entity \"" + e->name + "\"");
        else
          fields.push_back(f.value);
      }
      mine[std::string(type)] = fields;
      hint.fields[std::string(type)] = std::move(fields);
    }
  }
}

}  // namespace keel::ui::detail
