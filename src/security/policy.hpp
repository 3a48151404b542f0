#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/error.hpp"
#include "security/context.hpp"

namespace keel::modules {
struct Manifest;
}
namespace keel::schema {
struct Entity;
class Registry;
}  // namespace keel::schema

namespace keel::security {

// A role of a security file: `user` in module `sales` is `sales.user`.
struct Role {
  std::string name;  // qualified
  std::string label;
  std::vector<std::string> implies;  // qualified
  std::string module;
  SourceLocation location;
};

// One `access:` row: the operations a role may perform on an entity.
struct Access {
  std::string entity;
  std::string role;
  std::array<bool, kOperationCount> allow{};  // indexed by Operation
  std::string module;
  SourceLocation location;
};

// One `rules:` row: the rows of `entity` a role (every role when empty) may touch for the
// listed operations, as a filter of the API's filter language (canonical JSON text).
struct Rule {
  std::string entity;
  std::string role;  // empty: a global rule
  std::array<bool, kOperationCount> operations{};
  std::string filter;  // JSON
  std::string module;
  SourceLocation location;
};

// Everything the security files of the installed modules declare, validated, with each role's
// transitive closure computed once. Immutable; held beside the Registry it was validated
// against (http::Snapshot, RecordService, ui::Catalog), never inside it.
class Policy {
 public:
  // Compiles the filter (JSON) of a rule on `entity`, throwing keel::Error when it is invalid:
  // query::check_filter. A parameter, because filter compilation (query/) sits above security.
  using FilterCheck = std::function<void(const schema::Entity& entity, const std::string& filter)>;

  // Reads the `security:` files of `modules` (dependency order) and validates them against
  // `registry` (entities, fields of rule filters through `check_filter`, field `roles:`); every
  // problem goes to `diagnostics` with file:line:col. query::load_policy passes the check.
  static Policy load(const std::vector<const modules::Manifest*>& modules,
                     const schema::Registry& registry, Diagnostics& diagnostics,
                     const FilterCheck& check_filter);

  const std::vector<Role>& roles() const { return roles_; }  // sorted by name
  const Role* role(std::string_view name) const;
  const std::vector<Access>& access() const { return access_; }
  const std::vector<Rule>& rules() const { return rules_; }

  // `direct` and every role they imply, transitively; sorted, unique. Unknown names (a role
  // whose module was uninstalled) are dropped.
  std::vector<std::string> closure(const std::vector<std::string>& direct) const;
  // The context of a user with these directly assigned roles.
  Context context(std::int64_t user_id, std::string login,
                  const std::vector<std::string>& direct_roles) const;

  // Whether the caller may perform `op` on `entity` at all (an access row of one of its roles;
  // always for an administrator).
  bool allowed(const Context& ctx, std::string_view entity, Operation op) const;
  // The caller's roles that grant `op` on `entity` (empty for an administrator: no rules).
  std::vector<std::string> granting_roles(const Context& ctx, std::string_view entity,
                                          Operation op) const;
  // The rules of `entity` that apply to `op`, global and per role.
  std::vector<const Rule*> rules_for(std::string_view entity, Operation op) const;

  // A policy of validated parts (load() uses it; tests build small policies with it).
  static Policy from_parts(std::vector<Role> roles, std::vector<Access> access,
                           std::vector<Rule> rules);

 private:
  std::vector<Role> roles_;
  std::vector<Access> access_;
  std::vector<Rule> rules_;
  std::map<std::string, std::vector<std::string>, std::less<>> closure_;  // role -> closure
  // entity -> indexes into access_ / rules_, in declaration order
  std::map<std::string, std::vector<size_t>, std::less<>> access_by_entity_, rules_by_entity_;
};

}  // namespace keel::security
