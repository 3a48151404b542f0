#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace keel::testing {

// What a program run by a test did.
struct RunResult {
  int status = -1;  // exit status, or 128 + the signal that ended it
  std::string out;  // everything written to stdout
  std::string err;  // everything written to stderr
};

struct RunOptions {
  // Added to the environment: the caller's, minus every KEEL_* variable.
  std::map<std::string, std::string> env;
  // Working directory; empty: the caller's.
  std::filesystem::path cwd;
  // System user to run as when the caller is root (empty: the caller).
  std::string user;
  // What the program reads on stdin (a file, so never a terminal); empty: /dev/null.
  std::string input;
};

// Runs `program` with `args` (fork + exec), stdin from /dev/null or `options.input` (so never
// a terminal), and waits for it. Safe to call from several threads at once.
RunResult run_program(const std::filesystem::path& program, const std::vector<std::string>& args,
                      const RunOptions& options = {});

// Runs the `keel` binary of this build, with KEEL_CORE_PATH at the source tree's core/.
RunResult run_keel(const std::vector<std::string>& args,
                   const std::map<std::string, std::string>& env = {},
                   const std::filesystem::path& cwd = {}, const std::string& input = {});

}  // namespace keel::testing
