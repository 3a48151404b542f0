#include "schema/registry_cache.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "app/error.hpp"
#include "modules/discovery.hpp"
#include "modules/graph.hpp"
#include "schema/registry.hpp"
#include "support/addon_tree.hpp"

namespace keel::schema {
namespace {
namespace fs = std::filesystem;

// Two modules whose entities use every attribute the registry keeps: an extension (changed_by,
// set_by, extended_by), a stored computed field with depends, defaults, options, roles, limits.
constexpr const char* kShop = R"(entities:
  shop_customer:
    label: Customer
    order: name asc
    fields:
      name: {type: string, max_length: 80, required: true, index: true}
      email: {type: email, unique: true, help: "where invoices go"}
      tier: {type: selection, options: [gold, silver], default: silver}
      secret_note: {type: text, roles: [shop_manager], secret: true}
  shop_order:
    title: ref
    fields:
      ref: {type: string, readonly: true}
      customer: {type: many2one, target: shop_customer, on_delete: cascade}
      lines: {type: one2many, target: shop_line, inverse: order}
      total: {type: decimal, precision: 12, scale: 2, computed: true, store: true, depends: [lines.amount]}
      day: {type: date, default: today}
  shop_line:
    fields:
      order: {type: many2one, target: shop_order, required: true}
      amount: {type: decimal, precision: 12, scale: 2}
)";

constexpr const char* kShopPlus = R"(extend:
  shop_customer:
    label: Client
    fields:
      tier: {options: [gold, silver, bronze]}
      vat: {type: string, max_length: 20}
)";

class RegistryCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tree_.write("shop/manifest.yaml", "name: shop\nversion: 1.0.0\nentities: [entities/*.yaml]\n");
    tree_.write("shop/entities/shop.yaml", kShop);
    tree_.write("shop_plus/manifest.yaml",
                "name: shop_plus\nversion: 1.0.0\ndepends: [shop]\nentities: [plus.yaml]\n");
    tree_.write("shop_plus/plus.yaml", kShopPlus);
  }

  std::vector<const modules::Manifest*> modules() {
    auto found = modules::discover({tree_.path()});
    graph_ = std::make_unique<modules::ModuleGraph>(std::move(found.modules));
    return graph_->order();
  }

  std::vector<fs::path> entries() const {
    std::vector<fs::path> out;
    if (fs::exists(cache_))
      for (const auto& e : fs::directory_iterator(cache_))
        out.push_back(e.path());
    return out;
  }

  keel::testing::AddonTree tree_;
  fs::path cache_ = tree_.path() / "var-cache";
  std::unique_ptr<modules::ModuleGraph> graph_;
};

TEST_F(RegistryCacheTest, RoundTripKeepsEverything) {
  Diagnostics d;
  auto built = Registry::build(modules(), d);
  ASSERT_TRUE(d.empty());
  std::string bytes = serialize_registry(*built);
  auto back = deserialize_registry(bytes);
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(serialize_registry(*back), bytes);
  EXPECT_EQ(back->modules(), built->modules());
  ASSERT_EQ(back->entities().size(), 3u);
  const Entity* customer = back->entity("shop_customer");
  ASSERT_NE(customer, nullptr);
  EXPECT_EQ(customer->label, "Client");
  EXPECT_EQ(customer->order, "name asc");
  EXPECT_EQ(customer->extended_by, std::vector<std::string>{"shop_plus"});
  EXPECT_EQ(customer->location.line, 2);
  const Field* tier = customer->field("tier");
  ASSERT_NE(tier, nullptr);
  EXPECT_EQ(tier->options, (std::vector<std::string>{"gold", "silver", "bronze"}));
  EXPECT_EQ(tier->default_value, "silver");
  EXPECT_EQ(tier->module_of("options"), "shop_plus");
  EXPECT_EQ(tier->changed_by, std::vector<std::string>{"shop_plus"});
  EXPECT_EQ(customer->field("secret_note")->roles, std::vector<std::string>{"shop_manager"});
  EXPECT_TRUE(customer->field("secret_note")->secret);
  EXPECT_EQ(customer->field("name")->max_length, 80);
  EXPECT_EQ(customer->field("vat")->module, "shop_plus");
  const Field* total = back->entity("shop_order")->field("total");
  EXPECT_TRUE(total->computed && total->store);
  EXPECT_EQ(total->depends, std::vector<std::string>{"lines.amount"});
  ASSERT_EQ(total->depends_at.size(), 1u);
  EXPECT_EQ(total->depends_at[0].file, tree_.path() / "shop/entities/shop.yaml");
  EXPECT_EQ(total->precision, 12);
  EXPECT_EQ(back->entity("shop_order")->field("customer")->on_delete, OnDelete::kCascade);
  EXPECT_EQ(back->entity("shop_order")->title, "ref");
}

