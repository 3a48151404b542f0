#pragma once

#include "cli/module_commands.hpp"

namespace keel::cli {

// Adds `keel user add|passwd|apikey` to `app`.
void add_user_commands(CLI::App& app, Runner& selected);

}  // namespace keel::cli
