#include "http/api.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <thread>

#include "db/connection.hpp"
#include "db/listener.hpp"
#include "db/pipeline.hpp"
#include "db/pool.hpp"
#include "db/replicas.hpp"
#include "http/admin_routes.hpp"
#include "http/auth_routes.hpp"
#include "http/meta.hpp"
#include "http/native_routes.hpp"
#include "http/openapi.hpp"
#include "http/static_files.hpp"
#include "http/ui_routes.hpp"
#include "install/lifecycle.hpp"
#include "install/module_state_json.hpp"
#include "modules/discovery.hpp"
#include "modules/signing.hpp"
#include "native/extensions.hpp"
#include "native/host.hpp"
#include "native/isolation.hpp"
#include "query/filter.hpp"
#include "records/service.hpp"
#include "runtime/auth_service.hpp"
#include "runtime/users.hpp"
#include "schema/registry.hpp"
#include "schema/registry_cache.hpp"
#include "security/authenticator.hpp"
#include "security/jwt.hpp"
#include "security/secret.hpp"
#include "security/users.hpp"
#include "ui/catalog.hpp"
#include "ui/store.hpp"

namespace keel::http {

namespace {

modules::ModuleGraph discover_graph(const Config& config) {
  auto found = modules::discover(config.module_path(), config.core_dir);
  throw_if_errors(found.diagnostics, "manifest.invalid", "invalid module manifests");
  return modules::ModuleGraph(std::move(found.modules));
}

// Failures of module administration as problem+json: invalid files are 422 with every
// diagnostic, unknown modules 404, the rest a conflict with the current state.
[[noreturn]] void rethrow_as_api_error(const Error& e) {
  if (dynamic_cast<const ApiError*>(&e)) throw;
  if (auto* v = dynamic_cast<const ValidationError*>(&e)) {
    std::vector<ApiError::FieldError> errors;
    for (const auto& d : v->diagnostics())
      errors.push_back(
          {d.location.to_string(), d.message + (d.hint.empty() ? "" : " (hint: " + d.hint + ")")});
    throw ApiError(ErrorKind::kInvalid, e.code(), e.what(), e.hint(), std::move(errors));
  }
  ErrorKind kind = e.code() == "module.unknown" ? ErrorKind::kNotFound : ErrorKind::kConflict;
  std::string detail = e.what();
  if (!e.detail().empty()) detail += " (" + e.detail() + ")";
  throw ApiError(kind, e.code(), detail, e.hint());
}

void require_admin(const Request& req) {
  if (!Api::caller(req).admin)
    throw ApiError(ErrorKind::kForbidden, "auth.forbidden",
                   "module administration needs the role base.admin");
}

// Routes anyone may call: every other route under /api/ needs a token (contract §4 rule 14).
// Module assets are open too (see below).
// Paths outside /api/ (the front end's static files) carry no data.
bool needs_token(std::string_view path) {
  constexpr std::string_view open[] = {"/api/v1/auth/login", "/api/v1/auth/refresh",
                                       "/api/v1/healthz", "/api/v1/metrics"};
  if (path.rfind("/api/", 0) != 0) return false;
  for (auto p : open)
    if (path == p) return false;
  // Module assets (static/ files: the front end's own code) load from <script src>, which
  // carries no token; they hold no data.
  return path.rfind("/api/v1/ui/assets/", 0) != 0;
}

std::string names_json(const std::vector<std::string>& names, const char* key) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key(key);
  w.StartArray();
  for (const auto& n : names)
    w.String(n.c_str());
  w.EndArray();
  w.EndObject();
  return buffer.GetString();
}

}  // namespace

Api::Api(const Config& config, db::Pool& pool, RoutesOnly) : config_(config), pool_(pool) {
  openapi_base_ = load_openapi_base(config_.share_dir / "openapi");
  signer_ = std::make_unique<security::TokenSigner>(
      security::load_secret(config_), std::chrono::seconds(config_.access_token_lifetime));
  auth_ = std::make_unique<runtime::AuthService>(*signer_, runtime::AuthService::Options{},
                                                 [this] { return snapshot()->records; });
  authenticator_ = std::make_unique<security::Authenticator>(pool_, *signer_);
  add_routes();
}

