#pragma once

#include "app/error.hpp"

namespace keel::cli {

// Parses the command line and runs the command; returns the process exit status
// (0 success, 1 a failure the user can fix, 2 bad usage).
int run(int argc, char** argv);

// The exit status of a command that failed with an error of `kind`: 2 for bad usage, 1 for
// everything else (the one table of kinds to exit statuses; http/ has its statuses).
int exit_code_of(ErrorKind kind);

}  // namespace keel::cli
