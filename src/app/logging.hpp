#pragma once

#include <string_view>

namespace keel {

// Sets up spdlog: a console sink on stderr at `level` (trace, debug, info, warn, error, off).
// Throws UsageError for an unknown level.
void init_logging(std::string_view level);

}  // namespace keel
