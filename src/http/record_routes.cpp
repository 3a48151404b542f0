// The /api/v1/records routes (list, read, create, update, delete) of the Api, and the
// pipelines their one-statement reads and creates run on (one set per I/O thread; reads may go
// to a replica). Members of Api, so that a handler calls run_statement directly: no layer
// between the router and RecordService.
#include <spdlog/spdlog.h>

#include <charconv>
#include <thread>

#include "db/connection.hpp"
#include "db/pipeline.hpp"
#include "db/pool.hpp"
#include "db/replicas.hpp"
#include "http/api.hpp"
#include "records/idempotency.hpp"
#include "records/service.hpp"

namespace keel::http {

namespace {

std::int64_t parse_id(const std::string& text) {
  std::int64_t id = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || p != text.data() + text.size() || id <= 0)
    throw ApiError(ErrorKind::kNotFound, "records.not_found", "no record with id \"" + text + "\"");
  return id;
}

// The Idempotency-Key of a create or update (records/idempotency.hpp); nullopt without one,
// 400 when malformed.
std::optional<std::string> idempotency_key(const Request& req) {
  auto header = req.header("idempotency-key");
  if (header.empty()) return std::nullopt;
  auto key = records::parse_idempotency_key(header);
  if (!key)
    throw ApiError(ErrorKind::kBadInput, "idempotency.invalid_key",
                   "the Idempotency-Key header must be 1 to 255 visible ASCII characters",
                   "send a fresh random value (a UUID) per request, and the same one on retries");
  return key;
}

Response answer_of(const records::IdempotentAnswer& a) {
  auto r = Response::json(a.status, a.body);
  if (!a.location.empty()) r.headers.emplace_back("Location", a.location);
  if (a.replayed) r.headers.emplace_back("Idempotent-Replayed", "true");
  return r;
}

}  // namespace

namespace {

// By default, four pipeline connections per core for reads: a list page keeps its backend busy
// for milliseconds, and with one per core the short reads queued behind it wait
// (bench/rest_bench.sh: list 0.65 of pgbench with 2 connections, 0.85 with 4, 0.9-1.0 with 8
// on 2 cores; reads by id unchanged).
unsigned read_connections(const Config& config) {
  if (config.read_connections) return config.read_connections;
  return std::max(4u, 4 * std::thread::hardware_concurrency());
}
// Eight per core for one-statement writes: a commit holds its connection until the disk has
// it, and PostgreSQL flushes the commits of many connections at once. The bench's create
// (32 clients, 2 cores) made 0.35-0.46 of pgbench with 2 write connections in all, 0.48-0.52
// with 4, 0.62-0.66 with 8, and no more with 16, 32 or 64.
unsigned write_connections(const Config& config) {
  if (config.write_connections) return config.write_connections;
  return std::max(8u, 8 * std::thread::hardware_concurrency());
}

// The pipelines of this I/O thread, and the Api they belong to (tests run several servers).
struct ThreadPipelines {
  const Api* owner = nullptr;
  db::Pipeline* reads = nullptr;
  db::Pipeline* writes = nullptr;
  // Reads on replicas, opened on first use (a replica may be down at start).
  std::vector<std::unique_ptr<db::Pipeline>>* replicas = nullptr;
  boost::asio::io_context* loop = nullptr;
  unsigned replica_connections = 1;
};
thread_local ThreadPipelines t_pipelines;

}  // namespace

std::shared_ptr<void> Api::thread_resources(boost::asio::io_context& loop, unsigned loops) {
  unsigned threads = std::max(1u, loops);
  struct Owned {
    db::Pipeline reads, writes;
    std::vector<std::unique_ptr<db::Pipeline>> replicas;
    Owned(const Config& config, const std::string& conninfo, unsigned threads,
          boost::asio::io_context& loop)
        // Not waited for: the server answers (health, metadata) while their backends start.
        : reads(conninfo, std::max(1u, read_connections(config) / threads), loop,
                db::Pipeline::Open::kBackground),
          writes(conninfo, std::max(1u, write_connections(config) / threads), loop,
                 db::Pipeline::Open::kBackground) {
      // Each create on a connection of its own while one is idle: one after another on one
      // connection, their commits waited for the disk in turn (bench/cpu_ab.sh, create at 8
      // connections: 26 % more req/s, p99 10.3 against 17.1 ms, better in 5 of 6 rounds).
      writes.batch_per_turn(1);
    }
    ~Owned() { t_pipelines = {}; }
  };
  auto owned = std::make_shared<Owned>(config_, pool_.conninfo(), threads, loop);
  owned->replicas.resize(replicas_ ? replicas_->size() : 0);
  t_pipelines = {this,           &owned->reads,
                 &owned->writes, &owned->replicas,
                 &loop,          std::max(1u, read_connections(config_) / threads)};
  return owned;  // released on the same thread after its loop stopped
}

