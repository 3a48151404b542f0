#include "security/policy.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "app/yaml_reader.hpp"
#include "modules/manifest.hpp"
#include "schema/registry.hpp"

namespace keel::security {

namespace {

const std::vector<std::string_view> kFileKeys = {"roles", "access", "rules"};
const std::vector<std::string_view> kRoleKeys = {"label", "implies"};
const std::vector<std::string_view> kAccessKeys = {"entity", "role",   "read",
                                                   "create", "update", "delete"};
const std::vector<std::string_view> kRuleKeys = {"name", "entity", "role", "operations", "filter"};

// Reads security files, module by module in dependency order.
class Loader {
 public:
  Loader(const schema::Registry& registry, Diagnostics& diagnostics,
         const Policy::FilterCheck& check_filter)
      : registry_(registry), diagnostics_(diagnostics), check_filter_(check_filter) {}

  void add_module(const modules::Manifest& m) {
    auto& mine = deps_[m.name];
    mine.insert(m.name);
    for (const auto& d : m.depends) {
      auto it = deps_.find(d.name);
      if (it != deps_.end()) mine.insert(it->second.begin(), it->second.end());
    }
    for (const auto& file : modules::expand_patterns(m, m.security, diagnostics_))
      add_file(m, file);
  }

 private:
  void add_file(const modules::Manifest& m, const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    YamlReader r(file, diagnostics_);
    auto doc = r.parse(text.str());
    if (!doc || doc->IsNull()) return;
    if (!r.check_map(*doc, kFileKeys, "security file")) return;
    // Roles first: access rows and rules of the same file may name them.
    if (YAML::Node roles = (*doc)["roles"]; roles.IsDefined() && !roles.IsNull()) {
      if (!roles.IsMap()) {
        r.error(roles, "roles must be a map of names, got " + std::string(yaml_kind(roles)));
      } else {
        for (auto it = roles.begin(); it != roles.end(); ++it)
          add_role(r, m, it->first, it->second);
      }
    }
    for_each_item(r, (*doc)["access"], "access", [&](const YAML::Node& n) { add_access(r, m, n); });
    for_each_item(r, (*doc)["rules"], "rules", [&](const YAML::Node& n) { add_rule(r, m, n); });
  }

  template <typename F>
  void for_each_item(YamlReader& r, const YAML::Node& list, const char* what, F&& f) {
    if (!list.IsDefined() || list.IsNull()) return;
    if (!list.IsSequence()) {
      r.error(list, std::string(what) + " must be a list, got " + std::string(yaml_kind(list)));
      return;
    }
    for (const auto& item : list)
      f(item);
  }

  void add_role(YamlReader& r, const modules::Manifest& m, const YAML::Node& key,
                const YAML::Node& node) {
    if (!key.IsScalar() || !modules::is_valid_name(key.Scalar())) {
      r.error(key, "bad role name \"" + (key.IsScalar() ? key.Scalar() : std::string()) + "\"",
              "role names are lowercase letters, digits and _; Keel qualifies them with the "
              "module (" +
                  m.name + ".<name>)");
      return;
    }
    Role role;
    role.name = m.name + "." + key.Scalar();
    role.module = m.name;
    role.location = r.at(key);
    if (!node.IsNull() && r.check_map(node, kRoleKeys, "role \"" + role.name + "\"")) {
      if (auto label = r.string(node, "label")) role.label = label->value;
      if (auto implies = r.string_list(node, "implies", true))
        for (const auto& i : *implies)
          pending_implies_.push_back({role.name, i, m.name});
    } else if (!node.IsNull()) {
      return;
    }
    if (std::any_of(roles_.begin(), roles_.end(),
                    [&](const Role& x) { return x.name == role.name; })) {
      r.error(key, "role \"" + role.name + "\" is declared twice");
      return;
    }
    roles_.push_back(std::move(role));
  }

