#include "http/openapi.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <vector>

#include "http/meta.hpp"
#include "query/filter.hpp"
#include "schema/entity.hpp"
#include "schema/field_traits.hpp"

namespace keel::http {

namespace {

using schema::Entity;
using schema::Field;
using schema::FieldType;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr std::string_view kDialect = "https://spec.openapis.org/oas/3.1/dialect/base";
constexpr std::string_view kNamePattern = "^[a-z][a-z0-9_]*$";
constexpr int kMaxLimit = 1000;
constexpr int kDefaultLimit = 50;

// The tags of the non-record routes: capitalised, so that no entity name (the tag of its
// record routes) can take them.
constexpr std::string_view kTagMeta = "Meta";
constexpr std::string_view kTagModules = "Modules";
constexpr std::string_view kTagSystem = "System";
constexpr std::string_view kTagAuth = "Auth";
constexpr std::string_view kTagUi = "UI";
constexpr std::string_view kTagUsers = "Users";

// Writes the document; one instance per call.
class OpenApiWriter {
 public:
  OpenApiWriter(const schema::Registry& registry, const security::Policy& policy,
                const security::Context& ctx, std::string_view server_url)
      : registry_(registry), ctx_(ctx), server_url_(server_url), w_(buffer_) {
    for (const auto& e : registry.entities())
      if (policy.allowed(ctx, e.name, security::Operation::kRead)) entities_.push_back(&e);
  }

  std::string write();

 private:
  // ---- JSON helpers ------------------------------------------------------------------------
  void key(std::string_view k) { w_.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }
  void str(std::string_view s) { w_.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }
  void member(std::string_view k, std::string_view v) {
    key(k);
    str(v);
  }
  void member(std::string_view k, int v) {
    key(k);
    w_.Int(v);
  }
  // Not an overload of member(): a string literal would convert to bool before string_view.
  void flag(std::string_view k, bool v) {
    key(k);
    w_.Bool(v);
  }
  void strings(std::string_view k, std::initializer_list<std::string_view> values) {
    key(k);
    w_.StartArray();
    for (auto v : values)
      str(v);
    w_.EndArray();
  }
  // "type": "t" or, when nullable, "type": ["t", "null"].
  void type(std::string_view t, bool nullable = false) {
    key("type");
    if (!nullable) {
      str(t);
      return;
    }
    w_.StartArray();
    str(t);
    str("null");
    w_.EndArray();
  }
  // {"$ref": "#/components/<kind>/<name>"}
  void ref(std::string_view kind, std::string_view name) {
    w_.StartObject();
    member("$ref", "#/components/" + std::string(kind) + "/" + std::string(name));
    w_.EndObject();
  }
  // "<code>": {"$ref": "#/components/responses/<name>"}
  void response_ref(std::string_view code, std::string_view name) {
    key(code);
    ref("responses", name);
  }
  // "application/json": {"schema": {"$ref": "#/components/schemas/<name>"}}
  void json_content(std::string_view schema_name) {
    key("content");
    w_.StartObject();
    key("application/json");
    w_.StartObject();
    key("schema");
    ref("schemas", schema_name);
    w_.EndObject();
    w_.EndObject();
  }

  // ---- names -------------------------------------------------------------------------------
  // The name of a schema derived from entity `e` ("e_input"); spelled "e.input" when another
  // entity is called "e_input".
  std::string derived(const Entity& e, std::string_view suffix) const {
    std::string name = e.name + "_" + std::string(suffix);
    if (registry_.entity(name)) name = e.name + "." + std::string(suffix);
    return name;
  }

  // ---- document parts ----------------------------------------------------------------------
  void info();
  void tags();
  void paths();
  void record_paths(const Entity& e);
  void meta_paths();
  void module_paths();
  void ui_paths();
  void system_paths();
  void auth_paths();
  void components();
  void parameters();
  void responses();
  void security_schemes();
  void entity_schemas(const Entity& e);
  void value_schema(const Field& f, bool input);
  void read_property(const Field& f);
  void write_property(const Field& f);
  void fixed_schemas();

  // Whether the caller may read entity `name` (the document shows only those).
  bool readable(std::string_view name) const {
    return std::any_of(entities_.begin(), entities_.end(),
                       [&](const Entity* e) { return e->name == name; });
  }

