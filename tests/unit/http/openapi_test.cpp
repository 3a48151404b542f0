#include "http/openapi.hpp"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "db/pool.hpp"
#include "http/api.hpp"
#include "http/meta.hpp"
#include "support/addon_tree.hpp"
#include "unit/http/registry_fixture.hpp"

namespace keel::http {
namespace {
namespace fs = std::filesystem;
using namespace keel::http::testing;
using Strings = std::vector<std::string>;

constexpr const char* kServer = "http://127.0.0.1:8080";

// The API's routes as a server registers them (no database: the handlers never run), and the
// document written from them.
class Routes {
 public:
  Routes() {
    config_.secret = "keel-test-secret-0123456789abcdef";
    api_ = std::make_unique<Api>(config_, pool_, Api::RoutesOnly{});
  }
  const Router& router() const { return api_->router(); }
  std::string document(const schema::Registry& registry, const Router* native = nullptr,
                       std::string_view server = kServer,
                       const security::Context& ctx = security::Context::system()) const {
    return openapi_document(api_->openapi_base(), {&router(), native}, registry, security::Policy(),
                            ctx, server);
  }

 private:
  Config config_;
  db::Pool pool_{"host=/nonexistent dbname=none"};
  std::unique_ptr<Api> api_;
};

const Routes& routes() {
  static const Routes* r = new Routes();
  return *r;
}

std::string openapi_document(const schema::Registry& registry, const security::Policy&,
                             const security::Context& ctx, std::string_view server) {
  return routes().document(registry, nullptr, server, ctx);
}

class OpenApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_sales(tree_);
    registry_ = build_registry(tree_);
    ASSERT_NE(registry_, nullptr);
    text_ = openapi_document(*registry_, security::Policy(), security::Context::system(), kServer);
    parse(doc_, text_);
  }

  const rapidjson::Value& schema(const char* name) const {
    return at(at(at(doc_, "components"), "schemas"), name);
  }
  const rapidjson::Value& property(const char* schema_name, const char* field) const {
    return at(at(schema(schema_name), "properties"), field);
  }
  const rapidjson::Value& path(const std::string& p) const {
    return at(at(doc_, "paths"), p.c_str());
  }
  const rapidjson::Value& operation(const std::string& p, const char* method) const {
    return at(path(p), method);
  }

  // What a "$ref" points to inside the document (null when it does not resolve).
  const rapidjson::Value* resolve(const std::string& ref) const {
    if (ref.rfind("#/", 0) != 0) return nullptr;
    rapidjson::Pointer pointer(ref.c_str() + 1);
    if (!pointer.IsValid()) return nullptr;
    return pointer.Get(doc_);
  }

  keel::testing::AddonTree tree_;
  std::shared_ptr<const schema::Registry> registry_;
  std::string text_;
  rapidjson::Document doc_;
};

// Every "$ref" of `v`, with the JSON pointer where it stands; fails on a duplicate member name
// (RapidJSON's parser accepts them, a JSON object must not have them).
void walk(const rapidjson::Value& v, const std::string& where,
          std::vector<std::pair<std::string, std::string>>& refs) {
  if (v.IsObject()) {
    std::set<std::string> seen;
    for (const auto& m : v.GetObject()) {
      std::string name = string_of(m.name);
      EXPECT_TRUE(seen.insert(name).second) << "duplicate member " << name << " in " << where;
      if (name == "$ref") refs.emplace_back(string_of(m.value), where);
      walk(m.value, where + "/" + name, refs);
    }
  } else if (v.IsArray()) {
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i)
      walk(v[i], where + "/" + std::to_string(i), refs);
  }
}

// ---- document ---------------------------------------------------------------------------------

TEST_F(OpenApiTest, HeaderInfoServersAndDialect) {
  EXPECT_EQ(string_of(at(doc_, "openapi")), "3.1.0");
  EXPECT_EQ(string_of(at(at(doc_, "info"), "title")), "Keel");
  EXPECT_EQ(string_of(at(at(doc_, "info"), "version")), KEEL_VERSION);
  EXPECT_EQ(string_of(at(doc_, "jsonSchemaDialect")),
            "https://spec.openapis.org/oas/3.1/dialect/base");
  ASSERT_TRUE(at(doc_, "servers").IsArray());
  ASSERT_EQ(at(doc_, "servers").Size(), 1u);
  EXPECT_EQ(string_of(at(at(doc_, "servers")[0], "url")), kServer);

  rapidjson::Document bare;
  parse(bare, openapi_document(*registry_, security::Policy(), security::Context::system(), ""));
  EXPECT_EQ(string_of(at(at(bare, "servers")[0], "url")), "/");
}

