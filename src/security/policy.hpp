#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/error.hpp"

namespace keel::modules {
struct Manifest;
}
namespace keel::schema {
class Registry;
}

namespace keel::security {

enum class Operation { kRead = 0, kCreate = 1, kUpdate = 2, kDelete = 3 };
inline constexpr size_t kOperationCount = 4;
std::string_view to_string(Operation op);
std::optional<Operation> parse_operation(std::string_view name);

inline constexpr std::string_view kAdminRole = "base.admin";
inline constexpr std::string_view kUserRole = "base.user";

// Who is asking. Resolved once per request (security::Authenticator) and handed to
// RecordService, which is the only place that decides.
struct Context {
  std::int64_t user_id = 0;  // 0: nobody (anonymous) or Keel itself (system())
  std::string login;
  bool admin = false;              // base.admin: bypasses access rights and record rules
  std::vector<std::string> roles;  // sorted; implied roles included

  // Keel acting for itself (install, data files, CLI): an administrator without a user.
  static Context system();
  bool has_role(std::string_view role) const;
};

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
// transitive closure computed once. Immutable; held by the Registry.
class Policy {
 public:
  // Reads the `security:` files of `modules` (dependency order) and validates them against
  // `registry` (entities, fields of rule filters, field `roles:`); every problem goes to
  // `diagnostics` with file:line:col.
  static Policy load(const std::vector<const modules::Manifest*>& modules,
                     const schema::Registry& registry, Diagnostics& diagnostics);

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
