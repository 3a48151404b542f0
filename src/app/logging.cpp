#include "app/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "app/error.hpp"

namespace keel {

void init_logging(std::string_view level) {
  auto parsed = spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off")
    throw UsageError("unknown log level \"" + std::string(level) + "\"",
                     "use trace, debug, info, warn, error or off");
  auto logger = spdlog::stderr_color_mt("keel");
  logger->set_pattern("%^%l%$: %v");
  logger->set_level(parsed);
  spdlog::set_default_logger(logger);
}

}  // namespace keel
