#pragma once

#include "cli/module_commands.hpp"

namespace keel::cli {

// Adds the commands that bring modules in and vouch for them: `module fetch`, `module new`,
// `module sign`, `module verify` to the `module` group, and `keel key generate` to `app`.
void add_distribution_commands(CLI::App& app, CLI::App& module, Runner& selected);

}  // namespace keel::cli
