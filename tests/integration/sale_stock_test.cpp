// Sales to stock over real HTTP, with the roles of the demo addons: prices and taxes from the
// product, stored totals exact to the cent, confirming an order creates its deliveries,
// validating them takes the stock down (never below zero in the warehouse), cancelling an
// order cancels them; and the demo business consistent after `--demo`.

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <future>
#include <random>
#include <string>
#include <thread>
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

class SaleStock : public ::testing::Test, protected testing::AddonsFixture {
 protected:
  static void SetUpTestSuite() { native::Host::instance().add_library_dir(KEEL_TEST_ADDON_DIR); }

  void SetUp() override { config.addons_path = {KEEL_SOURCE_DIR "/addons"}; }

  void upgrade(const std::vector<std::string>& names) { lifecycle().upgrade(names); }
  std::string one(const std::string& sql) {
    auto r = conn->exec(sql);
    return r.is_null(0, 0) ? "null" : std::string(r.get(0, 0));
  }

  void start(bool stock = true) {
    admin = testing::token_for(testing::create_user(*conn, "admin", {"base.admin"}));
    seller = testing::token_for(testing::create_user(*conn, "seller", {"sales.user"}));
    if (stock)
      stocker = testing::token_for(testing::create_user(*conn, "stocker", {"inventory.user"}));
    server = std::make_unique<testing::TestServer>(config, database.conninfo());
  }
  testing::HttpReply call(const std::string& token, const std::string& method,
                          const std::string& target, const std::string& body = {}) {
    return testing::http_request(server->port(), method, target, body, testing::bearer(token));
  }
  std::string create(const std::string& token, const std::string& entity, const std::string& body) {
    auto r = call(token, "POST", "/api/v1/records/" + entity, body);
    EXPECT_EQ(r.status, 201) << entity << " " << body << ": " << r.body;
    auto d = parse(r.body);
    return d.IsObject() && d.HasMember("id") ? std::to_string(d["id"].GetInt64()) : "0";
  }
  int patch(const std::string& token, const std::string& entity, const std::string& id,
            const std::string& body, std::string* answer = nullptr) {
    auto r = call(token, "PATCH", "/api/v1/records/" + entity + "/" + id, body);
    if (answer) *answer = r.body;
    return r.status;
  }
  // A field of a record as `token` reads it: strings as they are, numbers as text.
  std::string field(const std::string& token, const std::string& entity, const std::string& id,
                    const char* name) {
    auto r = call(token, "GET", "/api/v1/records/" + entity + "/" + id + "?fields=" + name);
    EXPECT_EQ(r.status, 200) << r.body;
    auto d = parse(r.body);
    if (!d.IsObject() || !d.HasMember(name) || d[name].IsNull()) return "null";
    if (d[name].IsString()) return d[name].GetString();
    if (d[name].IsInt64()) return std::to_string(d[name].GetInt64());
    return "?";
  }
  // The records of a list as "field=value" joined, for one field.
  std::string list(const std::string& token, const std::string& entity, const std::string& filter,
                   const char* name, int* status = nullptr) {
    auto r = call(token, "GET",
                  "/api/v1/records/" + entity + "?sort=id&fields=" + name +
                      "&filter=" + testing::url_encode(filter));
    if (status) *status = r.status;
    if (r.status != 200) return "HTTP " + std::to_string(r.status);
    std::string out;
    auto d = parse(r.body);
    if (!d.IsObject() || !d.HasMember("data")) return "bad answer: " + r.body;
    for (const auto& rec : d["data"].GetArray()) {
      if (!rec.HasMember(name)) return "no " + std::string(name) + " in " + r.body;
      const auto& v = rec[name];
      out += out.empty() ? "" : ",";
      out += v.IsString() ? v.GetString() : v.IsInt64() ? std::to_string(v.GetInt64()) : "null";
    }
    return out;
  }
  std::string stock(const std::string& product, const std::string& location) {
    return one("SELECT coalesce((SELECT quantity::text FROM stock_quant WHERE product = " +
               product + " AND location = " + location + "), 'none')");
  }
  std::string location(const std::string& name) {
    return one("SELECT id FROM stock_location WHERE name = '" + name + "'");
  }

