#include "ui/arch.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>

#include <set>

#include "app/json.hpp"
#include "app/yaml_reader.hpp"
#include "modules/manifest.hpp"
#include "query/filter.hpp"
#include "schema/registry.hpp"

namespace keel::ui {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// Keys of a node that are not free attributes.
bool is_structural(std::string_view key) {
  return key == "component" || key == "field" || key == "id" || key == "children";
}

std::string value_json(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  v.Accept(w);
  return buffer.GetString();
}

void write_nodes(Writer& w, const Arch& arch) {
  w.StartArray();
  for (const auto& n : arch) {
    w.StartObject();
    if (!n.field.empty()) {
      w.Key("field");
      w.String(n.field.c_str());
    } else {
      w.Key("component");
      w.String(n.component.c_str());
    }
    if (!n.id.empty()) {
      w.Key("id");
      w.String(n.id.c_str());
    }
    for (const auto& [key, json] : n.attrs) {
      w.Key(key.c_str());
      w.RawValue(json.c_str(), json.size(), rapidjson::kObjectType);
    }
    if (!n.children.empty()) {
      w.Key("children");
      write_nodes(w, n.children);
    }
    w.EndObject();
  }
  w.EndArray();
}

Arch nodes_from_json(const rapidjson::Value& list, const std::string& path,
                     Diagnostics& diagnostics) {
  Arch out;
  auto error = [&](const std::string& where, std::string message) {
    diagnostics.error(SourceLocation{where, 0, 0}, std::move(message));
  };
  if (!list.IsArray()) {
    error(path, "must be a list of nodes");
    return out;
  }
  for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
    std::string here = path + "[" + std::to_string(i) + "]";
    const auto& item = list[i];
    if (!item.IsObject()) {
      error(here, "a node must be an object with \"component\" or \"field\"");
      continue;
    }
    Node n;
    n.location = SourceLocation{here, 0, 0};
    bool ok = true;
    for (auto m = item.MemberBegin(); m != item.MemberEnd(); ++m) {
      std::string key(m->name.GetString(), m->name.GetStringLength());
      if (key == "component" || key == "field" || key == "id") {
        if (!m->value.IsString()) {
          error(here + "." + key, "\"" + key + "\" must be a string");
          ok = false;
          continue;
        }
        std::string value(m->value.GetString(), m->value.GetStringLength());
        (key == "component" ? n.component : key == "field" ? n.field : n.id) = value;
      } else if (key == "children") {
        n.children = nodes_from_json(m->value, here + ".children", diagnostics);
      } else {
        n.attrs[key] = value_json(m->value);
      }
    }
    if (!ok) continue;
    if (n.component.empty() == n.field.empty()) {
      error(here, "a node has either \"component\" or \"field\"");
      continue;
    }
    out.push_back(std::move(n));
  }
  return out;
}

struct Place {
  Arch* siblings = nullptr;
  size_t index = 0;
};

Place find(Arch& arch, const Target& target) {
  for (size_t i = 0; i < arch.size(); ++i) {
    const Node& n = arch[i];
    if ((!target.field.empty() && n.field == target.field) ||
        (!target.id.empty() && n.id == target.id))
      return {&arch, i};
    if (Place p = find(arch[i].children, target); p.siblings) return p;
  }
  return {};
}

}  // namespace

const std::vector<std::string_view>& builtin_components() {
  static const std::vector<std::string_view> kBuiltins = {"field",  "group",     "notebook", "page",
                                                          "button", "separator", "label"};
  return kBuiltins;
}

Arch arch_from_yaml(YamlReader& r, const YAML::Node& list, std::string_view what) {
  Arch out;
  if (!list.IsDefined() || list.IsNull()) return out;
  if (!list.IsSequence()) {
    r.error(list,
            std::string(what) + " must be a list of nodes, got " + std::string(yaml_kind(list)));
    return out;
  }
  for (const auto& item : list) {
    if (!item.IsMap()) {
      r.error(item, "a node must be a map with `component:` or `field:`, got " +
                        std::string(yaml_kind(item)));
      continue;
    }
    Node n;
    n.location = r.at(item);
    std::set<std::string> seen;
    bool ok = true;
    for (auto it = item.begin(); it != item.end(); ++it) {
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!key.IsScalar()) {
        r.error(key, "keys of a node must be plain names");
        ok = false;
        continue;
      }
      const std::string& name = key.Scalar();
      if (!seen.insert(name).second) {
        r.error(key, "duplicate key \"" + name + "\" in a node",
                "keep one \"" + name + "\"; YAML would silently use only one of them");
        ok = false;
        continue;
      }
      if (name == "children") {
        n.children = arch_from_yaml(r, value, "children");
      } else if (is_structural(name)) {
        if (!value.IsScalar()) {
          r.error(value, "\"" + name + "\" must be a name, got " + std::string(yaml_kind(value)));
          ok = false;
          continue;
        }
        if (!modules::is_valid_name(value.Scalar())) {
          r.error(value, "bad " + name + " name \"" + value.Scalar() + "\"",
                  "names are lowercase letters, digits and _, starting with a letter");
          ok = false;
          continue;
        }
        (name == "component" ? n.component : name == "field" ? n.field : n.id) = value.Scalar();
      } else {
        n.attrs[name] = yaml_to_json(value);
      }
    }
    if (!ok) continue;
    if (n.component.empty() == n.field.empty()) {
      r.error(item, n.field.empty() ? "a node needs `component:` or `field:`"
                                    : "a node has either `component:` or `field:`, not both");
      continue;
    }
    out.push_back(std::move(n));
  }
  return out;
}

