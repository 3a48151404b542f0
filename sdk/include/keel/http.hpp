#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::sdk {

// A request to a module's route (/api/v1/x/{module}/...), already authenticated.
struct HttpRequest {
  std::string method;
  std::string path;                                         // the full path, URL-decoded
  std::map<std::string, std::string, std::less<>> params;   // {name} segments of the route
  std::map<std::string, std::string, std::less<>> query;    // URL-decoded
  std::map<std::string, std::string, std::less<>> headers;  // names lowercased
  std::string body;

  std::optional<std::string> query_value(std::string_view name) const {
    auto it = query.find(name);
    if (it == query.end()) return std::nullopt;
    return it->second;
  }
  std::string param(std::string_view name) const {
    auto it = params.find(name);
    return it == params.end() ? std::string() : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static HttpResponse json(int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
};

// What the OpenAPI document (GET /api/v1/openapi.json) says about a route: a module registers
// it with the route (Loader::route), Keel's own routes with the router, so that the document
// lists exactly what is served (docs/native.md, "Describing a route"). Schema names refer to
// components/schemas of the document: an entity `e` gives `e` (a record), `e_input` (a create's
// body), `e_patch` (an update's body) and `e_list` (a list's answer); the shared schemas are
// listed in docs/api.md. A schema given as text starting with `{` is a JSON Schema itself.

// A parameter of the route; `{name}` segments of the path that no parameter describes are
// described as required strings.
struct ApiParameter {
  std::string name{};
  std::string in = "query";  // "path", "query" or "header"
  std::string description{};
  std::string type = "string";  // the JSON Schema type of its value
  bool required = false;        // path parameters are always required
  // Instead of the above: a parameter of the document's components ("limit", "fields").
  std::string ref{};
};

// An answer of the route.
struct ApiResponse {
  std::string status{};  // "200", "404", or "default"
  std::string description{};
  std::string schema{};  // of the body: a schema name or JSON Schema text; empty: no body
  std::string content_type = "application/json";
  std::vector<std::string> headers{};  // headers of the document's components ("Location")
  // Instead of the above: an answer of the document's components ("NotFound",
  // "UnprocessableContent"), each a problem+json.
  std::string ref{};
};

struct RouteDoc {
  std::string summary{};
  std::string description{};
  // Unique in the document; a module's are prefixed with "<module>." (default: from the method
  // and the path).
  std::string operation_id{};
  std::vector<std::string> tags{};  // a module's default: "x/<module>"
  std::vector<ApiParameter> parameters{};
  std::string body{};  // the JSON body's schema (required); empty: the route takes none
  std::vector<ApiResponse> responses{};  // a module's default: {"default": the module's answer}
  bool open = false;  // needs no token (Keel's own routes only: a module's route always does)
};

}  // namespace keel::sdk