  const schema::Registry& registry_;
  const security::Context& ctx_;
  std::vector<const Entity*> entities_;  // the entities the caller may read
  std::string_view server_url_;
  rapidjson::StringBuffer buffer_;
  Writer w_;
};

// ---- decimals -------------------------------------------------------------------------------

// What answers carry: PostgreSQL's text form of a numeric.
constexpr std::string_view kDecimalAnswer = R"(^-?\d+(\.\d+)?$)";

// What a write may send as a string: an optional sign, digits with an optional fraction, and
// for numeric(p, s) at most p - s digits before the point (leading zeros aside) and s after it
// (trailing zeros aside).
std::string decimal_input_pattern(const Field& f) {
  if (f.precision <= 0) return R"(^[-+]?(\d+(\.\d*)?|\.\d+)$)";
  int whole = f.precision - f.scale;
  int scale = f.scale;
  std::string whole_part = whole > 0 ? R"(0*\d{1,)" + std::to_string(whole) + "}" : "0+";
  std::string fraction = scale > 0 ? R"(\d{0,)" + std::to_string(scale) + "}0*" : "0*";
  std::string bare_fraction = scale > 0 ? R"(\d{1,)" + std::to_string(scale) + "}0*" : "0+";
  return R"(^[-+]?()" + whole_part + R"((\.)" + fraction + R"()?|\.)" + bare_fraction + ")$";
}

std::string decimal_description(const Field& f) {
  if (f.precision <= 0) return "Decimal number, as a string in answers.";
  return "Decimal number numeric(" + std::to_string(f.precision) + "," + std::to_string(f.scale) +
         "), as a string in answers.";
}

bool is_relational_list(const Field& f) {
  return f.type == FieldType::kOne2many || f.type == FieldType::kMany2many;
}

// ---- the document ---------------------------------------------------------------------------

std::string OpenApiWriter::write() {
  w_.StartObject();
  member("openapi", "3.1.0");
  info();
  member("jsonSchemaDialect", kDialect);
  key("servers");
  w_.StartArray();
  w_.StartObject();
  member("url", server_url_.empty() ? std::string_view("/") : server_url_);
  w_.EndObject();
  w_.EndArray();
  // Every route needs a bearer token unless it says otherwise (contract §4 rule 14).
  key("security");
  w_.StartArray();
  w_.StartObject();
  key("bearer");
  w_.StartArray();
  w_.EndArray();
  w_.EndObject();
  w_.EndArray();
  tags();
  paths();
  components();
  w_.EndObject();
  return std::string(buffer_.GetString(), buffer_.GetSize());
}

void OpenApiWriter::info() {
  key("info");
  w_.StartObject();
  member("title", "Keel");
  member("version", KEEL_VERSION);
  member("description",
         "REST API of a Keel server: the records of every installed entity, their metadata, "
         "module administration and system routes. Errors are application/problem+json "
         "(RFC 9457).");
  w_.EndObject();
}

void OpenApiWriter::tags() {
  key("tags");
  w_.StartArray();
  for (const auto* entity : entities_) {
    const Entity& e = *entity;
    w_.StartObject();
    member("name", e.name);
    member("description", e.label + " records (module " + e.module + ")");
    w_.EndObject();
  }
  for (auto [name, text] : {std::pair{kTagMeta, "Entities, their fields and the caller's rights"},
                            {kTagModules, "Module administration (admin)"},
                            {kTagUi, "Views, menus, actions and components (docs/views.md)"},
                            {kTagAuth, "Login, token refresh and logout"},
                            {kTagUsers, "Passwords and API keys of users (admin)"},
                            {kTagSystem, "Health, metrics and this document"}}) {
    w_.StartObject();
    member("name", name);
    member("description", text);
    w_.EndObject();
  }
  w_.EndArray();
}

// ---- paths ----------------------------------------------------------------------------------

void OpenApiWriter::paths() {
  key("paths");
  w_.StartObject();
  for (const auto* e : entities_)
    record_paths(*e);
  meta_paths();
  module_paths();
  ui_paths();
  auth_paths();
  system_paths();
  w_.EndObject();
}

void OpenApiWriter::record_paths(const Entity& e) {
  const std::string base = "/api/v1/records/" + e.name;
  const std::string list_schema = derived(e, "list");

  key(base);
  w_.StartObject();

  key("get");
  w_.StartObject();
  member("operationId", "list_" + e.name);
  strings("tags", {e.name});
  member("summary", e.label + ": list");
  member("description",
         "Records the caller may read, filtered, sorted and paginated; `total` counts every "
         "record matching the filter.");
  key("parameters");
  w_.StartArray();
  for (auto p : {"filter", "sort", "limit", "offset", "fields"})
    ref("parameters", p);
  w_.EndArray();
  key("responses");
  w_.StartObject();
  key("200");
  w_.StartObject();
  member("description", "One page of records");
  json_content(list_schema);
  w_.EndObject();
  response_ref("400", "BadRequest");
  response_ref("401", "Unauthorized");
  response_ref("403", "Forbidden");
  w_.EndObject();
  w_.EndObject();

  key("post");
  w_.StartObject();
  member("operationId", "create_" + e.name);
  strings("tags", {e.name});
  member("summary", e.label + ": create");
  key("parameters");
  w_.StartArray();
  ref("parameters", "idempotency_key");
  w_.EndArray();
  key("requestBody");
  w_.StartObject();
  flag("required", true);
  json_content(derived(e, "input"));
  w_.EndObject();
  key("responses");
  w_.StartObject();
  key("201");
  w_.StartObject();
  member("description", "Created; the record as stored");
  key("headers");
  w_.StartObject();
  key("Location");
  w_.StartObject();
  member("description", "The new record's URL (" + base + "/{id})");
  flag("required", true);
  key("schema");
  w_.StartObject();
  type("string");
  member("format", "uri-reference");
  w_.EndObject();
  w_.EndObject();
  w_.EndObject();
  json_content(e.name);
  w_.EndObject();
  response_ref("400", "BadRequest");
  response_ref("401", "Unauthorized");
  response_ref("403", "Forbidden");
  response_ref("409", "Conflict");
  response_ref("422", "UnprocessableContent");
  w_.EndObject();
  w_.EndObject();

  w_.EndObject();

  key(base + "/{id}");
  w_.StartObject();
  key("parameters");
  w_.StartArray();
  ref("parameters", "id");
  w_.EndArray();

  key("get");
  w_.StartObject();
  member("operationId", "read_" + e.name);
  strings("tags", {e.name});
  member("summary", e.label + ": read one");
  key("parameters");
  w_.StartArray();
  ref("parameters", "fields");
  w_.EndArray();
  key("responses");
  w_.StartObject();
  key("200");
  w_.StartObject();
  member("description", "The record");
  json_content(e.name);
  w_.EndObject();
  response_ref("400", "BadRequest");
  response_ref("401", "Unauthorized");
  response_ref("403", "Forbidden");
  response_ref("404", "NotFound");
  w_.EndObject();
  w_.EndObject();

  key("patch");
  w_.StartObject();
  member("operationId", "update_" + e.name);
  strings("tags", {e.name});
  member("summary", e.label + ": update");
  member("description", "Writes the given fields only; a list of ids replaces the whole set.");
  key("parameters");
  w_.StartArray();
  ref("parameters", "idempotency_key");
  w_.EndArray();
  key("requestBody");
  w_.StartObject();
  flag("required", true);
  json_content(derived(e, "patch"));
  w_.EndObject();
  key("responses");
  w_.StartObject();
  key("200");
  w_.StartObject();
  member("description", "Updated; the record as stored");
  json_content(e.name);
  w_.EndObject();
  response_ref("400", "BadRequest");
  response_ref("401", "Unauthorized");
  response_ref("403", "Forbidden");
  response_ref("404", "NotFound");
  response_ref("409", "Conflict");
  response_ref("422", "UnprocessableContent");
  w_.EndObject();
  w_.EndObject();

  key("delete");
  w_.StartObject();
  member("operationId", "delete_" + e.name);
  strings("tags", {e.name});
  member("summary", e.label + ": delete");
  key("responses");
  w_.StartObject();
  key("204");
  w_.StartObject();
  member("description", "Deleted");
  w_.EndObject();
  response_ref("401", "Unauthorized");
  response_ref("403", "Forbidden");
  response_ref("404", "NotFound");
  response_ref("409", "Conflict");
  w_.EndObject();
  w_.EndObject();

  w_.EndObject();
}

void OpenApiWriter::meta_paths() {
  key("/api/v1/meta/entities");
  w_.StartObject();
  key("get");
  w_.StartObject();
  member("operationId", "listEntities");
  strings("tags", {kTagMeta});
  member("summary", "The entities the caller may read, with their fields and rights");
  key("responses");
  w_.StartObject();
  key("200");
  w_.StartObject();
  member("description", "Every readable entity, sorted by name");
  json_content("EntityMetaList");
  w_.EndObject();
  response_ref("401", "Unauthorized");
  w_.EndObject();
  w_.EndObject();
  w_.EndObject();

  key("/api/v1/meta/entities/{entity}");
  w_.StartObject();
  key("get");
  w_.StartObject();
  member("operationId", "readEntity");
  strings("tags", {kTagMeta});
  member("summary", "One entity, with its fields and the caller's rights");
  key("parameters");
  w_.StartArray();
  ref("parameters", "entity");
  w_.EndArray();
  key("responses");
  w_.StartObject();
  key("200");
  w_.StartObject();
  member("description", "The entity");
  json_content("EntityMeta");
  w_.EndObject();
  response_ref("401", "Unauthorized");
  response_ref("404", "NotFound");
  w_.EndObject();
  w_.EndObject();
  w_.EndObject();
}

void OpenApiWriter::module_paths() {
  key("/api/v1/modules");
  w_.StartObject();
  key("get");
  w_.StartObject();
  member("operationId", "listModules");
  strings("tags", {kTagModules});
  member("summary", "Every module found on the addons path, with its state");
  key("responses");
  w_.StartObject();
  key("200");
  w_.StartObject();
  member("description", "The modules, sorted by name");
  json_content("ModuleList");
  w_.EndObject();
  response_ref("401", "Unauthorized");
  response_ref("403", "Forbidden");
  w_.EndObject();
  w_.EndObject();
  w_.EndObject();

  key("/api/v1/modules/{name}/{action}");
  w_.StartObject();
  key("post");
  w_.StartObject();
  member("operationId", "runModuleAction");
  strings("tags", {kTagModules});
  member("summary", "Install, upgrade or uninstall a module");
  member("description",
         "Answers after the commit; the new registry serves the next request. Install brings "
         "in missing dependencies; uninstall takes the installed modules depending on it.");
  key("parameters");
  w_.StartArray();
  ref("parameters", "module");
  ref("parameters", "action");
  ref("parameters", "demo");
  ref("parameters", "purge");
  w_.EndArray();
  key("responses");
  w_.StartObject();
  key("200");
  w_.StartObject();
  member("description", "Done; the modules it changed");
  json_content("ModuleChanges");
  w_.EndObject();
  response_ref("401", "Unauthorized");
  response_ref("403", "Forbidden");
  response_ref("404", "NotFound");
  response_ref("409", "Conflict");
  response_ref("422", "UnprocessableContent");
  w_.EndObject();
  w_.EndObject();
  w_.EndObject();
}

void OpenApiWriter::ui_paths() {
  std::string_view tag = kTagUi;  // then kTagUsers, for the routes of http/admin_routes.cpp
  // One operation: its id, summary, path parameters (name, description), whether it takes a
  // JSON body, and its answers (status, description, whether the body is a JSON object).
  struct Answer {
    std::string_view status, description;
    bool json;
  };
  auto operation = [&](std::string_view method, std::string_view id, std::string_view summary,
                       std::initializer_list<std::pair<std::string_view, std::string_view>> params,
                       bool body, std::initializer_list<Answer> answers) {
    key(method);
    w_.StartObject();
    member("operationId", id);
    strings("tags", {tag});
    member("summary", summary);
    if (id == "readAsset") {  // module assets are public code: a <script src> sends no token
      key("security");
      w_.StartArray();
      w_.EndArray();
    }
    if (params.size()) {
      key("parameters");
      w_.StartArray();
      for (auto [name, description] : params) {
        w_.StartObject();
        member("name", name);
        member("in", "path");
        flag("required", true);
        member("description", description);
        key("schema");
        w_.StartObject();
        type("string");
        w_.EndObject();
        w_.EndObject();
      }
      w_.EndArray();
    }
    if (body) {
      key("requestBody");
      w_.StartObject();
      flag("required", true);
      key("content");
      w_.StartObject();
      key("application/json");
      w_.StartObject();
      key("schema");
      w_.StartObject();
      type("object");
      w_.EndObject();
      w_.EndObject();
      w_.EndObject();
      w_.EndObject();
    }
    key("responses");
    w_.StartObject();
    for (const auto& a : answers) {
      key(a.status);
      w_.StartObject();
      member("description", a.description);
      if (a.json) {
        key("content");
        w_.StartObject();
        key("application/json");
        w_.StartObject();
        key("schema");
        w_.StartObject();
        type("object");
        w_.EndObject();
        w_.EndObject();
        w_.EndObject();
      }
      w_.EndObject();
    }
    response_ref("401", "Unauthorized");
    w_.EndObject();
    w_.EndObject();
  };
  const std::pair<std::string_view, std::string_view> view_id{
      "id", "Qualified view id (sales.sale_order_form; generated: module.entity.type)"};
  const Answer view{"200", "The view: base arch, patches, customisation", true};
  const Answer forbidden{"403", "The caller may not read the entity (or is not an administrator)",
                         false};
  const Answer missing{"404", "No such view, action or asset", false};

  key("/api/v1/ui/views/{entity}/{type}");
  w_.StartObject();
  operation("get", "readEntityView", "The view of an entity of a type (generated if none)",
            {{"entity", "Entity name"}, {"type", "list, form, search or kanban"}}, false,
            {view, forbidden, missing});
  w_.EndObject();
  key("/api/v1/ui/views/{id}");
  w_.StartObject();
  operation("get", "readView", "A view by id", {view_id}, false, {view, forbidden, missing});
  operation(
      "put", "customizeView", "Store a customised arch (admin); survives upgrades", {view_id}, true,
      {view, forbidden, missing, {"422", "Invalid arch: `errors` names each problem", false}});
  w_.EndObject();
  key("/api/v1/ui/views/{id}/customization");
  w_.StartObject();
  operation("delete", "revertView", "Remove the customisation (admin)", {view_id}, false,
            {{"204", "Removed: the module's version is back", false}, forbidden, missing});
  w_.EndObject();
  key("/api/v1/ui/menus");
  w_.StartObject();
  operation("get", "listMenus", "The menu tree the caller may see", {}, false,
            {{"200", "{data: [{id, label, sequence, action, icon, children}]}", true}});
  w_.EndObject();
  key("/api/v1/ui/actions/{id}");
  w_.StartObject();
  operation("get", "readAction", "An action: entity, views, filter",
            {{"id", "Qualified action id (sales.orders)"}}, false,
            {{"200", "The action", true}, forbidden, missing});
  w_.EndObject();
  key("/api/v1/ui/components");
  w_.StartObject();
  operation("get", "listComponents", "Custom UI components and their asset URLs", {}, false,
            {{"200", "{data: [{name, module, asset}]}", true}});
  w_.EndObject();
  key("/api/v1/ui/assets/{module}/{path}");
  w_.StartObject();
  operation("get", "readAsset",
            "A file of a module's static/ folder (up to four folders deep), with ETag",
            {{"module", "Module name"}, {"path", "File below static/"}}, false,
            {{"200", "The file, with its content type", false},
             {"304", "Not modified (If-None-Match)", false},
             missing});
  w_.EndObject();

  tag = kTagUsers;
  const std::pair<std::string_view, std::string_view> user_id{"id", "The user's id"};
  const Answer admin_only{"403", "The caller is not an administrator", false};
  const Answer invalid{"422", "Invalid body: `errors` names each problem", false};
  key("/api/v1/users");
  w_.StartObject();
  operation("post", "createUser",
            "A user from {login, password, name, email, active, roles}; the password hashed", {},
            true,
            {{"201", "The user's record (never the password)", true},
             admin_only,
             {"409", "The login is taken", false},
             invalid});
  w_.EndObject();
  key("/api/v1/users/{id}/password");
  w_.StartObject();
  operation("post", "setUserPassword",
            "{password} sets it; no body resets it to a generated one; the sessions end", {user_id},
            false,
            {{"200", "{password}: the generated one, shown once", true},
             {"204", "Set", false},
             admin_only,
             {"404", "No such user", false},
             invalid});
  w_.EndObject();
  key("/api/v1/users/{id}/api-keys");
  w_.StartObject();
  operation("post", "createApiKey", "An API key of the user, from {name, expires_at} (optional)",
            {user_id}, false,
            {{"201", "The base_api_key record with `key`, shown once", true},
             admin_only,
             {"404", "No such user", false},
             invalid});
  w_.EndObject();
}

void OpenApiWriter::system_paths() {
  auto no_security = [&] {
    key("security");
    w_.StartArray();
    w_.EndArray();
  };

  key("/api/v1/healthz");
  w_.StartObject();
  key("get");
  w_.StartObject();
  member("operationId", "getHealth");
  strings("tags", {kTagSystem});
  member("summary", "Liveness and readiness");
  no_security();
  key("responses");
  w_.StartObject();
  key("200");
  w_.StartObject();
  member("description", "Serving");
  key("content");
  w_.StartObject();
  key("application/json");
  w_.StartObject();
  key("schema");
  w_.StartObject();
  type("object");
  key("properties");
  w_.StartObject();
  for (auto name : {"status", "database"}) {
    key(name);
    w_.StartObject();
    type("string");
    w_.EndObject();
  }
  w_.EndObject();
  strings("required", {"status"});
  w_.EndObject();
  w_.EndObject();
  w_.EndObject();
  w_.EndObject();
  response_ref("503", "Unavailable");
  w_.EndObject();
  w_.EndObject();
  w_.EndObject();

  key("/api/v1/metrics");
  w_.StartObject();
  key("get");
  w_.StartObject();
  member("operationId", "getMetrics");
  strings("tags", {kTagSystem});
  member("summary", "Metrics in the Prometheus text format");
  no_security();
  key("responses");
  w_.StartObject();
  key("200");
  w_.StartObject();
  member("description", "The metrics");
  key("content");
  w_.StartObject();
  key("text/plain");
  w_.StartObject();
  key("schema");
  w_.StartObject();
  type("string");
  w_.EndObject();
  w_.EndObject();
  w_.EndObject();
  w_.EndObject();
  w_.EndObject();
  w_.EndObject();
  w_.EndObject();

  key("/api/v1/openapi.json");
  w_.StartObject();
  key("get");
  w_.StartObject();
  member("operationId", "getOpenApi");
  strings("tags", {kTagSystem});
  member("summary", "This document: every entity and route installed now");
  key("responses");
  w_.StartObject();
  key("200");
  w_.StartObject();
  member("description", "An OpenAPI 3.1 document");
  key("content");
  w_.StartObject();
  key("application/json");
  w_.StartObject();
  key("schema");
  w_.StartObject();
  type("object");
  w_.EndObject();
  w_.EndObject();
  w_.EndObject();
  w_.EndObject();
  response_ref("401", "Unauthorized");
  w_.EndObject();
  w_.EndObject();
  w_.EndObject();
}

// The three routes of contract §3 auth (§4 rules 13 and 14): login and refresh need no token.
void OpenApiWriter::auth_paths() {
  struct Route {
    const char* path;
    const char* id;
    const char* summary;
    const char* body;    // request schema
    const char* answer;  // 200 schema; nullptr: 204
    bool open;           // no token needed
  };
  for (const Route& r : {
           Route{"/api/v1/auth/login", "login",
                 "Exchange a login and password for an access and a refresh token", "LoginRequest",
                 "Tokens", true},
           Route{"/api/v1/auth/refresh", "refreshToken",
                 "A new access token and a new refresh token; the old refresh token is retired "
                 "(reusing it revokes its whole chain)",
                 "RefreshRequest", "Tokens", true},
           Route{"/api/v1/auth/logout", "logout", "Revoke a refresh token", "RefreshRequest",
                 nullptr, false},
       }) {
    key(r.path);
    w_.StartObject();
    key("post");
    w_.StartObject();
    member("operationId", r.id);
    strings("tags", {kTagAuth});
    member("summary", r.summary);
    if (r.open) {
      key("security");
      w_.StartArray();
      w_.EndArray();
    }
    key("requestBody");
    w_.StartObject();
    flag("required", true);
    json_content(r.body);
    w_.EndObject();
    key("responses");
    w_.StartObject();
    key(r.answer ? "200" : "204");
    w_.StartObject();
    member("description", r.answer ? "The tokens" : "Revoked");
    if (r.answer) json_content(r.answer);
    w_.EndObject();
    response_ref("400", "BadRequest");
    response_ref("401", "Unauthorized");
    if (r.open) response_ref("429", "TooManyRequests");
    w_.EndObject();
    w_.EndObject();
    w_.EndObject();
  }
}

// ---- components -----------------------------------------------------------------------------

void OpenApiWriter::components() {
  key("components");
  w_.StartObject();
  key("schemas");
  w_.StartObject();
  for (const auto* e : entities_)
    entity_schemas(*e);
  fixed_schemas();
  w_.EndObject();
  parameters();
  responses();
  security_schemes();
  w_.EndObject();
}

void OpenApiWriter::parameters() {
  key("parameters");
  w_.StartObject();
  auto query = [&](std::string_view name, std::string_view description, auto&& schema) {
    key(name);
    w_.StartObject();
    member("name", name);
    member("in", "query");
    member("description", description);
    key("schema");
    w_.StartObject();
    schema();
    w_.EndObject();
    w_.EndObject();
  };
  query("filter",
        "JSON filter: {\"field\": {\"op\": value}} with eq ne lt lte gt gte in nin like ilike "
        "null, combined with and/or/not; paths through many2one fields (\"partner.city\")",
        [&] {
          type("string");
          key("examples");
          w_.StartArray();
          str(R"({"state": {"eq": "draft"}})");
          w_.EndArray();
        });
  query("sort", "Comma-separated fields, `-` for descending (\"-date,name\")", [&] {
    type("string");
    key("examples");
    w_.StartArray();
    str("-date,name");
    w_.EndArray();
  });
  query("limit", "Records per page", [&] {
    type("integer");
    member("minimum", 0);
    member("maximum", kMaxLimit);
    member("default", kDefaultLimit);
  });
  query("offset", "Records to skip", [&] {
    type("integer");
    member("minimum", 0);
    member("default", 0);
  });
  query("fields",
        "Comma-separated fields to answer; a many2one path (\"partner.name\") expands the "
        "many2one into an object",
        [&] {
          type("string");
          key("examples");
          w_.StartArray();
          str("name,partner.name");
          w_.EndArray();
        });

  query("demo", "install: also load the modules' demo data", [&] {
    type("boolean");
    flag("default", false);
  });
  query("purge", "uninstall: also drop the modules' tables and columns", [&] {
    type("boolean");
    flag("default", false);
  });
  // Retries of creates and updates (docs/api.md, "Retrying writes").
  key("idempotency_key");
  w_.StartObject();
  member("name", "Idempotency-Key");
  member("in", "header");
  member("description",
         "A unique value per request (a UUID), sent again on retries: a retry gets the first "
         "answer (Idempotent-Replayed: true) instead of writing twice; the same key with "
         "another request is 422. Kept 24 hours.");
  key("schema");
  w_.StartObject();
  type("string");
  member("minLength", 1);
  member("maxLength", 257);
  w_.EndObject();
  w_.EndObject();

  auto path = [&](std::string_view name, std::string_view param, std::string_view description,
                  auto&& schema) {
    key(name);
    w_.StartObject();
    member("name", param);
    member("in", "path");
    flag("required", true);
    member("description", description);
    key("schema");
    w_.StartObject();
    schema();
    w_.EndObject();
    w_.EndObject();
  };
  path("id", "id", "Record id", [&] {
    type("integer");
    member("format", "int64");
    member("minimum", 1);
  });
  path("entity", "entity", "Entity name", [&] {
    type("string");
    if (!entities_.empty()) {
      key("enum");
      w_.StartArray();
      for (const auto* e : entities_)
        str(e->name);
      w_.EndArray();
    } else {
      member("pattern", kNamePattern);
    }
  });
  path("module", "name", "Module name", [&] {
    type("string");
    member("pattern", kNamePattern);
  });
  path("action", "action", "What to do with the module", [&] {
    type("string");
    strings("enum", {"install", "upgrade", "uninstall"});
  });
  w_.EndObject();
}

void OpenApiWriter::responses() {
  key("responses");
  w_.StartObject();
  for (auto [name, description] : {
           std::pair{"BadRequest",
                     "Bad request: an unknown name in filter, sort or fields, a limit above "
                     "1000, a malformed query or body"},
           {"Unauthorized", "No valid bearer token"},
           {"Forbidden", "The caller has no right for this operation, entity or field"},
           {"NotFound", "No such record (or not visible to the caller), entity or module"},
           {"Conflict", "A unique constraint, or a restrict foreign key referring to the record"},
           {"UnprocessableContent",
            "Invalid data: `errors` names each field (unknown, readonly, wrong type, missing)"},
           {"Unavailable", "Not ready to serve (the database is unreachable)"},
           {"TooManyRequests",
            "Too many failed logins for this login or address; retry after `Retry-After` "
            "seconds"},
       }) {
    key(name);
    w_.StartObject();
    member("description", description);
    key("content");
    w_.StartObject();
    key("application/problem+json");
    w_.StartObject();
    key("schema");
    ref("schemas", "Problem");
    w_.EndObject();
    w_.EndObject();
    w_.EndObject();
  }
  w_.EndObject();
}

void OpenApiWriter::security_schemes() {
  key("securitySchemes");
  w_.StartObject();
  key("bearer");
  w_.StartObject();
  type("http");
  member("scheme", "bearer");
  member("bearerFormat", "JWT");
  member("description", "An access token from POST /api/v1/auth/login, or an API key");
  w_.EndObject();
  w_.EndObject();
}

// ---- entity schemas -------------------------------------------------------------------------

void OpenApiWriter::entity_schemas(const Entity& e) {
  // The record as answered.
  key(e.name);
  w_.StartObject();
  type("object");
  member("title", e.label);
  member("description", "A " + e.label + " record (entity " + e.name + ", module " + e.module +
                            "). Only `id` is always present: `fields` selects the others.");
  key("properties");
  w_.StartObject();
  key("id");
  w_.StartObject();
  type("integer");
  member("format", "int64");
  flag("readOnly", true);
  w_.EndObject();
  for (auto name : {"created_at", "updated_at"}) {
    key(name);
    w_.StartObject();
    type("string");
    member("format", "date-time");
    flag("readOnly", true);
    w_.EndObject();
  }
  for (auto name : {"created_by", "updated_by"}) {
    key(name);
    w_.StartObject();
    type("integer", true);
    member("format", "int64");
    member("description", "Id of the user");
    flag("readOnly", true);
    w_.EndObject();
  }
  for (const auto& f : e.fields)
    if (query::field_visible(f, ctx_)) read_property(f);
  w_.EndObject();
  strings("required", {"id"});
  w_.EndObject();

  // The bodies of POST and PATCH: writable fields only.
  std::vector<const Field*> writable;
  std::vector<std::string_view> required;
  for (const auto& f : e.fields) {
    if (f.readonly || f.computed || !query::field_visible(f, ctx_)) continue;
    writable.push_back(&f);
    // As RecordService checks a create: one2many and many2many sets may always be left out.
    if (f.required && !f.default_value && f.has_column()) required.push_back(f.name);
  }
  for (bool create : {true, false}) {
    key(derived(e, create ? "input" : "patch"));
    w_.StartObject();
    type("object");
    member("title", e.label + (create ? " (create)" : " (update)"));
    member("description", create ? "Body of a create: required fields without a default must "
                                   "be given; no other property is allowed."
                                 : "Body of an update: the fields to change; no other property "
                                   "is allowed.");
    key("properties");
    w_.StartObject();
    for (const Field* f : writable)
      write_property(*f);
    w_.EndObject();
    if (create && !required.empty()) {
      key("required");
      w_.StartArray();
      for (auto name : required)
        str(name);
      w_.EndArray();
    }
    flag("additionalProperties", false);
    w_.EndObject();
  }

  // The answer of a list.
  key(derived(e, "list"));
  w_.StartObject();
  type("object");
  member("title", e.label + " list");
  key("properties");
  w_.StartObject();
  key("data");
  w_.StartObject();
  type("array");
  key("items");
  ref("schemas", e.name);
  w_.EndObject();
  key("total");
  w_.StartObject();
  type("integer");
  member("minimum", 0);
  member("description", "Records matching the filter, all pages together");
  w_.EndObject();
  w_.EndObject();
  strings("required", {"data", "total"});
  w_.EndObject();
}

// The members of a field's schema that describe its values, in a record as answered or, with
// `input`, in the body of a create or an update.
void OpenApiWriter::value_schema(const Field& f, bool input) {
  const bool nullable = !f.required && !is_relational_list(f);
  switch (f.type) {
    case FieldType::kDecimal:
      if (input) {
        // Accepted as a string or a number (contract §4 rule 9); the pattern binds strings.
        key("type");
        w_.StartArray();
        str("string");
        str("number");
        if (nullable) str("null");
        w_.EndArray();
        member("pattern", decimal_input_pattern(f));
      } else {
        type("string", nullable);
        member("pattern", kDecimalAnswer);
      }
      if (f.help.empty()) member("description", decimal_description(f));
      break;
    case FieldType::kJson:
      // Any JSON value: no type.
      if (f.help.empty()) member("description", "Any JSON value");
      break;
    case FieldType::kSelection:
      type("string", nullable);
      key("enum");
      w_.StartArray();
      for (const auto& o : f.options)
        str(o);
      if (nullable) w_.Null();
      w_.EndArray();
      break;
    case FieldType::kMany2one:
      if (input) {
        type("integer", nullable);
        member("format", "int64");
        if (f.help.empty()) member("description", "Id of the " + f.target + " record");
        break;
      }
      // The target's id, or the target record when `fields` expands it (contract §4 rule 9).
      key("oneOf");
      w_.StartArray();
      w_.StartObject();
      type("integer");
      member("format", "int64");
      w_.EndObject();
      if (readable(f.target)) {
        ref("schemas", f.target);
      } else {
        w_.StartObject();
        type("object");
        strings("required", {"id"});
        w_.EndObject();
      }
      if (nullable) {
        w_.StartObject();
        type("null");
        w_.EndObject();
      }
      w_.EndArray();
      if (f.help.empty())
        member("description", "Id of the " + f.target +
                                  " record, or that record with the fields asked for when "
                                  "`fields` names some of them (\"" +
                                  f.name + ".name\")");
      break;
    case FieldType::kOne2many:
    case FieldType::kMany2many:
      type("array");
      key("items");
      w_.StartObject();
      type("integer");
      member("format", "int64");
      w_.EndObject();
      if (f.help.empty())
        member("description",
               "Ids of the " + f.target + " records" + (input ? "; replaces the whole set" : ""));
      break;
    default: {
      // The other types: their traits' type, format, length limit and encoding.
      const schema::FieldTraits& t = schema::traits(f.type);
      type(t.openapi_type, nullable);
      if (!t.openapi_format.empty()) member("format", t.openapi_format);
      if (auto max = schema::max_length(f)) member("maxLength", *max);
      if (!t.openapi_encoding.empty()) member("contentEncoding", t.openapi_encoding);
      break;
    }
  }
  member("title", f.label);
  if (!f.help.empty()) member("description", f.help);
}

// A field in a record as answered.
void OpenApiWriter::read_property(const Field& f) {
  key(f.name);
  w_.StartObject();
  value_schema(f, false);
  if (f.readonly || f.computed) flag("readOnly", true);
  w_.EndObject();
}

// A field in the body of a create or an update.
void OpenApiWriter::write_property(const Field& f) {
  key(f.name);
  w_.StartObject();
  value_schema(f, true);
  if (f.default_value && !is_dynamic_default(f)) {
    key("default");
    std::string json = default_json(f);
    // RawValue only needs to know that a value follows; the text is a complete JSON value.
    w_.RawValue(json.c_str(), json.size(), rapidjson::kObjectType);
  }
  w_.EndObject();
}

void OpenApiWriter::fixed_schemas() {
  // Bodies and answers of /auth/*: objects of required string properties (plus expires_in).
  auto strings_object = [&](const char* name, std::initializer_list<std::string_view> props,
                            bool expires) {
    key(name);
    w_.StartObject();
    type("object");
    key("properties");
    w_.StartObject();
    for (auto p : props) {
      key(p);
      w_.StartObject();
      type("string");
      w_.EndObject();
    }
    if (expires) {
      key("expires_in");
      w_.StartObject();
      type("integer");
      member("description", "Seconds until the access token expires");
      w_.EndObject();
    }
    w_.EndObject();
    strings("required", props);
    w_.EndObject();
  };
  strings_object("LoginRequest", {"login", "password"}, false);
  strings_object("RefreshRequest", {"refresh_token"}, false);
  strings_object("Tokens", {"access_token", "refresh_token", "token_type"}, true);

  // RFC 9457 problem details, with the field errors of a 422.
  key("Problem");
  w_.StartObject();
  type("object");
  member("title", "Problem details (RFC 9457)");
  key("properties");
  w_.StartObject();
  key("type");
  w_.StartObject();
  type("string");
  member("format", "uri-reference");
  member("description", "Stable code of the problem (urn:keel:problem:<code>)");
  w_.EndObject();
  key("title");
  w_.StartObject();
  type("string");
  w_.EndObject();
  key("status");
  w_.StartObject();
  type("integer");
  member("minimum", 100);
  member("maximum", 599);
  w_.EndObject();
  key("detail");
  w_.StartObject();
  type("string");
  w_.EndObject();
  key("instance");
  w_.StartObject();
  type("string");
  member("format", "uri-reference");
  w_.EndObject();
  key("errors");
  w_.StartObject();
  type("array");
  member("description", "Validation errors, one per field");
  key("items");
  w_.StartObject();
  type("object");
  key("properties");
  w_.StartObject();
  key("field");
  w_.StartObject();
  type("string");
  w_.EndObject();
  key("message");
  w_.StartObject();
  type("string");
  w_.EndObject();
  w_.EndObject();
  strings("required", {"field", "message"});
  w_.EndObject();
  w_.EndObject();
  w_.EndObject();
  strings("required", {"type", "title", "status"});
  w_.EndObject();

  // GET /meta/entities (http/meta.hpp).
  auto property = [&](std::string_view name, std::string_view t, bool nullable) {
    key(name);
    w_.StartObject();
    type(t, nullable);
    w_.EndObject();
  };
  key("FieldMeta");
  w_.StartObject();
  type("object");
  key("properties");
  w_.StartObject();
  property("name", "string", false);
  key("type");
  w_.StartObject();
  type("string");
  key("enum");
  w_.StartArray();
  for (auto t : schema::field_type_names())
    str(t);
  w_.EndArray();
  w_.EndObject();
  property("label", "string", false);
  property("help", "string", true);
  property("required", "boolean", false);
  property("readonly", "boolean", false);
  property("unique", "boolean", false);
  property("computed", "boolean", false);
  property("target", "string", true);
  property("inverse", "string", true);
  key("options");
  w_.StartObject();
  type("array", true);
  key("items");
  w_.StartObject();
  type("string");
  w_.EndObject();
  w_.EndObject();
  property("max_length", "integer", true);
  property("precision", "integer", true);
  property("scale", "integer", true);
  key("default");
  w_.StartObject();
  member("description", "The default, as a value of the field's type; null when none");
  w_.EndObject();
  w_.EndObject();
  strings("required", {"name", "type", "label", "required", "readonly", "unique", "computed"});
  w_.EndObject();

  key("EntityMeta");
  w_.StartObject();
  type("object");
  key("properties");
  w_.StartObject();
  property("name", "string", false);
  property("label", "string", false);
  property("table", "string", false);
  property("title", "string", true);
  property("order", "string", true);
  property("module", "string", false);
  key("fields");
  w_.StartObject();
  type("array");
  key("items");
  ref("schemas", "FieldMeta");
  w_.EndObject();
  key("rights");
  w_.StartObject();
  type("object");
  member("description", "What the caller may do with the entity's records");
  key("properties");
  w_.StartObject();
  for (auto right : {"read", "create", "update", "delete"})
    property(right, "boolean", false);
  w_.EndObject();
  strings("required", {"read", "create", "update", "delete"});
  w_.EndObject();
  w_.EndObject();
  strings("required", {"name", "label", "table", "module", "fields", "rights"});
  w_.EndObject();

  key("EntityMetaList");
  w_.StartObject();
  type("object");
  key("properties");
  w_.StartObject();
  key("data");
  w_.StartObject();
  type("array");
  key("items");
  ref("schemas", "EntityMeta");
  w_.EndObject();
  w_.EndObject();
  strings("required", {"data"});
  w_.EndObject();

  // Module administration, as http/api.cpp answers it (contract §4 rules 2 and 16).
  key("Module");
  w_.StartObject();
  type("object");
  key("properties");
  w_.StartObject();
  property("name", "string", false);
  property("version", "string", false);
  property("installed_version", "string", true);
  key("state");
  w_.StartObject();
  type("string");
  strings("enum", {"uninstalled", "installed", "to upgrade"});
  w_.EndObject();
  property("core", "boolean", false);
  property("summary", "string", false);
  key("depends");
  w_.StartObject();
  type("array");
  key("items");
  w_.StartObject();
  type("string");
  w_.EndObject();
  w_.EndObject();
  w_.EndObject();
  strings("required", {"name", "version", "state"});
  w_.EndObject();

  key("ModuleList");
  w_.StartObject();
  type("object");
  key("properties");
  w_.StartObject();
  key("data");
  w_.StartObject();
  type("array");
  key("items");
  ref("schemas", "Module");
  w_.EndObject();
  w_.EndObject();
  strings("required", {"data"});
  w_.EndObject();

  key("ModuleChanges");
  w_.StartObject();
  type("object");
  key("properties");
  w_.StartObject();
  key("changed");
  w_.StartObject();
  type("array");
  member("description", "Names of the modules the action installed, upgraded or uninstalled");
  key("items");
  w_.StartObject();
  type("string");
  w_.EndObject();
  w_.EndObject();
  w_.EndObject();
  strings("required", {"changed"});
  w_.EndObject();
}

}  // namespace

std::string openapi_document(const schema::Registry& registry, const security::Policy& policy,
                             const security::Context& ctx, std::string_view server_url) {
  return OpenApiWriter(registry, policy, ctx, server_url).write();
}

}  // namespace keel::http