Arch arch_from_json(std::string_view json, Diagnostics& diagnostics) {
  rapidjson::Document doc;
  if (auto r = json::try_parse(doc, json, json::limits().depth); !r.ok) {
    diagnostics.error(SourceLocation{"arch", 0, 0}, "invalid JSON: " + r.message);
    return {};
  }
  return nodes_from_json(doc, "arch", diagnostics);
}

Arch arch_from_json(const rapidjson::Value& list, Diagnostics& diagnostics) {
  return nodes_from_json(list, "arch", diagnostics);
}

std::string arch_json(const Arch& arch) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  write_nodes(w, arch);
  return buffer.GetString();
}

std::string arch_hash(const Arch& arch) {
  return fingerprint(arch_json(arch));
}

std::string fingerprint(std::string_view text) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text)
    h = (h ^ c) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

namespace {

// A form button (docs/views.md, "Buttons"): `set` and `when` name fields of the entity, `route`
// is "METHOD /path", and a button does one thing.
void validate_button(const Node& n, const schema::Entity& entity, Diagnostics& diagnostics) {
  auto attr = [&](std::string_view name) -> const std::string* {
    auto it = n.attrs.find(name);
    return it == n.attrs.end() ? nullptr : &it->second;
  };
  auto field_keys = [&](std::string_view name) {
    const std::string* text = attr(name);
    if (!text) return;
    rapidjson::Document d;
    if (!json::try_parse(d, *text, json::limits().depth).ok || !d.IsObject() || d.ObjectEmpty()) {
      diagnostics.error(n.location, "button " + std::string(name) + " must be a map of fields",
                        "write `" + std::string(name) + ": {state: confirmed}`");
      return;
    }
    for (auto m = d.MemberBegin(); m != d.MemberEnd(); ++m) {
      std::string field(m->name.GetString(), m->name.GetStringLength());
      if (field != "id" && !query::find_field(entity, field))
        diagnostics.error(n.location, "button " + std::string(name) + " names unknown field \"" +
                                          field + "\" of entity \"" + entity.name + "\"");
    }
  };
  field_keys("set");
  field_keys("when");
  if (const std::string* route = attr("route")) {
    rapidjson::Document d;
    bool ok = json::try_parse(d, *route, 2).ok && d.IsString();
    std::string_view text = ok ? std::string_view(d.GetString(), d.GetStringLength()) : "";
    auto space = text.find(' ');
    std::string_view method = space == std::string_view::npos ? "" : text.substr(0, space);
    std::string_view path = space == std::string_view::npos ? text : text.substr(space + 1);
    static constexpr std::string_view kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    if (!ok || path.empty() || path.front() != '/' ||
        path.find_first_of(" \t") != std::string_view::npos ||
        (!method.empty() &&
         std::find(std::begin(kMethods), std::end(kMethods), method) == std::end(kMethods)))
      diagnostics.error(n.location, "button route must be \"METHOD /path\"",
                        "a route under /api/v1, e.g. \"POST /x/sales/orders/{id}/confirm\"");
  }
  if (attr("set") && attr("route"))
    diagnostics.error(n.location, "a button either sets values or calls a route, not both");
}

}  // namespace

void validate_arch(const Arch& arch, const schema::Entity& entity, const schema::Registry& registry,
                   const std::function<bool(const std::string&)>& component_known,
                   Diagnostics& diagnostics) {
  for (const auto& n : arch) {
    const schema::Entity* children_entity = &entity;
    if (!n.field.empty()) {
      const schema::Field* f = query::find_field(entity, n.field);
      if (!f) {
        std::vector<std::string_view> names;
        for (const auto& candidate : entity.fields)
          names.push_back(candidate.name);
        std::string hint = "the fields of \"" + entity.name + "\" are declared in its entity file";
        if (auto near = closest_match(n.field, names))
          hint = "did you mean \"" + std::string(*near) + "\"?";
        diagnostics.error(n.location,
                          "unknown field \"" + n.field + "\" of entity \"" + entity.name + "\"",
                          hint);
        continue;
      }
      if (f->secret)
        diagnostics.error(n.location, "field \"" + entity.name + "." + n.field +
                                          "\" is secret and cannot appear in a view");
      children_entity = f->target.empty() ? nullptr : registry.entity(f->target);
      if (!children_entity && !n.children.empty()) {
        diagnostics.error(n.location, "field \"" + n.field +
                                          "\" is not a relation: it has no "
                                          "children");
        continue;
      }
    } else {
      const auto& builtins = builtin_components();
      bool builtin = std::find(builtins.begin(), builtins.end(), n.component) != builtins.end();
      if (n.component == "field") {
        diagnostics.error(n.location, "a field node is written `{field: <name>}`");
        continue;
      }
      if (!builtin && !component_known(n.component)) {
        std::vector<std::string_view> names(builtins.begin(), builtins.end());
        std::string hint =
            "declare it under `components:` in this module or a module it depends on";
        if (auto near = closest_match(n.component, names))
          hint = "did you mean \"" + std::string(*near) + "\"?";
        diagnostics.error(n.location, "unknown component \"" + n.component + "\"", hint);
      }
      if (n.component == "button") validate_button(n, entity, diagnostics);
      if (n.component == "notebook")
        for (const auto& child : n.children)
          if (child.component != "page")
            diagnostics.error(child.location, "a notebook holds only pages",
                              "wrap it in `{component: page, label: ..., children: [...]}`");
    }
    if (children_entity)
      validate_arch(n.children, *children_entity, registry, component_known, diagnostics);
  }
}

