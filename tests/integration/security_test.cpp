// Access rights, record rules and field rights, enforced by RecordService against a real
// database: a matrix of roles x entities x operations from a fixture addon, rules through
// many2one paths, the OR of granting roles, field rights on read and write, and the rows an
// install writes (roles, access, rules) and an uninstall removes.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "app/error.hpp"
#include "db/connection.hpp"
#include "db/pool.hpp"
#include "http/api.hpp"
#include "http/message.hpp"
#include "http/meta.hpp"
#include "http/openapi.hpp"
#include "install/lifecycle.hpp"
#include "query/filter.hpp"
#include "records/service.hpp"
#include "support/addon_tree.hpp"
#include "support/auth.hpp"
#include "support/fixture.hpp"
#include "support/pg.hpp"

namespace keel::records {
namespace {

using Names = std::set<std::string>;

const char* kManifest = R"(name: shop
version: 1.0.0
depends: [base]
entities: [entities.yaml]
security: [security.yaml]
)";

const char* kEntities = R"(entities:
  category:
    fields:
      name:   {type: string, required: true}
      public: {type: boolean, required: true, default: false}
  item:
    fields:
      name:     {type: string, required: true}
      category: {type: many2one, target: category}
      price:    {type: integer}
      cost:     {type: integer, roles: [shop.manager]}
  ledger:
    fields:
      name: {type: string}
)";

// clerk: own items in public categories; manager: every item; auditor: reads items of public
// categories and the ledger. A global rule hides items named hidden* from everyone.
const char* kSecurity = R"(roles:
  clerk:   {label: Clerk, implies: [base.user]}
  manager: {label: Manager, implies: [clerk]}
  auditor: {label: Auditor, implies: [base.user]}
access:
  - {entity: category, role: base.user, read: true}
  - {entity: category, role: manager, read: true, create: true, update: true, delete: true}
  - {entity: item, role: clerk, read: true, create: true, update: true}
  - {entity: item, role: manager, read: true, create: true, update: true, delete: true}
  - {entity: item, role: auditor, read: true}
  - {entity: ledger, role: manager, read: true, create: true, update: true, delete: true}
  - {entity: ledger, role: auditor, read: true}
rules:
  - {entity: item, operations: [read, update, delete], filter: {not: {name: {like: "hidden%"}}}}
  - {entity: item, role: clerk, filter: {created_by: $user.id}}
  - {entity: item, role: clerk, filter: {category.public: true}}
  - {entity: item, role: auditor, operations: [read], filter: {category.public: true}}
)";

class Security : public ::testing::Test, protected testing::AddonsFixture {
 protected:
  void SetUp() override {
    tree.write("shop/manifest.yaml", kManifest);
    tree.write("shop/entities.yaml", kEntities);
    tree.write("shop/security.yaml", kSecurity);
    install({"shop"});  // discovery errors fail the test (AddonsFixture::lifecycle)
    Diagnostics diagnostics;
    registry = schema::Registry::build(graph->order(), diagnostics);
    policy = query::load_policy(graph->order(), *registry, diagnostics);
    ASSERT_FALSE(diagnostics.has_errors()) << diagnostics.items().front().to_string();
    service = std::make_unique<RecordService>(registry, policy);
    conn->exec(
        "INSERT INTO category (id, name, public) OVERRIDING SYSTEM VALUE VALUES "
        "(1, 'open', true), (2, 'closed', false)");
    conn->exec(
        "INSERT INTO item (name, category, price, cost, created_by) VALUES "
        "('a1', 1, 10, 5, 101), ('a2', 2, 20, 6, 101), ('b1', 1, 30, 7, 102), "
        "('hidden', 1, 40, 8, 101)");
    conn->exec("INSERT INTO ledger (name) VALUES ('l1')");
  }

  SecurityContext user(std::int64_t id, std::vector<std::string> roles) const {
    return policy->context(id, "user" + std::to_string(id), roles);
  }

  // The names a list answers for `ctx` (filter optional).
  Names names(const SecurityContext& ctx, const std::string& entity = "item",
              std::optional<std::string> filter = std::nullopt) {
    ListRequest request;
    request.filter = std::move(filter);
    rapidjson::Document doc;
    doc.Parse(service->list(*conn, ctx, entity, request).json.c_str());
    Names out;
    for (const auto& r : doc["data"].GetArray())
      out.insert(r["name"].GetString());
    return out;
  }

