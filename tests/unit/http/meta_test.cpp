#include "http/meta.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <memory>
#include <string>
#include <vector>

#include "schema/entity.hpp"
#include "support/addon_tree.hpp"
#include "unit/http/registry_fixture.hpp"

namespace keel::http {
namespace {
using namespace keel::http::testing;
using Strings = std::vector<std::string>;

class MetaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_sales(tree_);
    registry_ = build_registry(tree_);
    ASSERT_NE(registry_, nullptr);
    parse(doc_, meta_entities(*registry_, security::Policy(), security::Context::system()));
  }

  // The entity `name` of meta_entities (null when absent).
  const rapidjson::Value& entity(const std::string& name) const {
    static const rapidjson::Value kNull;
    for (const auto& e : at(doc_, "data").GetArray())
      if (string_of(at(e, "name")) == name) return e;
    return kNull;
  }

  // Field `field` of entity `name`.
  const rapidjson::Value& field(const std::string& name, const std::string& field) const {
    static const rapidjson::Value kNull;
    const auto& fields = at(entity(name), "fields");
    if (!fields.IsArray()) return kNull;
    for (const auto& f : fields.GetArray())
      if (string_of(at(f, "name")) == field) return f;
    return kNull;
  }

  keel::testing::AddonTree tree_;
  std::shared_ptr<const schema::Registry> registry_;
  rapidjson::Document doc_;
};

TEST_F(MetaTest, ListsEveryEntitySortedWithItsAttributes) {
  EXPECT_EQ(keys_of(doc_), Strings{"data"});
  Strings names;
  for (const auto& e : at(doc_, "data").GetArray())
    names.push_back(string_of(at(e, "name")));
  EXPECT_EQ(names, (Strings{"partner", "sale_line", "sale_order", "tag"}));

  const auto& order = entity("sale_order");
  EXPECT_EQ(keys_of(order),
            (Strings{"name", "label", "table", "title", "order", "module", "fields", "rights"}));
  EXPECT_EQ(string_of(at(order, "label")), "Sales order");
  EXPECT_EQ(string_of(at(order, "table")), "orders");
  EXPECT_EQ(string_of(at(order, "title")), "ref");
  EXPECT_EQ(string_of(at(order, "order")), "date desc, id desc");
  EXPECT_EQ(string_of(at(order, "module")), "sales");

  // Defaults the Registry fills in: table, label, title; no order means null.
  const auto& line = entity("sale_line");
  EXPECT_EQ(string_of(at(line, "table")), "sale_line");
  EXPECT_EQ(string_of(at(line, "label")), "sale_line");
  EXPECT_TRUE(at(line, "title").IsNull());
  EXPECT_TRUE(at(line, "order").IsNull());
  EXPECT_EQ(string_of(at(entity("partner"), "title")), "name");
  EXPECT_EQ(string_of(at(entity("partner"), "module")), "contacts");

  // Rights: everything, until the security layer filters them.
  for (const auto& e : at(doc_, "data").GetArray()) {
    const auto& rights = at(e, "rights");
    EXPECT_EQ(keys_of(rights), (Strings{"read", "create", "update", "delete"}));
    for (const auto& r : rights.GetObject())
      EXPECT_TRUE(r.value.IsTrue());
  }
}