void check_ids(const Arch& arch, Diagnostics& diagnostics) {
  std::map<std::string, SourceLocation> ids;
  std::function<void(const Arch&)> walk = [&](const Arch& nodes) {
    for (const auto& n : nodes) {
      if (!n.id.empty()) {
        auto [it, fresh] = ids.emplace(n.id, n.location);
        if (!fresh)
          diagnostics.error(n.location, "node id \"" + n.id + "\" is used twice in this view",
                            "the other one is at " + it->second.to_string());
      }
      walk(n.children);
    }
  };
  walk(arch);
}

void filter_fields(Arch& arch, const schema::Entity& entity, const schema::Registry& registry,
                   const std::function<bool(const schema::Entity&, std::string_view)>& visible) {
  for (auto it = arch.begin(); it != arch.end();) {
    Node& n = *it;
    if (!n.field.empty() && !visible(entity, n.field)) {
      it = arch.erase(it);
      continue;
    }
    const schema::Entity* inner = &entity;
    if (!n.field.empty()) {
      const schema::Field* f = query::find_field(entity, n.field);
      inner = f && !f->target.empty() ? registry.entity(f->target) : nullptr;
    }
    bool had_children = !n.children.empty();
    if (inner) filter_fields(n.children, *inner, registry, visible);
    if (had_children && n.children.empty() && n.field.empty()) {
      it = arch.erase(it);
      continue;
    }
    ++it;
  }
}

std::optional<PatchOp> parse_patch_op(std::string_view name) {
  static const std::pair<std::string_view, PatchOp> kOps[] = {
      {"before", PatchOp::kBefore},   {"after", PatchOp::kAfter},   {"inside", PatchOp::kInside},
      {"replace", PatchOp::kReplace}, {"remove", PatchOp::kRemove}, {"attrs", PatchOp::kAttrs}};
  for (const auto& [n, op] : kOps)
    if (n == name) return op;
  return std::nullopt;
}

std::string_view to_string(PatchOp op) {
  switch (op) {
    case PatchOp::kBefore:
      return "before";
    case PatchOp::kAfter:
      return "after";
    case PatchOp::kInside:
      return "inside";
    case PatchOp::kReplace:
      return "replace";
    case PatchOp::kRemove:
      return "remove";
    case PatchOp::kAttrs:
      return "attrs";
  }
  return "attrs";
}

std::string Target::describe() const {
  return field.empty() ? "{id: " + id + "}" : "{field: " + field + "}";
}

bool apply_patch(Arch& arch, const PatchStep& step) {
  Place p = find(arch, step.target);
  if (!p.siblings) return false;
  Arch& siblings = *p.siblings;
  switch (step.op) {
    case PatchOp::kBefore:
      siblings.insert(siblings.begin() + static_cast<std::ptrdiff_t>(p.index), step.nodes.begin(),
                      step.nodes.end());
      break;
    case PatchOp::kAfter:
      siblings.insert(siblings.begin() + static_cast<std::ptrdiff_t>(p.index + 1),
                      step.nodes.begin(), step.nodes.end());
      break;
    case PatchOp::kInside: {
      Arch& children = siblings[p.index].children;
      children.insert(children.end(), step.nodes.begin(), step.nodes.end());
      break;
    }
    case PatchOp::kReplace:
      siblings.erase(siblings.begin() + static_cast<std::ptrdiff_t>(p.index));
      siblings.insert(siblings.begin() + static_cast<std::ptrdiff_t>(p.index), step.nodes.begin(),
                      step.nodes.end());
      break;
    case PatchOp::kRemove:
      siblings.erase(siblings.begin() + static_cast<std::ptrdiff_t>(p.index));
      break;
    case PatchOp::kAttrs: {
      Node& n = siblings[p.index];
      for (const auto& [key, value] : step.set) {
        if (value)
          n.attrs[key] = *value;
        else
          n.attrs.erase(key);
      }
      break;
    }
  }
  return true;
}

}  // namespace keel::ui
