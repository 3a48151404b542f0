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
  std::optional<bool> required, unique, index, readonly, computed, store, secret;
  std::optional<int> max_length, precision, scale;
  std::optional<std::vector<std::string>> options, roles;
  std::optional<std::vector<LocatedString>> depends;
  std::optional<OnDelete> on_delete;
  std::map<std::string, SourceLocation> where;  // attribute -> where its value was written
  bool valid = true;  // false when the field is not even a map (already reported)
};

struct EntitySpec {
  std::string name;
  SourceLocation location;
  std::optional<std::string> label, title, order, table;
  std::map<std::string, SourceLocation> where;  // attribute -> where its value was written
  std::vector<FieldSpec> fields;
};

const std::vector<std::string_view> kFieldKeys = {
    "type",     "label",     "help",       "required",  "unique", "index",   "readonly",
    "computed", "store",     "max_length", "precision", "scale",  "options", "target",
    "inverse",  "on_delete", "default",    "roles",     "secret", "depends"};
const std::vector<std::string_view> kEntityKeys = {"label", "title", "order", "table", "fields"};
const std::vector<std::string_view> kFileKeys = {"entities", "extend"};
const char* kNameHint = "names are lowercase letters, digits and _, starting with a letter";
// PostgreSQL silently truncates longer identifiers.
constexpr size_t kMaxNameLength = 63;

bool is_relational(FieldType t) {
  return t == FieldType::kMany2one || t == FieldType::kOne2many || t == FieldType::kMany2many;
}

// Where each attribute of each field got its current value: entity -> field -> attribute.
using FieldPlaces = std::map<std::string, std::map<std::string, SourceLocation>>;

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

// Copies the attributes `spec` writes onto `f`; `module` becomes their writer (Field::set_by).
void apply(const FieldSpec& spec, const std::string& module, Field& f) {
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
  if (spec.secret) f.secret = *spec.secret;
  if (spec.computed) f.computed = *spec.computed;
  if (spec.store) f.store = *spec.store;
  if (spec.depends) {
    f.depends.clear();
    f.depends_at.clear();
    for (const auto& d : *spec.depends) {
      f.depends.push_back(d.value);
      f.depends_at.push_back(d.location);
    }
  }
  if (spec.max_length) f.max_length = spec.max_length;
  if (spec.precision) f.precision = *spec.precision;
  if (spec.scale) f.scale = *spec.scale;
  if (spec.options) f.options = *spec.options;
  if (spec.roles) f.roles = *spec.roles;
  if (spec.on_delete) f.on_delete = *spec.on_delete;
  for (const auto& [attr, where] : spec.where)
    if (std::find(kFieldKeys.begin(), kFieldKeys.end(), attr) != kFieldKeys.end())
      f.set_by[attr] = module;
}

// Which attributes make sense for which types.
bool attribute_allowed(std::string_view attr, FieldType t) {
  bool x2many = t == FieldType::kOne2many || t == FieldType::kMany2many;
  if (attr == "max_length") return t == FieldType::kString;
  if (attr == "precision" || attr == "scale") return t == FieldType::kDecimal;
  if (attr == "options") return t == FieldType::kSelection;
  if (attr == "target") return is_relational(t);
  if (attr == "inverse") return t == FieldType::kOne2many;
  if (attr == "on_delete") return t == FieldType::kMany2one;
  // one2many and many2many have no column to constrain, default or index.
  if (attr == "unique" || attr == "default" || attr == "index") return !x2many;
  return true;
}

bool is_integer_text(const std::string& s, bool wide) {
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return false;
  return wide || (v >= -2147483648LL && v <= 2147483647LL);
}

// Characters of UTF-8 text: varchar(n) counts characters, not bytes.
size_t utf8_length(const std::string& s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

bool is_calendar_date(const std::string& y, const std::string& m, const std::string& d) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int year = std::stoi(y), month = std::stoi(m), day = std::stoi(d);
  if (month < 1 || month > 12 || day < 1) return false;
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= kDays[month - 1] + (month == 2 && leap ? 1 : 0);
}