  std::string admin, seller, stocker;
  std::unique_ptr<testing::TestServer> server;
};

TEST_F(SaleStock, AnOrderIsPricedConfirmedDeliveredAndTheStockDrops) {
  install({"sales", "inventory"});  // sale_stock joins on its own (auto_install)
  ASSERT_EQ(one("SELECT state FROM base_module WHERE name = 'sale_stock'"), "installed");
  start();
  std::string uom = one("SELECT min(id) FROM uom");
  std::string drill = create(admin, "product",
                             R"({"name": "Drill", "kind": "goods", "list_price": "129.99", )"
                             R"("tax_rate": "20.00", "uom": )" +
                                 uom + "}");
  std::string service = create(admin, "product",
                               R"({"name": "Setup", "kind": "service", "list_price": "65.00", )"
                               R"("tax_rate": "5.50", "uom": )" +
                                   uom + "}");
  std::string stock_loc = location("Stock"), customers = location("Customers"),
              adjust = location("Inventory adjustment");

  // Opening stock: a move validated by a stock user fills the stock on hand.
  std::string opening = create(stocker, "stock_move",
                               R"({"name": "Opening", "product": )" + drill +
                                   R"(, "quantity": "10", "from_location": )" + adjust +
                                   R"(, "to_location": )" + stock_loc + "}");
  EXPECT_EQ(stock(drill, stock_loc), "none");  // draft: nothing moved yet
  ASSERT_EQ(patch(stocker, "stock_move", opening, R"({"state": "done"})"), 200);
  EXPECT_EQ(stock(drill, stock_loc), "10.000");
  EXPECT_EQ(stock(drill, adjust), "-10.000");  // allowed there
  EXPECT_EQ(field(stocker, "product", drill, "qty_available"), "10.000");
  // Stock on hand is read-only through the API.
  std::string quant = one("SELECT id FROM stock_quant WHERE location = " + stock_loc);
  EXPECT_EQ(patch(stocker, "stock_quant", quant, R"({"quantity": "99"})"), 403);

  // A salesperson's order: prices and tax rates from the products, totals stored.
  std::string partner = create(seller, "contact", R"({"name": "ACME"})");
  std::string order =
      create(seller, "sale_order", R"({"name": "SO1", "partner": )" + partner + "}");
  std::string l1 =
      create(seller, "sale_order_line",
             R"({"order": )" + order + R"(, "product": )" + drill + R"(, "quantity": "3"})");
  create(seller, "sale_order_line",
         R"({"order": )" + order + R"(, "product": )" + service + R"(, "quantity": "1.5"})");
  EXPECT_EQ(field(seller, "sale_order_line", l1, "unit_price"), "129.99");
  EXPECT_EQ(field(seller, "sale_order_line", l1, "tax_rate"), "20.00");
  // 3 x 129.99 = 389.97, tax 77.994 -> 77.99; 1.5 x 65.00 = 97.50, tax 5.3625 -> 5.36.
  EXPECT_EQ(field(seller, "sale_order_line", l1, "tax"), "77.99");
  EXPECT_EQ(field(seller, "sale_order", order, "amount"), "487.47");
  EXPECT_EQ(field(seller, "sale_order", order, "amount_tax"), "83.35");
  EXPECT_EQ(field(seller, "sale_order", order, "amount_total"), "570.82");
  EXPECT_EQ(field(seller, "sale_order", order, "delivery_state"), "nothing");

  // A line change recomputes the stored totals in its transaction.
  ASSERT_EQ(patch(seller, "sale_order_line", l1, R"({"quantity": "4"})"), 200);
  EXPECT_EQ(field(seller, "sale_order", order, "amount_total"),
            "726.81");  // 519.96+103.99+97.50+5.36
  EXPECT_EQ(one("SELECT amount_total::text FROM sale_order WHERE id = " + order), "726.81");
  // Sorted and filtered by the total.
  EXPECT_EQ(list(seller, "sale_order", R"({"amount_total": {"gt": "700"}})", "name"), "SO1");
  EXPECT_EQ(list(seller, "sale_order", R"({"amount_total": {"lt": "700"}})", "name"), "");

  // Confirming creates the delivery of the goods (not of the service), from the warehouse.
  std::string answer;
  ASSERT_EQ(patch(seller, "sale_order", order, R"({"state": "confirmed"})", &answer), 200)
      << answer;
  EXPECT_EQ(field(seller, "sale_order", order, "delivery_state"), "waiting");
  EXPECT_NE(field(seller, "sale_order", order, "warehouse"), "null");
  std::string moves = R"({"sale_order": )" + order + "}";
  EXPECT_EQ(list(seller, "stock_move", moves, "quantity"), "4.000");
  EXPECT_EQ(list(seller, "stock_move", moves, "state"), "draft");
  std::string move = list(seller, "stock_move", moves, "id");
  EXPECT_EQ(one("SELECT from_location || '>' || to_location FROM stock_move WHERE id = " + move),
            stock_loc + ">" + customers);
  EXPECT_EQ(stock(drill, stock_loc), "10.000");  // not delivered yet

  // The salesperson may not validate it; the stock user does, through the route.
  auto refused = call(seller, "POST", "/api/v1/x/sale_stock/orders/" + order + "/deliver");
  EXPECT_EQ(refused.status, 403) << refused.body;
  auto delivered = call(stocker, "POST", "/api/v1/x/sale_stock/orders/" + order + "/deliver");
  ASSERT_EQ(delivered.status, 200) << delivered.body;
  EXPECT_STREQ(parse(delivered.body)["delivery_state"].GetString(), "delivered");
  EXPECT_EQ(stock(drill, stock_loc), "6.000");
  EXPECT_EQ(stock(drill, customers), "4.000");
  EXPECT_EQ(field(stocker, "product", drill, "qty_available"), "6.000");
  EXPECT_EQ(list(seller, "stock_move", moves, "state"), "done");

  // History: a done move never changes and is never deleted.
  EXPECT_EQ(patch(stocker, "stock_move", move, R"({"quantity": "1"})", &answer), 422) << answer;
  EXPECT_EQ(patch(stocker, "stock_move", move, R"({"state": "cancelled"})", &answer), 422)
      << answer;
  auto removed = call(admin, "DELETE", "/api/v1/records/stock_move/" + move);
  EXPECT_EQ(removed.status, 422) << removed.body;
  EXPECT_EQ(
      list(stocker, "stock_move", R"({"product": )" + drill + R"(, "state": "done"})", "name"),
      "Opening,SO1");
  // A delivered order is not cancelled; it is completed; its lines no longer change.
  EXPECT_EQ(patch(seller, "sale_order", order, R"({"state": "cancelled"})", &answer), 422)
      << answer;
  EXPECT_NE(answer.find("delivered"), std::string::npos) << answer;
  ASSERT_EQ(patch(seller, "sale_order", order, R"({"state": "done"})", &answer), 200) << answer;
  EXPECT_EQ(patch(seller, "sale_order_line", l1, R"({"quantity": "5"})", &answer), 422) << answer;
  EXPECT_EQ(field(seller, "sale_order", order, "amount_total"), "726.81");

  // Stock never goes below zero in the warehouse: 7 asked, 6 on hand.
  std::string big = create(seller, "sale_order", R"({"name": "SO2", "partner": )" + partner + "}");
  create(seller, "sale_order_line",
         R"({"order": )" + big + R"(, "product": )" + drill + R"(, "quantity": "7"})");
  ASSERT_EQ(patch(seller, "sale_order", big, R"({"state": "confirmed"})"), 200);
  auto short_of = call(stocker, "POST", "/api/v1/x/sale_stock/orders/" + big + "/deliver");
  EXPECT_EQ(short_of.status, 422) << short_of.body;
  EXPECT_NE(short_of.body.find("not enough Drill in Stock: 6.000 on hand, 7.000 needed"),
            std::string::npos)
      << short_of.body;
  EXPECT_EQ(stock(drill, stock_loc), "6.000");  // rolled back, move still draft
  EXPECT_EQ(list(seller, "stock_move", R"({"sale_order": )" + big + "}", "state"), "draft");

  // Cancelling the order cancels its deliveries.
  ASSERT_EQ(patch(seller, "sale_order", big, R"({"state": "cancelled"})", &answer), 200) << answer;
  EXPECT_EQ(list(seller, "stock_move", R"({"sale_order": )" + big + "}", "state"), "cancelled");
  EXPECT_EQ(field(seller, "sale_order", big, "delivery_state"), "cancelled");
  EXPECT_EQ(stock(drill, stock_loc), "6.000");
  // Back to draft and confirmed again: a new delivery.
  ASSERT_EQ(patch(seller, "sale_order", big, R"({"state": "draft"})"), 200);
  ASSERT_EQ(patch(seller, "sale_order", big, R"({"state": "confirmed"})"), 200);
  EXPECT_EQ(list(seller, "stock_move", R"({"sale_order": )" + big + "}", "state"),
            "cancelled,draft");
  EXPECT_EQ(field(seller, "sale_order", big, "delivery_state"), "waiting");

  // Each role stays on its side: a salesperson moves no stock, a stock user sells nothing but
  // reads the orders it delivers.
  auto no_move = call(seller, "POST", "/api/v1/records/stock_move",
                      R"({"product": )" + drill + R"(, "quantity": "1", "from_location": )" +
                          stock_loc + R"(, "to_location": )" + customers + "}");
  EXPECT_EQ(no_move.status, 403) << no_move.body;
  auto no_order = call(stocker, "POST", "/api/v1/records/sale_order",
                       R"({"name": "SO3", "partner": )" + partner + "}");
  EXPECT_EQ(no_order.status, 403) << no_order.body;
  EXPECT_EQ(field(stocker, "sale_order", big, "delivery_state"), "waiting");

  // Another salesperson sees neither the order nor its deliveries.
  std::string other = testing::token_for(testing::create_user(*conn, "other", {"sales.user"}));
  EXPECT_EQ(list(other, "stock_move", "{}", "id"), "");
}

