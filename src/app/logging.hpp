#pragma once

#include <string_view>

namespace keel {

// Sets up spdlog: a console sink on stderr at `level` (trace, debug, info, warn, error, off),
// every line with its time (UTC) and level; `format` "text" (one line per message) or "json"
// (one object per line: time, level, message). Throws UsageError for an unknown level or format.
void init_logging(std::string_view level, std::string_view format = "text");

}  // namespace keel
