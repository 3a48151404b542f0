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

// The /ui routes of contract §3 (views with customisation, menus, actions, components and their
// assets), under `prefix` (/api/v1). `caller` is who is asking (the API's one place for that).
void add_ui_routes(Router& router, const std::string& prefix,
                   std::function<std::shared_ptr<const Snapshot>()> snapshot, db::Pool& pool,
                   std::function<const security::Context&(const Request&)> caller);

}  // namespace keel::http
