#pragma once

#include "app/config.hpp"

namespace keel::cli {

// What every command gets: the effective configuration, built after the command line was
// parsed and before the command runs.
struct Context {
  Config config;
};

}  // namespace keel::cli