TEST_F(OpenApiTest, EveryEntityHasItsSchemasTagAndPaths) {
  Strings entities;
  for (const auto& e : registry_->entities())
    entities.push_back(e.name);
  ASSERT_EQ(entities, (Strings{"partner", "sale_line", "sale_order", "tag"}));

  Strings tags;
  for (const auto& t : at(doc_, "tags").GetArray())
    tags.push_back(string_of(at(t, "name")));
  EXPECT_EQ(tags, (Strings{"partner", "sale_line", "sale_order", "tag", "Meta", "Modules", "UI",
                           "Auth", "Users", "System"}));
  std::set<std::string> tag_set(tags.begin(), tags.end());
  for (const auto& p : at(doc_, "paths").GetObject())
    for (const auto& op : p.value.GetObject()) {
      if (string_of(op.name) == "parameters") continue;
      for (const auto& t : strings_of(at(op.value, "tags"))) {
        EXPECT_TRUE(tag_set.count(t)) << t << " of " << string_of(p.name);
      }
    }

  for (const auto& name : entities) {
    for (const std::string& s : {name, name + "_input", name + "_patch", name + "_list"})
      EXPECT_TRUE(schema(s.c_str()).IsObject()) << s;
    std::string base = "/api/v1/records/" + name;
    EXPECT_EQ(keys_of(path(base)), (Strings{"get", "post"})) << base;
    EXPECT_EQ(keys_of(path(base + "/{id}")), (Strings{"parameters", "get", "patch", "delete"}))
        << base;
    for (const char* method : {"get", "post"})
      EXPECT_EQ(strings_of(at(operation(base, method), "tags")), Strings{name});
  }

  // Paths: in the order the server registers its routes, the records' entity by entity (in
  // name order) where the first record route stands.
  EXPECT_EQ(keys_of(at(doc_, "paths")), (Strings{"/api/v1/auth/login",
                                                 "/api/v1/auth/refresh",
                                                 "/api/v1/auth/logout",
                                                 "/api/v1/healthz",
                                                 "/api/v1/metrics",
                                                 "/api/v1/openapi.json",
                                                 "/api/v1/meta/entities",
                                                 "/api/v1/meta/entities/{entity}",
                                                 "/api/v1/ui/views/{entity}/{type}",
                                                 "/api/v1/ui/views/{id}",
                                                 "/api/v1/ui/views/{id}/customization",
                                                 "/api/v1/ui/menus",
                                                 "/api/v1/ui/actions/{id}",
                                                 "/api/v1/ui/components",
                                                 "/api/v1/ui/assets/{module}/{p1}",
                                                 "/api/v1/ui/assets/{module}/{p1}/{p2}",
                                                 "/api/v1/ui/assets/{module}/{p1}/{p2}/{p3}",
                                                 "/api/v1/ui/assets/{module}/{p1}/{p2}/{p3}/{p4}",
                                                 "/api/v1/users",
                                                 "/api/v1/users/{id}/password",
                                                 "/api/v1/users/{id}/api-keys",
                                                 "/api/v1/records/partner",
                                                 "/api/v1/records/partner/{id}",
                                                 "/api/v1/records/sale_line",
                                                 "/api/v1/records/sale_line/{id}",
                                                 "/api/v1/records/sale_order",
                                                 "/api/v1/records/sale_order/{id}",
                                                 "/api/v1/records/tag",
                                                 "/api/v1/records/tag/{id}",
                                                 "/api/v1/modules",
                                                 "/api/v1/modules/native",
                                                 "/api/v1/modules/{name}/{action}"}));
  EXPECT_EQ(keys_of(path("/api/v1/modules/{name}/{action}")), Strings{"post"});
  for (const char* p :
       {"/api/v1/meta/entities", "/api/v1/meta/entities/{entity}", "/api/v1/modules",
        "/api/v1/modules/native", "/api/v1/healthz", "/api/v1/metrics", "/api/v1/openapi.json"})
    EXPECT_EQ(keys_of(path(p)), Strings{"get"}) << p;

  // The meta route's entity parameter lists the entities.
  const rapidjson::Value* entity = resolve("#/components/parameters/entity");
  ASSERT_NE(entity, nullptr);
  EXPECT_EQ(strings_of(at(at(*entity, "schema"), "enum")), entities);
  Strings module_params;
  for (const auto& p :
       at(operation("/api/v1/modules/{name}/{action}", "post"), "parameters").GetArray())
    module_params.push_back(string_of(at(p, "$ref")));
  EXPECT_EQ(module_params,
            (Strings{"#/components/parameters/module", "#/components/parameters/action",
                     "#/components/parameters/demo", "#/components/parameters/purge"}));
  const rapidjson::Value* action = resolve("#/components/parameters/action");
  ASSERT_NE(action, nullptr);
  EXPECT_EQ(strings_of(at(at(*action, "schema"), "enum")),
            (Strings{"install", "upgrade", "uninstall"}));
}

TEST_F(OpenApiTest, EveryRefResolvesAndNoMemberIsRepeated) {
  std::vector<std::pair<std::string, std::string>> refs;
  walk(doc_, "", refs);
  EXPECT_GT(refs.size(), 100u);
  std::set<std::string> targets;
  for (const auto& [ref, where] : refs) {
    EXPECT_NE(resolve(ref), nullptr) << ref << " at " << where;
    targets.insert(ref);
  }
  // Everything in components is used.
  for (const char* kind : {"schemas", "parameters", "responses"})
    for (const auto& name : keys_of(at(at(doc_, "components"), kind)))
      EXPECT_EQ(targets.count("#/components/" + std::string(kind) + "/" + name), 1u)
          << kind << "/" << name << " is never referenced";
}

