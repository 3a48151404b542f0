#pragma once

#include "cli/module_commands.hpp"

namespace keel::cli {

// Adds `plan`, `install`, `upgrade` and `uninstall` to the `module` command group.
void add_lifecycle_commands(CLI::App& module, Runner& selected);

}  // namespace keel::cli