db::Pipeline& Api::pipeline(Use use) {
  if (t_pipelines.owner == this)
    return use == Use::kRead ? *t_pipelines.reads : *t_pipelines.writes;
  std::call_once(shared_pipelines_once_, [this] {
    shared_reads_ = std::make_unique<db::Pipeline>(pool_.conninfo(), read_connections(config_));
    shared_writes_ = std::make_unique<db::Pipeline>(pool_.conninfo(), 4);
  });
  return use == Use::kRead ? *shared_reads_ : *shared_writes_;
}

db::Pipeline* Api::replica_pipeline(size_t replica) {
  if (t_pipelines.owner != this) return nullptr;  // off the I/O threads: the primary
  auto& slot = (*t_pipelines.replicas)[replica];
  if (!slot) {
    try {
      slot = std::make_unique<db::Pipeline>(replicas_->conninfo(replica),
                                            t_pipelines.replica_connections, *t_pipelines.loop);
    } catch (const std::exception& e) {
      spdlog::warn("replica {}: cannot open its connections: {}", replica, e.what());
      replicas_->failed(replica, true);
      return nullptr;
    }
  }
  return slot.get();
}

Response Api::run_statement(std::shared_ptr<const Snapshot> snap, records::Statement statement,
                            Use use, int status, std::string location, const Request* request) {
  auto shared = std::make_shared<records::Statement>(std::move(statement));
  // Where a read goes: a replica that has what this caller must see, else the primary.
  std::optional<size_t> replica;
  std::int64_t user = request && request->caller ? request->caller->user_id : 0;
  if (replicas_ && use == Use::kRead) {
    auto client_lsn = db::parse_lsn(request ? request->header("keel-lsn") : "").value_or(0);
    replica = replicas_->choose(user, client_lsn);
  }
  bool note_lsn = replicas_ && use == Use::kWrite;
  return Response::await([this, snap = std::move(snap), shared, use, status, replica, user,
                          note_lsn, location = std::move(location)](Response::Resume resume) {
    auto answer = [snap, shared, status, location, resume = std::move(resume)](
                      db::Result rows, std::exception_ptr error, std::string lsn) {
      // On the pipeline's thread (this request's own, on the server): the answer is made when
      // the server resumes the request.
      auto result = std::make_shared<db::Result>(std::move(rows));
      resume([snap, shared, status, location, result, error, lsn = std::move(lsn)]() {
        if (error) {
          try {
            std::rethrow_exception(error);
          } catch (const db::DbError& e) {
            shared->fail(e);
          }
        }
        auto answer = shared->answer(*result);
        auto r = Response::json(status, std::move(answer.json));
        if (!location.empty())
          r.headers.emplace_back("Location", location + std::to_string(answer.id));
        if (!lsn.empty()) r.headers.emplace_back("Keel-LSN", std::move(lsn));
        return r;
      });
    };
    auto on_primary = [this, shared, use, user, note_lsn, answer](
                          db::Result rows, std::exception_ptr error) mutable {
      if (!note_lsn || error) return answer(std::move(rows), error, {});
      // The primary's LSN after the commit (a statement queued after the create's sync).
      auto kept = std::make_shared<db::Result>(std::move(rows));
      pipeline(use).exec_cached(
          "SELECT pg_current_wal_insert_lsn()::text", {},
          [this, user, kept, answer](db::Result lsn_rows, std::exception_ptr lsn_error) mutable {
            std::string lsn;
            if (!lsn_error && lsn_rows.rows() == 1) {
              lsn = std::string(lsn_rows.get(0, 0));
              replicas_->note_write(user, db::parse_lsn(lsn).value_or(0));
            }
            answer(std::move(*kept), nullptr, std::move(lsn));
          });
    };
    db::Pipeline* on = replica ? replica_pipeline(*replica) : nullptr;
    if (!on) return pipeline(use).exec_cached(shared->sql, shared->params, std::move(on_primary));
    // On a replica; whatever fails there (a lost connection, a query cancelled by replay, a
    // table it has not replayed yet) is asked of the primary, which has the last word.
    on->exec_cached(shared->sql, shared->params,
                    [this, shared, use, i = *replica, on_primary = std::move(on_primary)](
                        db::Result rows, std::exception_ptr error) mutable {
                      if (!error) return on_primary(std::move(rows), nullptr);
                      bool lost = true;
                      try {
                        std::rethrow_exception(error);
                      } catch (const db::DbError& e) {
                        lost = db::unavailable(e);
                      } catch (...) {
                      }
                      replicas_->failed(i, lost);
                      pipeline(use).exec_cached(shared->sql, shared->params, std::move(on_primary));
                    });
  });
}

