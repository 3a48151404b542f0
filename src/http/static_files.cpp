#include "http/static_files.hpp"

#include <fstream>
#include <iterator>
#include <string_view>

#include "ui/service.hpp"

namespace keel::http {

namespace fs = std::filesystem;

namespace {

bool read_file(const fs::path& file, std::string* body) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return false;
  body->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

}  // namespace

Response serve_static(const fs::path& root, const Request& request) {
  if (request.method != "GET" && request.method != "HEAD") {
    auto r = Response::problem(405, "http.method_not_allowed", "Method Not Allowed",
                               request.method + " is not allowed on " + request.path);
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  auto not_found = [&] {
    return Response::problem(404, "http.not_found", "Not Found", "no file " + request.path);
  };
  // The decoded path's segments: none may climb out of the root.
  fs::path relative;
  std::string_view path = request.path;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    auto segment = path.substr(start, end - start);
    if (segment == ".." || segment.find('\\') != std::string_view::npos ||
        segment.find('\0') != std::string_view::npos)
      return not_found();
    if (!segment.empty() && segment != ".") relative /= std::string(segment);
    start = end + 1;
  }
  std::error_code ec;
  fs::path base = fs::weakly_canonical(root, ec);
  if (ec) return not_found();
  fs::path file = base / relative;
  bool is_file = !relative.empty() && fs::is_regular_file(file, ec);
  if (is_file) {
    // Symbolic links may not lead out of the root either.
    fs::path real = fs::weakly_canonical(file, ec);
    auto rel = real.lexically_relative(base);
    if (ec || rel.empty() || *rel.begin() == "..") return not_found();
  } else {
    // A missing file of the build is not a route of the client (whose routes may hold dots:
    // /a/sales.orders).
    if (!relative.empty() && *relative.begin() == "assets") return not_found();
    file = base / "index.html";
  }
  Response r;
  if (!read_file(file, &r.body)) return not_found();
  r.content_type = ui::content_type_of(file);
  bool hashed = is_file && !relative.empty() && *relative.begin() == "assets";
  r.headers.emplace_back("Cache-Control",
                         hashed ? "public, max-age=31536000, immutable" : "no-cache");
  if (r.content_type.rfind("text/html", 0) == 0)
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; img-src 'self' data: blob:; style-src 'self' "
                           "'unsafe-inline'; object-src 'none'; frame-ancestors 'none'");
  return r;
}

}  // namespace keel::http
