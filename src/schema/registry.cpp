#include "schema/registry.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

#include "app/yaml_reader.hpp"
#include "modules/manifest.hpp"

namespace keel::schema {
namespace fs = std::filesystem;

namespace {

// A field as written: every attribute optional, so that `extend:` can change some of them.
struct FieldSpec {
  std::string name;
  SourceLocation location;
  std::optional<FieldType> type;
  std::optional<std::string> label, help, target, inverse, default_value;
  std::optional<bool> required, unique, index, readonly, computed, store;
  std::optional<int> max_length, precision, scale;
  std::optional<std::vector<std::string>> options, roles;
  std::optional<OnDelete> on_delete;
  std::map<std::string, SourceLocation> where;  // attribute -> where its value was written
};

struct EntitySpec {
  std::string name;
  SourceLocation location;
  std::optional<std::string> label, title, order, table;
  std::vector<FieldSpec> fields;
};

const std::vector<std::string_view> kFieldKeys = {
    "type",     "label",    "help",    "required",   "unique",    "index",
    "readonly", "computed", "store",   "max_length", "precision", "scale",
    "options",  "target",   "inverse", "on_delete",  "default",   "roles"};
const std::vector<std::string_view> kEntityKeys = {"label", "title", "order", "table", "fields"};
const std::vector<std::string_view> kFileKeys = {"entities", "extend"};
const char* kNameHint = "names are lowercase letters, digits and _, starting with a letter";

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
    out.emplace_back(it->first, it->second);
  }
  return out;
}

