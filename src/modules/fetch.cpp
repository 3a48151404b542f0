#include "modules/fetch.hpp"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <set>

#include "modules/discovery.hpp"
#include "modules/manifest.hpp"
#include "modules/signing.hpp"

extern char** environ;

namespace keel::modules {
namespace fs = std::filesystem;

namespace {

struct Output {
  int status = -1;
  std::string out, err;
};

// Runs `git args...` (no shell) in `cwd` with stdin from /dev/null and no terminal prompts;
// captures stdout and stderr.
Output run_git(const std::vector<std::string>& args, const fs::path& cwd = {}) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (v.rfind("GIT_TERMINAL_PROMPT=", 0) == 0 || v.rfind("LC_ALL=", 0) == 0) continue;
    env_strings.emplace_back(v);
  }
  env_strings.emplace_back("GIT_TERMINAL_PROMPT=0");
  env_strings.emplace_back("LC_ALL=C");
  std::vector<char*> envp;
  for (auto& s : env_strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings{"git"};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings)
    argv.push_back(s.data());
  argv.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw Error("fetch.git", "pipe failed");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw Error("fetch.git", "pipe failed");
  }
  pid_t pid = ::fork();
  if (pid < 0) throw Error("fetch.git", "fork failed");
  if (pid == 0) {
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execvpe("git", argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  Output result;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  char buffer[8192];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (result.status == 127)
    throw Error("fetch.git", "cannot run the git command",
                "install git (Debian: apt-get install git) and make sure it is on PATH");
  return result;
}

std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
    line.pop_back();
  return line;
}