Api::Api(const Config& config, db::Pool& pool)
    : Api(config, pool, std::future<modules::ModuleGraph>()) {}

Api::Api(const Config& config, db::Pool& pool, std::future<modules::ModuleGraph> first_graph)
    : config_(config), pool_(pool), first_graph_(std::move(first_graph)) {
  openapi_base_ = load_openapi_base(config_.share_dir / "openapi");
  if (!config_.replica_urls.empty()) {
    db::Replicas::Options options;
    options.conninfos = config_.replica_urls;
    options.max_lag = std::chrono::milliseconds(config_.replica_max_lag_ms);
    options.check_interval = std::chrono::milliseconds(config_.replica_check_ms);
    replicas_ = std::make_unique<db::Replicas>(pool_.conninfo(), std::move(options));
  }
  signer_ = std::make_unique<security::TokenSigner>(
      security::load_secret(config_), std::chrono::seconds(config_.access_token_lifetime));
  runtime::AuthService::Options auth_options;
  auth_options.refresh_lifetime = std::chrono::seconds(config_.refresh_token_lifetime);
  auth_ = std::make_unique<runtime::AuthService>(*signer_, auth_options,
                                                 [this] { return snapshot()->records; });
  authenticator_ = std::make_unique<security::Authenticator>(pool_, *signer_);
  authenticator_->on_key_used([this](std::int64_t key_id) {
    auto conn = pool_.acquire();
    runtime::record_key_use(*conn, *snapshot()->records, key_id);
  });
  // Its connection opens while the registry loads; listening before anything is cached.
  auth_listener_ =
      std::make_unique<db::Listener>(pool_.conninfo(), std::string(security::kAuthChannel),
                                     [this] { authenticator_->invalidate(); });
  // A database made before Keel's own functions and triggers existed (installs create them):
  // checked on a connection of its own while the registry loads.
  auto sql_objects = std::async(std::launch::async, [this] {
    auto conn = pool_.acquire();
    install::ensure_sql_objects(*conn);
  });
  reload();
  sql_objects.get();
  add_routes();
  auth_listener_->wait_ready();
}

Response Api::dispatch(Request& request) {
  // The web client's files: everything outside /api/ when a web root is configured.
  if (!config_.web_root.empty() && request.path.rfind("/api/", 0) != 0) {
    request.route = "(web)";
    return Response::block([this, &request] { return serve_static(config_.web_root, request); });
  }
  if (!needs_token(request.path)) return route(request);
  auto known =
      authenticator_->authenticate_cached(request.header("authorization"), *snapshot()->policy);
  if (known) return admit(request, std::move(*known));
  // The caller's user or key must be read from the database: not on an I/O thread.
  return Response::block([this, &request] {
    return admit(request, authenticator_->authenticate(request.header("authorization"),
                                                       *snapshot()->policy));
  });
}

Response Api::admit(Request& request, std::optional<security::Context> context) {
  if (!context) {
    auto authorization = request.header("authorization");
    auto r = Response::problem(401, "auth.unauthorized", "Unauthorized",
                               authorization.empty()
                                   ? "this route needs a token: Authorization: Bearer <token>"
                                   : "the token is not valid (malformed, expired or revoked)");
    r.headers.emplace_back("WWW-Authenticate",
                           authorization.empty() ? "Bearer" : "Bearer error=\"invalid_token\"");
    return r;
  }
  request.caller = std::make_shared<const security::Context>(std::move(*context));
  return route(request);
}

Response Api::route(Request& request) {
  if (request.path.rfind(kNativeRoutePrefix, 0) == 0) {
    auto snap = snapshot();  // its routes live as long as it does
    return snap->native_routes->dispatch(request);
  }
  return router_.dispatch(request);
}