Response Api::written(const Request& request, db::Connection& conn, Response response) {
  if (!replicas_) return response;
  auto lsn = db::current_lsn(conn);
  replicas_->note_write(request.caller ? request.caller->user_id : 0, lsn);
  response.headers.emplace_back("Keel-LSN", db::format_lsn(lsn));
  return response;
}

void Api::add_record_routes(const std::string& v1) {
  // Records: the handler parses and shapes; RecordService decides.
  // Reads that are one statement run on the pipeline: no thread waits for PostgreSQL.
  // Their descriptions are written once per entity the caller may read (http/openapi.hpp).
  const auto bad_request = shared_answer("400", "BadRequest");
  const auto unauthorized = shared_answer("401", "Unauthorized");
  const auto forbidden = shared_answer("403", "Forbidden");
  const auto not_found = shared_answer("404", "NotFound");
  const auto conflict = shared_answer("409", "Conflict");
  const auto invalid = shared_answer("422", "UnprocessableContent");
  const RouteDoc list_doc{
      .summary = "{label}: list",
      .description =
          "Records the caller may read, filtered, sorted and paginated; `total` "
          "counts every record matching the filter.",
      .operation_id = "list_{entity}",
      .tags = {"{entity}"},
      .parameters = {shared_parameter("filter"), shared_parameter("sort"),
                     shared_parameter("limit"), shared_parameter("offset"),
                     shared_parameter("fields")},
      .responses = {
          {.status = "200", .description = "One page of records", .schema = "{entity}_list"},
          bad_request,
          unauthorized,
          forbidden}};
  router_.add_inline("GET", v1 + "/records/{entity}", list_doc, [this](Request& req) {
    auto snap = snapshot();
    records::ListRequest list{req.query_value("filter"), req.query_value("sort"),
                              req.query_value("limit"), req.query_value("offset"),
                              req.query_value("fields")};
    if (auto s = snap->records->list_statement(caller(req), req.param("entity"), list))
      return run_statement(snap, std::move(*s), Use::kRead, 200, {}, &req);
    return Response::block([this, snap, &req, list = std::move(list)] {
      auto conn = pool_.acquire();
      return Response::json(
          200, snap->records->list(*conn, caller(req), req.param("entity"), list).json);
    });
  });
  const RouteDoc read_doc{
      .summary = "{label}: read one",
      .operation_id = "read_{entity}",
      .tags = {"{entity}"},
      .parameters = {shared_parameter("id"), shared_parameter("fields")},
      .responses = {{.status = "200", .description = "The record", .schema = "{entity}"},
                    bad_request,
                    unauthorized,
                    forbidden,
                    not_found}};
  router_.add_inline("GET", v1 + "/records/{entity}/{id}", read_doc, [this](Request& req) {
    auto snap = snapshot();
    if (auto s = snap->records->read_statement(
            caller(req), req.param("entity"), parse_id(req.param("id")), req.query_value("fields")))
      return run_statement(snap, std::move(*s), Use::kRead, 200, {}, &req);
    return Response::block([this, snap, &req] {
      auto conn = pool_.acquire();
      return Response::json(200, snap->records
                                     ->read(*conn, caller(req), req.param("entity"),
                                            parse_id(req.param("id")), req.query_value("fields"))
                                     .json);
    });
  });
  // A create that is one statement runs on the thread's write pipeline; other writes hold a
  // pooled connection for their transaction, on the server's io_workers. Either way many
  // commits wait for the disk at once (and are flushed together).
  const RouteDoc create_doc{.summary = "{label}: create",
                            .operation_id = "create_{entity}",
                            .tags = {"{entity}"},
                            .parameters = {shared_parameter("idempotency_key")},
                            .body = "{entity}_input",
                            .responses = {{.status = "201",
                                           .description = "Created; the record as stored",
                                           .schema = "{entity}",
                                           .headers = {"Location"}},
                                          bad_request,
                                          unauthorized,
                                          forbidden,
                                          conflict,
                                          invalid}};
  router_.add_inline("POST", v1 + "/records/{entity}", create_doc, [this](Request& req) {
    auto snap = snapshot();
    std::string location = "/api/v1/records/" + req.param("entity") + "/";
    // With an Idempotency-Key, the write and its stored answer are one transaction.
    if (auto key = idempotency_key(req))
      return Response::block([this, snap, &req, location, key = std::move(*key)] {
        auto conn = pool_.acquire();
        return written(req, *conn,
                       answer_of(records::run_idempotent(
                           *conn, caller(req).user_id, key,
                           records::request_fingerprint(req.method, req.path, req.body), [&] {
                             auto result = snap->records->create(*conn, caller(req),
                                                                 req.param("entity"), req.body);
                             records::IdempotentAnswer answer;
                             answer.status = 201;
                             answer.body = std::move(result.json);
                             answer.location = location + std::to_string(result.id);
                             return answer;
                           })));
      });
    if (auto s = snap->records->create_statement(caller(req), req.param("entity"), req.body))
      return run_statement(snap, std::move(*s), Use::kWrite, 201, std::move(location), &req);
    return Response::block([this, snap, &req, location] {
      auto conn = pool_.acquire();
      auto result = snap->records->create(*conn, caller(req), req.param("entity"), req.body);
      auto r = Response::json(201, std::move(result.json));
      r.headers.emplace_back("Location", location + std::to_string(result.id));
      return written(req, *conn, std::move(r));
    });
  });
  const RouteDoc update_doc{
      .summary = "{label}: update",
      .description = "Writes the given fields only; a list of ids replaces the whole set.",
      .operation_id = "update_{entity}",
      .tags = {"{entity}"},
      .parameters = {shared_parameter("id"), shared_parameter("idempotency_key")},
      .body = "{entity}_patch",
      .responses = {
          {.status = "200", .description = "Updated; the record as stored", .schema = "{entity}"},
          bad_request,
          unauthorized,
          forbidden,
          not_found,
          conflict,
          invalid}};
  router_.add("PATCH", v1 + "/records/{entity}/{id}", update_doc, [this](Request& req) {
    auto snap = snapshot();
    auto conn = pool_.acquire();
    if (auto key = idempotency_key(req))
      return written(req, *conn,
                     answer_of(records::run_idempotent(
                         *conn, caller(req).user_id, *key,
                         records::request_fingerprint(req.method, req.path, req.body), [&] {
                           records::IdempotentAnswer answer;
                           answer.body = snap->records
                                             ->update(*conn, caller(req), req.param("entity"),
                                                      parse_id(req.param("id")), req.body)
                                             .json;
                           return answer;
                         })));
    return written(req, *conn,
                   Response::json(200, snap->records
                                           ->update(*conn, caller(req), req.param("entity"),
                                                    parse_id(req.param("id")), req.body)
                                           .json));
  });
  const RouteDoc delete_doc{.summary = "{label}: delete",
                            .operation_id = "delete_{entity}",
                            .tags = {"{entity}"},
                            .parameters = {shared_parameter("id")},
                            .responses = {{.status = "204", .description = "Deleted"},
                                          unauthorized,
                                          forbidden,
                                          not_found,
                                          conflict}};
  router_.add("DELETE", v1 + "/records/{entity}/{id}", delete_doc, [this](Request& req) {
    auto snap = snapshot();
    auto conn = pool_.acquire();
    snap->records->remove(*conn, caller(req), req.param("entity"), parse_id(req.param("id")));
    Response r;
    r.status = 204;
    return written(req, *conn, std::move(r));
  });
}

}  // namespace keel::http
