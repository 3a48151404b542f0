#pragma once

#include <string>

namespace keel::db {
class Pool;
}
namespace keel::runtime {
class AuthService;
}

namespace keel::http {

class Router;

// POST {prefix}/auth/login, /auth/refresh and /auth/logout (contract §3, §4 rule 13). Login
// hashes a password: its work is deferred to the server's worker pool.
void add_auth_routes(Router& router, const std::string& prefix, db::Pool& pool,
                     const runtime::AuthService& auth);

}  // namespace keel::http
