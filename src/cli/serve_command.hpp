#pragma once

#include "cli/module_commands.hpp"

namespace keel::cli {

// Adds `keel serve [--listen HOST:PORT]` to `app`.
void add_serve_command(CLI::App& app, Runner& selected);

}  // namespace keel::cli