TEST_F(OpenApiTest, OperationIdsAreUniqueAndTheDocumentDeterministic) {
  Strings ids;
  for (const auto& p : at(doc_, "paths").GetObject())
    for (const auto& op : p.value.GetObject())
      if (string_of(op.name) != "parameters") ids.push_back(string_of(at(op.value, "operationId")));
  std::set<std::string> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), ids.size());
  // records, fixed routes, /ui (four depths of assets), /auth and /users routes
  EXPECT_EQ(ids.size(), 4u * 5u + 8u + 11u + 3u + 3u);
  for (const char* id : {"list_sale_order", "create_sale_order", "read_sale_order",
                         "update_sale_order", "delete_sale_order", "listEntities", "readEntity",
                         "listModules", "runModuleAction", "getHealth", "getMetrics", "getOpenApi"})
    EXPECT_EQ(unique.count(id), 1u) << id;

  // Same registry, same bytes; a registry built again from the same files, same bytes.
  EXPECT_EQ(openapi_document(*registry_, security::Policy(), security::Context::system(), kServer),
            text_);
  auto again = build_registry(tree_);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(openapi_document(*again, security::Policy(), security::Context::system(), kServer),
            text_);
}

// ---- the document and the routes --------------------------------------------------------------

// Every operation of `doc`: method (uppercase) and path.
std::vector<std::pair<std::string, std::string>> operations_of(const rapidjson::Value& doc) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& p : at(doc, "paths").GetObject())
    for (const auto& op : p.value.GetObject()) {
      std::string method = string_of(op.name);
      if (method == "parameters") continue;
      for (auto& c : method)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      out.emplace_back(method, string_of(p.name));
    }
  return out;
}

// Fails when the document lists an operation that `routers` do not serve, or when a route of
// theirs has no operation in the document (matched with the router's own rules: a `{name}`
// segment of either side matches one segment of the other).
void expect_document_matches_routes(const rapidjson::Value& doc,
                                    const std::vector<const Router*>& routers) {
  auto ops = operations_of(doc);
  for (const auto& [method, path] : ops) {
    bool served = std::any_of(routers.begin(), routers.end(),
                              [&](const Router* r) { return r && r->serves(method, path); });
    EXPECT_TRUE(served) << "the document lists " << method << " " << path
                        << ", which no route serves";
  }
  for (const Router* router : routers) {
    if (!router) continue;
    for (const auto& route : router->routes()) {
      Router one;
      one.add(route.method, route.pattern, {}, [](Request&) { return Response(); });
      bool documented = std::any_of(ops.begin(), ops.end(), [&](const auto& op) {
        return op.first == route.method && one.serves(op.first, op.second);
      });
      EXPECT_TRUE(documented) << route.method << " " << route.pattern
                              << " is served but missing from the document";
    }
  }
}

TEST_F(OpenApiTest, ListsEveryServedRouteAndNothingElse) {
  const Router& router = routes().router();
  ASSERT_GT(router.routes().size(), 20u);
  expect_document_matches_routes(doc_, {&router});
  // Each of the API's routes describes itself.
  std::set<std::string> ids;
  for (const auto& route : router.routes()) {
    std::string name = route.method + " " + route.pattern;
    EXPECT_FALSE(route.doc.summary.empty()) << name;
    EXPECT_FALSE(route.doc.operation_id.empty()) << name;
    EXPECT_TRUE(ids.insert(route.doc.operation_id).second) << name;
    EXPECT_FALSE(route.doc.tags.empty()) << name;
    EXPECT_FALSE(route.doc.responses.empty()) << name;
    // Exactly the routes that need no token say so (Api::dispatch, contract §4 rule 14).
    bool open = route.pattern == "/api/v1/auth/login" || route.pattern == "/api/v1/auth/refresh" ||
                route.pattern == "/api/v1/healthz" || route.pattern == "/api/v1/metrics" ||
                route.pattern.rfind("/api/v1/ui/assets/", 0) == 0;
    EXPECT_EQ(route.doc.open, open) << name;
  }

  // The check fails both ways: a route the document lacks, an operation no route serves.
  Router more;
  more.add("GET", "/api/v1/x/shop/extra", {.summary = "Extra"},
           [](Request&) { return Response(); });
  rapidjson::Document with_more;
  parse(with_more, routes().document(*registry_, &more));
  EXPECT_TRUE(rapidjson::Pointer("/paths/~1api~1v1~1x~1shop~1extra/get").Get(with_more));
  expect_document_matches_routes(with_more, {&router, &more});
  EXPECT_NONFATAL_FAILURE(expect_document_matches_routes(doc_, {&router, &more}),
                          "GET /api/v1/x/shop/extra is served but missing from the document");
  EXPECT_NONFATAL_FAILURE(expect_document_matches_routes(with_more, {&router}),
                          "the document lists GET /api/v1/x/shop/extra, which no route serves");
}

// ---- schemas ----------------------------------------------------------------------------------

