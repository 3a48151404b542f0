#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace keel::testing {

// One `keel serve` process of this build, as on its own machine: its own working directory
// (so its own var/), the database, addons path and secret given through the environment, on a
// port chosen by the system (read back from its log). Stopped with SIGTERM at the end.
class ServeProcess {
 public:
  // `env` is added to the environment (after the settings above, which it may override);
  // `config` (when not empty) is written to keel.toml in the working directory, which
  // `keel serve` reads.
  ServeProcess(const std::string& conninfo, const std::filesystem::path& addons,
               const std::string& secret, const std::map<std::string, std::string>& env = {},
               const std::string& config = {});
  ~ServeProcess();
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string log_text() const;
  // Whether the process still runs (false once it exited or crashed).
  bool running();

 private:
  std::filesystem::path dir_, log_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace keel::testing
