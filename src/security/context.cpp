#include "security/context.hpp"

#include <algorithm>
#include <array>

namespace keel::security {

namespace {

constexpr std::array<std::string_view, kOperationCount> kOperationNames = {"read", "create",
                                                                           "update", "delete"};

}  // namespace

std::string_view to_string(Operation op) {
  return kOperationNames[static_cast<size_t>(op)];
}

std::optional<Operation> parse_operation(std::string_view name) {
  for (size_t i = 0; i < kOperationCount; ++i)
    if (kOperationNames[i] == name) return static_cast<Operation>(i);
  return std::nullopt;
}

Context Context::system() {
  Context ctx;
  ctx.admin = true;
  ctx.is_system = true;
  ctx.login = "__system__";
  ctx.roles = {std::string(kAdminRole)};
  return ctx;
}

bool Context::has_role(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

}  // namespace keel::security
