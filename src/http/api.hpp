#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "app/config.hpp"
#include "http/metrics.hpp"
#include "http/router.hpp"
#include "http/server.hpp"

namespace keel::db {
class Pool;
}
namespace keel::records {
class RecordService;
}
namespace keel::schema {
class Registry;
}

namespace keel::http {

// What requests work on: built once per module change, never mutated, swapped atomically.
// A request holds its snapshot until it ends, so an install never changes the ground under it.
struct Snapshot {
  std::shared_ptr<const schema::Registry> registry;
  std::shared_ptr<const records::RecordService> records;
  std::string openapi;  // generated once per snapshot
};

// The REST API of contract §3: routes, handlers (parse and shape only; the rules live in the
// services), the registry snapshot, module administration with hot reload.
class Api {
 public:
  Api(const Config& config, db::Pool& pool);
  ~Api();

  // Rebuilds the snapshot from the installed modules and swaps it in (hot install, NOTIFY).
  void reload();
  std::shared_ptr<const Snapshot> snapshot() const { return snapshot_.load(); }

  Response dispatch(Request& request) { return router_.dispatch(request); }
  // Access log line and metrics for every answered request.
  void observe(const Request& request, const Response& response, double seconds);

 private:
  void add_routes();

  const Config& config_;
  db::Pool& pool_;
  Router router_;
  Metrics metrics_;
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  std::mutex reload_mutex_;  // one rebuild at a time
};

}  // namespace keel::http