  // A role named in `module`'s files: qualified, or unqualified for the module's own roles.
  // Reports an unknown role or one of a module `module` does not depend on.
  std::optional<std::string> role_ref(const LocatedString& name, const std::string& module) {
    std::string qualified =
        name.value.find('.') == std::string::npos ? module + "." + name.value : name.value;
    std::string owner = qualified.substr(0, qualified.find('.'));
    bool known = std::any_of(roles_.begin(), roles_.end(),
                             [&](const Role& x) { return x.name == qualified; });
    if (!known) {
      std::vector<std::string_view> names;
      for (const auto& x : roles_)
        names.push_back(x.name);
      auto near = closest_match(qualified, names);
      diagnostics_.error(name.location, "unknown role \"" + qualified + "\"",
                         near ? "did you mean \"" + std::string(*near) + "\"?"
                              : "roles are declared under roles: in a security file; name them "
                                "module.role");
      return std::nullopt;
    }
    if (!deps_[module].count(owner)) {
      diagnostics_.error(name.location,
                         "role \"" + qualified + "\" belongs to module " + owner + ", which " +
                             module + " does not depend on",
                         "add " + owner + " to depends: in " + module + "'s manifest");
      return std::nullopt;
    }
    return qualified;
  }

  const schema::Entity* entity_ref(YamlReader& r, const YAML::Node& node) {
    auto name = r.string(node, "entity", true);
    if (!name) return nullptr;
    const schema::Entity* e = registry_.entity(name->value);
    if (!e) {
      std::vector<std::string_view> names;
      for (const auto& x : registry_.entities())
        names.push_back(x.name);
      auto near = closest_match(name->value, names);
      diagnostics_.error(name->location, "unknown entity \"" + name->value + "\"",
                         near ? "did you mean \"" + std::string(*near) + "\"?"
                              : "the entity must be declared by this module or a dependency");
    }
    return e;
  }

  void add_access(YamlReader& r, const modules::Manifest& m, const YAML::Node& node) {
    if (!r.check_map(node, kAccessKeys, "access row")) return;
    Access a;
    a.module = m.name;
    a.location = r.at(node);
    const schema::Entity* e = entity_ref(r, node);
    auto role = r.string(node, "role", true);
    std::optional<std::string> qualified;
    if (role) qualified = role_ref(*role, m.name);
    for (size_t i = 0; i < kOperationCount; ++i)
      a.allow[i] = r.boolean(node, to_string(static_cast<Operation>(i))).value_or(false);
    if (!e || !qualified) return;
    a.entity = e->name;
    a.role = *qualified;
    policy_access_.push_back(std::move(a));
  }

  void add_rule(YamlReader& r, const modules::Manifest& m, const YAML::Node& node) {
    if (!r.check_map(node, kRuleKeys, "rule")) return;
    Rule rule;
    rule.module = m.name;
    rule.location = r.at(node);
    const schema::Entity* e = entity_ref(r, node);
    std::optional<std::string> qualified = std::string();
    if (auto role = r.string(node, "role")) qualified = role_ref(*role, m.name);
    if (auto ops = r.string_list(node, "operations", true)) {
      for (const auto& op : *ops) {
        auto parsed = parse_operation(op.value);
        if (!parsed)
          diagnostics_.error(op.location, "unknown operation \"" + op.value + "\"",
                             "operations: read, create, update, delete");
        else
          rule.operations[static_cast<size_t>(*parsed)] = true;
      }
    } else {
      rule.operations.fill(true);
    }
    YAML::Node filter = node["filter"];
    if (!filter.IsDefined() || !filter.IsMap()) {
      r.error(filter.IsDefined() ? filter : node,
              "a rule needs a filter: a map in the API's filter language",
              "for example filter: {created_by: $user.id}");
      return;
    }
    if (!e || !qualified) return;
    rule.entity = e->name;
    rule.role = *qualified;
    rule.filter = yaml_to_json(filter);
    // The filter must compile against the entity (unknown fields, operators, variables).
    try {
      check_filter_(*e, rule.filter);
    } catch (const Error& err) {
      diagnostics_.error(r.at(filter), std::string("invalid rule filter: ") + err.what(),
                         err.hint());
      return;
    }
    policy_rules_.push_back(std::move(rule));
  }

 public:
  // Resolves `implies:` once every role is known, validates field roles, and finishes.
  Policy build() {
    std::sort(roles_.begin(), roles_.end(),
              [](const Role& a, const Role& b) { return a.name < b.name; });
    for (const auto& p : pending_implies_) {
      auto target = role_ref(p.implied, p.module);
      if (!target) continue;
      auto it = std::find_if(roles_.begin(), roles_.end(),
                             [&](const Role& x) { return x.name == p.role; });
      it->implies.push_back(*target);
    }
    for (const auto& e : registry_.entities())
      for (const auto& f : e.fields)
        for (const auto& name : f.roles)
          if (std::none_of(roles_.begin(), roles_.end(),
                           [&](const Role& x) { return x.name == name; }))
            diagnostics_.error(
                f.location,
                "field " + e.name + "." + f.name + " names unknown role \"" + name + "\"",
                "roles are qualified with their module: module.role");
    return Policy::from_parts(std::move(roles_), std::move(policy_access_),
                              std::move(policy_rules_));
  }

