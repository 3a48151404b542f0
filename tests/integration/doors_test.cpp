// Doors closed (issue 16 §3), each over real HTTP against a real database: the tables that
// mirror module files are read-only through the API, administrators included; concurrent wrong
// passwords for one login are counted atomically; paths through many2one fields apply the
// target's read rules.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "security/crypto.hpp"
#include "security/users.hpp"
#include "support/addon_tree.hpp"
#include "support/auth.hpp"
#include "support/fixture.hpp"
#include "support/http_client.hpp"
#include "support/json.hpp"
#include "support/pg.hpp"
#include "support/test_server.hpp"

namespace keel::security {
namespace {

using testing::bearer;
using testing::http_request;
using testing::HttpReply;
using testing::TestServer;

constexpr auto parse = testing::parse_json;

// clerk reads public categories only, and every item (whatever its category).
const char* kEntities = R"(entities:
  category:
    fields:
      name:   {type: string}
      public: {type: boolean, required: true, default: false}
  item:
    fields:
      name:     {type: string}
      category: {type: many2one, target: category}
)";

const char* kSecurity = R"(roles:
  clerk: {label: Clerk, implies: [base.user]}
access:
  - {entity: category, role: clerk, read: true}
  - {entity: item, role: clerk, read: true}
rules:
  - {entity: category, role: clerk, operations: [read], filter: {public: true}}
)";

class Doors : public ::testing::Test, protected testing::AddonsFixture {
 protected:
  void SetUp() override {
    tree.write("shop/manifest.yaml",
               "name: shop\nversion: 1.0.0\ndepends: [base]\nentities: [e.yaml]\n"
               "security: [s.yaml]\nviews: [v.yaml]\n");
    tree.write("shop/e.yaml", kEntities);
    tree.write("shop/s.yaml", kSecurity);
    tree.write("shop/v.yaml",
               "views:\n  - id: item_form\n    entity: item\n    type: form\n"
               "    arch:\n      - {field: name}\n");
    install({"shop"});
    admin = testing::create_user(*conn, "admin", {"base.admin"});
    clerk = testing::create_user(*conn, "clerk", {"shop.clerk"});
    conn->exec(
        "INSERT INTO category (id, name, public) OVERRIDING SYSTEM VALUE VALUES "
        "(1, 'open', true), (2, 'closed', false)");
    conn->exec("INSERT INTO item (name, category) VALUES ('a', 1), ('b', 2)");
  }

  HttpReply call(std::uint16_t port, const std::string& method, const std::string& target,
                 std::int64_t user, const std::string& body = {}) {
    return http_request(port, method, target, body, bearer(testing::token_for(user)));
  }

  std::int64_t id_of(const std::string& sql) { return conn->exec(sql).get_int(0, 0); }

  std::int64_t admin = 0, clerk = 0;
};

