#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace keel::testing {

// One `keel serve` process of this build, as on its own machine: its own working directory
// (so its own var/), the database, addons path and secret given through the environment, on a
// port chosen by the system (read back from its log); `config`, when not empty, is written to
// keel.toml in its directory. Stopped with SIGTERM at the end.
class ServeProcess {
 public:
  ServeProcess(const std::string& conninfo, const std::filesystem::path& addons,
               const std::string& secret, const std::string& config = {});
  ~ServeProcess();
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  std::uint16_t port() const { return port_; }
  std::string log_text() const;

 private:
  std::filesystem::path dir_, log_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace keel::testing
