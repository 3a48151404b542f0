#include "db/cluster.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
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
  explicit FileLock(const fs::path& file) {
    fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) throw Error("db.embedded", "cannot open lock file " + file.string());
    ::flock(fd_, LOCK_EX);
  }
  ~FileLock() {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  int fd_ = -1;
};

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
  spdlog::info("creating the embedded PostgreSQL cluster in {}", options_.data_dir.string());
  int rc = run("initdb",
               {"-D", options_.data_dir.string(), "-U", "keel", "-A", "trust", "-E", "UTF8",
                "--locale=C", "--no-instructions"},
               log, true);
  if (rc != 0)
    throw Error("db.embedded", "initdb failed (exit " + std::to_string(rc) + ")",
                "see " + log.string(), tail_of(log));
  std::ofstream conf(options_.data_dir / "postgresql.conf", std::ios::app);
  conf << "\n# Keel embedded cluster: Unix socket only\n"
       << "listen_addresses = ''\n"
       << "unix_socket_directories = '" << options_.socket_dir.string() << "'\n"
       << "port = " << options_.port << "\n"
       << "max_connections = 200\n";
  if (!options_.durable) conf << "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n";
}

bool Cluster::running() {
  // pg_ctl status: 0 running, 3 not running (a stale postmaster.pid counts as not running;
  // postgres itself removes it on start when its process is gone), 4 no data directory.
  return run("pg_ctl", {"status", "-D", options_.data_dir.string()}, "/dev/null", true) == 0;
}

void Cluster::start() {
  if (bindir_.empty()) bindir_ = find_pg_bindir();
  prepare_dir(options_.socket_dir);
  FileLock lock(options_.socket_dir / "cluster.lock");
  if (!fs::exists(options_.data_dir / "PG_VERSION")) init();
  if (!running()) launch();
  // The database Keel uses; created once.
  auto conn = Connection::open(conninfo("postgres"));
  auto exists = conn.exec("SELECT 1 FROM pg_database WHERE datname = 'keel'");
  if (exists.rows() == 0) conn.exec("CREATE DATABASE keel");
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

void Cluster::stop() {
  if (!started_here_) return;
  started_here_ = false;
  FileLock lock(options_.socket_dir / "cluster.lock");
  run("pg_ctl", {"stop", "-w", "-t", "120", "-m", "smart", "-D", options_.data_dir.string()},
      options_.socket_dir / "pg_ctl.log", true);
}

}  // namespace keel::db