TEST_F(Doors, TablesThatMirrorModuleFilesAreReadOnlyForEveryone) {
  TestServer server(config, database.conninfo());
  auto port = server.port();
  auto expect_read_only = [&](const HttpReply& reply, const std::string& what) {
    EXPECT_EQ(reply.status, 403) << what << ": " << reply.body;
    EXPECT_EQ(reply.header("content-type"), "application/problem+json") << what;
    auto doc = parse(reply.body);
    EXPECT_STREQ(doc["type"].GetString(), "urn:keel:problem:records.read_only") << what;
    EXPECT_NE(std::string(doc["detail"].GetString()).find("change the module's files and upgrade"),
              std::string::npos)
        << what;
  };
  std::int64_t shop = id_of("SELECT id FROM base_module WHERE name = 'shop'");
  std::int64_t role = id_of("SELECT id FROM base_role WHERE name = 'shop.clerk'");
  std::int64_t access = id_of("SELECT min(id) FROM base_access WHERE module = 'shop'");
  std::int64_t rule = id_of("SELECT min(id) FROM base_rule WHERE module = 'shop'");
  std::int64_t view = id_of("SELECT id FROM base_view WHERE name = 'shop.item_form'");
  // The demo's door: an administrator marking a module uninstalled.
  expect_read_only(call(port, "PATCH", "/api/v1/records/base_module/" + std::to_string(shop), admin,
                        R"({"state": "uninstalled"})"),
                   "PATCH base_module");
  EXPECT_EQ(
      conn->exec("SELECT state FROM base_module WHERE id = $1", db::Params().add(shop)).get(0, 0),
      "installed");
  expect_read_only(
      call(port, "DELETE", "/api/v1/records/base_module/" + std::to_string(shop), admin),
      "DELETE base_module");
  expect_read_only(call(port, "POST", "/api/v1/records/base_module", admin,
                        R"({"name": "ghost", "version": "1.0.0"})"),
                   "POST base_module");
  expect_read_only(call(port, "PATCH", "/api/v1/records/base_access/" + std::to_string(access),
                        admin, R"({"can_delete": true})"),
                   "PATCH base_access");
  expect_read_only(call(port, "DELETE", "/api/v1/records/base_rule/" + std::to_string(rule), admin),
                   "DELETE base_rule");
  expect_read_only(call(port, "PATCH", "/api/v1/records/base_role/" + std::to_string(role), admin,
                        R"({"implies": "base.admin"})"),
                   "PATCH base_role");
  expect_read_only(
      call(port, "POST", "/api/v1/records/base_role", admin, R"({"name": "x.y", "module": "x"})"),
      "POST base_role");
  expect_read_only(call(port, "DELETE", "/api/v1/records/base_view/" + std::to_string(view), admin),
                   "DELETE base_view");
  expect_read_only(call(port, "POST", "/api/v1/records/base_menu", admin,
                        R"({"name": "x.m", "module": "x", "label": "M"})"),
                   "POST base_menu");
  EXPECT_EQ(id_of("SELECT count(*) FROM base_rule WHERE module = 'shop'"), 1);
  // Reading them stays open to whoever may read them.
  EXPECT_EQ(call(port, "GET", "/api/v1/records/base_module/" + std::to_string(shop), admin).status,
            200);
  // What is data stays writable: users and their roles, view customisations.
  auto user = call(port, "PATCH", "/api/v1/records/base_user/" + std::to_string(clerk), admin,
                   R"({"roles": [)" + std::to_string(role) + "]}");
  EXPECT_EQ(user.status, 200) << user.body;
  auto put = call(port, "PUT", "/api/v1/ui/views/shop.item_form", admin,
                  R"({"arch": [{"field": "name"}, {"field": "category"}]})");
  EXPECT_EQ(put.status, 200) << put.body;
}

TEST_F(Doors, ConcurrentWrongPasswordsAreCountedBeforeTheyAreHashed) {
  TestServer server(config, database.conninfo());
  auto port = server.port();
  constexpr int kAttempts = 12;
  std::vector<std::future<HttpReply>> replies;
  for (int i = 0; i < kAttempts; ++i)
    replies.push_back(std::async(std::launch::async, [port] {
      return http_request(port, "POST", "/api/v1/auth/login",
                          R"({"login": "clerk", "password": "wrong"})");
    }));
  int unauthorized = 0, throttled = 0;
  for (auto& f : replies) {
    auto reply = f.get();
    if (reply.status == 401) ++unauthorized;
    if (reply.status == 429) ++throttled;
    EXPECT_TRUE(reply.status == 401 || reply.status == 429) << reply.status << " " << reply.body;
  }
  EXPECT_LE(unauthorized, 5);
  EXPECT_GE(unauthorized, 1);
  EXPECT_EQ(unauthorized + throttled, kAttempts);
  EXPECT_EQ(id_of("SELECT count(*) FROM base_login_failure WHERE login = 'clerk'"), unauthorized);
  // The right password is refused too, until the window passes; then a success clears the count.
  EXPECT_EQ(http_request(port, "POST", "/api/v1/auth/login",
                         R"({"login": "clerk", "password": ")" +
                             std::string(testing::kTestPassword) + R"("})")
                .status,
            429);
  conn->exec("UPDATE base_login_failure SET at = now() - interval '16 minutes'");
  EXPECT_EQ(http_request(port, "POST", "/api/v1/auth/login",
                         R"({"login": "clerk", "password": ")" +
                             std::string(testing::kTestPassword) + R"("})")
                .status,
            200);
  EXPECT_EQ(id_of("SELECT count(*) FROM base_login_failure WHERE login = 'clerk'"), 0);
}