TEST_F(OpenApiTest, ReadShapeHasIdAuditColumnsAndEveryFieldWithItsType) {
  const auto& order = schema("sale_order");
  EXPECT_EQ(string_of(at(order, "type")), "object");
  EXPECT_EQ(string_of(at(order, "title")), "Sales order");
  EXPECT_EQ(strings_of(at(order, "required")), Strings{"id"});
  EXPECT_EQ(
      keys_of(at(order, "properties")),
      (Strings{"id",       "created_at", "updated_at", "created_by", "updated_by", "ref",
               "partner",  "state",      "stage",      "qty",        "big",        "amount",
               "discount", "rate",       "ratio",      "paid",       "date",       "sent_at",
               "payload",  "scan",       "lines",      "tags",       "total",      "margin"}));

  auto type = [&](const char* field) {
    const auto& t = at(property("sale_order", field), "type");
    return t.IsArray() ? strings_of(t) : Strings{string_of(t)};
  };
  auto format = [&](const char* field) {
    return string_of(at(property("sale_order", field), "format"));
  };
  auto read_only = [&](const char* field) {
    return at(property("sale_order", field), "readOnly").IsTrue();
  };

  EXPECT_EQ(type("id"), Strings{"integer"});
  EXPECT_EQ(format("id"), "int64");
  EXPECT_TRUE(read_only("id"));
  for (const char* audit : {"created_at", "updated_at"}) {
    EXPECT_EQ(type(audit), Strings{"string"});
    EXPECT_EQ(format(audit), "date-time");
    EXPECT_TRUE(read_only(audit));
  }
  for (const char* audit : {"created_by", "updated_by"}) {
    EXPECT_EQ(type(audit), (Strings{"integer", "null"}));
    EXPECT_TRUE(read_only(audit));
  }

  // Required fields are never null; the others may be.
  EXPECT_EQ(type("ref"), Strings{"string"});
  EXPECT_EQ(at(property("sale_order", "ref"), "maxLength").GetInt(), 64);
  EXPECT_EQ(string_of(at(property("sale_order", "ref"), "title")), "Reference");
  EXPECT_EQ(type("qty"), (Strings{"integer", "null"}));
  EXPECT_EQ(format("qty"), "int32");
  EXPECT_EQ(format("big"), "int64");
  EXPECT_EQ(type("ratio"), (Strings{"number", "null"}));
  EXPECT_EQ(type("paid"), (Strings{"boolean", "null"}));
  EXPECT_EQ(format("date"), "date");
  EXPECT_EQ(format("sent_at"), "date-time");
  EXPECT_EQ(string_of(at(property("sale_order", "scan"), "contentEncoding")), "base64");
  EXPECT_FALSE(property("sale_order", "payload").HasMember("type"));  // any JSON value

  // Decimals are strings with a pattern.
  EXPECT_EQ(type("amount"), (Strings{"string", "null"}));
  EXPECT_TRUE(at(property("sale_order", "amount"), "pattern").IsString());

  // Selections: an enum, with null when the field is not required.
  EXPECT_EQ(type("state"), Strings{"string"});
  EXPECT_EQ(strings_of(at(property("sale_order", "state"), "enum")), (Strings{"draft", "done"}));
  EXPECT_EQ(strings_of(at(property("sale_order", "stage"), "enum")),
            (Strings{"new", "won", "<null>"}));

  // many2one: the id, or the target record when expanded.
  const auto& partner = at(property("sale_order", "partner"), "oneOf");
  ASSERT_TRUE(partner.IsArray());
  ASSERT_EQ(partner.Size(), 2u);  // required: no null
  EXPECT_EQ(string_of(at(partner[0], "type")), "integer");
  EXPECT_EQ(string_of(at(partner[1], "$ref")), "#/components/schemas/partner");
  const auto& order_of_line = at(at(at(schema("sale_line"), "properties"), "order"), "oneOf");
  ASSERT_EQ(order_of_line.Size(), 3u);
  EXPECT_EQ(string_of(at(order_of_line[1], "$ref")), "#/components/schemas/sale_order");
  EXPECT_EQ(string_of(at(order_of_line[2], "type")), "null");

  // one2many and many2many: arrays of ids, never null.
  for (const char* list : {"lines", "tags"}) {
    EXPECT_EQ(type(list), Strings{"array"});
    EXPECT_EQ(string_of(at(at(property("sale_order", list), "items"), "type")), "integer");
  }

  // readonly and computed fields are readOnly; the others are not.
  EXPECT_TRUE(read_only("amount"));
  EXPECT_TRUE(read_only("total"));
  EXPECT_TRUE(read_only("margin"));
  EXPECT_FALSE(read_only("ref"));
  EXPECT_FALSE(read_only("discount"));

  // Other entities: string formats, help as description, the extension's field.
  EXPECT_EQ(string_of(at(property("partner", "email"), "format")), "email");
  EXPECT_EQ(string_of(at(property("partner", "email"), "type")), "string");  // made required
  EXPECT_EQ(string_of(at(property("partner", "website"), "format")), "uri");
  EXPECT_EQ(string_of(at(property("partner", "website"), "description")),
            "Home page, \"https\" preferred");
  EXPECT_TRUE(at(property("partner", "sale_count"), "readOnly").IsTrue());

  // The list wrapper.
  const auto& list = schema("sale_order_list");
  EXPECT_EQ(strings_of(at(list, "required")), (Strings{"data", "total"}));
  EXPECT_EQ(string_of(at(at(at(at(list, "properties"), "data"), "items"), "$ref")),
            "#/components/schemas/sale_order");
  EXPECT_EQ(string_of(at(at(at(list, "properties"), "total"), "type")), "integer");
}