// Two deliveries of the same product never both take the last units: the move's hook locks the
// quant before it reads it. The test holds that lock itself, lets a delivery wait on it, commits
// a smaller quantity meanwhile (as a concurrent delivery would), and the waiting delivery sees it.
TEST_F(SaleStock, ADeliveryWaitingOnTheQuantReadsWhatTheOtherCommitted) {
  install({"sales", "inventory"});
  start();
  std::string uom = one("SELECT min(id) FROM uom");
  std::string drill = create(admin, "product", R"({"name": "Drill", "uom": )" + uom + "}");
  std::string stock_loc = location("Stock"), adjust = location("Inventory adjustment");
  create(stocker, "stock_move",
         R"({"product": )" + drill + R"(, "quantity": "5", "state": "done", "from_location": )" +
             adjust + R"(, "to_location": )" + stock_loc + "}");
  ASSERT_EQ(stock(drill, stock_loc), "5.000");
  std::string partner = create(seller, "contact", R"({"name": "ACME"})");
  std::string order =
      create(seller, "sale_order", R"({"name": "SO1", "partner": )" + partner + "}");
  create(seller, "sale_order_line",
         R"({"order": )" + order + R"(, "product": )" + drill + R"(, "quantity": "3"})");
  ASSERT_EQ(patch(seller, "sale_order", order, R"({"state": "confirmed"})"), 200);

  db::Connection other = database.connect();
  other.exec("BEGIN");
  other.exec("UPDATE stock_quant SET revision = revision + 1 WHERE product = " + drill +
             " AND location = " + stock_loc);
  auto delivery = std::async(std::launch::async, [&] {
    return call(stocker, "POST", "/api/v1/x/sale_stock/orders/" + order + "/deliver");
  });
  // Wait until the delivery waits for the lock.
  bool waiting = false;
  for (int i = 0; i < 200 && !waiting; ++i) {
    waiting = one("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
                  "datname = current_database()") != "0";
    if (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_TRUE(waiting);
  other.exec("UPDATE stock_quant SET quantity = 2 WHERE product = " + drill +
             " AND location = " + stock_loc);
  other.exec("COMMIT");
  auto reply = delivery.get();
  EXPECT_EQ(reply.status, 422) << reply.body;
  EXPECT_NE(reply.body.find("2.000 on hand, 3.000 needed"), std::string::npos) << reply.body;
  EXPECT_EQ(stock(drill, stock_loc), "2.000");
}

// Many generated orders with taxes (and sales_discount's 10 % over the service chain): every
// stored amount equals PostgreSQL's numeric arithmetic on the stored quantities, prices and
// rates, rounded per line then summed.
TEST_F(SaleStock, GeneratedOrdersWithTaxTotalLikeNumericArithmetic) {
  install({"sales", "sales_discount"});
  start(false);
  std::string uom = one("SELECT min(id) FROM uom");
  std::string partner = create(admin, "contact", R"({"name": "ACME"})");
  std::vector<std::string> products;
  for (const char* rate : {"0.00", "5.50", "7.70", "20.00", "19.60", "8.13"}) {
    products.push_back(create(admin, "product",
                              R"({"name": "P", "list_price": "1.99", "tax_rate": ")" +
                                  std::string(rate) + R"(", "uom": )" + uom + "}"));
  }
  std::mt19937_64 rng(1414);
  std::uniform_int_distribution<int> lines_of(1, 8), qty(1, 30000), price(1, 1000000),
      pick(0, static_cast<int>(products.size()) - 1);
  constexpr int kOrders = 40;
  for (int o = 0; o < kOrders; ++o) {
    std::string so =
        create(admin, "sale_order",
               R"({"name": "G)" + std::to_string(o) + R"(", "partner": )" + partner + "}");
    for (int l = lines_of(rng); l > 0; --l) {
      auto q = sdk::Decimal::from_mantissa(qty(rng), 3);
      std::string body = R"({"order": )" + so + R"(, "product": )" + products[pick(rng)] +
                         R"(, "quantity": ")" + q.to_string() + "\"";
      if (l % 3)  // the others take the list price
        body +=
            R"(, "unit_price": ")" + sdk::Decimal::from_mantissa(price(rng), 2).to_string() + "\"";
      create(admin, "sale_order_line", body + "}");
    }
  }
  auto r = conn->exec(
      "WITH l AS (SELECT l.\"order\", round(l.quantity * l.unit_price * "
      "CASE WHEN l.quantity >= 10 THEN 0.90 ELSE 1 END, 2) AS sub, l.tax_rate "
      "FROM sale_order_line l), t AS (SELECT \"order\", sum(sub) AS untaxed, "
      "sum(round(sub * tax_rate / 100, 2)) AS tax FROM l GROUP BY \"order\") "
      "SELECT o.name, o.amount::text || ' ' || o.amount_tax::text || ' ' || o.amount_total::text, "
      "t.untaxed::text || ' ' || t.tax::text || ' ' || (t.untaxed + t.tax)::text "
      "FROM sale_order o JOIN t ON t.\"order\" = o.id ORDER BY o.id");
  ASSERT_EQ(r.rows(), kOrders);
  for (int i = 0; i < r.rows(); ++i)
    EXPECT_EQ(r.get(i, 1), r.get(i, 2)) << r.get(i, 0);
  // The lines' stored tax too.
  EXPECT_EQ(one("SELECT count(*) FROM sale_order_line WHERE tax <> round(subtotal * tax_rate / "
                "100, 2) OR tax IS NULL"),
            "0");
}

