#pragma once

#include <memory>

#include "app/config.hpp"
#include "db/cluster.hpp"
#include "db/connection.hpp"

namespace keel::cli {

// The database a command works on: `--db` / KEEL_DB_URL / database.url, or else the embedded
// cluster under var/ (created and started when needed, stopped when this object goes away if
// it was started here).
class Database {
 public:
  // Opens the database. With `create` false, returns nullptr when there is no database yet
  // (no URL configured and no embedded cluster created), instead of creating one.
  static std::unique_ptr<Database> open(const Config& config, bool create = true);

  db::Connection& connection() { return conn_; }

 private:
  Database(std::unique_ptr<db::Cluster> cluster, db::Connection conn)
      : cluster_(std::move(cluster)), conn_(std::move(conn)) {}

  std::unique_ptr<db::Cluster> cluster_;  // declared first: destroyed after the connection
  db::Connection conn_;
};

}  // namespace keel::cli