  std::int64_t id_of(const std::string& table, const std::string& name) {
    return conn
        ->exec("SELECT id FROM " + db::quote_ident(table) + " WHERE name = $1",
               db::Params().add(name))
        .get_int(0, 0);
  }

  // The status `call` fails with; 200 when it succeeds.
  static int status_of(const std::function<void()>& call) {
    try {
      call();
    } catch (const ApiError& e) {
      return http::status_of(e);
    }
    return 200;
  }

  std::shared_ptr<const schema::Registry> registry;
  std::shared_ptr<const security::Policy> policy;
  std::unique_ptr<RecordService> service;
};

// Every cell: role x entity x operation -> allowed (the operation passes the access check)
// or 403. Operations run on a record the role's rules let it see, so a refusal can only come
// from the access rights.
TEST_F(Security, MatrixOfRolesEntitiesAndOperations) {
  struct Cell {
    const char* role;
    const char* entity;
    const char* ops;  // the operations allowed, in the order r c u d ("rcud", "r", "")
  };
  const Cell cells[] = {
      {"shop.clerk", "category", "r"},    {"shop.clerk", "item", "rcu"},
      {"shop.clerk", "ledger", ""},       {"shop.manager", "category", "rcud"},
      {"shop.manager", "item", "rcud"},   {"shop.manager", "ledger", "rcud"},
      {"shop.auditor", "category", "r"},  {"shop.auditor", "item", "r"},
      {"shop.auditor", "ledger", "r"},    {"base.user", "category", "r"},
      {"base.user", "item", ""},          {"base.user", "ledger", ""},
      {"base.admin", "category", "rcud"}, {"base.admin", "item", "rcud"},
      {"base.admin", "ledger", "rcud"},
  };
  for (const auto& cell : cells) {
    SCOPED_TRACE(std::string(cell.role) + " on " + cell.entity);
    SecurityContext ctx = user(101, {cell.role});
    std::string ops = cell.ops;
    auto expect = [&](char op, const std::function<void()>& call) {
      int status = status_of(call);
      if (ops.find(op) != std::string::npos)
        EXPECT_NE(status, 403) << "operation " << op << " refused";
      else
        EXPECT_EQ(status, 403) << "operation " << op << " allowed";
    };
    std::string entity = cell.entity;
    std::string body = entity == "category" ? R"({"name": "new", "public": true})"
                       : entity == "item"   ? R"({"name": "new", "category": 1})"
                                            : R"({"name": "new"})";
    std::int64_t target = entity == "item" ? id_of("item", "a1") : 1;
    expect('r', [&] { service->list(*conn, ctx, entity, {}); });
    expect('r', [&] { service->read(*conn, ctx, entity, target, std::nullopt); });
    std::int64_t created = 0;
    expect('c', [&] { created = service->create(*conn, ctx, entity, body).id; });
    expect('u', [&] { service->update(*conn, ctx, entity, target, R"({"name": "renamed"})"); });
    // Delete what this cell created when it could, else the shared record (then restore it).
    expect('d', [&] { service->remove(*conn, ctx, entity, created ? created : target); });
    // Put the shared record back for the next cell.
    std::string original = entity == "category" ? "open" : entity == "item" ? "a1" : "l1";
    conn->exec("UPDATE " + db::quote_ident(entity) + " SET name = $1 WHERE id = $2",
               db::Params().add(original).add(target));
  }
}

TEST_F(Security, RulesCombineGlobalAndPerRoleAndFollowPaths) {
  // clerk 101: own items AND public category (a path through category); hidden is global.
  EXPECT_EQ(names(user(101, {"shop.clerk"})), (Names{"a1"}));
  EXPECT_EQ(names(user(102, {"shop.clerk"})), (Names{"b1"}));
  // manager: a granting role without rules sees every row, except what the global rule hides.
  EXPECT_EQ(names(user(103, {"shop.manager"})), (Names{"a1", "a2", "b1"}));
  // auditor: public categories, anyone's items.
  EXPECT_EQ(names(user(103, {"shop.auditor"})), (Names{"a1", "b1"}));
  // Roles are OR-ed: clerk 101 who is also auditor.
  EXPECT_EQ(names(user(101, {"shop.clerk", "shop.auditor"})), (Names{"a1", "b1"}));
  // The administrator bypasses rules, the global one included.
  EXPECT_EQ(names(SecurityContext::system()), (Names{"a1", "a2", "b1", "hidden"}));
  // A request's filter narrows what the rules allow; it never widens it.
  EXPECT_EQ(names(user(101, {"shop.clerk"}), "item", R"({"or": [{"name": "b1"}, {"name": "a2"}]})"),
            Names{});
  rapidjson::Document doc;
  doc.Parse(service->list(*conn, user(101, {"shop.clerk"}), "item", {}).json.c_str());
  EXPECT_EQ(doc["total"].GetInt64(), 1);
}