TEST_F(OpenApiTest, InputShapesHoldOnlyWritableFields) {
  const auto& input = schema("sale_order_input");
  const auto& patch = schema("sale_order_patch");
  Strings writable{"ref",   "partner", "state", "stage",   "qty",     "big",  "discount", "rate",
                   "ratio", "paid",    "date",  "sent_at", "payload", "scan", "lines",    "tags"};
  EXPECT_EQ(keys_of(at(input, "properties")), writable);
  EXPECT_EQ(keys_of(at(patch, "properties")), writable);
  for (const auto* s : {&input, &patch}) {
    EXPECT_TRUE(at(*s, "additionalProperties").IsFalse());
    EXPECT_EQ(string_of(at(*s, "type")), "object");
  }
  // Required without a default (state has one), and with a column (tags, a required many2many,
  // may be left out, as RecordService lets it).
  EXPECT_EQ(strings_of(at(input, "required")), (Strings{"ref", "partner"}));
  EXPECT_FALSE(patch.HasMember("required"));
  EXPECT_EQ(strings_of(at(schema("partner_input"), "required")), (Strings{"name", "email"}));
  EXPECT_FALSE(schema("tag_input").HasMember("required"));

  auto prop = [&](const char* field) -> const rapidjson::Value& {
    return property("sale_order_input", field);
  };
  // A many2one is written as an id; decimals as strings or numbers.
  EXPECT_EQ(string_of(at(prop("partner"), "type")), "integer");
  EXPECT_FALSE(prop("partner").HasMember("oneOf"));
  EXPECT_EQ(strings_of(at(prop("discount"), "type")), (Strings{"string", "number", "null"}));
  EXPECT_EQ(string_of(at(prop("lines"), "type")), "array");

  // Defaults, typed; none for today/now.
  EXPECT_EQ(string_of(at(prop("state"), "default")), "draft");
  EXPECT_EQ(at(prop("qty"), "default").GetInt(), -5);
  EXPECT_EQ(at(prop("big"), "default").GetInt64(), 9000000000LL);
  EXPECT_TRUE(at(prop("paid"), "default").IsFalse());
  EXPECT_DOUBLE_EQ(at(prop("ratio"), "default").GetDouble(), 1500.0);
  EXPECT_EQ(string_of(at(prop("discount"), "default")), "0.50");
  EXPECT_EQ(at(at(prop("payload"), "default"), "a").Size(), 2u);
  EXPECT_FALSE(prop("date").HasMember("default"));
  EXPECT_FALSE(prop("sent_at").HasMember("default"));
}

TEST_F(OpenApiTest, DecimalPatternsFollowPrecisionAndScale) {
  auto matches = [&](const char* schema_name, const char* field, const std::string& value) {
    std::regex re(string_of(at(property(schema_name, field), "pattern")));
    return std::regex_search(value, re);
  };
  // numeric(5,2) as written: at most 3 digits before the point, 2 after (zeros aside).
  for (const char* ok : {"0", "12.5", "-999.99", "+1.", ".5", "001.50", "1.2300", "999"})
    EXPECT_TRUE(matches("sale_order_input", "discount", ok)) << ok;
  for (const char* bad : {"1000", "1.234", "", ".", "-", "1e3", "1,5", "abc", " 1"})
    EXPECT_FALSE(matches("sale_order_input", "discount", bad)) << bad;
  // numeric(10,0): no fraction but zeros.
  EXPECT_TRUE(matches("sale_line_input", "price", "1234567890"));
  EXPECT_TRUE(matches("sale_line_input", "price", "12.000"));
  EXPECT_FALSE(matches("sale_line_input", "price", "12345678901"));
  EXPECT_FALSE(matches("sale_line_input", "price", "1.5"));
  // numeric without limits.
  EXPECT_TRUE(matches("sale_order_input", "rate", "123456789012345678901234567890.123456"));
  EXPECT_FALSE(matches("sale_order_input", "rate", "1.2.3"));
  // Answers: PostgreSQL's text.
  EXPECT_TRUE(matches("sale_order", "amount", "-12.50"));
  EXPECT_FALSE(matches("sale_order", "amount", "12."));
}

TEST_F(OpenApiTest, ProblemSchemaAndSecurityScheme) {
  const auto& problem = schema("Problem");
  EXPECT_EQ(strings_of(at(problem, "required")), (Strings{"type", "title", "status"}));
  const auto& errors = at(at(problem, "properties"), "errors");
  EXPECT_EQ(string_of(at(errors, "type")), "array");
  EXPECT_EQ(keys_of(at(at(errors, "items"), "properties")), (Strings{"field", "message"}));

  const auto& bearer = at(at(at(doc_, "components"), "securitySchemes"), "bearer");
  EXPECT_EQ(string_of(at(bearer, "type")), "http");
  EXPECT_EQ(string_of(at(bearer, "scheme")), "bearer");
  EXPECT_EQ(string_of(at(bearer, "bearerFormat")), "JWT");
  // A token everywhere but on /healthz and /metrics (contract §4 rule 14).
  ASSERT_TRUE(at(doc_, "security").IsArray());
  EXPECT_TRUE(at(at(doc_, "security")[0], "bearer").IsArray());
  for (const char* open : {"/api/v1/healthz", "/api/v1/metrics"}) {
    const auto& security = at(operation(open, "get"), "security");
    ASSERT_TRUE(security.IsArray()) << open;
    EXPECT_EQ(security.Size(), 0u) << open;
  }
  for (const char* closed : {"/api/v1/openapi.json", "/api/v1/meta/entities", "/api/v1/modules"})
    EXPECT_FALSE(operation(closed, "get").HasMember("security")) << closed;
}

// ---- operations -------------------------------------------------------------------------------

