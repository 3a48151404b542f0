#pragma once

namespace keel::cli {

// Parses the command line and runs the command; returns the process exit status
// (0 success, 1 a failure the user can fix, 2 bad usage).
int run(int argc, char** argv);

}  // namespace keel::cli