Api::~Api() {
  {
    std::lock_guard lock(stale_mutex_);
    stopping_ = true;
  }
  stale_cv_.notify_all();
  if (reload_retry_.joinable()) reload_retry_.join();
}

namespace {

// What a failed reload says, with the files and positions its diagnostics name.
std::string describe_failure(const std::exception& e) {
  std::string text = e.what();
  if (auto* v = dynamic_cast<const ValidationError*>(&e)) {
    size_t shown = 0;
    for (const auto& d : v->diagnostics()) {
      if (shown++ == 5) {
        text += "; ... (" + std::to_string(v->diagnostics().size()) + " in all)";
        break;
      }
      text += "; " + d.location.to_string() + ": " + d.message;
    }
  } else if (auto* k = dynamic_cast<const Error*>(&e); k && !k->detail().empty()) {
    text += " (" + k->detail() + ")";
  }
  return text;
}

}  // namespace

void Api::reload_after_change() {
  try {
    reload();
    reload_succeeded();
  } catch (const std::exception& e) {
    reload_failed(e);
  }
}

void Api::reload_failed(const std::exception& e) {
  auto reason = describe_failure(e);
  ++reload_failures_;
  std::lock_guard lock(stale_mutex_);
  auto delay = std::chrono::seconds(std::min(30u, 1u << std::min(stale_attempts_, 5u)));
  ++stale_attempts_;
  stale_reason_ = reason;
  stale_retry_at_ = std::chrono::steady_clock::now() + delay;
  spdlog::error(
      "reloading the registry failed; the previous registry keeps serving, next attempt in {} "
      "s: {}",
      delay.count(), reason);
  if (!reload_retry_.joinable()) reload_retry_ = std::thread([this] { retry_reloads(); });
  stale_cv_.notify_all();
}

void Api::reload_succeeded() {
  std::lock_guard lock(stale_mutex_);
  if (!stale_reason_.empty()) spdlog::info("the registry is current again");
  stale_reason_.clear();
  stale_attempts_ = 0;
}

void Api::retry_reloads() {
  std::unique_lock lock(stale_mutex_);
  while (!stopping_) {
    if (stale_reason_.empty()) {
      stale_cv_.wait(lock);
      continue;
    }
    auto at = stale_retry_at_;
    if (stale_cv_.wait_until(lock, at, [&] { return stopping_ || stale_retry_at_ != at; }))
      continue;
    lock.unlock();
    reload_after_change();
    lock.lock();
  }
}

std::string Snapshot::openapi(const security::Context& ctx, const Router& api_routes,
                              const OpenApiBase& base) const {
  // One document per set of roles: what a caller may read depends on its roles only.
  std::string key = ctx.admin ? std::string(security::kAdminRole) : std::string();
  if (!ctx.admin)
    for (const auto& r : ctx.roles)
      key += r + ",";
  std::lock_guard lock(openapi_mutex_);
  auto it = openapi_.find(key);
  if (it == openapi_.end())
    it = openapi_
             .emplace(key, openapi_document(base, {&api_routes, native_routes.get()}, *registry,
                                            *policy, ctx, "/"))
             .first;
  return it->second;
}

modules::ModuleGraph Api::discover_modules(const Config& config) {
  return discover_graph(config);
}