TEST_F(MetaTest, FieldsInDeclarationOrderWithEveryAttribute) {
  Strings names;
  for (const auto& f : at(entity("sale_order"), "fields").GetArray()) {
    names.push_back(string_of(at(f, "name")));
    EXPECT_EQ(keys_of(f), (Strings{"name", "type", "label", "help", "required", "readonly",
                                   "unique", "computed", "target", "inverse", "options",
                                   "max_length", "precision", "scale", "default"}));
  }
  // No id or audit columns: only declared fields.
  EXPECT_EQ(names, (Strings{"ref", "partner", "state", "stage", "qty", "big", "amount", "discount",
                            "rate", "ratio", "paid", "date", "sent_at", "payload", "scan", "lines",
                            "tags", "total", "margin"}));

  const auto& ref = field("sale_order", "ref");
  EXPECT_EQ(string_of(at(ref, "type")), "string");
  EXPECT_EQ(string_of(at(ref, "label")), "Reference");
  EXPECT_TRUE(at(ref, "help").IsNull());
  EXPECT_TRUE(at(ref, "required").IsTrue());
  EXPECT_TRUE(at(ref, "unique").IsTrue());
  EXPECT_TRUE(at(ref, "readonly").IsFalse());
  EXPECT_TRUE(at(ref, "computed").IsFalse());
  EXPECT_EQ(at(ref, "max_length").GetInt(), 64);
  for (const char* none : {"target", "inverse", "options", "precision", "scale", "default"})
    EXPECT_TRUE(at(ref, none).IsNull()) << none;

  const auto& partner = field("sale_order", "partner");
  EXPECT_EQ(string_of(at(partner, "type")), "many2one");
  EXPECT_EQ(string_of(at(partner, "target")), "partner");
  EXPECT_EQ(string_of(at(partner, "label")), "partner");  // the name when no label
  EXPECT_TRUE(at(partner, "inverse").IsNull());

  const auto& lines = field("sale_order", "lines");
  EXPECT_EQ(string_of(at(lines, "type")), "one2many");
  EXPECT_EQ(string_of(at(lines, "target")), "sale_line");
  EXPECT_EQ(string_of(at(lines, "inverse")), "order");
  EXPECT_EQ(string_of(at(field("sale_order", "tags"), "target")), "tag");
  EXPECT_TRUE(at(field("sale_order", "tags"), "required").IsTrue());

  EXPECT_EQ(strings_of(at(field("sale_order", "state"), "options")), (Strings{"draft", "done"}));
  const auto& amount = field("sale_order", "amount");
  EXPECT_EQ(at(amount, "precision").GetInt(), 14);
  EXPECT_EQ(at(amount, "scale").GetInt(), 2);
  EXPECT_TRUE(at(amount, "readonly").IsTrue());
  EXPECT_TRUE(at(field("sale_line", "price"), "scale").IsInt());
  EXPECT_EQ(at(field("sale_line", "price"), "scale").GetInt(), 0);
  EXPECT_TRUE(at(field("sale_order", "rate"), "precision").IsNull());  // numeric without limits

  // Computed fields cannot be written: readonly too.
  for (const char* computed : {"total", "margin"}) {
    EXPECT_TRUE(at(field("sale_order", computed), "computed").IsTrue()) << computed;
    EXPECT_TRUE(at(field("sale_order", computed), "readonly").IsTrue()) << computed;
  }

  // Other entities: email length, help, an extension's field and changed attribute.
  EXPECT_EQ(at(field("partner", "email"), "max_length").GetInt(), 254);
  EXPECT_TRUE(at(field("partner", "email"), "required").IsTrue());
  EXPECT_EQ(string_of(at(field("partner", "website"), "help")), "Home page, \"https\" preferred");
  EXPECT_EQ(string_of(at(field("partner", "sale_count"), "type")), "integer");
  EXPECT_TRUE(at(field("partner", "sale_count"), "computed").IsTrue());
}

