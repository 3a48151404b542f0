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

}  // namespace keel::sdk
