#pragma once

#include <functional>
#include <memory>

#include "http/router.hpp"
#include "records/service.hpp"

namespace keel::db {
class Pool;
}
namespace keel::native {
class Extensions;
}

namespace keel::http {

// Where native routes live: /api/v1/x/{module}/...
inline constexpr std::string_view kNativeRoutePrefix = "/api/v1/x/";

using CallerOf = std::function<records::SecurityContext(const Request&)>;

// The routes the native modules of a snapshot registered, as a router of their own. Each call
// runs in one transaction on a pool connection, with the caller's context: committed when the
// handler answers below 400, rolled back when it answers an error or throws (module failures
// become problem+json, see native::Extensions::run_route).
std::shared_ptr<const Router> native_router(std::shared_ptr<const native::Extensions> extensions,
                                            std::shared_ptr<const records::RecordService> records,
                                            db::Pool& pool, CallerOf caller);

}  // namespace keel::http