// `--demo`: a working business, consistent between orders and stock.
TEST_F(SaleStock, TheDemoIsConsistentBetweenOrdersAndStock) {
  install({"sales", "inventory"}, true);
  EXPECT_GE(std::stoi(one("SELECT count(*) FROM contact")), 40);
  EXPECT_GE(std::stoi(one("SELECT count(*) FROM product")), 30);
  EXPECT_EQ(one("SELECT string_agg(DISTINCT state, ',' ORDER BY state) FROM sale_order"),
            "cancelled,confirmed,done,draft");
  EXPECT_EQ(one("SELECT count(*) FROM sale_order WHERE amount_total IS NULL OR delivery_state IS "
                "NULL OR amount_total <> amount + amount_tax"),
            "0");
  // Done orders are delivered, confirmed ones wait, cancelled ones had their moves cancelled.
  EXPECT_EQ(one("SELECT string_agg(DISTINCT state || ':' || delivery_state, ',' ORDER BY state || "
                "':' || delivery_state) FROM sale_order WHERE state <> 'draft'"),
            "cancelled:cancelled,cancelled:nothing,confirmed:waiting,done:delivered");
  // Stock on hand in the warehouse: the opening 250 minus what the done moves delivered, never
  // negative, and equal to the sum of the done moves for every product and location.
  EXPECT_EQ(one("SELECT count(*) FROM stock_quant q JOIN stock_location l ON l.id = q.location "
                "WHERE l.usage = 'internal' AND q.quantity < 0"),
            "0");
  EXPECT_EQ(one("SELECT count(*) FROM stock_quant q WHERE q.quantity <> "
                "coalesce((SELECT sum(quantity) FROM stock_move m WHERE m.state = 'done' AND "
                "m.to_location = q.location AND m.product = q.product), 0) - "
                "coalesce((SELECT sum(quantity) FROM stock_move m WHERE m.state = 'done' AND "
                "m.from_location = q.location AND m.product = q.product), 0)"),
            "0");
  // Tape measures: 250, less 10 delivered by SO-DEMO-007 (done); SO-DEMO-002's 12 wait.
  EXPECT_EQ(one("SELECT q.quantity::text FROM stock_quant q JOIN product p ON p.id = q.product "
                "JOIN stock_location l ON l.id = q.location WHERE p.sku = 'DEMO-013' AND "
                "l.name = 'Stock'"),
            one("SELECT (250 - sum(l.quantity))::numeric(14,3)::text FROM sale_order_line l JOIN "
                "sale_order o ON o.id = l.\"order\" JOIN product p ON p.id = l.product WHERE "
                "p.sku = 'DEMO-013' AND o.state = 'done'"));
}

}  // namespace
}  // namespace keel

