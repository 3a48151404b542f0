#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Who is asking and what for: the small part of security that filter compilation (query/) and
// the services below http/ need, without the policy's files and loader.

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
  // Keel itself (system()): may also write `secret` fields (password and key hashes), which no
  // caller of the API may. Never set for a request.
  bool is_system = false;

  // Keel acting for itself (install, uninstall's purge, data files, `keel user`): an
  // administrator without a user. RecordService skips access rights and record rules for it,
  // and still runs everything else of a write: validation, defaults, native hooks, stored
  // computed fields, the same statements.
  static Context system();
  bool has_role(std::string_view role) const;
};

}  // namespace keel::security
