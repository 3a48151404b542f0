#include "http/native_routes.hpp"

#include <rapidjson/document.h>

#include <cctype>

#include "app/json.hpp"
#include "db/connection.hpp"
#include "db/pool.hpp"
#include "native/extensions.hpp"

namespace keel::http {

namespace {

// What the OpenAPI document says of a module's route: its own description, with an operation
// id prefixed by the module (from the method and path when it gives none), the tag
// "x/<module>" when it gives none, a default answer when it lists none, and always a token.
// Schema text that is not JSON fails the module's load, naming the route.
RouteDoc document(const native::Extensions::Route& route) {
  const std::string& module = route.stamp.module;
  RouteDoc doc = route.doc;
  std::string id = doc.operation_id;
  if (id.empty()) {
    for (char c : route.method)
      id += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    // "post_items_name_fail" for POST /items/{name}/fail
    for (char c : route.pattern.substr(kNativeRoutePrefix.size() + module.size())) {
      if (std::isalnum(static_cast<unsigned char>(c)))
        id += c;
      else if (!id.empty() && id.back() != '_')
        id += '_';
    }
    if (!id.empty() && id.back() == '_') id.pop_back();
  }
  doc.operation_id = module + "." + id;
  if (doc.tags.empty()) doc.tags.push_back("x/" + module);
  if (doc.responses.empty())
    doc.responses.push_back({.status = "default", .description = "The module's answer"});
  doc.open = false;
  auto check = [&](const std::string& schema) {
    rapidjson::Document d;
    if (schema.empty() || schema.front() != '{' ||
        json::try_parse(d, schema, json::kEnvelopeDepth * 4).ok)
      return;
    throw Error("native.route_doc",
                "module \"" + module + "\" describes " + route.method + " " + route.pattern +
                    " with a schema that is not JSON: " + schema,
                "give a schema name (\"sale_order\") or JSON Schema text");
  };
  check(doc.body);
  for (const auto& r : doc.responses)
    check(r.schema);
  return doc;
}

}  // namespace

std::shared_ptr<const Router> native_router(std::shared_ptr<const native::Extensions> extensions,
                                            std::shared_ptr<const records::RecordService> records,
                                            db::Pool& pool, CallerOf caller) {
  auto router = std::make_shared<Router>();
  if (!extensions) return router;
  for (const auto& route : extensions->routes()) {
    router->add(route.method, route.pattern, document(route),
                [extensions, records, &pool, caller, &route](Request& req) {
                  records::SecurityContext ctx = caller(req);
                  sdk::HttpRequest in{req.method, req.path,    req.params,
                                      req.query,  req.headers, req.body};
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