namespace keel {
namespace {

// Upgrading from inventory 1.0.0 and sale_stock 1.0.0 (done moves, no stock on hand, moves that
// know only their line): the 1.1.0 migrations rebuild the quants from the done moves and link
// the moves to their orders, then the delivery states are computed.
TEST_F(SaleStock, UpgradeFromOneZeroRebuildsStockOnHandAndDeliveries) {
  install({"sales", "inventory"}, true);
  const std::string quants =
      "SELECT string_agg(key || '=' || quantity, ',' ORDER BY key) FROM stock_quant";
  const std::string orders =
      "SELECT string_agg(name || '=' || delivery_state, ',' ORDER BY name) FROM sale_order";
  std::string before = one(quants), states = one(orders);
  ASSERT_NE(before, "null");
  // The database as 1.0.0 left it.
  conn->exec("DELETE FROM stock_quant");
  conn->exec("UPDATE stock_move SET sale_order = NULL");
  conn->exec("UPDATE sale_order SET delivery_state = NULL");
  conn->exec("UPDATE base_module SET version = '1.0.0' WHERE name IN ('inventory', 'sale_stock')");
  upgrade({"inventory", "sale_stock"});
  EXPECT_EQ(one(quants), before);
  EXPECT_EQ(one(orders), states);
  EXPECT_EQ(
      one("SELECT count(*) FROM stock_move WHERE sale_line IS NOT NULL AND sale_order IS NULL"),
      "0");
}

}  // namespace
}  // namespace keel
