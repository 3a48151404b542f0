#include "db/cluster.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <vector>

#include "app/error.hpp"
#include "db/connection.hpp"

namespace keel::db {
namespace fs = std::filesystem;

namespace {

std::string read_command(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return out;
  std::array<char, 256> buf{};
  while (size_t n = std::fread(buf.data(), 1, buf.size(), pipe))
    out.append(buf.data(), n);
  ::pclose(pipe);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
    out.pop_back();
  return out;
}

std::string tail_of(const fs::path& file, size_t max = 2000) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  return text.size() > max ? text.substr(text.size() - max) : text;
}

// An exclusive flock on a file, released on scope exit.
class FileLock {
 public:
  // `on_wait` is called when the lock is taken already, before waiting for it.
  explicit FileLock(const fs::path& file, const std::function<void()>& on_wait = {}) {
    fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) throw Error("db.embedded", "cannot open lock file " + file.string());
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
    if (on_wait) on_wait();
    while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~FileLock() {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  int fd_ = -1;
};

// Whether `pid` is a zombie: a process that has ended but that nobody reaped. In a container
// whose init does not reap orphans, a postmaster killed by a crash stays one; kill(pid, 0) still
// succeeds on it, so that pg_ctl and postgres both take it for a live server.
bool is_zombie(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  auto name_end = stat.rfind(')');  // "pid (name) state ..."; the name may hold spaces
  if (name_end == std::string::npos || name_end + 2 >= stat.size()) return false;
  char state = stat[name_end + 2];
  return state == 'Z' || state == 'X';
}

// Whether no process is attached to the System V shared memory segment `id` any more.
bool segment_unused(int id) {
  struct shmid_ds info {};
  if (::shmctl(id, IPC_STAT, &info) != 0) return errno == EINVAL || errno == EIDRM;
  return info.shm_nattch == 0;
}

}  // namespace

fs::path find_pg_bindir() {
  std::error_code ec;
  std::string from_config = read_command("pg_config --bindir 2>/dev/null");
  if (!from_config.empty() && fs::exists(fs::path(from_config) / "initdb", ec)) return from_config;
  std::string from_path = read_command("command -v initdb 2>/dev/null");
  if (!from_path.empty()) return fs::canonical(from_path, ec).parent_path();
  std::vector<fs::path> candidates;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec))
    if (fs::exists(entry.path() / "bin" / "initdb")) candidates.push_back(entry.path() / "bin");
  std::sort(candidates.begin(), candidates.end(), [](const fs::path& a, const fs::path& b) {
    return std::stoi(a.parent_path().filename().string()) <
           std::stoi(b.parent_path().filename().string());
  });
  if (!candidates.empty()) return candidates.back();
  throw Error("db.embedded", "PostgreSQL server programs (initdb, pg_ctl) not found",
              "install them with scripts/bootstrap (Debian package postgresql), or give a "
              "database with --db");
}

Cluster::Cluster(Options options) : options_(std::move(options)) {
  options_.data_dir = fs::absolute(options_.data_dir);
  options_.socket_dir = fs::absolute(options_.socket_dir);
}

Cluster::~Cluster() {
  try {
    stop();
  } catch (const std::exception& e) {
    spdlog::warn("stopping the embedded PostgreSQL failed: {}", e.what());
  }
}

std::string Cluster::conninfo(const std::string& dbname) const {
  return "host=" + options_.socket_dir.string() + " port=" + std::to_string(options_.port) +
         " user=keel dbname=" + dbname;
}

void Cluster::prepare_dir(const fs::path& dir) {
  fs::create_directories(dir);
  give_to_owner(dir);
}

void Cluster::give_to_owner(const fs::path& path) {
  if (::geteuid() != 0) return;
  struct passwd* pw = ::getpwnam(options_.os_user.c_str());
  if (!pw)
    throw Error("db.embedded", "system user \"" + options_.os_user + "\" does not exist",
                "PostgreSQL refuses to run as root: create the user (the Debian package "
                "postgresql does) or name another with --embedded-user");
  if (::chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0)
    throw Error("db.embedded", "cannot give " + path.string() + " to " + options_.os_user);
}

