#pragma once

#include <filesystem>

#include "http/message.hpp"

namespace keel::http {

// Serves the web client's build (docs/web.md) for every GET or HEAD outside /api/: a file under
// `root` when the path names one, else `root/index.html` (the client routes itself: a deep link
// such as /a/sales.orders/12 loads the application); a missing file under /assets/ is 404. Hashed
// files under /assets/ are cached for good; index.html and other files are checked again each time.
// A path with a `..` segment, or resolving outside `root`, is 404; other methods are 405.
Response serve_static(const std::filesystem::path& root, const Request& request);

}  // namespace keel::http
