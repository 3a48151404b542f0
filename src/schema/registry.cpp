// The Registry: entities files (read by entity_file.cpp) declared and extended in dependency
// order, then validated all at once (the rules of attributes by type: field_rules.cpp).

#include "schema/registry.hpp"

#include <algorithm>
#include <functional>
#include <set>

#include "app/yaml_reader.hpp"
#include "modules/manifest.hpp"
#include "schema/entity_file.hpp"
#include "schema/field_rules.hpp"

namespace keel::schema {
namespace fs = std::filesystem;

namespace {

using namespace detail;

// Where each attribute of each field got its current value: entity -> field -> attribute.
using FieldPlaces = std::map<std::string, std::map<std::string, SourceLocation>>;

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