void Api::reload() {
  std::lock_guard lock(reload_mutex_);
  // The first reload's graph may have been discovered already (once: a later reload reads
  // the files again).
  auto graph = first_graph_.valid() ? first_graph_.get() : discover_graph(config_);
  std::map<std::string, std::string> installed;
  {
    auto conn = pool_.acquire();
    installed = install::installed_modules(*conn);
    // Reads on replicas from now on need what the primary has now: these modules' tables.
    if (replicas_) replicas_->raise_floor(db::current_lsn(*conn));
  }
  auto modules = runtime::installed_order(graph, installed);
  // With security.require_signed_modules, a custom module that no longer verifies (a file
  // changed since it was signed) is refused here, before any of it is loaded.
  if (config_.require_signed_modules)
    modules::enforce_signatures(modules::trust_policy(config_), modules);
  runtime::BuildOptions options;
  options.isolation = native::isolation_of(config_);
  options.registry_cache = config_.var_dir / "cache";
  // Views, menus, actions and components as the database holds them for the installed modules
  // (written at install and upgrade), not as the files on this disk say.
  auto ui_conn = pool_.acquire();
  options.stored_ui = &*ui_conn;
  auto snapshot = std::make_shared<Snapshot>();
  static_cast<runtime::Snapshot&>(*snapshot) = runtime::build(modules, options);
  snapshot->native_routes = native_router(snapshot->native, snapshot->records, pool_,
                                          [](const Request& r) { return caller(r); });
  auto entities = snapshot->registry->entities().size();
  snapshot_.store(std::move(snapshot));
  spdlog::info("registry loaded: {} modules, {} entities", modules.size(), entities);
}

void Api::observe(const Request& request, const Response& response, double seconds) {
  metrics_.record(request.route, request.method, response.status, seconds);
  // The access log: request id, client address, user ("-" when none), method, route, target,
  // status, latency.
  spdlog::info("{} {} {} {} {} {} {} {:.3f}ms", request.request_id,
               request.header("x-remote-address"), request.caller ? request.caller->login : "-",
               request.method, request.route.empty() ? "-" : request.route, request.target,
               response.status, seconds * 1000);
}