TEST_F(OpenApiTest, RecordOperationsHaveTheirParametersBodiesAndStatuses) {
  const std::string base = "/api/v1/records/sale_order";
  auto codes = [&](const std::string& p, const char* method) {
    return keys_of(at(operation(p, method), "responses"));
  };
  EXPECT_EQ(codes(base, "get"), (Strings{"200", "400", "401", "403"}));
  EXPECT_EQ(codes(base, "post"), (Strings{"201", "400", "401", "403", "409", "422"}));
  EXPECT_EQ(codes(base + "/{id}", "get"), (Strings{"200", "400", "401", "403", "404"}));
  EXPECT_EQ(codes(base + "/{id}", "patch"),
            (Strings{"200", "400", "401", "403", "404", "409", "422"}));
  EXPECT_EQ(codes(base + "/{id}", "delete"), (Strings{"204", "401", "403", "404", "409"}));

  // Errors are problem+json.
  for (const char* method : {"get", "patch", "delete"}) {
    const auto& responses = at(operation(base + "/{id}", method), "responses");
    for (const auto& r : responses.GetObject()) {
      if (string_of(r.name)[0] != '4') continue;
      const rapidjson::Value* target = resolve(string_of(at(r.value, "$ref")));
      ASSERT_NE(target, nullptr) << method << " " << string_of(r.name);
      EXPECT_EQ(keys_of(at(*target, "content")), Strings{"application/problem+json"});
      EXPECT_EQ(string_of(at(at(at(at(*target, "content"), "application/problem+json"), "schema"),
                             "$ref")),
                "#/components/schemas/Problem");
    }
  }
  const rapidjson::Value* unprocessable = resolve("#/components/responses/UnprocessableContent");
  ASSERT_NE(unprocessable, nullptr);

  // List parameters, limit capped at 1000.
  Strings names;
  for (const auto& p : at(operation(base, "get"), "parameters").GetArray()) {
    const rapidjson::Value* param = resolve(string_of(at(p, "$ref")));
    ASSERT_NE(param, nullptr);
    EXPECT_EQ(string_of(at(*param, "in")), "query");
    names.push_back(string_of(at(*param, "name")));
  }
  EXPECT_EQ(names, (Strings{"filter", "sort", "limit", "offset", "fields"}));
  const rapidjson::Value* limit = resolve("#/components/parameters/limit");
  ASSERT_NE(limit, nullptr);
  EXPECT_EQ(at(at(*limit, "schema"), "maximum").GetInt(), 1000);
  EXPECT_EQ(at(at(*limit, "schema"), "default").GetInt(), 50);
  const rapidjson::Value* id = resolve("#/components/parameters/id");
  ASSERT_NE(id, nullptr);
  EXPECT_EQ(string_of(at(*id, "in")), "path");
  EXPECT_TRUE(at(*id, "required").IsTrue());

  // Bodies and answers.
  auto body_ref = [&](const std::string& p, const char* method) {
    return string_of(
        at(at(at(at(at(operation(p, method), "requestBody"), "content"), "application/json"),
              "schema"),
           "$ref"));
  };
  auto answer_ref = [&](const std::string& p, const char* method, const char* code) {
    return string_of(at(
        at(at(at(at(at(operation(p, method), "responses"), code), "content"), "application/json"),
           "schema"),
        "$ref"));
  };
  EXPECT_EQ(body_ref(base, "post"), "#/components/schemas/sale_order_input");
  EXPECT_EQ(body_ref(base + "/{id}", "patch"), "#/components/schemas/sale_order_patch");
  EXPECT_EQ(answer_ref(base, "get", "200"), "#/components/schemas/sale_order_list");
  EXPECT_EQ(answer_ref(base, "post", "201"), "#/components/schemas/sale_order");
  EXPECT_EQ(answer_ref(base + "/{id}", "get", "200"), "#/components/schemas/sale_order");
  EXPECT_EQ(answer_ref(base + "/{id}", "patch", "200"), "#/components/schemas/sale_order");
  EXPECT_FALSE(
      at(at(operation(base + "/{id}", "delete"), "responses"), "204").HasMember("content"));
  const auto& location =
      at(at(at(at(operation(base, "post"), "responses"), "201"), "headers"), "Location");
  const rapidjson::Value* header = resolve(string_of(at(location, "$ref")));
  ASSERT_NE(header, nullptr);
  EXPECT_EQ(string_of(at(at(*header, "schema"), "type")), "string");
  EXPECT_TRUE(at(*header, "required").IsTrue());

  // The other routes answer their own schemas.
  EXPECT_EQ(answer_ref("/api/v1/meta/entities", "get", "200"),
            "#/components/schemas/EntityMetaList");
  EXPECT_EQ(answer_ref("/api/v1/meta/entities/{entity}", "get", "200"),
            "#/components/schemas/EntityMeta");
  EXPECT_EQ(answer_ref("/api/v1/modules", "get", "200"), "#/components/schemas/ModuleList");
  EXPECT_EQ(answer_ref("/api/v1/modules/{name}/{action}", "post", "200"),
            "#/components/schemas/ModuleChanges");
  EXPECT_TRUE(at(at(at(at(operation("/api/v1/metrics", "get"), "responses"), "200"), "content"),
                 "text/plain")
                  .IsObject());
}

// ---- edge cases -------------------------------------------------------------------------------

