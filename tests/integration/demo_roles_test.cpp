// The demo addons' roles through every endpoint, over real HTTP: a salesperson works on the
// orders it created and never deletes one, a sales manager works on every order and alone
// sees their notes; meta, OpenAPI and module administration follow the caller.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>

#include "native/host.hpp"
#include "support/auth.hpp"
#include "support/fixture.hpp"
#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/test_server.hpp"

namespace keel {
namespace {

using testing::bearer;
using testing::http_request;
using testing::HttpReply;

class DemoRoles : public ::testing::Test, protected testing::AddonsFixture {
 protected:
  static void SetUpTestSuite() { native::Host::instance().add_library_dir(KEEL_TEST_ADDON_DIR); }

  void SetUp() override {
    config.addons_path = {KEEL_SOURCE_DIR "/addons"};
    install({"sales"});
    alice = testing::token_for(testing::create_user(*conn, "alice", {"sales.user"}));
    bob = testing::token_for(testing::create_user(*conn, "bob", {"sales.user"}));
    carol = testing::token_for(testing::create_user(*conn, "carol", {"sales.manager"}));
    dave = testing::token_for(testing::create_user(*conn, "dave", {"base.user"}));
    server = std::make_unique<testing::TestServer>(config, database.conninfo());
  }

  HttpReply call(const std::string& token, const std::string& method, const std::string& path,
                 const std::string& body = {}) {
    auto headers = token.empty() ? std::map<std::string, std::string>{} : bearer(token);
    if (!body.empty()) headers["Content-Type"] = "application/json";
    return http_request(server->port(), method, "/api/v1" + path, body, headers);
  }

  // Creates a record as `token` and returns its id (a test failure unless 201).
  std::string create(const std::string& token, const std::string& entity, const std::string& body) {
    auto r = call(token, "POST", "/records/" + entity, body);
    EXPECT_EQ(r.status, 201) << r.body;
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    return d.IsObject() && d.HasMember("id") ? std::to_string(d["id"].GetInt64()) : "0";
  }

  // The names of the orders a list answers for `token`.
  std::string order_names(const std::string& token) {
    auto r = call(token, "GET", "/records/sale_order?sort=name&fields=name");
    EXPECT_EQ(r.status, 200) << r.body;
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    std::string out;
    for (const auto& o : d["data"].GetArray())
      out += std::string(out.empty() ? "" : ",") + o["name"].GetString();
    return out;
  }

  std::unique_ptr<testing::TestServer> server;
  std::string alice, bob, carol, dave;
};

TEST_F(DemoRoles, SalesUserAndSalesManagerBehaveAsTheirNamesSay) {
  std::string partner = create(alice, "contact", R"({"name": "ACME"})");
  std::string a = create(alice, "sale_order", R"({"name": "SO-A", "partner": )" + partner + "}");
  std::string b = create(bob, "sale_order", R"({"name": "SO-B", "partner": )" + partner + "}");

  // A salesperson sees and changes its own orders only; another's order does not exist for it.
  EXPECT_EQ(order_names(alice), "SO-A");
  EXPECT_EQ(order_names(bob), "SO-B");
  EXPECT_EQ(call(alice, "GET", "/records/sale_order/" + a).status, 200);
  EXPECT_EQ(call(alice, "GET", "/records/sale_order/" + b).status, 404);
  EXPECT_EQ(call(alice, "PATCH", "/records/sale_order/" + b, R"({"name": "mine"})").status, 404);
  EXPECT_EQ(call(alice, "PATCH", "/records/sale_order/" + a, R"({"name": "SO-A2"})").status, 200);
  // ... never deletes an order, and never sees the notes.
  EXPECT_EQ(call(alice, "DELETE", "/records/sale_order/" + a).status, 403);
  auto own = call(alice, "GET", "/records/sale_order/" + a);
  EXPECT_EQ(own.body.find("\"notes\""), std::string::npos) << own.body;
  EXPECT_EQ(call(alice, "GET", "/records/sale_order/" + a + "?fields=name,notes").status, 403);
  EXPECT_EQ(call(alice, "PATCH", "/records/sale_order/" + a, R"({"notes": "x"})").status, 403);

  // The manager works on every order, with the notes, and deletes.
  EXPECT_EQ(order_names(carol), "SO-A2,SO-B");
  auto noted = call(carol, "PATCH", "/records/sale_order/" + b, R"({"notes": "call back"})");
  EXPECT_EQ(noted.status, 200) << noted.body;
  EXPECT_NE(noted.body.find("\"notes\":\"call back\""), std::string::npos) << noted.body;
  EXPECT_EQ(call(carol, "DELETE", "/records/sale_order/" + b).status, 204);
  EXPECT_EQ(order_names(bob), "");

  // A signed-in person without a sales role reads contacts but no order; nobody anonymous.
  EXPECT_EQ(call(dave, "GET", "/records/contact").status, 200);
  EXPECT_EQ(call(dave, "GET", "/records/sale_order").status, 403);
  EXPECT_EQ(call(dave, "POST", "/records/contact", R"({"name": "x"})").status, 403);
  EXPECT_EQ(call("", "GET", "/records/contact").status, 401);
}

TEST_F(DemoRoles, MetaOpenApiAndAdministrationFollowTheCaller) {
  auto meta = call(alice, "GET", "/meta/entities");
  ASSERT_EQ(meta.status, 200) << meta.body;
  EXPECT_NE(meta.body.find("\"name\":\"sale_order\""), std::string::npos);
  EXPECT_EQ(meta.body.find("\"name\":\"base_ownership\""), std::string::npos);
  auto order = call(alice, "GET", "/meta/entities/sale_order");
  ASSERT_EQ(order.status, 200) << order.body;
  EXPECT_NE(order.body.find(R"("rights":{"read":true,"create":true,"update":true,"delete":false})"),
            std::string::npos)
      << order.body;
  EXPECT_EQ(order.body.find("\"name\":\"notes\""), std::string::npos) << order.body;
  EXPECT_EQ(call(alice, "GET", "/meta/entities/base_ownership").status, 404);
  EXPECT_EQ(call(dave, "GET", "/meta/entities/sale_order").status, 404);

  auto mine = call(alice, "GET", "/openapi.json");
  ASSERT_EQ(mine.status, 200);
  EXPECT_NE(mine.body.find("\"/api/v1/records/sale_order\""), std::string::npos);
  EXPECT_EQ(mine.body.find("\"/api/v1/records/base_ownership\""), std::string::npos);
  auto daves = call(dave, "GET", "/openapi.json");
  EXPECT_EQ(daves.body.find("\"/api/v1/records/sale_order\""), std::string::npos);
  EXPECT_EQ(call("", "GET", "/openapi.json").status, 401);

  EXPECT_EQ(call(carol, "GET", "/modules").status, 403);
  EXPECT_EQ(call(carol, "POST", "/modules/inventory/install").status, 403);
  EXPECT_EQ(conn->exec("SELECT count(*) FROM base_module WHERE name = 'inventory'").get_int(0, 0),
            0);
}

}  // namespace
}  // namespace keel
