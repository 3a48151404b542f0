#pragma once

#include <string>

#include "db/connection.hpp"

namespace keel::testing {

// One private PostgreSQL cluster per test run (initdb in a temp dir, Unix socket, fsync off),
// started on first use and stopped at exit.
std::string cluster_conninfo(const std::string& dbname);

// Stops the run's cluster (`mode`: "fast" or "immediate") and starts it again: fault tests.
void stop_cluster(const std::string& mode);
void start_cluster();

// A fresh database for one test, dropped when the object goes away.
class TestDatabase {
 public:
  TestDatabase();
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& conninfo() const { return conninfo_; }
  db::Connection connect() const { return db::Connection::open(conninfo_); }

 private:
  std::string name_;
  std::string conninfo_;
};

}  // namespace keel::testing
