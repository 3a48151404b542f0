// Data and demo files go through RecordService with the system context: the API's type checks
// and validation and the modules' native hooks apply, in the install's one transaction.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "db/connection.hpp"
#include "native/host.hpp"
#include "support/addon_tree.hpp"
#include "support/fixture.hpp"
#include "support/pg.hpp"

namespace keel::install {
namespace {

const char* kManifest = R"(name: shop
version: 1.0.0
depends: [base]
entities: [entities/*.yaml]
data: [data/*.yaml]
)";

const char* kEntities = R"(entities:
  partner:
    fields:
      code:  {type: string, max_length: 4}
      name:  {type: string, max_length: 32, required: true}
      email: {type: email}
      score: {type: integer}
  deal:
    fields:
      partner: {type: many2one, target: partner, required: true, on_delete: restrict}
)";

// A module on top of the real sales addon (native hooks and stored computed fields).
const char* kSalesDemoManifest = R"(name: shop_sales
version: 1.0.0
depends: [sales]
data: [data/*.yaml]
)";

const char* kOrderHead = R"(records:
  - {id: c1, entity: contact, values: {name: Buyer}}
  - {id: p1, entity: product, values: {name: Widget, uom: {ref: products.uom_unit}, list_price: "2.50"}}
)";

class DataFiles : public ::testing::Test, protected testing::AddonsFixture {
 protected:
  static void SetUpTestSuite() { native::Host::instance().add_library_dir(KEEL_TEST_ADDON_DIR); }

  void SetUp() override {
    tree.write("shop/manifest.yaml", kManifest);
    tree.write("shop/entities/shop.yaml", kEntities);
    // The demo addons (data files that refer to their records) before the test's own.
    config.addons_path = {KEEL_SOURCE_DIR "/addons", tree.path()};
  }
  void upgrade(const std::vector<std::string>& names) { lifecycle().upgrade(names); }
  // The diagnostics of an install that must fail, and the check that it left nothing.
  std::vector<Diagnostic> failing_install(const std::vector<std::string>& names) {
    std::vector<Diagnostic> out;
    try {
      install(names);
      ADD_FAILURE() << "the install succeeded";
    } catch (const ValidationError& e) {
      out = e.diagnostics();
    }
    EXPECT_EQ(one("SELECT to_regclass('base_module') IS NULL"), "t");  // nothing was kept
    return out;
  }
  std::string one(const std::string& sql) { return std::string(conn->exec(sql).get(0, 0)); }
};

TEST_F(DataFiles, ValueLongerThanMaxLengthFailsNamingFileRecordAndField) {
  // Before, the insert cast to varchar(4) and stored "tool".
  tree.write("shop/data/partners.yaml",
             "records:\n"
             "  - {id: ok, entity: partner, values: {name: Fine, code: ABCD}}\n"
             "  - id: long\n"
             "    entity: partner\n"
             "    values:\n"
             "      name: Long\n"
             "      code: toolongvalue\n");
  auto diagnostics = failing_install({"shop"});
  ASSERT_EQ(diagnostics.size(), 1u);
  const auto& d = diagnostics[0];
  EXPECT_NE(d.location.file.string().find("partners.yaml"), std::string::npos);
  EXPECT_EQ(d.location.line, 7);  // the field's own line
  EXPECT_NE(d.message.find("shop.long"), std::string::npos) << d.message;
  EXPECT_NE(d.message.find("\"code\""), std::string::npos) << d.message;
  EXPECT_NE(d.message.find("longer than 4"), std::string::npos) << d.message;
}

TEST_F(DataFiles, ValuesAreCheckedAsTheApiChecksThem) {
  // An invalid email was stored as is; a string for an integer failed with a cast error
  // without naming the field.
  tree.write("shop/data/partners.yaml",
             "records:\n"
             "  - {id: a, entity: partner, values: {name: A, email: not-an-email}}\n");
  auto diagnostics = failing_install({"shop"});
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_NE(diagnostics[0].message.find("record \"shop.a\", field \"email\": is not a valid email"),
            std::string::npos)
      << diagnostics[0].message;

  tree.write("shop/data/partners.yaml",
             "records:\n"
             "  - {id: a, entity: partner, values: {name: A, score: many}}\n");
  diagnostics = failing_install({"shop"});
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_NE(diagnostics[0].message.find("field \"score\": must be an integer"), std::string::npos)
      << diagnostics[0].message;
}

TEST_F(DataFiles, ValidDataIsStoredWithItsTypes) {
  tree.write("shop/data/partners.yaml",
             "records:\n"
             "  - {id: a, entity: partner, values: {name: A, code: ABCD, email: a@b.example, "
             "score: 7}}\n");
  install({"shop"});
  EXPECT_EQ(one("SELECT code || ' ' || email || ' ' || score FROM partner"), "ABCD a@b.example 7");
  EXPECT_EQ(one("SELECT record_id = (SELECT id FROM partner) FROM base_external_id WHERE name = "
                "'shop.a'"),
            "t");
}

TEST_F(DataFiles, FailingNativeHookRollsTheWholeInstallBack) {
  // The sales state machine: a new order starts as draft (a validate hook of libsales).
  tree.write("shop_sales/manifest.yaml", kSalesDemoManifest);
  tree.write("shop_sales/data/orders.yaml",
             std::string(kOrderHead) +
                 "  - {id: o1, entity: sale_order, values: {name: SO1, partner: {ref: c1}, "
                 "state: confirmed}}\n");
  auto diagnostics = failing_install({"shop_sales"});
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_NE(diagnostics[0].location.file.string().find("orders.yaml"), std::string::npos);
  EXPECT_NE(diagnostics[0].message.find("shop_sales.o1"), std::string::npos)
      << diagnostics[0].message;
  EXPECT_NE(diagnostics[0].message.find("a new order starts as draft"), std::string::npos)
      << diagnostics[0].message;
}

TEST_F(DataFiles, StockMoveOutOfAnEmptyLocationRollsTheWholeInstallBack) {
  // inventory's hook: a done move may not take the warehouse below zero, from a data file too.
  tree.write("shop_stock/manifest.yaml",
             "name: shop_stock\nversion: 1.0.0\ndepends: [inventory]\ndata: [data/*.yaml]\n");
  tree.write(
      "shop_stock/data/moves.yaml",
      "records:\n"
      "  - {id: p1, entity: product, values: {name: Widget, uom: {ref: products.uom_unit}}}\n"
      "  - {id: m1, entity: stock_move, values: {product: {ref: p1}, quantity: \"5\", "
      "from_location: {ref: inventory.loc_stock}, to_location: {ref: "
      "inventory.loc_customers}, state: done}}\n");
  auto diagnostics = failing_install({"shop_stock"});
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_NE(diagnostics[0].message.find("shop_stock.m1"), std::string::npos)
      << diagnostics[0].message;
  EXPECT_NE(diagnostics[0].message.find("not enough Widget in Stock: 0.000 on hand"),
            std::string::npos)
      << diagnostics[0].message;
}

TEST_F(DataFiles, UpdateEntriesStepThroughHooksAndStoredTotalsAreFilled) {
  tree.write("shop_sales/manifest.yaml", kSalesDemoManifest);
  tree.write(
      "shop_sales/data/orders.yaml",
      std::string(kOrderHead) +
          "  - {id: o1, entity: sale_order, values: {name: SO1, partner: {ref: c1}}}\n"
          "  - {id: l1, entity: sale_order_line, values: {order: {ref: o1}, product: {ref: p1}, "
          "quantity: \"3\", unit_price: \"2.50\"}}\n"
          "  - {id: l2, entity: sale_order_line, values: {order: {ref: o1}, product: {ref: p1}, "
          "quantity: \"0.333\", unit_price: \"1.25\"}}\n"
          "  - {update: o1, entity: sale_order, values: {state: confirmed}}\n"
          "  - {update: o1, entity: sale_order, values: {state: done}}\n");
  install({"shop_sales"});
  // 7.50 + round(0.41625, 2) = 7.50 + 0.42
  EXPECT_EQ(one("SELECT state || ' ' || amount FROM sale_order"), "done 7.92");
}

TEST_F(DataFiles, UpdateEntriesGoThroughTheStateMachine) {
  tree.write("shop_sales/manifest.yaml", kSalesDemoManifest);
  tree.write("shop_sales/data/orders.yaml",
             std::string(kOrderHead) +
                 "  - {id: o1, entity: sale_order, values: {name: SO1, partner: {ref: c1}}}\n"
                 "  - {update: o1, entity: sale_order, values: {state: done}}\n");
  auto diagnostics = failing_install({"shop_sales"});
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_NE(diagnostics[0].message.find("cannot go from draft to done"), std::string::npos)
      << diagnostics[0].message;
}

TEST_F(DataFiles, UpdateOfAnUndeclaredRecordIsRefused) {
  tree.write("shop/data/partners.yaml",
             "records:\n  - {update: nobody, entity: partner, values: {name: X}}\n");
  auto diagnostics = failing_install({"shop"});
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0].location.line, 2);
  EXPECT_NE(diagnostics[0].message.find("shop.nobody"), std::string::npos)
      << diagnostics[0].message;
}

TEST_F(DataFiles, UpgradeDeletesUndeclaredRecordsThroughTheServiceUnlessReferenced) {
  tree.write("shop/data/partners.yaml",
             "records:\n"
             "  - {id: kept, entity: partner, values: {name: Kept}}\n"
             "  - {id: used, entity: partner, values: {name: Used}}\n"
             "  - {id: unused, entity: partner, values: {name: Unused}}\n"
             "  - {id: gone, entity: partner, values: {name: Gone}}\n");
  install({"shop"});
  conn->exec("INSERT INTO deal (partner) SELECT id FROM partner WHERE name = 'Used'");
  conn->exec("DELETE FROM partner WHERE name = 'Gone'");  // deleted by a user meanwhile
  tree.write("shop/data/partners.yaml",
             "records:\n  - {id: kept, entity: partner, values: {name: Kept}}\n");
  upgrade({"shop"});
  EXPECT_EQ(one("SELECT string_agg(name, ',' ORDER BY name) FROM partner"), "Kept,Used");
  EXPECT_EQ(one("SELECT string_agg(name, ',' ORDER BY name) FROM base_external_id WHERE module "
                "= 'shop'"),
            "shop.kept,shop.used");
}

}  // namespace
}  // namespace keel::install