int Cluster::run(const std::string& program, const std::vector<std::string>& args,
                 const fs::path& output, bool as_owner) {
  fs::path exe = bindir_ / program;
  pid_t pid = ::fork();
  if (pid < 0) throw Error("db.embedded", "fork failed");
  if (pid == 0) {
    int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    if (as_owner && ::geteuid() == 0) {
      struct passwd* pw = ::getpwnam(options_.os_user.c_str());
      if (!pw || ::setgid(pw->pw_gid) != 0 || ::initgroups(pw->pw_name, pw->pw_gid) != 0 ||
          ::setuid(pw->pw_uid) != 0)
        ::_exit(126);
      ::setenv("HOME", pw->pw_dir, 1);
    }
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(exe.c_str()));
    for (const auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

void Cluster::init() {
  fs::path log = options_.socket_dir / "initdb.log";
  prepare_dir(options_.data_dir);
  ::chmod(options_.data_dir.c_str(), 0700);
  if (!options_.primary_conninfo.empty()) {
    spdlog::info("copying the primary into {} (pg_basebackup)", options_.data_dir.string());
    int rc = run("pg_basebackup",
                 {"-D", options_.data_dir.string(), "-R", "-X", "stream", "-c", "fast", "-d",
                  options_.primary_conninfo},
                 log, true);
    if (rc != 0)
      throw Error("db.embedded", "pg_basebackup failed (exit " + std::to_string(rc) + ")",
                  "see " + log.string(), tail_of(log));
  } else {
    spdlog::info("creating the embedded PostgreSQL cluster in {}", options_.data_dir.string());
    int rc = run("initdb",
                 {"-D", options_.data_dir.string(), "-U", "keel", "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-instructions"},
                 log, true);
    if (rc != 0)
      throw Error("db.embedded", "initdb failed (exit " + std::to_string(rc) + ")",
                  "see " + log.string(), tail_of(log));
  }
  std::ofstream conf(options_.data_dir / "postgresql.conf", std::ios::app);
  conf << "\n# Keel embedded cluster: Unix socket only\n"
       << "listen_addresses = ''\n"
       << "unix_socket_directories = '" << options_.socket_dir.string() << "'\n"
       << "port = " << options_.port << "\n"
       << "max_connections = 200\n";
  if (!options_.durable) conf << "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n";
}

void Cluster::clear_stale_lock_files() {
  // postmaster.pid (and the socket's lock file, which starts the same way): pid, data
  // directory, start time, port, socket directory, listen address, "shared-memory-key
  // shared-memory-id", status. PostgreSQL recovers them by itself when the process is gone, but
  // not when the pid is a zombie: then, once no process uses the old server's shared memory any
  // more (its backends have ended too), they can go.
  auto stale = [](const fs::path& file) {
    std::ifstream in(file);
    std::vector<std::string> lines;
    for (std::string line; lines.size() < 7 && std::getline(in, line);)
      lines.push_back(line);
    if (lines.empty()) return false;
    pid_t pid = 0;
    try {
      pid = static_cast<pid_t>(std::stol(lines[0]));
    } catch (const std::exception&) {
      return false;
    }
    if (pid <= 0 || !is_zombie(pid)) return false;
    std::istringstream shm(lines.size() == 7 ? lines[6] : "");
    unsigned long key = 0, id = 0;
    // Still in use: postgres refuses to start, and says why in its log.
    if (shm >> key >> id && !segment_unused(static_cast<int>(id))) return false;
    spdlog::warn("removing {}: the server it names (pid {}) has ended", file.string(), pid);
    return true;
  };
  fs::path pid_file = options_.data_dir / "postmaster.pid";
  fs::path socket_lock =
      options_.socket_dir / (".s.PGSQL." + std::to_string(options_.port) + ".lock");
  std::error_code ec;
  if (fs::exists(pid_file, ec) && !stale(pid_file)) return;
  fs::remove(pid_file, ec);
  if (stale(socket_lock)) fs::remove(socket_lock, ec);
}

bool Cluster::running() {
  clear_stale_lock_files();
  // pg_ctl status: 0 running, 3 not running (a stale postmaster.pid counts as not running;
  // postgres itself removes it on start when its process is gone), 4 no data directory.
  return run("pg_ctl", {"status", "-D", options_.data_dir.string()}, "/dev/null", true) == 0;
}

void Cluster::start() {
  if (bindir_.empty()) bindir_ = find_pg_bindir();
  prepare_dir(options_.socket_dir);
  FileLock lock(options_.socket_dir / "cluster.lock", [] {
    spdlog::info("waiting for another keel command that starts or stops the embedded PostgreSQL");
  });
  if (!fs::exists(options_.data_dir / "PG_VERSION")) init();
  if (!running()) launch();
  // The database Keel uses; created once.
  auto conn = Connection::open(conninfo("postgres"));
  auto exists = conn.exec("SELECT 1 FROM pg_database WHERE datname = 'keel'");
  if (exists.rows() == 0) conn.exec("CREATE DATABASE keel");
  // Registered as a user before the start lock goes: the command that started the server
  // takes the start lock, then waits for every user, before it stops it.
  if (users_fd_ < 0) {
    users_fd_ =
        ::open((options_.socket_dir / "cluster.users").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (users_fd_ < 0 || ::flock(users_fd_, LOCK_SH) != 0)
      throw Error("db.embedded", "cannot lock " + (options_.socket_dir / "cluster.users").string());
  }
}

void Cluster::launch() {
  fs::path log = options_.socket_dir / "postgres.log";
  if (::geteuid() == 0) {
    // The server log must be writable by the cluster's owner.
    std::ofstream(log, std::ios::app).close();
    give_to_owner(log);
  }
  int rc = run("pg_ctl",
               {"start", "-w", "-t", "60", "-D", options_.data_dir.string(), "-l", log.string()},
               options_.socket_dir / "pg_ctl.log", true);
  if (rc != 0)
    throw Error("db.embedded",
                "the embedded PostgreSQL did not start (pg_ctl exit " + std::to_string(rc) + ")",
                "see " + log.string(), tail_of(log));
  started_here_ = true;
}

void Cluster::halt(const std::string& mode) {
  if (!started_here_)
    throw Error("db.embedded", "only the command that started it halts a cluster");
  int rc = run("pg_ctl", {"stop", "-w", "-t", "60", "-m", mode, "-D", options_.data_dir.string()},
               options_.socket_dir / "pg_ctl.log", true);
  if (rc != 0)
    throw Error("db.embedded",
                "pg_ctl stop -m " + mode + " failed (exit " + std::to_string(rc) + ")");
}

void Cluster::stop() {
  if (users_fd_ >= 0) {
    ::close(users_fd_);  // releases the shared lock
    users_fd_ = -1;
  }
  if (!started_here_) return;
  started_here_ = false;
  // No command becomes a user meanwhile (they wait for the start lock, and then start the server
  // again); those that are wait until they end.
  FileLock lock(options_.socket_dir / "cluster.lock");
  FileLock users(options_.socket_dir / "cluster.users", [] {
    spdlog::info("waiting for the other keel commands that use the embedded PostgreSQL to end");
  });
  run("pg_ctl", {"stop", "-w", "-t", "120", "-m", "smart", "-D", options_.data_dir.string()},
      options_.socket_dir / "pg_ctl.log", true);
}

}  // namespace keel::db
