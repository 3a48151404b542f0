#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "app/config.hpp"
#include "http/metrics.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "modules/graph.hpp"
#include "runtime/snapshot.hpp"
#include "security/context.hpp"

namespace keel::db {
class Connection;
class Listener;
class Pipeline;
class Pool;
class Replicas;
}  // namespace keel::db
namespace keel::native {
class Extensions;
}
namespace keel::records {
class RecordService;
struct Statement;
}  // namespace keel::records
namespace keel::schema {
class Registry;
}
namespace keel::runtime {
class AuthService;
}
namespace keel::security {
class Authenticator;
class Policy;
class TokenSigner;
}  // namespace keel::security

namespace keel::ui {
class Catalog;
}

namespace keel::http {

struct OpenApiBase;

// What requests work on: the runtime snapshot of the installed modules (registry, policy,
// RecordService, native extensions, UI catalog: runtime/snapshot.hpp) and what the API adds to
// it. Built once per module change, never mutated, swapped atomically. A request holds its
// snapshot until it ends, so an install never changes the ground under it.
struct Snapshot : runtime::Snapshot {
  std::shared_ptr<const Router> native_routes;  // the native modules': /api/v1/x/{module}/...
  // The OpenAPI document as `ctx` may see it, generated once per set of roles from the API's
  // routes, the native modules' and the registry (http/openapi.hpp).
  std::string openapi(const security::Context& ctx, const Router& api_routes,
                      const OpenApiBase& base) const;

 private:
  mutable std::mutex openapi_mutex_;
  mutable std::map<std::string, std::string> openapi_;
};

// The REST API of contract §3: routes, handlers (parse and shape only; the rules live in the
// services), the registry snapshot, module administration with hot reload.
class Api {
 public:
  Api(const Config& config, db::Pool& pool);
  // As above, with the module graph of the first reload discovered by the caller, e.g.
  // `std::async(std::launch::async, Api::discover_modules, std::cref(config))` started
  // while the database connections open.
  Api(const Config& config, db::Pool& pool, std::future<modules::ModuleGraph> first_graph);
  // The modules on disk, their manifests read and checked: what a reload starts from.
  static modules::ModuleGraph discover_modules(const Config& config);
  // The routes only, for what reads their descriptions (tests of the OpenAPI document): no
  // registry, no database connection; dispatching a request is not possible.
  struct RoutesOnly {};
  Api(const Config& config, db::Pool& pool, RoutesOnly);
  ~Api();

  // Rebuilds the snapshot from the installed modules and swaps it in (hot install, NOTIFY).
  void reload();
  // reload() after another server or command changed the modules (the NOTIFY listener): a
  // failure keeps the previous registry serving, is logged with the files it names, counted in
  // /metrics (keel_registry_reload_failures_total, keel_registry_stale), shown by /healthz
  // ("degraded"; the reason to administrators only), and retried with backoff (1 s doubling to
  // 30 s) until a reload succeeds.
  void reload_after_change();
  std::shared_ptr<const Snapshot> snapshot() const { return snapshot_.load(); }

  // Authenticates the caller (every /api/ route but login, refresh, healthz and metrics needs
  // a token: 401 otherwise), then routes. A caller not in the authenticator's memory is read
  // from the database on an io_worker (Response::block), never on the I/O thread.
  Response dispatch(Request& request);
  // Access log line and metrics for every answered request.
  void observe(const Request& request, const Response& response, double seconds);
  // What one I/O thread of the server (of `loops`) keeps for its requests
  // (ServerOptions::on_thread): pipelines on the thread's own loop, so that a read by id or a
  // create never changes threads. Their connections open here, not while serving.
  std::shared_ptr<void> thread_resources(boost::asio::io_context& loop, unsigned loops);

  // Signs access tokens (tests mint tokens with it) and resolves callers.
  const security::TokenSigner& signer() const { return *signer_; }
  security::Authenticator& authenticator() { return *authenticator_; }
  // The API's own routes (the native modules' are the snapshot's), and the static parts of
  // the OpenAPI document (share/openapi), loaded at start.
  const Router& router() const { return router_; }
  const OpenApiBase& openapi_base() const { return *openapi_base_; }

  // Who is asking; dispatch authenticated it before any route that needs a token.
  static const security::Context& caller(const Request& req) {
    static const security::Context nobody;
    return req.caller ? *req.caller : nobody;
  }

 private:
  void add_routes();
  // The /records routes (http/record_routes.cpp, with the pipelines their statements run on).
  void add_record_routes(const std::string& v1);
  // 401 without a caller; else routes as it.
  Response admit(Request& request, std::optional<security::Context> context);
  Response route(Request& request);
  // Runs a statement of RecordService on a pipeline (reads, or writes that are one statement);
  // the answer (`status`; with `location`, a Location header of it and the record's id) is
  // made when its rows arrive.
  enum class Use { kRead, kWrite };
  // With read replicas, a read may go to one (db::Replicas decides, given `request`'s user and
  // Keel-LSN header), and a write's answer carries the primary's LSN after it (Keel-LSN).
  Response run_statement(std::shared_ptr<const Snapshot> snap, records::Statement statement,
                         Use use, int status = 200, std::string location = {},
                         const Request* request = nullptr);
  // After a write by `request`'s caller on `conn` (committed): with replicas, remembers the
  // primary's LSN for the caller and adds it to `response` as Keel-LSN.
  Response written(const Request& request, db::Connection& conn, Response response);
  // The pipelines of the calling I/O thread, or else ones shared by every thread.
  db::Pipeline& pipeline(Use use);
  // This I/O thread's pipeline to `replica`, opened on first use; nullptr off the I/O threads or
  // when it cannot be opened (the replica is then skipped until a check reaches it).
  db::Pipeline* replica_pipeline(size_t replica);

  // The failure of a reload after a change (logged, counted, retried); its success clears it.
  void reload_failed(const std::exception& e);
  void reload_succeeded();
  void retry_reloads();  // the retry thread

  const Config& config_;
  db::Pool& pool_;
  Router router_;
  std::shared_ptr<const OpenApiBase> openapi_base_;
  Metrics metrics_;
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  std::mutex reload_mutex_;                        // one rebuild at a time
  std::future<modules::ModuleGraph> first_graph_;  // for the first reload, when given
  std::unique_ptr<security::TokenSigner> signer_;
  std::unique_ptr<runtime::AuthService> auth_;
  std::unique_ptr<security::Authenticator> authenticator_;
  std::unique_ptr<db::Listener> auth_listener_;  // drops the authenticator's cache
  std::once_flag shared_pipelines_once_;
  std::unique_ptr<db::Pipeline> shared_reads_, shared_writes_;  // off the server's I/O threads
  // A registry that failed to reload: why (empty: it is current), when to try again.
  std::mutex stale_mutex_;
  std::condition_variable stale_cv_;
  std::string stale_reason_;
  unsigned stale_attempts_ = 0;
  std::chrono::steady_clock::time_point stale_retry_at_;
  bool stopping_ = false;
  std::atomic<unsigned long long> reload_failures_{0};
  std::unique_ptr<db::Replicas> replicas_;  // none without database.replica_urls
  std::thread reload_retry_;                // last: it uses the members above
};

}  // namespace keel::http