TEST_F(Security, HiddenRowsAre404ForReadUpdateAndDelete) {
  auto clerk = user(101, {"shop.clerk"});
  std::int64_t b1 = id_of("item", "b1"), a2 = id_of("item", "a2");
  EXPECT_EQ(status_of([&] { service->read(*conn, clerk, "item", b1, std::nullopt); }), 404);
  EXPECT_EQ(status_of([&] { service->update(*conn, clerk, "item", b1, R"({"price": 1})"); }), 404);
  EXPECT_EQ(status_of([&] { service->update(*conn, clerk, "item", a2, R"({"price": 1})"); }), 404);
  auto manager = user(103, {"shop.manager"});
  std::int64_t hidden = id_of("item", "hidden");
  EXPECT_EQ(status_of([&] { service->remove(*conn, manager, "item", hidden); }), 404);
  EXPECT_EQ(conn->exec("SELECT price FROM item WHERE name = 'b1'").get_int(0, 0), 30);
  EXPECT_EQ(conn->exec("SELECT count(*) FROM item").get_int(0, 0), 4);
  // What the rules allow goes through.
  EXPECT_EQ(status_of([&] { service->remove(*conn, manager, "item", b1); }), 200);
}

// The set-based writes (update_where, remove_where) touch only what the filter selects AND the
// caller's rules allow, validate the body like update(), and need the right of the operation.
TEST_F(Security, SetBasedWritesStayInsideTheRules) {
  auto clerk = user(101, {"shop.clerk"});
  auto price = [&](const char* name) {
    return conn->exec("SELECT price FROM item WHERE name = $1", db::Params().add(name))
        .get_int(0, 0);
  };
  // Every item by filter: the clerk's rules leave a1 only (a2: closed category, b1: another's,
  // hidden: the global rule).
  EXPECT_EQ(
      service->update_where(*conn, clerk, "item", R"({"price": {"gte": 0}})", R"({"price": 99})"),
      1);
  EXPECT_EQ(price("a1"), 99);
  EXPECT_EQ(price("a2"), 20);
  EXPECT_EQ(price("b1"), 30);
  EXPECT_EQ(price("hidden"), 40);
  EXPECT_EQ(conn->exec("SELECT updated_by FROM item WHERE name = 'a1'").get_int(0, 0), 101);
  // An invalid body is refused before anything is written; a bad filter is bad input.
  EXPECT_EQ(
      status_of([&] { service->update_where(*conn, clerk, "item", "{}", R"({"price": "x"})"); }),
      422);
  EXPECT_EQ(status_of([&] {
              service->update_where(*conn, clerk, "item", R"({"nope": 1})", R"({"price": 1})");
            }),
            400);
  // The clerk may not delete at all; the manager deletes what its rules allow.
  EXPECT_EQ(status_of([&] { service->remove_where(*conn, clerk, "item", "{}"); }), 403);
  auto manager = user(103, {"shop.manager"});
  EXPECT_EQ(service->remove_where(*conn, manager, "item", R"({"category": 1})"), 2);  // a1, b1
  EXPECT_EQ(names(SecurityContext::system()), (Names{"a2", "hidden"}));
}

TEST_F(Security, CreateMustSatisfyTheCreateRules) {
  auto clerk = user(101, {"shop.clerk"});
  // A clerk creates only in public categories (its rules apply to every operation).
  EXPECT_EQ(
      status_of([&] { service->create(*conn, clerk, "item", R"({"name": "c1", "category": 2})"); }),
      403);
  EXPECT_EQ(conn->exec("SELECT count(*) FROM item WHERE name = 'c1'").get_int(0, 0), 0);
  auto made = service->create(*conn, clerk, "item", R"({"name": "c2", "category": 1})");
  EXPECT_NE(made.json.find("\"c2\""), std::string::npos);
  EXPECT_EQ(conn->exec("SELECT created_by FROM item WHERE id = $1", db::Params().add(made.id))
                .get_int(0, 0),
            101);
}