// Checks a default against the field's type; returns the problem, or "" when it is fine.
std::string check_default(const Field& f, const std::string& v) {
  static const std::regex kDecimal(R"(^[-+]?(\d+(\.\d*)?|\.\d+)$)");
  static const std::regex kFloat(R"(^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$)");
  static const std::regex kDate(R"(^(\d{4})-(\d{2})-(\d{2})$)");
  static const std::regex kDatetime(
      R"(^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(:(\d{2})(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?$)");
  static const std::regex kEmail(R"(^[^@\s]+@[^@\s]+\.[^@\s]+$)");
  std::smatch m;
  switch (f.type) {
    case FieldType::kString:
      if (f.max_length && utf8_length(v) > static_cast<size_t>(*f.max_length))
        return "is longer than max_length " + std::to_string(*f.max_length);
      return "";
    case FieldType::kInteger:
    case FieldType::kMany2one:
      return is_integer_text(v, f.type == FieldType::kMany2one) ? "" : "is not an integer";
    case FieldType::kBigint:
      return is_integer_text(v, true) ? "" : "is not an integer";
    case FieldType::kDecimal: {
      if (!std::regex_match(v, kDecimal)) return "is not a decimal number";
      if (f.precision == 0) return "";  // numeric without limits
      std::string digits = v[0] == '-' || v[0] == '+' ? v.substr(1) : v;
      auto dot = digits.find('.');
      std::string whole = digits.substr(0, dot);
      std::string fraction = dot == std::string::npos ? "" : digits.substr(dot + 1);
      whole.erase(0, std::min(whole.find_first_not_of('0'), whole.size()));
      fraction.erase(fraction.find_last_not_of('0') + 1);  // trailing zeros lose nothing
      if (static_cast<int>(fraction.size()) > f.scale)
        return "has more than " + std::to_string(f.scale) + " decimals (scale)";
      if (static_cast<int>(whole.size()) > f.precision - f.scale)
        return "does not fit numeric(" + std::to_string(f.precision) + "," +
               std::to_string(f.scale) + ")";
      return "";
    }
    case FieldType::kFloat:
      return std::regex_match(v, kFloat) ? "" : "is not a number";
    case FieldType::kBoolean:
      return (v == "true" || v == "True" || v == "TRUE" || v == "false" || v == "False" ||
              v == "FALSE")
                 ? ""
                 : "is not true or false";
    case FieldType::kDate:
      if (v == "today") return "";
      return std::regex_match(v, m, kDate) && is_calendar_date(m[1], m[2], m[3])
                 ? ""
                 : "is not today or a date YYYY-MM-DD";
    case FieldType::kDatetime:
      if (v == "now") return "";
      return std::regex_match(v, m, kDatetime) && is_calendar_date(m[1], m[2], m[3]) &&
                     std::stoi(m[4]) <= 23 && std::stoi(m[5]) <= 59 &&
                     (!m[7].matched || std::stoi(m[7]) <= 59)
                 ? ""
                 : "is not now or an ISO 8601 time";
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

template <typename T>
void add_once(std::vector<T>& list, const T& value) {
  if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(value);
}

class Builder {
 public:
  // `deps`: the transitive dependencies of each module.
  Builder(Diagnostics& d, const std::map<std::string, std::set<std::string>>& deps)
      : diagnostics_(d), deps_(deps) {}

  void add_module(const modules::Manifest& m) {
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
        extend(m, parse_entity(r, key, node, true));
    }
  }

  std::vector<Entity> finish() {
    std::vector<Entity> out;
    for (auto& [name, e] : entities_) {
      // The default title is `name` when the entity has one, whichever module added it.
      if (e.title.empty() && e.field("name")) e.title = "name";
      out.push_back(std::move(e));
    }
    for (const auto& e : out)
      validate(e, out);
    std::map<std::string, std::string> tables;
    for (const auto& e : out) {
      auto [it, fresh] = tables.emplace(e.table, e.name);
      if (!fresh)
        diagnostics_.error(entity_place(e, "table"),
                           "entities \"" + it->second + "\" and \"" + e.name +
                               "\" both use the table \"" + e.table + "\"",
                           "set a different `table:` on one of them");
    }
    return out;
  }

 private:
  const std::set<std::string>& deps_of(const std::string& module) const {
    static const std::set<std::string> kNone;
    auto it = deps_.find(module);
    return it == deps_.end() ? kNone : it->second;
  }

  // Where `attr` of `f` (of entity `e`) got its value; the field itself when unknown.
  SourceLocation place(const Entity& e, const Field& f, const std::string& attr) const {
    if (auto ei = places_.find(e.name); ei != places_.end())
      if (auto fi = ei->second.find(f.name); fi != ei->second.end())
        if (auto ai = fi->second.find(attr); ai != fi->second.end()) return ai->second;
    return f.location;
  }

  SourceLocation entity_place(const Entity& e, const std::string& attr) const {
    if (auto ei = entity_places_.find(e.name); ei != entity_places_.end())
      if (auto ai = ei->second.find(attr); ai != ei->second.end()) return ai->second;
    return e.location;
  }

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
    e.title = spec.title.value_or("");
    entity_places_[e.name] = spec.where;
    for (const auto& fs : spec.fields)
      add_field(m, e, fs);
    entities_.emplace(e.name, std::move(e));
  }

  void extend(const modules::Manifest& m, const EntitySpec& spec) {
    auto it = entities_.find(spec.name);
    if (it == entities_.end()) {
      std::vector<std::string_view> names;
      for (const auto& [name, e] : entities_)
        names.push_back(name);
      std::string hint = "a module may only extend entities declared by the modules it depends on";
      if (auto near = closest_match(spec.name, names))
        hint = "did you mean \"" + std::string(*near) + "\"?";
      diagnostics_.error(spec.location,
                         "module \"" + m.name + "\" extends unknown entity \"" + spec.name + "\"",
                         hint);
      return;
    }
    const std::string& owner = it->second.module;
    if (owner == m.name) {
      diagnostics_.error(spec.location,
                         "module \"" + m.name + "\" extends its own entity \"" + spec.name + "\"",
                         "declare the fields under `entities:` instead");
      return;
    }
    if (!deps_of(m.name).count(owner)) {
      diagnostics_.error(spec.location,
                         "module \"" + m.name + "\" extends \"" + spec.name + "\" of module \"" +
                             owner + "\", which it does not depend on",
                         "a module may only extend entities of the modules it depends on; add \"" +
                             owner + "\" to its `depends:`");
      return;
    }
    Entity& e = it->second;
    add_once(e.extended_by, m.name);
    if (spec.label) e.label = *spec.label;
    if (spec.title) e.title = *spec.title;
    if (spec.order) e.order = *spec.order;
    for (const auto& [attr, where] : spec.where)
      entity_places_[e.name][attr] = where;
    for (const auto& fs : spec.fields) {
      Field* existing = e.field(fs.name);
      if (!existing) {
        add_field(m, e, fs);
        continue;
      }
      if (!fs.valid) continue;
      if (fs.type && *fs.type != existing->type) {
        diagnostics_.error(fs.where.at("type"),
                           "cannot change the type of \"" + e.name + "." + fs.name + "\" (" +
                               std::string(to_string(existing->type)) + ", declared by \"" +
                               existing->module + "\")",
                           "add a new field instead, with a migration that copies the data");
        continue;
      }
      if (fs.target && is_relational(existing->type) && *fs.target != existing->target) {
        diagnostics_.error(fs.where.at("target"),
                           "cannot change the target of \"" + e.name + "." + fs.name + "\" (\"" +
                               existing->target + "\", declared by \"" + existing->module + "\")",
                           "add a new field instead, with a migration that copies the data");
        continue;
      }
      apply(fs, m.name, *existing);
      add_once(existing->changed_by, m.name);
      for (const auto& [attr, where] : fs.where)
        places_[e.name][fs.name][attr] = where;
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
    if (!spec.valid) return;
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
    apply(spec, m.name, f);
    if (f.label.empty()) f.label = f.name;
    check_attributes(spec, f);
    places_[e.name][f.name] = spec.where;
    e.fields.push_back(std::move(f));
  }

  // Attributes written in `spec` that do not apply to the field's type.
  void check_attributes(const FieldSpec& spec, const Field& f) {
    for (const auto& [attr, where] : spec.where) {
      if (!attribute_allowed(attr, f.type))
        diagnostics_.error(where,
                           "\"" + attr + "\" does not apply to a " +
                               std::string(to_string(f.type)) + " field (\"" + f.name + "\")",
                           "remove it");
    }
  }

  // Checks of the merged entity: every module's declarations and extensions applied.
  void validate(const Entity& e, const std::vector<Entity>& all) {
    auto find = [&](const std::string& name) -> const Entity* {
      for (const auto& x : all)
        if (x.name == name) return &x;
      return nullptr;
    };
    for (const auto& f : e.fields) {
      std::string qualified = e.name + "." + f.name;
      bool relational = is_relational(f.type);
      if (f.type == FieldType::kSelection && f.options.empty())
        diagnostics_.error(place(e, f, "options"), "selection \"" + qualified + "\" has no options",
                           "add `options: [a, b, c]`");
      const Entity* target = relational ? find(f.target) : nullptr;
      if (relational && f.target.empty()) {
        diagnostics_.error(f.location, "relation \"" + qualified + "\" has no target entity",
                           "add `target: <entity>`");
      } else if (relational && !target) {
        std::vector<std::string_view> names;
        for (const auto& x : all)
          names.push_back(x.name);
        std::string hint = "declare it, or depend on the module that does";
        if (auto near = closest_match(f.target, names))
          hint = "did you mean \"" + std::string(*near) + "\"?";
        diagnostics_.error(place(e, f, "target"),
                           "\"" + qualified + "\" targets unknown entity \"" + f.target + "\"",
                           hint);
      } else if (relational) {
        // The target must stay there as long as the field: its module is a dependency.
        const std::string& by = f.module_of("target");
        if (target->module != by && !deps_of(by).count(target->module))
          diagnostics_.error(place(e, f, "target"),
                             "\"" + qualified + "\" of module \"" + by + "\" targets \"" +
                                 f.target + "\" of module \"" + target->module + "\", which \"" +
                                 by + "\" does not depend on",
                             "add \"" + target->module + "\" to the `depends:` of \"" + by + "\"");
      }
      if (f.type == FieldType::kOne2many && target) {
        const Field* inv = f.inverse.empty() ? nullptr : target->field(f.inverse);
        if (f.inverse.empty())
          diagnostics_.error(f.location, "one2many \"" + qualified +
                                             "\" needs `inverse:` (the many2one on \"" + f.target +
                                             "\" that points back)");
        else if (!inv || inv->type != FieldType::kMany2one || inv->target != e.name)
          diagnostics_.error(place(e, f, "inverse"),
                             "the inverse of one2many \"" + qualified + "\" must be a many2one \"" +
                                 f.target + "." + f.inverse + "\" targeting \"" + e.name + "\"",
                             inv ? "\"" + f.target + "." + f.inverse + "\" is a " +
                                       std::string(to_string(inv->type)) +
                                       (inv->target.empty() ? "" : " to \"" + inv->target + "\"")
                                 : "declare `" + f.inverse + ": {type: many2one, target: " +
                                       e.name + "}` on \"" + f.target + "\"");
      }
      if (f.type == FieldType::kMany2one && f.on_delete == OnDelete::kSetNull && f.required)
        diagnostics_.error(place(e, f, "on_delete"),
                           "\"" + qualified + "\" is required but on_delete is set_null",
                           "use restrict or cascade, or make it optional");
      if (f.type == FieldType::kDecimal) {
        if (f.precision > 0 && f.scale > f.precision)
          diagnostics_.error(place(e, f, "scale"),
                             "scale " + std::to_string(f.scale) + " exceeds precision " +
                                 std::to_string(f.precision) + " in \"" + qualified + "\"");
        else if (f.precision == 0 && f.scale > 0)
          diagnostics_.error(place(e, f, "scale"),
                             "\"" + qualified + "\" has a scale but no precision",
                             "add `precision:` (the total number of digits)");
      }
      if (f.store && !f.computed)
        diagnostics_.error(place(e, f, "store"),
                           "\"store\" applies only to computed fields (\"" + qualified + "\")",
                           "add `computed: true` or remove `store`");
      if (!f.depends.empty() && !(f.computed && f.store))
        diagnostics_.error(
            place(e, f, "depends"),
            "\"depends\" applies only to stored computed fields (\"" + qualified + "\")",
            "add `computed: true, store: true` or remove `depends`");
      else
        for (size_t i = 0; i < f.depends.size(); ++i)
          check_depends(e, f, f.depends[i], f.depends_at[i], find(head_target(e, f.depends[i])));
      if (f.default_value && attribute_allowed("default", f.type)) {
        std::string problem = check_default(f, *f.default_value);
        if (!problem.empty())
          diagnostics_.error(place(e, f, "default"), "default \"" + *f.default_value + "\" of \"" +
                                                         qualified + "\" " + problem);
      }
    }
    if (!e.title.empty() && !e.field(e.title))
      diagnostics_.error(entity_place(e, "title"),
                         "title \"" + e.title + "\" of \"" + e.name + "\" is not one of its fields",
                         "name the field that names a record, e.g. `title: name`");
    // order: "field [asc|desc], ..." over fields that have a column
    std::stringstream order(e.order);
    std::string part;
    while (std::getline(order, part, ',')) {
      std::stringstream words(part);
      std::string name, dir, extra;
      words >> name >> dir >> extra;
      if (name.empty()) continue;
      auto& reserved = reserved_field_names();
      const Field* f = e.field(name);
      bool known = (f && f->has_column()) ||
                   std::find(reserved.begin(), reserved.end(), name) != reserved.end();
      if (!known || (!dir.empty() && dir != "asc" && dir != "desc") || !extra.empty()) {
        diagnostics_.error(entity_place(e, "order"),
                           "bad order \"" + e.order + "\" of \"" + e.name + "\"",
                           "write `field [asc|desc], ...` with stored fields of the entity");
        break;
      }
    }
  }

  // A path of `depends`: a field of the entity, or a relational field of it and a field of its
  // target ("lines.quantity", "partner.name"); the first hop may not be a many2many.
  // The target of the first field of `path`, when it has one ("" otherwise).
  static std::string head_target(const Entity& e, const std::string& path) {
    const Field* head = e.field(path.substr(0, path.find('.')));
    return head ? head->target : std::string();
  }
  void check_depends(const Entity& e, const Field& f, const std::string& path,
                     const SourceLocation& at, const Entity* target) {
    std::string qualified = e.name + "." + f.name;
    auto dot = path.find('.');
    std::string first = path.substr(0, dot);
    const Field* head = e.field(first);
    if (!head) {
      diagnostics_.error(at,
                         "\"" + qualified + "\" depends on \"" + path + "\": \"" + e.name +
                             "\" has no field \"" + first + "\"",
                         "write a path of fields: `quantity`, `lines.quantity`, `partner.name`");
      return;
    }
    if (dot == std::string::npos) {
      if (first == f.name) diagnostics_.error(at, "\"" + qualified + "\" depends on itself");
      return;
    }
    if (head->type != FieldType::kMany2one && head->type != FieldType::kOne2many) {
      diagnostics_.error(at,
                         "\"" + qualified + "\" depends on \"" + path + "\", but \"" + first +
                             "\" is a " + std::string(to_string(head->type)),
                         "only a many2one or a one2many leads to the fields of another entity");
      return;
    }
    std::string rest = path.substr(dot + 1);
    if (rest.find('.') != std::string::npos || !target || !target->field(rest)) {
      diagnostics_.error(
          at,
          "\"" + qualified + "\" depends on \"" + path + "\": \"" + head->target +
              "\" has no field \"" + rest + "\"",
          "a path has at most two fields, the second one of \"" + head->target + "\"");
    }
  }

  Diagnostics& diagnostics_;
  const std::map<std::string, std::set<std::string>>& deps_;
  std::map<std::string, Entity> entities_;
  std::map<std::string, FieldPlaces> places_;                                   // entity -> ...
  std::map<std::string, std::map<std::string, SourceLocation>> entity_places_;  // entity -> attr
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
  Builder builder(diagnostics, deps);
  for (const auto* m : modules)
    builder.add_module(*m);
  std::vector<std::string> names;
  for (const auto* m : modules)
    names.push_back(m->name);
  return assemble(builder.finish(), std::move(names));
}

std::shared_ptr<const Registry> Registry::assemble(std::vector<Entity> entities,
                                                   std::vector<std::string> modules) {
  auto registry = std::make_shared<Registry>();
  registry->entities_ = std::move(entities);
  for (size_t i = 0; i < registry->entities_.size(); ++i)
    registry->index_.emplace(registry->entities_[i].name, i);
  registry->modules_ = std::move(modules);
  return registry;
}

const Entity* Registry::entity(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entities_[it->second];
}

}  // namespace keel::schema