TEST(OpenApiNames, DerivedNamesNeverCollideWithEntities) {
  keel::testing::AddonTree tree;
  write_module(tree, "stock", {}, R"(entities:
  item:
    fields:
      name: {type: string}
  item_input:
    fields:
      item: {type: many2one, target: item}
  item_list:
    fields:
      code: {type: string}
)");
  auto registry = build_registry(tree);
  ASSERT_NE(registry, nullptr);
  rapidjson::Document doc;
  parse(doc, openapi_document(*registry, security::Policy(), security::Context::system(), kServer));
  const auto& schemas = at(at(doc, "components"), "schemas");
  Strings names = keys_of(schemas);
  std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), names.size());
  for (const char* name : {"item", "item.input", "item_patch", "item.list", "item_input",
                           "item_input_input", "item_input_patch", "item_input_list", "item_list",
                           "item_list_input", "item_list_patch", "item_list_list"})
    EXPECT_TRUE(unique.count(name)) << name;
  // The entity item_input is the record, not item's body.
  EXPECT_TRUE(at(at(schemas, "item_input"), "properties").HasMember("id"));
  const rapidjson::Value* body = rapidjson::Pointer(
                                     "/paths/~1api~1v1~1records~1item/post/requestBody/content/"
                                     "application~1json/schema/$ref")
                                     .Get(doc);
  ASSERT_NE(body, nullptr);
  EXPECT_EQ(string_of(*body), "#/components/schemas/item.input");
  const rapidjson::Value* list = rapidjson::Pointer(
                                     "/paths/~1api~1v1~1records~1item_list/get/responses/200/"
                                     "content/application~1json/schema/$ref")
                                     .Get(doc);
  ASSERT_NE(list, nullptr);
  EXPECT_EQ(string_of(*list), "#/components/schemas/item_list_list");
}

TEST(OpenApiEmpty, NoEntitiesStillGivesTheFixedRoutes) {
  keel::testing::AddonTree tree;
  write_module(tree, "empty", {}, "entities: {}\n");
  auto registry = build_registry(tree);
  ASSERT_NE(registry, nullptr);
  rapidjson::Document doc;
  parse(doc, openapi_document(*registry, security::Policy(), security::Context::system(), kServer));
  // fixed, /ui (four depths of assets), /auth, /users
  EXPECT_EQ(keys_of(at(doc, "paths")).size(), 8u + 10u + 3u + 3u);
  const auto& entity = at(at(at(doc, "components"), "parameters"), "entity");
  EXPECT_FALSE(at(entity, "schema").HasMember("enum"));
  EXPECT_TRUE(at(at(entity, "schema"), "pattern").IsString());
}

// ---- the official OpenAPI 3.1 schema ----------------------------------------------------------

// Writes `text` to a fresh file under the temporary directory and returns its path.
fs::path temp_file(const std::string& stem, const std::string& text) {
  std::string tmpl = (fs::temp_directory_path() / (stem + "-XXXXXX")).string();
  int fd = ::mkstemp(tmpl.data());
  EXPECT_GE(fd, 0);
  if (fd >= 0) ::close(fd);
  std::ofstream(tmpl, std::ios::binary) << text;
  return tmpl;
}