TEST_F(Doors, PathsThroughMany2oneApplyTheTargetsReadRules) {
  TestServer server(config, database.conninfo());
  auto port = server.port();
  // The clerk may read both items but only the public category.
  auto list = [&](const std::string& query, std::int64_t user) {
    auto reply = call(port, "GET", "/api/v1/records/item?" + query, user);
    EXPECT_EQ(reply.status, 200) << query << ": " << reply.body;
    return parse(reply.body);
  };
  EXPECT_EQ(call(port, "GET", "/api/v1/records/category/2", clerk).status, 404);
  // Expanding: the secret category's fields read as null.
  auto expanded = list("fields=name,category.name&sort=name", clerk);
  ASSERT_EQ(expanded["data"].Size(), 2u);
  EXPECT_STREQ(expanded["data"][0]["category"]["name"].GetString(), "open");
  const auto& hidden = expanded["data"][1]["category"];
  EXPECT_TRUE(hidden.IsNull());
  auto by_id = parse(call(port, "GET",
                          "/api/v1/records/item/" +
                              std::to_string(id_of("SELECT id FROM item WHERE name = 'b'")) +
                              "?fields=category.name",
                          clerk)
                         .body);
  ASSERT_TRUE(by_id.HasMember("category"));
  EXPECT_TRUE(by_id["category"].IsNull());
  // Filtering: nothing is learnt of a hidden category's fields.
  auto filtered = list("filter=" + testing::url_encode(R"({"category.name": "closed"})"), clerk);
  EXPECT_EQ(filtered["data"].Size(), 0u);
  auto prefix =
      list("filter=" + testing::url_encode(R"({"category.name": {"like": "c%"}})"), clerk);
  EXPECT_EQ(prefix["data"].Size(), 0u);
  // Sorting: a hidden category sorts as null (last when ascending), not by its name ("closed"
  // would come before "open").
  auto sorted = list("fields=name&sort=category.name", clerk);
  ASSERT_EQ(sorted["data"].Size(), 2u);
  EXPECT_STREQ(sorted["data"][0]["name"].GetString(), "a");
  EXPECT_STREQ(sorted["data"][1]["name"].GetString(), "b");
  // The administrator, without rules, sees both through the path.
  auto all = list(
      "fields=name,category.name&filter=" + testing::url_encode(R"({"category.name": "closed"})"),
      admin);
  ASSERT_EQ(all["data"].Size(), 1u);
  EXPECT_STREQ(all["data"][0]["category"]["name"].GetString(), "closed");
}

TEST_F(Doors, ANewPasswordALogoutOrADeactivationEndsEarlierAccessTokens) {
  TestServer server(config, database.conninfo());
  auto port = server.port();
  auto status = [&](const std::string& token) {
    return http_request(port, "GET", "/api/v1/records/item", "", bearer(token)).status;
  };
  // Up to 10 s for the NOTIFY to reach the server (CI is loaded); heard at once otherwise.
  auto refused = [&](const std::string& token) {
    for (int i = 0; i < 200; ++i) {
      if (status(token) == 401) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  // Tokens carry their second of issue: a revocation counts from the next second.
  auto next_second = [] { std::this_thread::sleep_for(std::chrono::milliseconds(1100)); };

  // A new password: the tokens issued before stop working; a login with it works.
  std::string before = testing::login(port, "clerk");
  ASSERT_EQ(status(before), 200);
  next_second();
  testing::set_password(*conn, "clerk", hash_password("a new password"));
  EXPECT_TRUE(refused(before));
  std::string after = testing::login(port, "clerk", "a new password");
  EXPECT_EQ(status(after), 200);

  // A logout: the session's access token ends with its refresh token.
  auto session = parse(http_request(port, "POST", "/api/v1/auth/login",
                                    R"({"login": "clerk", "password": "a new password"})")
                           .body);
  std::string access = session["access_token"].GetString();
  ASSERT_EQ(status(access), 200);
  next_second();
  EXPECT_EQ(http_request(port, "POST", "/api/v1/auth/logout",
                         R"({"refresh_token": ")" +
                             std::string(session["refresh_token"].GetString()) + "\"}",
                         bearer(access))
                .status,
            204);
  EXPECT_TRUE(refused(access));
  // A login right after is not caught by it.
  std::string again = testing::login(port, "clerk", "a new password");
  EXPECT_EQ(status(again), 200);

  // Deactivated: out at once.
  conn->exec("UPDATE base_user SET active = false WHERE login = 'clerk'");
  EXPECT_TRUE(refused(again));
}

}  // namespace
}  // namespace keel::security