TEST_F(Security, FieldRightsOnReadAndWrite) {
  auto clerk = user(101, {"shop.clerk"});
  std::int64_t a1 = id_of("item", "a1");
  std::string json = service->read(*conn, clerk, "item", a1, std::nullopt).json;
  EXPECT_EQ(json.find("\"cost\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"price\""), std::string::npos) << json;
  EXPECT_EQ(status_of([&] { service->read(*conn, clerk, "item", a1, "name,cost"); }), 403);
  EXPECT_EQ(status_of([&] { names(clerk, "item", R"({"cost": 5})"); }), 403);
  EXPECT_EQ(status_of([&] { service->update(*conn, clerk, "item", a1, R"({"cost": 1})"); }), 403);
  ListRequest sorted;
  sorted.sort = "-cost";
  EXPECT_EQ(status_of([&] { service->list(*conn, clerk, "item", sorted); }), 403);
  auto manager = user(103, {"shop.manager"});
  EXPECT_NE(service->read(*conn, manager, "item", a1, std::nullopt).json.find("\"cost\":5"),
            std::string::npos);
  // Secret fields leave the server for nobody, not even the administrator.
  conn->exec("INSERT INTO base_user (login, password) VALUES ('x', 'hash-of-x')");
  auto admin = SecurityContext::system();
  ListRequest users;
  EXPECT_EQ(service->list(*conn, admin, "base_user", users).json.find("hash-of-x"),
            std::string::npos);
  EXPECT_EQ(status_of([&] { names(admin, "base_user", R"({"password": "hash-of-x"})"); }), 403);
}

TEST_F(Security, MetaAndOpenApiShowOnlyWhatTheCallerMayRead) {
  auto clerk = user(101, {"shop.clerk"});
  std::string meta = http::meta_entities(*registry, *policy, clerk);
  EXPECT_NE(meta.find("\"name\":\"item\""), std::string::npos);
  EXPECT_EQ(meta.find("\"name\":\"ledger\""), std::string::npos);
  EXPECT_EQ(meta.find("\"name\":\"cost\""), std::string::npos);
  EXPECT_NE(meta.find(R"("rights":{"read":true,"create":true,"update":true,"delete":false})"),
            std::string::npos);
  EXPECT_FALSE(http::meta_entity(*registry, *policy, clerk, "ledger").has_value());
  // The API's routes, as a server registers them.
  Config config;
  config.secret = testing::kTestSecret;
  db::Pool no_pool("host=/nonexistent dbname=none");
  http::Api api(config, no_pool, http::Api::RoutesOnly{});
  auto openapi = [&](const security::Context& ctx) {
    return http::openapi_document(api.openapi_base(), {&api.router()}, *registry, *policy, ctx,
                                  "/");
  };
  std::string doc = openapi(clerk);
  EXPECT_NE(doc.find("/api/v1/records/item"), std::string::npos);
  EXPECT_EQ(doc.find("/api/v1/records/ledger"), std::string::npos);
  std::string all = openapi(SecurityContext::system());
  EXPECT_NE(all.find("/api/v1/records/ledger"), std::string::npos);
}

TEST_F(Security, InstallWritesRolesAccessAndRulesAndUninstallRemovesThem) {
  auto count = [&](const std::string& sql) { return conn->exec(sql).get_int(0, 0); };
  EXPECT_EQ(count("SELECT count(*) FROM base_role WHERE module = 'shop'"), 3);
  EXPECT_EQ(count("SELECT count(*) FROM base_access WHERE module = 'shop'"), 7);
  EXPECT_EQ(count("SELECT count(*) FROM base_rule WHERE module = 'shop'"), 4);
  EXPECT_EQ(count("SELECT count(*) FROM base_rule WHERE module = 'shop' AND role IS NULL"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM base_role WHERE name IN ('base.admin', 'base.user')"), 2);
  // A user holding a shop role keeps the user, loses the role with the module.
  conn->exec("INSERT INTO base_user (login) VALUES ('clerk')");
  conn->exec(
      "INSERT INTO base_user_roles_rel (source_id, target_id) SELECT u.id, r.id FROM base_user "
      "u, base_role r WHERE u.login = 'clerk' AND r.name = 'shop.clerk'");
  install::Lifecycle(*conn, *graph).uninstall({"shop"}, false);
  EXPECT_EQ(count("SELECT count(*) FROM base_role WHERE module = 'shop'"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM base_access WHERE module = 'shop'"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM base_rule WHERE module = 'shop'"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM base_user_roles_rel"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM base_user WHERE login = 'clerk'"), 1);
}

}  // namespace
}  // namespace keel::records
