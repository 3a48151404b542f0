#include "support/serve_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include "security/crypto.hpp"
#include "support/auth.hpp"

extern char** environ;

namespace keel::testing {

namespace fs = std::filesystem;

ServeProcess::ServeProcess(const std::string& conninfo, const fs::path& addons,
                           const std::string& secret, const std::string& config)
    : dir_(fs::temp_directory_path() / ("keel-serve-" + security::random_token(6))) {
  fs::create_directories(dir_);
  if (!config.empty()) std::ofstream(dir_ / "keel.toml") << config;
  log_ = dir_ / "serve.log";
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::string_view(*e).rfind("KEEL_", 0) != 0) env.emplace_back(*e);
  env.push_back("KEEL_CORE_PATH=" KEEL_SOURCE_DIR "/core");
  env.push_back("KEEL_DB_URL=" + conninfo);
  env.push_back("KEEL_ADDONS_PATH=" + addons.string());
  env.push_back("KEEL_SECRET=" + secret);
  env.push_back("KEEL_LISTEN=127.0.0.1:0");
  env.push_back(std::string("KEEL_ADMIN_PASSWORD=") + kTestPassword);
  std::vector<char*> envp;
  for (auto& e : env)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string exe = KEEL_BINARY, serve = "serve", dir = dir_.string(), log = log_.string();
  std::vector<char*> argv = {exe.data(), serve.data(), nullptr};
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int in = ::open("/dev/null", O_RDONLY);
    if (out < 0 || in < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0 ||
        ::chdir(dir.c_str()) != 0)
      ::_exit(126);
    ::execve(exe.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  // Up to 60 s for "listening on http://127.0.0.1:PORT" (a loaded CI machine).
  const std::string marker = "listening on http://127.0.0.1:";
  for (int i = 0; i < 1200 && port_ == 0; ++i) {
    std::string text = log_text();
    if (auto at = text.find(marker); at != std::string::npos) {
      port_ = static_cast<std::uint16_t>(std::atoi(text.c_str() + at + marker.size()));
      break;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("keel serve exited at start:\n" + text);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (port_ == 0) throw std::runtime_error("keel serve did not start:\n" + log_text());
}
ServeProcess::~ServeProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    bool gone = false;
    for (int i = 0; i < 200 && !gone; ++i) {
      gone = ::waitpid(pid_, &status, WNOHANG) == pid_;
      if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!gone) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}
std::string ServeProcess::log_text() const {
  std::ifstream in(log_);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace keel::testing
