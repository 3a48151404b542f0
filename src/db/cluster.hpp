#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace keel::db {

// A private PostgreSQL cluster: Keel's embedded database (var/pg, socket in var/run) and the
// throw-away cluster of a test run. initdb on first use, pg_ctl start on a Unix socket only,
// stop when the object that started it goes away (contract §4 rule 4: a command that finds the
// cluster running uses it; only the one that started it stops it, and it waits for the others'
// sessions to end). When Keel runs as root the cluster belongs to and runs as `os_user`.
class Cluster {
 public:
  struct Options {
    std::filesystem::path data_dir;    // PGDATA
    std::filesystem::path socket_dir;  // where the Unix socket and the lock file live
    std::string os_user = "postgres";  // used only when running as root
    int port = 5432;
    bool durable = true;  // false for tests: fsync off, faster
    // Non-empty: the cluster is a streaming replica of the cluster this libpq connection string
    // reaches (as a superuser or a role with REPLICATION), made by `pg_basebackup -R` instead of
    // initdb (the primary needs wal_level replica and a replication entry in pg_hba.conf, both
    // PostgreSQL's defaults for local connections).
    std::string primary_conninfo;
  };

  explicit Cluster(Options options);
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;
  ~Cluster();

  // Creates the cluster if needed and starts it unless it runs already. Safe when several
  // processes do it at once (a file lock serialises them). Until stop(), this object counts as
  // a user of the cluster (a shared lock on var/run/cluster.users).
  void start();
  // Stops the cluster if this object started it, once every other user has stopped using it:
  // a command that found the server running keeps it until it ends, new sessions included.
  // Then a smart shutdown, which also waits for sessions from outside Keel.
  void stop();

  // For fault tests: pg_ctl stop with `mode` ("fast" or "immediate", a crash and recovery at
  // the next start), whoever uses the cluster, and pg_ctl start again. Only for a cluster this
  // object started.
  void halt(const std::string& mode);
  void resume() { launch(); }

  bool started_here() const { return started_here_; }
  // libpq connection string for `dbname` over the Unix socket, as the cluster's superuser.
  std::string conninfo(const std::string& dbname = "keel") const;

 private:
  void init();
  void launch();
  void give_to_owner(const std::filesystem::path& path);
  bool running();
  void clear_stale_lock_files();
  int run(const std::string& program, const std::vector<std::string>& args,
          const std::filesystem::path& output, bool as_owner);
  void prepare_dir(const std::filesystem::path& dir);

  Options options_;
  std::filesystem::path bindir_;
  bool started_here_ = false;
  int users_fd_ = -1;  // holds the shared lock on cluster.users between start() and stop()
};

// PostgreSQL's server programs: `pg_config --bindir`, then PATH (initdb), then the newest
// /usr/lib/postgresql/*/bin. Throws keel::Error with a hint when none is found.
std::filesystem::path find_pg_bindir();

}  // namespace keel::db