TEST_F(MetaTest, DefaultsAreValuesOfTheFieldType) {
  auto def = [&](const char* entity, const char* f) -> const rapidjson::Value& {
    return at(field(entity, f), "default");
  };
  EXPECT_EQ(string_of(def("sale_order", "state")), "draft");
  ASSERT_TRUE(def("sale_order", "qty").IsInt());
  EXPECT_EQ(def("sale_order", "qty").GetInt(), -5);
  ASSERT_TRUE(def("sale_order", "big").IsInt64());
  EXPECT_EQ(def("sale_order", "big").GetInt64(), 9000000000LL);
  EXPECT_EQ(string_of(def("sale_order", "discount")), "0.50");  // decimals stay strings
  ASSERT_TRUE(def("sale_order", "ratio").IsDouble());
  EXPECT_DOUBLE_EQ(def("sale_order", "ratio").GetDouble(), 1500.0);
  EXPECT_TRUE(def("sale_order", "paid").IsFalse());
  EXPECT_TRUE(def("partner", "is_company").IsFalse());
  EXPECT_EQ(string_of(def("sale_order", "date")), "today");
  EXPECT_EQ(string_of(def("sale_order", "sent_at")), "now");
  const auto& payload = def("sale_order", "payload");
  ASSERT_TRUE(payload.IsObject());
  EXPECT_EQ(at(payload, "a").Size(), 2u);
  EXPECT_TRUE(def("sale_order", "ref").IsNull());
}

TEST(MetaDefault, EveryTypeAndOddText) {
  schema::Field f;
  EXPECT_EQ(default_json(f), "null");
  EXPECT_FALSE(is_dynamic_default(f));
  auto with = [&](schema::FieldType type, const char* text) {
    f.type = type;
    f.default_value = text;
    return default_json(f);
  };
  using T = schema::FieldType;
  EXPECT_EQ(with(T::kInteger, "+7"), "7");
  EXPECT_EQ(with(T::kBigint, "-9000000000"), "-9000000000");
  EXPECT_EQ(with(T::kMany2one, "12"), "12");
  EXPECT_EQ(with(T::kInteger, "x"), "\"x\"");  // never produced by the Registry: kept as text
  EXPECT_EQ(with(T::kFloat, ".5"), "0.5");
  EXPECT_EQ(with(T::kBoolean, "TRUE"), "true");
  EXPECT_EQ(with(T::kBoolean, "False"), "false");
  EXPECT_EQ(with(T::kDecimal, "12.50"), "\"12.50\"");
  EXPECT_EQ(with(T::kJson, "[1, {\"a\": null}]"), "[1,{\"a\":null}]");
  EXPECT_EQ(with(T::kJson, "not json"), "\"not json\"");
  EXPECT_EQ(with(T::kString, "say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
  EXPECT_EQ(with(T::kDate, "today"), "\"today\"");
  EXPECT_TRUE(is_dynamic_default(f));
  with(T::kDatetime, "now");
  EXPECT_TRUE(is_dynamic_default(f));
  with(T::kDate, "2024-01-01");
  EXPECT_FALSE(is_dynamic_default(f));
  with(T::kString, "today");
  EXPECT_FALSE(is_dynamic_default(f));
}

TEST_F(MetaTest, OneEntityIsTheSameObjectAsInTheList) {
  for (const auto& e : registry_->entities()) {
    auto one = meta_entity(*registry_, security::Policy(), security::Context::system(), e.name);
    ASSERT_TRUE(one.has_value()) << e.name;
    rapidjson::Document doc;
    parse(doc, *one);
    EXPECT_TRUE(doc == entity(e.name)) << e.name << ": " << *one;
  }
  EXPECT_FALSE(
      meta_entity(*registry_, security::Policy(), security::Context::system(), "nope").has_value());
  EXPECT_FALSE(
      meta_entity(*registry_, security::Policy(), security::Context::system(), "").has_value());
  EXPECT_FALSE(
      meta_entity(*registry_, security::Policy(), security::Context::system(), "Sale_order")
          .has_value());
}

TEST(MetaEmpty, NoEntities) {
  keel::testing::AddonTree tree;
  write_module(tree, "empty", {}, "entities: {}\n");
  auto registry = build_registry(tree);
  ASSERT_NE(registry, nullptr);
  EXPECT_EQ(meta_entities(*registry, security::Policy(), security::Context::system()),
            R"({"data":[]})");
}

}  // namespace
}  // namespace keel::http
