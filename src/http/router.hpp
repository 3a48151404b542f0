#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.hpp"
#include "keel/http.hpp"

namespace keel::http {

using Handler = std::function<Response(Request&)>;

// What GET /api/v1/openapi.json says about a route (http/openapi.hpp writes the document from
// the routes of the routers): the SDK's description, so that Keel's routes and the native
// modules' are described alike.
using RouteDoc = sdk::RouteDoc;
using ApiParameter = sdk::ApiParameter;
using ApiResponse = sdk::ApiResponse;

// A problem+json answer of the document's components (share/openapi/components.json):
// shared_answer("404", "NotFound").
inline ApiResponse shared_answer(std::string status, std::string name) {
  return {.status = std::move(status), .ref = std::move(name)};
}
// A parameter of the document's components: shared_parameter("limit").
inline ApiParameter shared_parameter(std::string name) {
  return {.ref = std::move(name)};
}
// A path parameter whose value is a string.
inline ApiParameter path_parameter(std::string name, std::string description) {
  return {.name = std::move(name),
          .in = "path",
          .description = std::move(description),
          .required = true};
}

// Routes by method and path pattern ("/api/v1/records/{entity}/{id}"): literal segments match
// exactly, `{name}` segments match one non-empty segment and land in Request::params. Routes
// are tried in the order they were added.
//
// A handler added with add() may block (a pooled connection, a transaction, native code): it
// runs on the server's io_workers (Response::block), never on an I/O thread, which serves many
// connections. add_inline() is for handlers that never wait: they run on the I/O thread, and may
// return Response::await, Response::block or Response::defer themselves.
//
// Every route carries its description: the OpenAPI document is written from routes(), so it
// lists what is served and nothing else (tests/unit/http/openapi_test.cpp checks both ways).
class Router {
 public:
  void add(std::string method, std::string pattern, RouteDoc doc, Handler handler);
  void add_inline(std::string method, std::string pattern, RouteDoc doc, Handler handler);

  // A registered route, as the OpenAPI document sees it.
  struct Described {
    const std::string& method;
    const std::string& pattern;
    const RouteDoc& doc;
  };
  std::vector<Described> routes() const;
  // Whether a request `method` `path` would reach a handler (HEAD as GET), without calling it.
  bool serves(std::string_view method, std::string_view path) const;

  // Fills request.params and request.route and calls the handler; 404 when no pattern
  // matches the path, 405 (with Allow) when one matches but not with this method.
  Response dispatch(Request& request) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
    bool runs_inline = false;
    RouteDoc doc;
  };
  void add_route(std::string method, std::string pattern, RouteDoc doc, Handler handler,
                 bool runs_inline);
  static bool match(const Route& route, const std::vector<std::string_view>& parts,
                    Request* request);
  std::vector<Route> routes_;
};

}  // namespace keel::http