// A folder made for one fetch, next to where the module goes (same filesystem, so the final
// rename is atomic), removed with everything in it unless released. It holds no manifest.yaml
// itself, so discovery never takes it for a module.
class TempDir {
 public:
  explicit TempDir(const fs::path& parent) {
    std::string pattern = (parent / ".keel-fetch-XXXXXX").string();
    if (!::mkdtemp(pattern.data()))
      throw Error("fetch.write",
                  "cannot create a folder in " + parent.string() + ": " + std::strerror(errno),
                  "check that the addons directory is writable");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// "file:///srv/x.git (ref v1.2.0)" for messages.
std::string where(const std::string& source, const std::string& ref) {
  return source + (ref.empty() ? "" : " (ref " + ref + ")");
}

std::string short_commit(const std::string& commit) {
  return commit.substr(0, 12);
}

// What fetching one dependency produced: a module folder in the temp dir, checked.
struct Clone {
  fs::path dir;
  LockEntry entry;
  Version version;
};

class Fetcher {
 public:
  explicit Fetcher(const FetchOptions& options) : options_(options) {}

  FetchResult run();

 private:
  Clone clone(const Dependency& dep, const std::string& requester, const LockEntry* locked,
              const TempDir& temp);
  std::string resolve_ref(const fs::path& repo, const Dependency& dep);
  void install(const Clone& c, bool replace);
  void report(const std::string& line) const {
    if (options_.report) options_.report(line);
  }
  bool is_fetched_folder(const Manifest& m) const {
    std::error_code ec;
    return fs::equivalent(m.dir.parent_path(), options_.target_dir, ec);
  }

  const FetchOptions& options_;
  FetchResult result_;
};

std::string Fetcher::resolve_ref(const fs::path& repo, const Dependency& dep) {
  std::vector<std::string> candidates;
  if (dep.ref.empty()) {
    candidates = {"HEAD"};
  } else {
    // A tag first, then a branch of the source, then a commit id (full or abbreviated).
    candidates = {"refs/tags/" + dep.ref, "refs/remotes/origin/" + dep.ref, dep.ref};
  }
  for (const auto& c : candidates) {
    auto r = run_git({"rev-parse", "--verify", "--quiet", c + "^{commit}"}, repo);
    if (r.status == 0) return first_line(r.out);
  }
  throw Error("fetch.ref", "\"" + dep.ref + "\" is not a tag, branch or commit of " + dep.git,
              "fix `ref` of \"" + dep.name + "\" in the manifest that depends on it",
              "dependency at " + dep.location.to_string());
}

Clone Fetcher::clone(const Dependency& dep, const std::string& requester, const LockEntry* locked,
                     const TempDir& temp) {
  if (dep.git.front() == '-' || (!dep.ref.empty() && dep.ref.front() == '-'))
    throw Error("fetch.source", "refusing git source or ref starting with \"-\": " + dep.git, "",
                "dependency at " + dep.location.to_string());
  Clone c;
  c.dir = temp.path() / dep.name;
  const std::string from = where(dep.git, dep.ref);
  auto cloned = run_git({"clone", "--quiet", "--no-checkout", "--", dep.git, c.dir.string()});
  if (cloned.status != 0)
    throw Error("fetch.clone", "cannot clone \"" + dep.name + "\" from " + dep.git,
                "check `git:` of \"" + dep.name + "\" in " + dep.location.to_string(),
                first_line(cloned.err));
  std::string commit;
  if (locked) {
    auto r = run_git({"rev-parse", "--verify", "--quiet", locked->commit + "^{commit}"}, c.dir);
    if (r.status != 0)
      throw Error("fetch.locked_commit",
                  "commit " + locked->commit + " of \"" + dep.name + "\" in " +
                      options_.lock_file.string() + " is not in " + dep.git,
                  "the history was rewritten upstream; run `keel module fetch --update` to move "
                  "to what the ref names now");
    commit = first_line(r.out);
  } else {
    commit = resolve_ref(c.dir, dep);
  }
  auto checkout = run_git(
      {"-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", commit}, c.dir);
  if (checkout.status != 0)
    throw Error("fetch.checkout", "cannot check out " + commit + " of " + from, "",
                first_line(checkout.err));
  std::error_code ec;
  fs::remove_all(c.dir / ".git", ec);
  if (ec) throw Error("fetch.write", "cannot remove " + (c.dir / ".git").string());

  // The repository root is the module folder: its manifest names the module.
  Diagnostics problems;
  auto manifest = load_manifest(c.dir, problems);
  if (!manifest) {
    std::vector<Diagnostic> diagnostics;
    for (auto d : problems.errors()) {
      d.location.file = from + ": " + d.location.file.lexically_relative(c.dir).string();
      diagnostics.push_back(std::move(d));
    }
    throw ValidationError(
        "fetch.invalid",
        "the module fetched for \"" + dep.name + "\" from " + from + " has an invalid manifest",
        std::move(diagnostics));
  }
  if (manifest->version.to_string().empty() || !dep.constraint.matches(manifest->version))
    throw Error("fetch.version",
                "\"" + requester + "\" needs " + dep.name + " " + dep.constraint.text() + " but " +
                    from + " holds " + dep.name + " " + manifest->version.to_string(),
                "point `ref` at a matching version, or relax the constraint",
                "dependency at " + dep.location.to_string());
  c.version = manifest->version;
  c.entry.name = dep.name;
  c.entry.source = dep.git;
  c.entry.ref = dep.ref;
  c.entry.commit = commit;
  c.entry.digest = module_digest(c.dir);
  if (locked && c.entry.digest != locked->digest)
    throw Error("fetch.digest_mismatch",
                "\"" + dep.name + "\" at commit " + short_commit(commit) + " from " + dep.git +
                    " has digest " + c.entry.digest + ", but " + options_.lock_file.string() +
                    " records " + locked->digest,
                "the module's content is not what was locked; find out why before trusting it. "
                "If the change is expected, run `keel module fetch --update`");
  return c;
}

// Moves a checked clone into the addons directory (replacing the old folder when updating).
void Fetcher::install(const Clone& c, bool replace) {
  fs::path final_dir = options_.target_dir / c.entry.name;
  std::error_code ec;
  if (replace && fs::exists(final_dir, ec)) {
    fs::path old = c.dir.parent_path() / (c.entry.name + ".old");
    fs::rename(final_dir, old);  // removed with the temp dir
  }
  fs::rename(c.dir, final_dir, ec);
  if (ec)
    throw Error("fetch.write", "cannot move the module into " + final_dir.string(),
                "check that the addons directory is writable", ec.message());
}

FetchResult Fetcher::run() {
  std::error_code ec;
  fs::create_directories(options_.target_dir, ec);
  if (ec)
    throw Error("fetch.write", "cannot create the addons directory " + options_.target_dir.string(),
                ec.message());
  auto found = discover(options_.module_path, options_.core_dir);
  for (const auto& d : found.diagnostics.items())
    if (d.severity == Severity::kWarning) result_.warnings.add(d);
  throw_if_errors(found.diagnostics, "manifest.invalid", "invalid module manifests");
  const auto old_lock = read_lock_file(options_.lock_file);

  std::map<std::string, Manifest> known;
  std::deque<std::string> queue;
  for (auto& m : found.modules) {
    queue.push_back(m.name);
    known.emplace(m.name, std::move(m));
  }
  LockFile& lock = result_.lock;
  std::set<std::string> updated;
  auto walk = [&] {
    while (!queue.empty()) {
      const std::string name = queue.front();
      queue.pop_front();
      const std::vector<Dependency> depends = known.at(name).depends;
      for (const auto& dep : depends) {
        if (dep.git.empty()) continue;
        const LockEntry* locked = old_lock ? old_lock->find(dep.name) : nullptr;
        auto present = known.find(dep.name);
        if (present != known.end()) {
          // Present already: a module fetched before keeps its lock entry (or is moved to its
          // ref's new commit with --update); any other is the user's own and is left alone.
          if (lock.find(dep.name) || !locked || !is_fetched_folder(present->second)) continue;
          if (options_.update && !updated.count(dep.name)) {
            updated.insert(dep.name);
            TempDir temp(options_.target_dir);
            Clone c = clone(dep, name, nullptr, temp);
            const std::string current = module_digest(present->second.dir);
            if (c.entry.commit == locked->commit && c.entry.digest == current) {
              report(dep.name + " " + c.version.to_string() + " is up to date (commit " +
                     short_commit(c.entry.commit) + ")");
              lock.put(c.entry);
              continue;
            }
            const std::string before = present->second.version.to_string();
            install(c, /*replace=*/true);
            Diagnostics problems;
            auto manifest = load_manifest(options_.target_dir / dep.name, problems);
            throw_if_errors(problems, "manifest.invalid", "invalid module manifests");
            known.erase(present);
            known.emplace(dep.name, std::move(*manifest));
            queue.push_back(dep.name);
            lock.put(c.entry);
            result_.fetched.push_back(dep.name);
            report("updated " + dep.name + " " + before + " -> " + c.version.to_string() +
                   " from " + where(dep.git, dep.ref) + ", commit " + short_commit(c.entry.commit));
            continue;
          }
          if (module_digest(present->second.dir) != locked->digest)
            result_.warnings.warning(
                {present->second.dir},
                "module \"" + dep.name +
                    "\" was changed since it was fetched (its digest is "
                    "not the one " +
                    options_.lock_file.string() + " records)",
                "to return to the locked version, remove the folder and run `keel module "
                "fetch`");
          if (locked->source != dep.git || locked->ref != dep.ref)
            result_.warnings.warning(dep.location,
                                     "\"" + dep.name + "\" is locked at " +
                                         where(locked->source, locked->ref) +
                                         " but the manifest asks for " + where(dep.git, dep.ref),
                                     "run `keel module fetch --update` to move to it");
          lock.put(*locked);
          continue;
        }
        // Missing: clone it. The lock's commit when its entry is for the same source and ref.
        const bool use_lock =
            locked && !options_.update && locked->source == dep.git && locked->ref == dep.ref;
        TempDir temp(options_.target_dir);
        Clone c = clone(dep, name, use_lock ? locked : nullptr, temp);
        install(c, /*replace=*/false);
        Diagnostics problems;
        auto manifest = load_manifest(options_.target_dir / dep.name, problems);
        throw_if_errors(problems, "manifest.invalid", "invalid module manifests");
        known.emplace(dep.name, std::move(*manifest));
        queue.push_back(dep.name);
        lock.put(c.entry);
        result_.fetched.push_back(dep.name);
        report("fetched " + dep.name + " " + c.version.to_string() + " from " +
               where(dep.git, dep.ref) + ", commit " + short_commit(c.entry.commit) +
               (use_lock ? " (locked)" : ""));
      }
    }
  };
  try {
    walk();
  } catch (...) {
    // What was fetched stays, and stays recorded: old entries, overlaid with the new ones.
    if (!result_.fetched.empty()) {
      LockFile merged = old_lock.value_or(LockFile{});
      for (const auto& e : lock.entries)
        merged.put(e);
      write_lock_file(options_.lock_file, merged);
    }
    throw;
  }
  if (!lock.entries.empty() || old_lock) write_lock_file(options_.lock_file, lock);
  return std::move(result_);
}

}  // namespace

FetchResult fetch_modules(const FetchOptions& options) {
  return Fetcher(options).run();
}

}  // namespace keel::modules