FieldSpec parse_field(YamlReader& r, const YAML::Node& key, const YAML::Node& node) {
  FieldSpec f;
  f.name = key.Scalar();
  f.location = r.at(key);
  if (!r.check_map(node, kFieldKeys, "field \"" + f.name + "\"")) return f;
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

EntitySpec parse_entity(YamlReader& r, const YAML::Node& key, const YAML::Node& node,
                        bool extension) {
  EntitySpec e;
  e.name = key.Scalar();
  e.location = r.at(key);
  std::string what = (extension ? "extension of \"" : "entity \"") + e.name + "\"";
  if (!r.check_map(node, kEntityKeys, what)) return e;
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

void apply(const FieldSpec& spec, Field& f) {
  if (spec.type) f.type = *spec.type;
  if (spec.label) f.label = *spec.label;
  if (spec.help) f.help = *spec.help;
  if (spec.target) f.target = *spec.target;
  if (spec.inverse) f.inverse = *spec.inverse;
  if (spec.default_value) f.default_value = spec.default_value;
  if (spec.required) f.required = *spec.required;
  if (spec.unique) f.unique = *spec.unique;
  if (spec.index) f.index = *spec.index;
  if (spec.readonly) f.readonly = *spec.readonly;
  if (spec.computed) f.computed = *spec.computed;
  if (spec.store) f.store = *spec.store;
  if (spec.max_length) f.max_length = spec.max_length;
  if (spec.precision) f.precision = *spec.precision;
  if (spec.scale) f.scale = *spec.scale;
  if (spec.options) f.options = *spec.options;
  if (spec.roles) f.roles = *spec.roles;
  if (spec.on_delete) f.on_delete = *spec.on_delete;
}

// Which attributes make sense for which types.
bool attribute_allowed(std::string_view attr, FieldType t) {
  bool relational =
      t == FieldType::kMany2one || t == FieldType::kOne2many || t == FieldType::kMany2many;
  if (attr == "max_length") return t == FieldType::kString;
  if (attr == "precision" || attr == "scale") return t == FieldType::kDecimal;
  if (attr == "options") return t == FieldType::kSelection;
  if (attr == "target") return relational;
  if (attr == "inverse") return t == FieldType::kOne2many;
  if (attr == "on_delete") return t == FieldType::kMany2one;
  if (attr == "unique" || attr == "default")
    return !(t == FieldType::kOne2many || t == FieldType::kMany2many);
  return true;
}

bool is_integer_text(const std::string& s, bool wide) {
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return false;
  return wide || (v >= -2147483648LL && v <= 2147483647LL);
}

// Checks a default against the field's type; returns the problem, or "" when it is fine.
std::string check_default(const Field& f, const std::string& v) {
  static const std::regex kDecimal(R"(^[-+]?(\d+(\.\d*)?|\.\d+)$)");
  static const std::regex kFloat(R"(^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$)");
  static const std::regex kDate(R"(^\d{4}-\d{2}-\d{2}$)");
  static const std::regex kDatetime(
      R"(^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?$)");
  static const std::regex kEmail(R"(^[^@\s]+@[^@\s]+\.[^@\s]+$)");
  switch (f.type) {
    case FieldType::kString:
      if (f.max_length && static_cast<int>(v.size()) > *f.max_length)
        return "is longer than max_length " + std::to_string(*f.max_length);
      return "";
    case FieldType::kInteger:
    case FieldType::kMany2one:
      return is_integer_text(v, f.type == FieldType::kMany2one) ? "" : "is not an integer";
    case FieldType::kBigint:
      return is_integer_text(v, true) ? "" : "is not an integer";
    case FieldType::kDecimal:
      if (!std::regex_match(v, kDecimal)) return "is not a decimal number";
      if (f.scale > 0 || f.precision > 0) {
        auto dot = v.find('.');
        int decimals = dot == std::string::npos ? 0 : static_cast<int>(v.size() - dot - 1);
        if (decimals > f.scale)
          return "has more than " + std::to_string(f.scale) + " decimals (scale)";
      }
      return "";
    case FieldType::kFloat:
      return std::regex_match(v, kFloat) ? "" : "is not a number";
    case FieldType::kBoolean:
      return (v == "true" || v == "false") ? "" : "is not true or false";
    case FieldType::kDate:
      return (v == "today" || std::regex_match(v, kDate)) ? "" : "is not today or YYYY-MM-DD";
    case FieldType::kDatetime:
      return (v == "now" || std::regex_match(v, kDatetime)) ? "" : "is not now or an ISO 8601 time";
    case FieldType::kSelection:
      return std::find(f.options.begin(), f.options.end(), v) != f.options.end()
                 ? ""
                 : "is not one of the options";
    case FieldType::kEmail:
      return std::regex_match(v, kEmail) ? "" : "is not an email address";
    case FieldType::kBinary:
      return "binary fields take no default";
    case FieldType::kJson:
    case FieldType::kText:
    case FieldType::kUrl:
    case FieldType::kOne2many:
    case FieldType::kMany2many:
      return "";
  }
  return "";
}

class Builder {
 public:
  explicit Builder(Diagnostics& d) : diagnostics_(d) {}

  void add_module(const modules::Manifest& m, const std::set<std::string>& deps) {
    for (const auto& file : modules::expand_patterns(m, m.entities, diagnostics_)) {
      auto text = read_file(file);
      if (!text) {
        diagnostics_.error({file}, "cannot read the entity file");
        continue;
      }
      YamlReader r(file, diagnostics_);
      auto doc = r.parse(*text);
      if (!doc || doc->IsNull()) continue;
      if (!r.check_map(*doc, kFileKeys, "entity file")) continue;
      for (auto& [key, node] : named_entries(r, (*doc)["entities"], "entities"))
        declare(m, parse_entity(r, key, node, false));
      for (auto& [key, node] : named_entries(r, (*doc)["extend"], "extend"))
        extend(m, deps, parse_entity(r, key, node, true));
    }
  }

  std::vector<Entity> finish() {
    std::vector<Entity> out;
    for (auto& [name, e] : entities_)
      out.push_back(std::move(e));
    for (const auto& e : out)
      validate(e, out);
    std::map<std::string, std::string> tables;
    for (const auto& e : out) {
      auto [it, fresh] = tables.emplace(e.table, e.name);
      if (!fresh)
        diagnostics_.error(e.location,
                           "entities \"" + it->second + "\" and \"" + e.name +
                               "\" both use the table \"" + e.table + "\"",
                           "set a different `table:` on one of them");
    }
    return out;
  }

 private:
  void declare(const modules::Manifest& m, const EntitySpec& spec) {
    if (auto it = entities_.find(spec.name); it != entities_.end()) {
      diagnostics_.error(spec.location,
                         "entity \"" + spec.name + "\" is already declared by module \"" +
                             it->second.module + "\" (" + it->second.location.to_string() + ")",
                         "to add fields to it, use `extend:` in a module that depends on \"" +
                             it->second.module + "\"");
      return;
    }
    Entity e;
    e.name = spec.name;
    e.module = m.name;
    e.location = spec.location;
    e.table = spec.table.value_or(spec.name);
    e.label = spec.label.value_or(spec.name);
    e.order = spec.order.value_or("");
    for (const auto& fs : spec.fields)
      add_field(m, e, fs);
    e.title = spec.title.value_or(e.field("name") ? "name" : "");
    entities_.emplace(e.name, std::move(e));
  }

  void extend(const modules::Manifest& m, const std::set<std::string>& deps,
              const EntitySpec& spec) {
    auto it = entities_.find(spec.name);
    if (it == entities_.end() || !deps.count(it->second.module)) {
      std::string why = it == entities_.end()
                            ? "no module before it declares \"" + spec.name + "\""
                            : "\"" + spec.name + "\" belongs to \"" + it->second.module +
                                  "\", which \"" + m.name + "\" does not depend on";
      diagnostics_.error(
          spec.location,
          "module \"" + m.name + "\" extends unknown entity \"" + spec.name + "\": " + why,
          "a module may only extend entities of the modules it depends on; add "
          "the declaring module to `depends`");
      return;
    }
    Entity& e = it->second;
    e.extended_by.push_back(m.name);
    if (spec.label) e.label = *spec.label;
    if (spec.title) e.title = *spec.title;
    if (spec.order) e.order = *spec.order;
    for (const auto& fs : spec.fields) {
      Field* existing = e.field(fs.name);
      if (!existing) {
        add_field(m, e, fs);
        continue;
      }
      if (fs.type && *fs.type != existing->type) {
        diagnostics_.error(fs.where.at("type"),
                           "cannot change the type of \"" + e.name + "." + fs.name + "\" (" +
                               std::string(to_string(existing->type)) + ", declared by \"" +
                               existing->module + "\")",
                           "add a new field instead, with a migration that copies the data");
        continue;
      }
      apply(fs, *existing);
      existing->changed_by.push_back(m.name);
      check_attributes(fs, *existing);
    }
  }

  void add_field(const modules::Manifest& m, Entity& e, const FieldSpec& spec) {
    auto& reserved = reserved_field_names();
    if (std::find(reserved.begin(), reserved.end(), spec.name) != reserved.end()) {
      diagnostics_.error(spec.location,
                         "\"" + spec.name +
                             "\" is a reserved field name (every entity has id, "
                             "created_at, updated_at, created_by, updated_by)",
                         "choose another name");
      return;
    }
    if (!spec.type) {
      // A bad type was already reported; a missing one is reported here.
      if (!spec.where.count("type"))
        diagnostics_.error(spec.location, "field \"" + e.name + "." + spec.name + "\" has no type",
                           "add `type: string` (or another field type)");
      return;
    }
    Field f;
    f.name = spec.name;
    f.module = m.name;
    f.location = spec.location;
    apply(spec, f);
    if (f.label.empty()) f.label = f.name;
    check_attributes(spec, f);
    e.fields.push_back(std::move(f));
  }

  void check_attributes(const FieldSpec& spec, const Field& f) {
    for (const auto& [attr, where] : spec.where) {
      if (!attribute_allowed(attr, f.type))
        diagnostics_.error(where,
                           "\"" + attr + "\" does not apply to a " +
                               std::string(to_string(f.type)) + " field (\"" + f.name + "\")",
                           "remove it");
    }
    if (f.type == FieldType::kDecimal && f.precision > 0 && f.scale > f.precision)
      diagnostics_.error(spec.where.count("scale") ? spec.where.at("scale") : f.location,
                         "scale " + std::to_string(f.scale) + " exceeds precision " +
                             std::to_string(f.precision) + " in \"" + f.name + "\"");
    if (f.store && !f.computed)
      diagnostics_.error(spec.where.at("store"), "\"store\" applies only to computed fields");
  }

  void validate(const Entity& e, const std::vector<Entity>& all) {
    auto find = [&](const std::string& name) -> const Entity* {
      for (const auto& x : all)
        if (x.name == name) return &x;
      return nullptr;
    };
    for (const auto& f : e.fields) {
      bool relational = f.type == FieldType::kMany2one || f.type == FieldType::kOne2many ||
                        f.type == FieldType::kMany2many;
      if (f.type == FieldType::kSelection && f.options.empty())
        diagnostics_.error(f.location, "selection \"" + e.name + "." + f.name + "\" has no options",
                           "add `options: [a, b, c]`");
      if (relational && f.target.empty()) {
        diagnostics_.error(f.location,
                           "relation \"" + e.name + "." + f.name + "\" has no target entity",
                           "add `target: <entity>`");
      } else if (relational && !find(f.target)) {
        std::vector<std::string_view> names;
        for (const auto& x : all)
          names.push_back(x.name);
        std::string hint = "declare it, or depend on the module that does";
        if (auto near = closest_match(f.target, names))
          hint = "did you mean \"" + std::string(*near) + "\"?";
        diagnostics_.error(
            f.location,
            "\"" + e.name + "." + f.name + "\" targets unknown entity \"" + f.target + "\"", hint);
      } else if (f.type == FieldType::kOne2many) {
        const Entity* target = find(f.target);
        const Field* inv = f.inverse.empty() ? nullptr : target->field(f.inverse);
        if (f.inverse.empty())
          diagnostics_.error(f.location, "one2many \"" + e.name + "." + f.name +
                                             "\" needs `inverse:` (the many2one on \"" + f.target +
                                             "\" that points back)");
        else if (!inv || inv->type != FieldType::kMany2one || inv->target != e.name)
          diagnostics_.error(f.location,
                             "the inverse of one2many \"" + e.name + "." + f.name +
                                 "\" must be a "
                                 "many2one \"" +
                                 f.target + "." + f.inverse + "\" targeting \"" + e.name + "\"",
                             inv ? "\"" + f.target + "." + f.inverse + "\" is a " +
                                       std::string(to_string(inv->type)) +
                                       (inv->target.empty() ? "" : " to \"" + inv->target + "\"")
                                 : "declare `" + f.inverse + ": {type: many2one, target: " +
                                       e.name + "}` on \"" + f.target + "\"");
      }
      if (f.type == FieldType::kMany2one && f.on_delete == OnDelete::kSetNull && f.required)
        diagnostics_.error(
            f.location, "\"" + e.name + "." + f.name + "\" is required but on_delete is set_null",
            "use restrict or cascade, or make it optional");
      if (f.default_value) {
        std::string problem = check_default(f, *f.default_value);
        if (!problem.empty())
          diagnostics_.error(f.location, "default \"" + *f.default_value + "\" of \"" + e.name +
                                             "." + f.name + "\" " + problem);
      }
    }
    if (!e.title.empty() && !e.field(e.title))
      diagnostics_.error(
          e.location, "title \"" + e.title + "\" of \"" + e.name + "\" is not one of its fields");
    // order: "field [asc|desc], ..."
    std::stringstream order(e.order);
    std::string part;
    while (std::getline(order, part, ',')) {
      std::stringstream words(part);
      std::string name, dir, extra;
      words >> name >> dir >> extra;
      if (name.empty()) continue;
      auto& reserved = reserved_field_names();
      bool known =
          e.field(name) || std::find(reserved.begin(), reserved.end(), name) != reserved.end();
      if (!known || (!dir.empty() && dir != "asc" && dir != "desc") || !extra.empty())
        diagnostics_.error(e.location, "bad order \"" + e.order + "\" of \"" + e.name + "\"",
                           "write `field [asc|desc], ...` with fields of the entity");
    }
  }

  Diagnostics& diagnostics_;
  std::map<std::string, Entity> entities_;
};

}  // namespace

std::shared_ptr<const Registry> Registry::build(
    const std::vector<const modules::Manifest*>& modules, Diagnostics& diagnostics) {
  // Transitive dependencies of each module, among the given ones.
  std::map<std::string, std::set<std::string>> deps;
  for (const auto* m : modules) {
    auto& mine = deps[m->name];
    for (const auto& d : m->depends) {
      mine.insert(d.name);
      auto it = deps.find(d.name);
      if (it != deps.end()) mine.insert(it->second.begin(), it->second.end());
    }
  }
  Builder builder(diagnostics);
  for (const auto* m : modules)
    builder.add_module(*m, deps[m->name]);
  auto registry = std::make_shared<Registry>();
  registry->entities_ = builder.finish();
  for (size_t i = 0; i < registry->entities_.size(); ++i)
    registry->index_.emplace(registry->entities_[i].name, i);
  for (const auto* m : modules)
    registry->modules_.push_back(m->name);
  return registry;
}

const Entity* Registry::entity(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entities_[it->second];
}

}  // namespace keel::schema
