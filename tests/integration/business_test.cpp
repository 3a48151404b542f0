// The demo business through the API: stored computed fields (sales subtotals and totals),
// recomputed in the write's transaction, sortable and filterable, exact to the cent.

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <random>
#include <string>
#include <vector>

#include "keel/decimal.hpp"
#include "native/host.hpp"
#include "support/auth.hpp"
#include "support/fixture.hpp"
#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/test_server.hpp"

namespace keel {
namespace {

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  EXPECT_FALSE(d.HasParseError()) << text;
  return d;
}

class Business : public ::testing::Test, protected testing::AddonsFixture {
 protected:
  static void SetUpTestSuite() { native::Host::instance().add_library_dir(KEEL_TEST_ADDON_DIR); }

  void SetUp() override { config.addons_path = {KEEL_SOURCE_DIR "/addons"}; }

  void upgrade(const std::vector<std::string>& names) { lifecycle().upgrade(names); }

  std::string one(const std::string& sql) { return std::string(conn->exec(sql).get(0, 0)); }

  void start() {
    token = testing::token_for(testing::create_user(*conn, "admin", {"base.admin"}));
    server = std::make_unique<testing::TestServer>(config, database.conninfo());
  }
  testing::HttpReply call(const std::string& method, const std::string& target,
                          const std::string& body = {}) {
    return testing::http_request(server->port(), method, target, body, testing::bearer(token));
  }
  std::string create(const std::string& entity, const std::string& body) {
    auto r = call("POST", "/api/v1/records/" + entity, body);
    EXPECT_EQ(r.status, 201) << r.body;
    return std::to_string(parse(r.body)["id"].GetInt64());
  }
  std::string field(const std::string& entity, const std::string& id, const char* name) {
    auto r = call("GET", "/api/v1/records/" + entity + "/" + id + "?fields=" + name);
    EXPECT_EQ(r.status, 200) << r.body;
    auto d = parse(r.body);
    return d[name].IsNull() ? "null" : d[name].GetString();
  }

  // A partner and a product to sell.
  void basics() {
    partner = create("contact", R"({"name": "ACME"})");
    product =
        create("product", R"({"name": "Bolt", "uom": )" + one("SELECT min(id) FROM uom") + "}");
  }
  std::string order(const std::string& name) {
    return create("sale_order", R"({"name": ")" + name + R"(", "partner": )" + partner + "}");
  }
  std::string line(const std::string& order, const std::string& quantity,
                   const std::string& price) {
    return create("sale_order_line", R"({"order": )" + order + R"(, "product": )" + product +
                                         R"(, "quantity": ")" + quantity + R"(", "unit_price": ")" +
                                         price + R"("})");
  }

  std::string token, partner, product;
  std::unique_ptr<testing::TestServer> server;
};

TEST_F(Business, ALineChangeRecomputesTheStoredTotalsOfItsOrders) {
  install({"sales"});
  start();
  basics();
  std::string so1 = order("SO1"), so2 = order("SO2");
  EXPECT_EQ(field("sale_order", so1, "amount"), "0.00");  // computed at creation
  std::string a = line(so1, "3", "19.99");
  std::string b = line(so1, "0.333", "10.00");  // 3.33 (3.330 rounded per line)
  EXPECT_EQ(field("sale_order_line", b, "subtotal"), "3.33");
  EXPECT_EQ(field("sale_order", so1, "amount"), "63.30");
  // The column holds it: SQL sees the same value.
  EXPECT_EQ(one("SELECT amount::text FROM sale_order WHERE id = " + so1), "63.30");

  auto patched = call("PATCH", "/api/v1/records/sale_order_line/" + a, R"({"quantity": "4"})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_STREQ(parse(patched.body)["subtotal"].GetString(), "79.96");
  EXPECT_EQ(field("sale_order", so1, "amount"), "83.29");

  // Moving a line to another order recomputes both.
  ASSERT_EQ(
      call("PATCH", "/api/v1/records/sale_order_line/" + b, R"({"order": )" + so2 + "}").status,
      200);
  EXPECT_EQ(field("sale_order", so1, "amount"), "79.96");
  EXPECT_EQ(field("sale_order", so2, "amount"), "3.33");
  // Deleting one too.
  ASSERT_EQ(call("DELETE", "/api/v1/records/sale_order_line/" + b).status, 204);
  EXPECT_EQ(field("sale_order", so2, "amount"), "0.00");

  // A failing write leaves the stored totals as they were (same transaction).
  auto bad = call("PATCH", "/api/v1/records/sale_order_line/" + a,
                  R"({"quantity": "2", "unit_price": "x"})");
  EXPECT_EQ(bad.status, 422) << bad.body;
  EXPECT_EQ(field("sale_order", so1, "amount"), "79.96");

  // Stored: filtered and sorted like any other field.
  auto list = call("GET", "/api/v1/records/sale_order?fields=name,amount&sort=-amount&filter=" +
                              testing::url_encode(R"({"amount": {"gt": "1"}})"));
  ASSERT_EQ(list.status, 200) << list.body;
  auto page = parse(list.body);
  ASSERT_EQ(page["total"].GetInt(), 1) << list.body;
  EXPECT_STREQ(page["data"][0]["name"].GetString(), "SO1");
  auto sorted = parse(call("GET", "/api/v1/records/sale_order?fields=name&sort=amount").body);
  EXPECT_STREQ(sorted["data"][0]["name"].GetString(), "SO2");
}

TEST_F(Business, AnUpgradeFillsStoredComputedFieldsOfExistingRecords) {
  install({"sales"});
  start();
  basics();
  std::string so = order("SO1");
  line(so, "2", "1.25");
  // As if the columns had just been added: every value missing.
  conn->exec("UPDATE sale_order_line SET subtotal = NULL");
  conn->exec("UPDATE sale_order SET amount = NULL");
  upgrade({"sales"});
  EXPECT_EQ(one("SELECT subtotal::text FROM sale_order_line"), "2.50");
  EXPECT_EQ(one("SELECT amount::text FROM sale_order WHERE id = " + so), "2.50");
}

// Totals of many generated orders, rounded per line then summed, equal PostgreSQL's numeric
// arithmetic on the stored quantities and prices to the cent.
TEST_F(Business, GeneratedOrdersTotalLikeNumericArithmetic) {
  install({"sales", "sales_discount"});
  start();
  basics();
  std::mt19937_64 rng(14);
  std::uniform_int_distribution<int> lines_of(1, 6), qty(1, 20000), price(1, 100000);
  for (int o = 0; o < 25; ++o) {
    std::string so = order("G" + std::to_string(o));
    for (int l = lines_of(rng); l > 0; --l) {
      auto q = sdk::Decimal::from_mantissa(qty(rng), 3);
      auto p = sdk::Decimal::from_mantissa(price(rng), 2);
      line(so, q.to_string(), p.to_string());
    }
  }
  // sales_discount: 10 % off lines of 10 units or more, on the exact price, rounded per line.
  auto r = conn->exec(
      "SELECT o.name, o.amount::text, (SELECT sum(round(l.quantity * l.unit_price * "
      "CASE WHEN l.quantity >= 10 THEN 0.90 ELSE 1 END, 2)) FROM sale_order_line l "
      "WHERE l.\"order\" = o.id)::text FROM sale_order o ORDER BY o.id");
  ASSERT_EQ(r.rows(), 25);
  for (int i = 0; i < r.rows(); ++i)
    EXPECT_EQ(r.get(i, 1), r.get(i, 2)) << r.get(i, 0);
}

}  // namespace
}  // namespace keel
