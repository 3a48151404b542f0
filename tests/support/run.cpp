#include "support/run.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>

extern char** environ;

namespace keel::testing {
namespace fs = std::filesystem;

namespace {

// A temporary file that the child writes into, read back once it has exited.
class Capture {
 public:
  Capture() {
    std::string tmpl = (fs::temp_directory_path() / "keel-run-XXXXXX").string();
    fd_ = ::mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error("mkostemp failed");
    path_ = tmpl;
  }
  ~Capture() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  int fd() const { return fd_; }
  std::string text() const {
    std::ifstream in(path_, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  int fd_ = -1;
  fs::path path_;
};

}  // namespace

RunResult run_program(const fs::path& program, const std::vector<std::string>& args,
                      const RunOptions& options) {
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> env_items;
  for (char** e = environ; *e; ++e) {
    std::string_view item(*e);
    if (item.rfind("KEEL_", 0) == 0) continue;
    auto eq = item.find('=');
    if (options.env.count(std::string(item.substr(0, eq)))) continue;
    env_items.emplace_back(item);
  }
  for (const auto& [k, v] : options.env)
    env_items.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_items)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string exe = program.string();
  std::vector<char*> argv = {exe.data()};
  std::vector<std::string> arg_copies = args;
  for (auto& a : arg_copies)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string cwd = options.cwd.string();

  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool switch_user = !options.user.empty() && ::geteuid() == 0;
  if (switch_user) {
    struct passwd* pw = ::getpwnam(options.user.c_str());
    if (!pw) throw std::runtime_error("no system user " + options.user);
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    int count = 64;
    groups.resize(count);
    if (::getgrouplist(pw->pw_name, gid, groups.data(), &count) < 0) {
      groups.resize(count);
      ::getgrouplist(pw->pw_name, gid, groups.data(), &count);
    }
    groups.resize(count);
  }

  Capture out, err, in;
  if (!options.input.empty()) {
    if (::write(in.fd(), options.input.data(), options.input.size()) !=
            static_cast<ssize_t>(options.input.size()) ||
        ::lseek(in.fd(), 0, SEEK_SET) != 0)
      throw std::runtime_error("cannot write the program's input");
  }
  bool has_input = !options.input.empty();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int input = has_input ? in.fd() : ::open("/dev/null", O_RDONLY);
    if (input < 0 || ::dup2(input, 0) < 0 || ::dup2(out.fd(), 1) < 0 || ::dup2(err.fd(), 2) < 0 ||
        (!cwd.empty() && ::chdir(cwd.c_str()) != 0))
      ::_exit(126);
    if (switch_user && (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(gid) != 0 ||
                        ::setuid(uid) != 0))
      ::_exit(126);
    ::execve(exe.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw std::runtime_error("waitpid failed");
  RunResult r;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = out.text();
  r.err = err.text();
  return r;
}

RunResult run_keel(const std::vector<std::string>& args,
                   const std::map<std::string, std::string>& env, const fs::path& cwd,
                   const std::string& input) {
  RunOptions options;
  options.env = {{"KEEL_CORE_PATH", KEEL_SOURCE_DIR "/core"}};
  for (const auto& [k, v] : env)
    options.env[k] = v;
  options.cwd = cwd;
  options.input = input;
  return run_program(KEEL_BINARY, args, options);
}

}  // namespace keel::testing
