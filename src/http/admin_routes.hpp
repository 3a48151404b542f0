#pragma once

#include <functional>
#include <memory>
#include <string>

#include "http/router.hpp"

namespace keel::db {
class Pool;
}
namespace keel::security {
struct Context;
}

namespace keel::http {

struct Snapshot;

// User administration over REST, for what only the CLI could do (docs/api.md, "Users and API
// keys"): POST {prefix}/users (a user with a password), POST {prefix}/users/{id}/password (set
// one, or reset to a generated one shown once) and POST {prefix}/users/{id}/api-keys (the key
// shown once). Administrators only. Records are written through RecordService; the password
// hash (argon2id, off the I/O threads) and the API key go through security/users.hpp.
void add_admin_routes(Router& router, const std::string& prefix,
                      std::function<std::shared_ptr<const Snapshot>()> snapshot, db::Pool& pool,
                      std::function<const security::Context&(const Request&)> caller);

}  // namespace keel::http
