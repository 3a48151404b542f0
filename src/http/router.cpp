#include "http/router.hpp"

namespace keel::http {

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

}  // namespace

void Router::add(std::string method, std::string pattern, RouteDoc doc, Handler handler) {
  add_route(std::move(method), std::move(pattern), std::move(doc), std::move(handler), false);
}

void Router::add_inline(std::string method, std::string pattern, RouteDoc doc, Handler handler) {
  add_route(std::move(method), std::move(pattern), std::move(doc), std::move(handler), true);
}

void Router::add_route(std::string method, std::string pattern, RouteDoc doc, Handler handler,
                       bool runs_inline) {
  Route r{std::move(method), pattern, {}, std::move(handler), runs_inline, std::move(doc)};
  for (auto part : split_path(pattern))
    r.segments.emplace_back(part);
  routes_.push_back(std::move(r));
}

bool Router::match(const Route& route, const std::vector<std::string_view>& parts,
                   Request* request) {
  if (parts.size() != route.segments.size()) return false;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& seg = route.segments[i];
    bool param = seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
    if (!param && seg != parts[i]) return false;
  }
  if (request) {
    for (size_t i = 0; i < parts.size(); ++i) {
      const std::string& seg = route.segments[i];
      if (seg.size() > 2 && seg.front() == '{')
        request->params[seg.substr(1, seg.size() - 2)] = std::string(parts[i]);
    }
    request->route = route.pattern;
  }
  return true;
}

std::vector<Router::Described> Router::routes() const {
  std::vector<Described> out;
  out.reserve(routes_.size());
  for (const auto& r : routes_)
    out.push_back({r.method, r.pattern, r.doc});
  return out;
}

bool Router::serves(std::string_view method, std::string_view path) const {
  auto parts = split_path(path);
  for (const auto& route : routes_)
    if ((route.method == method || (method == "HEAD" && route.method == "GET")) &&
        match(route, parts, nullptr))
      return true;
  return false;
}

Response Router::dispatch(Request& request) const {
  auto parts = split_path(request.path);
  std::string allowed;
  for (const auto& route : routes_) {
    if (!match(route, parts, nullptr)) continue;
    if (route.method == request.method || (request.method == "HEAD" && route.method == "GET")) {
      match(route, parts, &request);
      if (route.runs_inline) return route.handler(request);
      // A copy of the handler: the router may be gone when the work runs (a native module's
      // routes belong to a registry snapshot that a reload replaces).
      return Response::block([handler = route.handler, &request] { return handler(request); });
    }
    if (allowed.find(route.method) == std::string::npos)
      allowed += (allowed.empty() ? "" : ", ") + route.method;
  }
  if (!allowed.empty()) {
    request.route = "(method not allowed)";
    auto r = Response::problem(405, "http.method_not_allowed", "Method Not Allowed",
                               request.method + " is not allowed on " + request.path);
    r.headers.emplace_back("Allow", allowed);
    return r;
  }
  request.route = "(not found)";
  return Response::problem(404, "http.not_found", "Not Found",
                           "no route for " + request.method + " " + request.path);
}

}  // namespace keel::http