void Api::add_routes() {
  const std::string v1 = "/api/v1";

  add_auth_routes(router_, v1, pool_, *auth_);

  const RouteDoc health_doc{
      .summary = "Liveness and readiness",
      .operation_id = "getHealth",
      .tags = {"System"},
      .responses = {{.status = "200", .description = "Serving", .schema = "Health"},
                    shared_answer("503", "Unavailable")},
      .open = true};
  router_.add("GET", v1 + "/healthz", health_doc, [this](Request& req) {
    try {
      auto conn = pool_.acquire();
      conn->exec("SELECT 1");
      std::string stale;
      {
        std::lock_guard lock(stale_mutex_);
        stale = stale_reason_;
      }
      if (stale.empty()) return Response::json(200, R"({"status":"ok","database":"ok"})");
      // Degraded: the previous registry serves; why (file names, positions) only to an
      // administrator.
      bool admin = false;
      if (!req.header("authorization").empty()) {
        auto who = authenticator_->authenticate(req.header("authorization"), *snapshot()->policy);
        admin = who && who->admin;
      }
      rapidjson::StringBuffer buffer;
      rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
      w.StartObject();
      w.Key("status");
      w.String("degraded");
      w.Key("database");
      w.String("ok");
      w.Key("registry");
      w.String("stale");
      if (admin) {
        w.Key("registry_error");
        w.String(stale.c_str());
      }
      w.EndObject();
      return Response::json(200, buffer.GetString());
    } catch (const std::exception& e) {
      // The status alone: libpq's text names hosts and addresses, and anyone may ask. It goes
      // to the log.
      spdlog::warn("healthz: the database is not available: {}", e.what());
      auto r = Response::json(503, R"({"status":"unavailable","database":"down"})");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
  });

  const RouteDoc metrics_doc{.summary = "Metrics in the Prometheus text format",
                             .operation_id = "getMetrics",
                             .tags = {"System"},
                             .responses = {{.status = "200",
                                            .description = "The metrics",
                                            .schema = R"({"type":"string"})",
                                            .content_type = "text/plain"}},
                             .open = true};
  router_.add_inline("GET", v1 + "/metrics", metrics_doc, [this](Request&) {
    auto s = pool_.stats();
    std::string extra =
        "# HELP keel_db_pool_connections Connections of the database pool by state.\n"
        "# TYPE keel_db_pool_connections gauge\n"
        "keel_db_pool_connections{state=\"idle\"} " +
        std::to_string(s.idle) +
        "\n"
        "keel_db_pool_connections{state=\"leased\"} " +
        std::to_string(s.leased) +
        "\n"
        "keel_db_pool_connections{state=\"max\"} " +
        std::to_string(s.max) + "\n";
    auto failed = native::host_failures();
    extra +=
        "# HELP keel_native_host_failures_total Calls into isolated native modules whose host "
        "crashed or missed the deadline.\n"
        "# TYPE keel_native_host_failures_total counter\n"
        "keel_native_host_failures_total{kind=\"crashed\"} " +
        std::to_string(failed.crashed) +
        "\n"
        "keel_native_host_failures_total{kind=\"timeout\"} " +
        std::to_string(failed.timeout) + "\n";
    if (replicas_) extra += replica_metrics(replicas_->stats());
    bool stale = false;
    {
      std::lock_guard lock(stale_mutex_);
      stale = !stale_reason_.empty();
    }
    extra +=
        "# HELP keel_registry_reload_failures_total Reloads of the registry after a module change "
        "that failed (the previous registry kept serving).\n"
        "# TYPE keel_registry_reload_failures_total counter\n"
        "keel_registry_reload_failures_total " +
        std::to_string(reload_failures_.load()) +
        "\n"
        "# HELP keel_registry_stale 1 while the registry failed to reload and is retried.\n"
        "# TYPE keel_registry_stale gauge\n"
        "keel_registry_stale " +
        std::string(stale ? "1" : "0") + "\n";
    Response r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics_.render(extra);
    return r;
  });

  const RouteDoc openapi_doc{.summary = "This document: every entity and route installed now",
                             .operation_id = "getOpenApi",
                             .tags = {"System"},
                             .responses = {{.status = "200",
                                            .description = "An OpenAPI 3.1 document",
                                            .schema = R"({"type":"object"})"},
                                           shared_answer("401", "Unauthorized")}};
  router_.add_inline("GET", v1 + "/openapi.json", openapi_doc, [this](Request& req) {
    return Response::json(200, snapshot()->openapi(caller(req), router_, *openapi_base_));
  });

  const RouteDoc entities_doc{
      .summary = "The entities the caller may read, with their fields and rights",
      .operation_id = "listEntities",
      .tags = {"Meta"},
      .responses = {{.status = "200",
                     .description = "Every readable entity, sorted by name",
                     .schema = "EntityMetaList"},
                    shared_answer("401", "Unauthorized")}};
  router_.add_inline("GET", v1 + "/meta/entities", entities_doc, [this](Request& req) {
    return Response::json(200,
                          meta_entities(*snapshot()->registry, *snapshot()->policy, caller(req)));
  });
  const RouteDoc entity_doc{
      .summary = "One entity, with its fields and the caller's rights",
      .operation_id = "readEntity",
      .tags = {"Meta"},
      .parameters = {shared_parameter("entity")},
      .responses = {{.status = "200", .description = "The entity", .schema = "EntityMeta"},
                    shared_answer("401", "Unauthorized"),
                    shared_answer("404", "NotFound")}};
  router_.add_inline("GET", v1 + "/meta/entities/{entity}", entity_doc, [this](Request& req) {
    auto one =
        meta_entity(*snapshot()->registry, *snapshot()->policy, caller(req), req.param("entity"));
    if (!one)
      throw ApiError(ErrorKind::kNotFound, "records.unknown_entity",
                     "no entity \"" + req.param("entity") + "\"");
    return Response::json(200, std::move(*one));
  });

  add_ui_routes(
      router_, v1, [this] { return snapshot(); }, pool_, caller);
  add_admin_routes(
      router_, v1, [this] { return snapshot(); }, pool_, caller);

  add_record_routes(v1);

  // Module administration; takes effect without a restart.
  const auto unauthorized = shared_answer("401", "Unauthorized");
  const auto forbidden = shared_answer("403", "Forbidden");
  const auto not_found = shared_answer("404", "NotFound");
  const auto conflict = shared_answer("409", "Conflict");
  const auto invalid = shared_answer("422", "UnprocessableContent");
  const RouteDoc modules_doc{
      .summary = "Every module found on the addons path, with its state",
      .operation_id = "listModules",
      .tags = {"Modules"},
      .responses = {
          {.status = "200", .description = "The modules, sorted by name", .schema = "ModuleList"},
          unauthorized,
          forbidden}};
  router_.add("GET", v1 + "/modules", modules_doc, [this](Request& req) {
    require_admin(req);
    auto graph = discover_graph(config_);
    std::map<std::string, std::string> installed;
    {
      auto conn = pool_.acquire();
      installed = install::installed_modules(*conn);
    }
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    w.StartObject();
    w.Key("data");
    w.StartArray();
    for (const auto& row : install::module_states(graph, installed)) {
      w.StartObject();
      install::write_module_state(w, row);
      w.Key("summary");
      w.String(row.manifest->summary.c_str());
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return Response::json(200, buffer.GetString());
  });
  // What the native code of the installed modules registered, stamped with module and policy.
  const RouteDoc native_doc{
      .summary = "What the native code of the installed modules registered",
      .operation_id = "listNativeRegistrations",
      .tags = {"Modules"},
      .responses = {{.status = "200",
                     .description = "One line per hook, computed field, route and "
                                    "service, with its module and policy",
                     .schema = "NativeRegistrations"},
                    unauthorized,
                    forbidden}};
  router_.add("GET", v1 + "/modules/native", native_doc, [this](Request& req) {
    require_admin(req);
    auto snap = snapshot();
    return Response::json(200, names_json(snap->native->describe(), "registrations"));
  });
  const RouteDoc action_doc{.summary = "Install, upgrade or uninstall a module",
                            .description =
                                "Answers after the commit; the new registry serves the next "
                                "request. Install brings in missing dependencies; uninstall takes "
                                "the installed modules depending on it.",
                            .operation_id = "runModuleAction",
                            .tags = {"Modules"},
                            .parameters = {shared_parameter("module"), shared_parameter("action"),
                                           shared_parameter("demo"), shared_parameter("purge")},
                            .responses = {{.status = "200",
                                           .description = "Done; the modules it changed",
                                           .schema = "ModuleChanges"},
                                          unauthorized,
                                          forbidden,
                                          not_found,
                                          conflict,
                                          invalid}};
  router_.add("POST", v1 + "/modules/{name}/{action}", action_doc, [this](Request& req) {
    require_admin(req);
    const std::string& action = req.param("action");
    if (action != "install" && action != "upgrade" && action != "uninstall")
      throw ApiError(ErrorKind::kNotFound, "http.not_found",
                     "unknown module action \"" + action + "\"",
                     "use install, upgrade or uninstall");
    std::vector<std::string> changed;
    try {
      auto graph = discover_graph(config_);
      auto conn = pool_.acquire();
      install::Lifecycle lifecycle(*conn, graph);
      lifecycle.set_isolation(native::isolation_of(config_));
      lifecycle.set_registry_cache(config_.var_dir / "cache");
      lifecycle.set_module_check(modules::signature_check(config_));
      std::vector<std::string> names{req.param("name")};
      bool purge = req.query_value("purge").value_or("") == "true";
      if (action == "install")
        changed = lifecycle.install(names, req.query_value("demo").value_or("") == "true");
      else if (action == "upgrade")
        changed = lifecycle.upgrade(names);
      else
        changed = lifecycle.uninstall(names, purge);
    } catch (const Error& e) {
      rethrow_as_api_error(e);
    }
    // The next request sees the new registry; a failure is visible as after a NOTIFY.
    try {
      reload();
      reload_succeeded();
    } catch (const std::exception& e) {
      reload_failed(e);
      throw;
    }
    return Response::json(200, names_json(changed, "changed"));
  });
}

}  // namespace keel::http
