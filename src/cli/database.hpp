#pragma once

#include <functional>
#include <memory>
#include <string>

#include "app/config.hpp"
#include "db/cluster.hpp"
#include "db/connection.hpp"
#include "runtime/snapshot.hpp"

namespace keel::cli {

struct Context;

// The database a command works on: `--db` / KEEL_DB_URL / database.url, or else the embedded
// cluster under var/ (created and started when needed, stopped when this object goes away if
// it was started here).
class Database {
 public:
  // Opens the database. With `create` false, returns nullptr when there is no database yet
  // (no URL configured and no embedded cluster created), instead of creating one.
  static std::unique_ptr<Database> open(const Config& config, bool create = true);
  // As open(), calling `before_connecting` with the connection string once the database is
  // reachable (the embedded cluster started) and before this object's own connection opens:
  // connections opened there from other threads (a pool's, a listener's) open alongside it
  // instead of after it.
  static std::unique_ptr<Database> open(
      const Config& config, const std::function<void(const std::string&)>& before_connecting);

  db::Connection& connection() { return conn_; }
  // The connection string, for pools and listeners of the same database.
  const std::string& conninfo() const { return conninfo_; }

 private:
  static std::unique_ptr<Database> open(
      const Config& config, bool create,
      const std::function<void(const std::string&)>& before_connecting);
  Database(std::unique_ptr<db::Cluster> cluster, std::string conninfo,
           const std::function<void(const std::string&)>& before_connecting)
      : cluster_(std::move(cluster)),
        conninfo_(std::move(conninfo)),
        conn_(connect(conninfo_, before_connecting)) {}
  static db::Connection connect(const std::string& conninfo,
                                const std::function<void(const std::string&)>& before) {
    if (before) before(conninfo);
    return db::Connection::open(conninfo);
  }

  std::unique_ptr<db::Cluster> cluster_;  // declared first: destroyed after the connection
  std::string conninfo_;
  db::Connection conn_;
};

// Opens the database (created when needed) and installs `base` when it is empty: serve and
// user administration need its tables.
std::unique_ptr<Database> open_with_base(const Context& context);
// The second half of open_with_base, for a caller with work of its own in between.
void install_base(const Context& context, Database& database);

// The snapshot of the modules installed in `conn`'s database (their native code loaded as the
// configuration says): its RecordService is how commands write records, as the server does.
runtime::Snapshot installed_snapshot(const Context& context, db::Connection& conn);

}  // namespace keel::cli
