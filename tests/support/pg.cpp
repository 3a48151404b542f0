#include "support/pg.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>

#include "db/cluster.hpp"

namespace keel::testing {
namespace fs = std::filesystem;

namespace {

struct RunCluster {
  fs::path root;
  std::unique_ptr<db::Cluster> cluster;

  RunCluster() {
    std::string tmpl = (fs::temp_directory_path() / "keel-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    root = tmpl;
    fs::permissions(root, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    db::Cluster::Options options;
    options.data_dir = root / "pg";
    options.socket_dir = root / "run";
    options.durable = false;
    cluster = std::make_unique<db::Cluster>(options);
    cluster->start();
  }
  ~RunCluster() {
    cluster.reset();  // stops it
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};

RunCluster& run_cluster() {
  // Destroyed at exit, after every test.
  static RunCluster instance;
  return instance;
}

}  // namespace

std::string cluster_conninfo(const std::string& dbname) {
  return run_cluster().cluster->conninfo(dbname);
}

void stop_cluster(const std::string& mode) {
  run_cluster().cluster->halt(mode);
}

void start_cluster() {
  run_cluster().cluster->resume();
}

TestDatabase::TestDatabase() {
  static std::atomic<int> counter{0};
  name_ = "t" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  auto admin = db::Connection::open(cluster_conninfo("postgres"));
  admin.exec("CREATE DATABASE " + db::quote_ident(name_) + " TEMPLATE template0");
  conninfo_ = cluster_conninfo(name_);
}

TestDatabase::~TestDatabase() {
  try {
    auto admin = db::Connection::open(cluster_conninfo("postgres"));
    admin.exec("DROP DATABASE IF EXISTS " + db::quote_ident(name_) + " WITH (FORCE)");
  } catch (...) {
  }
}

}  // namespace keel::testing
