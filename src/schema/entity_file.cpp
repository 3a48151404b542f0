// Entities files read into specs (schema/entity_file.hpp): names, attributes and their values
// checked as written, each problem at its file:line:col.

#include "schema/entity_file.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "modules/manifest.hpp"

namespace keel::schema::detail {

namespace fs = std::filesystem;

const std::vector<std::string_view> kFieldKeys = {
    "type",     "label",     "help",       "required",  "unique", "index",   "readonly",
    "computed", "store",     "max_length", "precision", "scale",  "options", "target",
    "inverse",  "on_delete", "default",    "roles",     "secret", "depends"};

namespace {

const std::vector<std::string_view> kEntityKeys = {"label", "title", "order", "table", "fields"};
const char* kNameHint = "names are lowercase letters, digits and _, starting with a letter";
// PostgreSQL silently truncates longer identifiers.
constexpr size_t kMaxNameLength = 63;

}  // namespace

const std::vector<std::string_view> kFileKeys = {"entities", "extend"};

// Entries of a map whose keys are names (entities, fields), with duplicate keys reported.
std::vector<std::pair<YAML::Node, YAML::Node>> named_entries(YamlReader& r, const YAML::Node& map,
                                                             const std::string& what) {
  std::vector<std::pair<YAML::Node, YAML::Node>> out;
  if (!map.IsDefined() || map.IsNull()) return out;
  if (!map.IsMap()) {
    r.error(map, what + " must be a map of names, got " + std::string(yaml_kind(map)));
    return out;
  }
  std::set<std::string> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (!it->first.IsScalar()) {
      r.error(it->first, "keys of " + what + " must be names");
      continue;
    }
    const std::string& name = it->first.Scalar();
    if (!seen.insert(name).second) {
      r.error(it->first, "\"" + name + "\" is declared twice in " + what);
      continue;
    }
    if (!modules::is_valid_name(name)) {
      r.error(it->first, "bad name \"" + name + "\" in " + what, kNameHint);
      continue;
    }
    if (name.size() > kMaxNameLength) {
      r.error(it->first,
              "name \"" + name + "\" in " + what + " is longer than " +
                  std::to_string(kMaxNameLength) + " characters",
              "PostgreSQL would truncate it; choose a shorter name");
      continue;
    }
    out.emplace_back(it->first, it->second);
  }
  return out;
}

namespace {

FieldSpec parse_field(YamlReader& r, const YAML::Node& key, const YAML::Node& node) {
  FieldSpec f;
  f.name = key.Scalar();
  f.location = r.at(key);
  if (!r.check_map(node, kFieldKeys, "field \"" + f.name + "\"")) {
    f.valid = false;
    return f;
  }
  for (auto it = node.begin(); it != node.end(); ++it)
    if (it->first.IsScalar()) f.where[it->first.Scalar()] = r.at(it->second);
  if (auto t = r.string(node, "type")) {
    f.type = parse_field_type(t->value);
    if (!f.type) {
      std::string hint = "field types:";
      for (auto n : field_type_names())
        hint += " " + std::string(n);
      if (auto near = closest_match(t->value, field_type_names()))
        hint = "did you mean \"" + std::string(*near) + "\"?";
      r.diagnostics().error(t->location, "unknown field type \"" + t->value + "\"", hint);
    }
  }
  auto str = [&](const char* k, std::optional<std::string>& out) {
    if (auto s = r.string(node, k)) out = s->value;
  };
  str("label", f.label);
  str("help", f.help);
  str("target", f.target);
  str("inverse", f.inverse);
  if (YAML::Node d = node["default"]; d.IsDefined() && !d.IsNull()) {
    if (d.IsScalar())
      f.default_value = d.Scalar();
    else
      r.error(d, "\"default\" must be a single value, got " + std::string(yaml_kind(d)));
  }
  for (auto [k, out] : {std::pair{"required", &f.required},
                        {"unique", &f.unique},
                        {"index", &f.index},
                        {"readonly", &f.readonly},
                        {"secret", &f.secret},
                        {"computed", &f.computed},
                        {"store", &f.store}})
    *out = r.boolean(node, k);
  for (auto [k, out] :
       {std::pair{"max_length", &f.max_length}, {"precision", &f.precision}, {"scale", &f.scale}}) {
    if (auto v = r.integer(node, k)) {
      long long low = std::string_view(k) == "scale" ? 0 : 1;
      long long high = std::string_view(k) == "max_length" ? 10485760 : 1000;
      if (*v < low || *v > high)
        r.error(node[k], "\"" + std::string(k) + "\" must be between " + std::to_string(low) +
                             " and " + std::to_string(high) + ", got " + std::to_string(*v));
      else
        *out = static_cast<int>(*v);
    }
  }
  for (auto [k, out] : {std::pair{"options", &f.options}, {"roles", &f.roles}}) {
    if (auto list = r.string_list(node, k)) {
      std::vector<std::string> values;
      for (auto& item : *list)
        values.push_back(item.value);
      *out = std::move(values);
    }
  }
  f.depends = r.string_list(node, "depends");
  if (auto od = r.string(node, "on_delete")) {
    if (od->value == "restrict")
      f.on_delete = OnDelete::kRestrict;
    else if (od->value == "cascade")
      f.on_delete = OnDelete::kCascade;
    else if (od->value == "set_null")
      f.on_delete = OnDelete::kSetNull;
    else
      r.diagnostics().error(od->location, "unknown on_delete \"" + od->value + "\"",
                            "use restrict (default), cascade or set_null");
  }
  return f;
}

}  // namespace

EntitySpec parse_entity(YamlReader& r, const YAML::Node& key, const YAML::Node& node,
                        bool extension) {
  EntitySpec e;
  e.name = key.Scalar();
  e.location = r.at(key);
  std::string what = (extension ? "extension of \"" : "entity \"") + e.name + "\"";
  if (!r.check_map(node, kEntityKeys, what)) return e;
  for (auto it = node.begin(); it != node.end(); ++it)
    if (it->first.IsScalar()) e.where[it->first.Scalar()] = r.at(it->second);
  auto str = [&](const char* k, std::optional<std::string>& out) {
    if (auto s = r.string(node, k)) out = s->value;
  };
  str("label", e.label);
  str("title", e.title);
  str("order", e.order);
  str("table", e.table);
  if (e.table && extension)
    r.error(node["table"], "an extension cannot change the table of \"" + e.name + "\"");
  else if (e.table && !modules::is_valid_name(*e.table))
    r.error(node["table"], "bad table name \"" + *e.table + "\"", kNameHint);
  else if (e.table && e.table->size() > kMaxNameLength)
    r.error(node["table"],
            "table name \"" + *e.table + "\" is longer than " + std::to_string(kMaxNameLength) +
                " characters",
            "PostgreSQL would truncate it; choose a shorter name");
  for (auto& [fkey, fnode] : named_entries(r, node["fields"], "the fields of \"" + e.name + "\""))
    e.fields.push_back(parse_field(r, fkey, fnode));
  return e;
}

std::optional<std::string> read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace keel::schema::detail
