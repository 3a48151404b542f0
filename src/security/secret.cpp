#include "security/secret.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "app/error.hpp"
#include "security/crypto.hpp"

namespace keel::security {

namespace fs = std::filesystem;

namespace {

std::string read_trimmed(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  return text;
}

[[noreturn]] void fail(const fs::path& file, const std::string& what) {
  throw Error("security.secret",
              "cannot " + what + " " + file.string() + ": " + std::strerror(errno),
              "make the var directory writable, or set KEEL_SECRET");
}

}  // namespace

std::string load_secret(const Config& config) {
  if (!config.secret.empty()) return config.secret;
  fs::path file = config.var_dir / "secret";
  std::error_code ec;
  fs::create_directories(config.var_dir, ec);
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    std::string secret = to_hex(random_bytes(32)) + "\n";
    bool ok = ::write(fd, secret.data(), secret.size()) == static_cast<ssize_t>(secret.size());
    ok = ::fsync(fd) == 0 && ok;
    ::close(fd);
    if (!ok) fail(file, "write");
    spdlog::info("generated the token secret {}", file.string());
    secret.pop_back();
    return secret;
  }
  if (errno != EEXIST) fail(file, "create");
  // Another process may be writing it right now: wait a little for its contents.
  for (int attempt = 0; attempt < 50; ++attempt) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) fail(file, "read");
    if (st.st_mode & (S_IRWXG | S_IRWXO))
      spdlog::warn("{} is readable by others (mode {:o}); it should be 0600", file.string(),
                   st.st_mode & 0777);
    std::string secret = read_trimmed(file);
    if (secret.size() >= 32) return secret;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw Error(
      "security.secret", file.string() + " holds no usable secret",
      "delete it (a new one is generated; issued tokens become invalid) or set KEEL_SECRET");
}

}  // namespace keel::security