TEST_F(RegistryCacheTest, DamagedDataIsRefusedNotTrusted) {
  Diagnostics d;
  std::string bytes = serialize_registry(*Registry::build(modules(), d));
  EXPECT_EQ(deserialize_registry(""), nullptr);
  EXPECT_EQ(deserialize_registry("KEELREG0" + bytes.substr(8)), nullptr);
  // Every truncation is detected, never read past the end.
  for (size_t n = 0; n < bytes.size(); n += 7)
    EXPECT_EQ(deserialize_registry(bytes.substr(0, n)), nullptr) << n;
  EXPECT_EQ(deserialize_registry(bytes + "x"), nullptr);
}

TEST_F(RegistryCacheTest, AnswersWhatBuildAnswersAndFollowsTheFiles) {
  Diagnostics d1;
  auto first = build_registry_cached(modules(), d1, cache_);
  ASSERT_TRUE(d1.empty());
  ASSERT_EQ(entries().size(), 1u);
  fs::path entry = entries()[0];

  Diagnostics d2;
  auto second = build_registry_cached(modules(), d2, cache_);
  EXPECT_TRUE(d2.empty());
  EXPECT_EQ(serialize_registry(*second), serialize_registry(*first));

  // A changed entity file is a new key: the registry follows it and the old entry goes.
  tree_.write("shop_plus/plus.yaml", std::string(kShopPlus) + "      fax: {type: string}\n");
  Diagnostics d3;
  auto third = build_registry_cached(modules(), d3, cache_);
  EXPECT_TRUE(d3.empty());
  EXPECT_NE(third->entity("shop_customer")->field("fax"), nullptr);
  ASSERT_EQ(entries().size(), 1u);
  EXPECT_NE(entries()[0], entry);

  // A damaged entry is rebuilt from the files.
  std::ofstream(entries()[0], std::ios::trunc) << "KEELREG1garbage";
  Diagnostics d4;
  auto fourth = build_registry_cached(modules(), d4, cache_);
  EXPECT_TRUE(d4.empty());
  EXPECT_EQ(serialize_registry(*fourth), serialize_registry(*third));
}

TEST_F(RegistryCacheTest, ProblemsAreNeverCachedAndReportedEveryTime) {
  tree_.write("shop_plus/plus.yaml",
              "extend:\n  shop_customer:\n    fields:\n      x: {type: nope}\n");
  for (int i = 0; i < 2; ++i) {
    Diagnostics d;
    build_registry_cached(modules(), d, cache_);
    ASSERT_EQ(d.errors().size(), 1u);
    EXPECT_EQ(d.errors()[0].location.line, 4);
    EXPECT_NE(d.errors()[0].message.find("unknown field type"), std::string::npos);
  }
  EXPECT_TRUE(entries().empty());
}

TEST_F(RegistryCacheTest, NoDirectoryNoCache) {
  Diagnostics d;
  auto registry = build_registry_cached(modules(), d, {});
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(registry->entities().size(), 3u);
  EXPECT_TRUE(entries().empty());
}

}  // namespace
}  // namespace keel::schema