 private:
  struct Implied {
    std::string role;
    LocatedString implied;
    std::string module;
  };
  const schema::Registry& registry_;
  Diagnostics& diagnostics_;
  const Policy::FilterCheck& check_filter_;
  std::map<std::string, std::set<std::string>> deps_;
  std::vector<Role> roles_;
  std::vector<Implied> pending_implies_;
  std::vector<Access> policy_access_;
  std::vector<Rule> policy_rules_;
};

}  // namespace

Policy Policy::load(const std::vector<const modules::Manifest*>& modules,
                    const schema::Registry& registry, Diagnostics& diagnostics,
                    const FilterCheck& check_filter) {
  Loader loader(registry, diagnostics, check_filter);
  for (const auto* m : modules)
    loader.add_module(*m);
  return loader.build();
}

Policy Policy::from_parts(std::vector<Role> roles, std::vector<Access> access,
                          std::vector<Rule> rules) {
  Policy p;
  p.roles_ = std::move(roles);
  p.access_ = std::move(access);
  p.rules_ = std::move(rules);
  // Every request asks by entity: index the rows once.
  for (size_t k = 0; k < p.access_.size(); ++k)
    p.access_by_entity_[p.access_[k].entity].push_back(k);
  for (size_t k = 0; k < p.rules_.size(); ++k)
    p.rules_by_entity_[p.rules_[k].entity].push_back(k);
  for (const auto& role : p.roles_) {
    std::set<std::string> seen;
    std::vector<std::string> stack{role.name};
    while (!stack.empty()) {
      std::string name = std::move(stack.back());
      stack.pop_back();
      if (!seen.insert(name).second) continue;
      if (const Role* r = p.role(name))
        for (const auto& i : r->implies)
          stack.push_back(i);
    }
    p.closure_.emplace(role.name, std::vector<std::string>(seen.begin(), seen.end()));
  }
  return p;
}

const Role* Policy::role(std::string_view name) const {
  auto it = std::lower_bound(roles_.begin(), roles_.end(), name,
                             [](const Role& r, std::string_view n) { return r.name < n; });
  return it != roles_.end() && it->name == name ? &*it : nullptr;
}

std::vector<std::string> Policy::closure(const std::vector<std::string>& direct) const {
  std::set<std::string> out;
  for (const auto& name : direct) {
    auto it = closure_.find(name);
    if (it != closure_.end()) out.insert(it->second.begin(), it->second.end());
  }
  return {out.begin(), out.end()};
}

Context Policy::context(std::int64_t user_id, std::string login,
                        const std::vector<std::string>& direct_roles) const {
  Context ctx;
  ctx.user_id = user_id;
  ctx.login = std::move(login);
  ctx.roles = closure(direct_roles);
  ctx.admin = ctx.has_role(kAdminRole);
  return ctx;
}

bool Policy::allowed(const Context& ctx, std::string_view entity, Operation op) const {
  if (ctx.admin) return true;
  auto it = access_by_entity_.find(entity);
  if (it == access_by_entity_.end()) return false;
  auto i = static_cast<size_t>(op);
  return std::any_of(it->second.begin(), it->second.end(), [&](size_t k) {
    return access_[k].allow[i] && ctx.has_role(access_[k].role);
  });
}

std::vector<std::string> Policy::granting_roles(const Context& ctx, std::string_view entity,
                                                Operation op) const {
  auto it = access_by_entity_.find(entity);
  if (ctx.admin || it == access_by_entity_.end()) return {};
  std::set<std::string> out;
  auto i = static_cast<size_t>(op);
  for (size_t k : it->second)
    if (access_[k].allow[i] && ctx.has_role(access_[k].role)) out.insert(access_[k].role);
  return {out.begin(), out.end()};
}

std::vector<const Rule*> Policy::rules_for(std::string_view entity, Operation op) const {
  std::vector<const Rule*> out;
  auto it = rules_by_entity_.find(entity);
  if (it == rules_by_entity_.end()) return out;
  for (size_t k : it->second)
    if (rules_[k].operations[static_cast<size_t>(op)]) out.push_back(&rules_[k]);
  return out;
}

}  // namespace keel::security