// Instances checked against the document's schemas by validate_openapi.mjs.
const char* kCases = R"([
  {"schema": "sale_order", "valid": true, "instance": {"id": 1}},
  {"schema": "sale_order", "valid": true, "instance": {
     "id": 7, "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05+01:00",
     "created_by": 1, "updated_by": null, "ref": "SO1", "partner": 3, "state": "draft",
     "stage": null, "qty": null, "big": 9000000000, "amount": "12.50", "discount": "0.50",
     "rate": null, "ratio": 1.5, "paid": true, "date": "2026-02-28",
     "sent_at": "2026-01-02T03:04:05Z", "payload": {"any": ["thing"]}, "scan": "aGVsbG8=",
     "lines": [1, 2], "tags": [], "total": 3, "margin": null}},
  {"schema": "sale_order", "valid": true, "instance": {"id": 1, "partner": {"id": 3, "name": "ACME"}}},
  {"schema": "sale_order", "valid": false, "instance": {"ref": "no id"}},
  {"schema": "sale_order", "valid": false, "instance": {"id": 1, "partner": null}},
  {"schema": "sale_order", "valid": false, "instance": {"id": 1, "partner": {"name": "no id"}}},
  {"schema": "sale_order", "valid": false, "instance": {"id": 1, "amount": 12.5}},
  {"schema": "sale_order", "valid": false, "instance": {"id": 1, "state": "cancelled"}},
  {"schema": "sale_order", "valid": false, "instance": {"id": 1, "state": null}},
  {"schema": "sale_order", "valid": false, "instance": {"id": 1, "lines": null}},
  {"schema": "sale_order", "valid": false, "instance": {"id": 1, "ref": "x", "qty": "3"}},
  {"schema": "sale_order", "valid": false, "instance": {"id": 1, "ref": "SO12345678901234567890123456789012345678901234567890123456789012345"}},
  {"schema": "sale_line", "valid": true, "instance": {"id": 2, "order": {"id": 1, "partner": {"id": 3}}}},
  {"schema": "sale_line", "valid": true, "instance": {"id": 2, "order": null}},
  {"schema": "sale_order_input", "valid": true, "instance": {"ref": "SO1", "partner": 3}},
  {"schema": "sale_order_input", "valid": true, "instance": {
     "ref": "SO1", "partner": 3, "discount": 1.5, "rate": "-3.25", "stage": null,
     "lines": [4], "payload": [1, "two"]}},
  {"schema": "sale_order_input", "valid": false, "instance": {"partner": 3}},
  {"schema": "sale_order_input", "valid": false, "instance": {"ref": "SO1", "partner": 3, "id": 9}},
  {"schema": "sale_order_input", "valid": false, "instance": {"ref": "SO1", "partner": 3, "amount": "1.00"}},
  {"schema": "sale_order_input", "valid": false, "instance": {"ref": "SO1", "partner": 3, "nope": 1}},
  {"schema": "sale_order_input", "valid": false, "instance": {"ref": "SO1", "partner": 3, "discount": "1.234"}},
  {"schema": "sale_order_input", "valid": false, "instance": {"ref": "SO1", "partner": {"id": 3}}},
  {"schema": "sale_order_input", "valid": false, "instance": {"ref": null, "partner": 3}},
  {"schema": "sale_order_patch", "valid": true, "instance": {}},
  {"schema": "sale_order_patch", "valid": true, "instance": {"state": "done", "tags": [1, 2]}},
  {"schema": "sale_order_patch", "valid": false, "instance": {"total": 4}},
  {"schema": "sale_order_patch", "valid": false, "instance": {"created_at": "2026-01-02T03:04:05Z"}},
  {"schema": "partner_input", "valid": false, "instance": {"name": "ACME"}},
  {"schema": "partner_input", "valid": false, "instance": {"name": "ACME", "email": "not an email"}},
  {"schema": "partner_input", "valid": true, "instance": {"name": "ACME", "email": "a@example.com", "kind": "company"}},
  {"schema": "sale_order_list", "valid": true, "instance": {"data": [{"id": 1}, {"id": 2, "ref": "x"}], "total": 2}},
  {"schema": "sale_order_list", "valid": false, "instance": {"data": [{"ref": "x"}], "total": 1}},
  {"schema": "sale_order_list", "valid": false, "instance": {"data": []}},
  {"schema": "Problem", "valid": true, "instance": {
     "type": "urn:keel:problem:records.invalid", "title": "Unprocessable Content", "status": 422,
     "detail": "invalid record", "errors": [{"field": "ref", "message": "is required"}]}},
  {"schema": "Problem", "valid": false, "instance": {"title": "no type", "status": 400}},
  {"schema": "Problem", "valid": false, "instance": {"type": "x", "title": "t", "status": 422, "errors": [{"field": "ref"}]}},
  {"schema": "ModuleList", "valid": true, "instance": {"data": [{"name": "base", "version": "1.0.0",
     "installed_version": null, "state": "uninstalled", "core": true, "summary": "", "depends": []}]}},
  {"schema": "Module", "valid": false, "instance": {"name": "x", "version": "1.0.0", "state": "broken"}},
  {"schema": "ModuleChanges", "valid": true, "instance": {"changed": ["contacts", "sales"]}},
  {"schema": "ModuleChanges", "valid": false, "instance": {"data": ["sales"]}}
])";

// kCases, plus what meta_entities and meta_entity answer for `registry`, which must be valid
// EntityMetaList and EntityMeta documents.
std::string cases_for(const schema::Registry& registry) {
  rapidjson::Document cases;
  parse(cases, kCases);
  auto& a = cases.GetAllocator();
  auto add = [&](const char* schema_name, const std::string& json) {
    rapidjson::Document instance(&a);
    parse(instance, json);
    rapidjson::Value c(rapidjson::kObjectType);
    c.AddMember("schema", rapidjson::StringRef(schema_name), a);
    c.AddMember("valid", true, a);
    c.AddMember("instance", rapidjson::Value(instance, a), a);
    cases.PushBack(c, a);
  };
  add("EntityMetaList", meta_entities(registry, security::Policy(), security::Context::system()));
  for (const auto& e : registry.entities())
    add("EntityMeta",
        *meta_entity(registry, security::Policy(), security::Context::system(), e.name));
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  cases.Accept(w);
  return std::string(buffer.GetString(), buffer.GetSize());
}

TEST_F(OpenApiTest, ValidAgainstTheOfficialOpenApi31Schema) {
  fs::path document = temp_file("keel-openapi", text_);
  const std::string all_cases = cases_for(*registry_);
  fs::path cases = temp_file("keel-openapi-cases", all_cases);
  fs::path output = temp_file("keel-openapi-out", "");
  // Node and the validator's npm packages (tests/tools/package.json) are installed by
  // scripts/bootstrap: a missing one fails the test (exit 2 or 127), it never skips.
  std::string command = "node '" KEEL_SOURCE_DIR "/tests/unit/http/validate_openapi.mjs' '" +
                        document.string() + "' '" + cases.string() + "' > '" + output.string() +
                        "' 2>&1";
  int status = std::system(command.c_str());
  std::ifstream in(output);
  std::stringstream report;
  report << in.rdbuf();
  fs::remove(document);
  fs::remove(cases);
  fs::remove(output);
  ASSERT_NE(status, -1);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  ASSERT_NE(code, 127) << "node is not installed: run scripts/bootstrap";
  EXPECT_EQ(code, 0) << report.str();
  rapidjson::Document cases_doc;
  parse(cases_doc, all_cases);
  std::string checked = std::to_string(cases_doc.Size()) + " cases checked";
  EXPECT_NE(report.str().find(checked), std::string::npos) << report.str();
}

}  // namespace
}  // namespace keel::http
