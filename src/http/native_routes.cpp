#include "http/native_routes.hpp"

#include "db/connection.hpp"
#include "db/pool.hpp"
#include "native/extensions.hpp"

namespace keel::http {

std::shared_ptr<const Router> native_router(std::shared_ptr<const native::Extensions> extensions,
                                            std::shared_ptr<const records::RecordService> records,
                                            db::Pool& pool, CallerOf caller) {
  auto router = std::make_shared<Router>();
  if (!extensions) return router;
  for (const auto& route : extensions->routes()) {
    router->add(
        route.method, route.pattern, [extensions, records, &pool, caller, &route](Request& req) {
          records::SecurityContext ctx = caller(req);
          sdk::HttpRequest in{req.method, req.path, req.params, req.query, req.headers, req.body};
          auto conn = pool.acquire();
          db::Transaction tx(*conn);
          sdk::HttpResponse out =
              extensions->run_route(route, records::CallSite{*conn, ctx, *records}, in);
          if (out.status < 400) tx.commit();
          Response r;
          r.status = out.status;
          r.content_type = std::move(out.content_type);
          r.body = std::move(out.body);
          r.headers = std::move(out.headers);
          return r;
        });
  }
  return router;
}

}  // namespace keel::http
