#include "schema/field_traits.hpp"

#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include <map>
#include <string>
#include <vector>

#include "query/values.hpp"
#include "schema/diff.hpp"
#include "schema/entity.hpp"

namespace keel::schema {
namespace {

Field field_of(FieldType type) {
  Field f;
  f.name = "x";
  f.type = type;
  return f;
}

// The contract's types, in its order (contract §1 entities).
const std::vector<std::string> kContractTypes = {
    "string",  "text",   "integer",  "bigint",   "decimal",   "float",
    "boolean", "date",   "datetime", "json",     "selection", "email",
    "url",     "binary", "many2one", "one2many", "many2many"};

TEST(FieldTraits, EveryTypeHasItsEntryInEnumOrder) {
  auto all = all_field_traits();
  ASSERT_EQ(all.size(), kContractTypes.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(static_cast<std::size_t>(all[i].type), i);
    EXPECT_EQ(&traits(all[i].type), &all[i]);
    EXPECT_EQ(std::string(all[i].name), kContractTypes[i]);
    // Names parse back to their type, and print as written.
    EXPECT_EQ(parse_field_type(all[i].name), all[i].type);
    EXPECT_EQ(to_string(all[i].type), all[i].name);
  }
  std::vector<std::string> names(field_type_names().begin(), field_type_names().end());
  EXPECT_EQ(names, kContractTypes);
  EXPECT_FALSE(parse_field_type("varchar"));
}

TEST(FieldTraits, EmailIsAtMost254Characters) {
  EXPECT_EQ(traits(FieldType::kEmail).max_length, 254);
  Field email = field_of(FieldType::kEmail);
  EXPECT_EQ(max_length(email), 254);
  EXPECT_EQ(sql_type(email), "character varying(254)");
  // The write check takes 254 characters and refuses one more.
  auto accepted = [&](const std::string& text) {
    rapidjson::Document doc;
    doc.SetString(text.c_str(), static_cast<rapidjson::SizeType>(text.size()), doc.GetAllocator());
    std::string error;
    return query::to_sql_text(email, doc, query::ValueCheck::kFull, error).has_value();
  };
  const std::string domain = "@example.com";
  const std::string longest = std::string(254 - domain.size(), 'a') + domain;
  EXPECT_TRUE(accepted(longest));
  EXPECT_FALSE(accepted("a" + longest));
}

// What schema::sql_type answered before the table (its switch over the types, verbatim).
TEST(FieldTraits, SqlTypesAreThoseOfTheFormerSwitch) {
  const std::map<FieldType, std::string> before = {
      {FieldType::kString, "text"},
      {FieldType::kText, "text"},
      {FieldType::kInteger, "integer"},
      {FieldType::kBigint, "bigint"},
      {FieldType::kDecimal, "numeric"},
      {FieldType::kFloat, "double precision"},
      {FieldType::kBoolean, "boolean"},
      {FieldType::kDate, "date"},
      {FieldType::kDatetime, "timestamp with time zone"},
      {FieldType::kJson, "jsonb"},
      {FieldType::kSelection, "text"},
      {FieldType::kEmail, "character varying(254)"},
      {FieldType::kUrl, "text"},
      {FieldType::kBinary, "bytea"},
      {FieldType::kMany2one, "bigint"},
      {FieldType::kOne2many, ""},
      {FieldType::kMany2many, ""},
  };
  ASSERT_EQ(before.size(), all_field_traits().size());
  for (const auto& [type, sql] : before) {
    EXPECT_EQ(sql_type(field_of(type)), sql) << to_string(type);
    // A parameter is cast to the column's type, without length or precision (query::param_type
    // before the table: text for string and email, numeric for decimal, the column's otherwise).
    std::string cast = type == FieldType::kString || type == FieldType::kEmail ? "text"
                       : type == FieldType::kDecimal                           ? "numeric"
                                                                               : sql;
    EXPECT_EQ(query::param_type(field_of(type)), cast) << to_string(type);
    EXPECT_EQ(field_of(type).has_column(), !sql.empty()) << to_string(type);
  }
  Field sized = field_of(FieldType::kString);
  sized.max_length = 40;
  EXPECT_EQ(sql_type(sized), "character varying(40)");
  EXPECT_EQ(query::param_type(sized), "text");
  EXPECT_EQ(max_length(sized), 40);
  Field money = field_of(FieldType::kDecimal);
  money.precision = 12;
  money.scale = 2;
  EXPECT_EQ(sql_type(money), "numeric(12,2)");
  EXPECT_EQ(query::param_type(money), "numeric");
  EXPECT_FALSE(max_length(field_of(FieldType::kText)));
}

TEST(FieldTraits, JsonShapesAndFlags) {
  EXPECT_EQ(traits(FieldType::kInteger).json, JsonShape::kInteger);
  EXPECT_EQ(traits(FieldType::kMany2one).json, JsonShape::kInteger);
  EXPECT_EQ(traits(FieldType::kFloat).json, JsonShape::kNumber);
  // Decimals are exact: strings in JSON, never numbers (contract §4 rule 9).
  EXPECT_EQ(traits(FieldType::kDecimal).json, JsonShape::kString);
  EXPECT_EQ(traits(FieldType::kJson).json, JsonShape::kAny);
  EXPECT_EQ(traits(FieldType::kDatetime).json, JsonShape::kDatetime);
  EXPECT_EQ(traits(FieldType::kMany2many).json, JsonShape::kIdList);
  for (const auto& t : all_field_traits()) {
    // Text types are those like/ilike apply to; a filterable type has a column.
    EXPECT_EQ(t.textual, t.filter == FilterOperators::kText) << t.name;
    EXPECT_EQ(t.column, t.filter != FilterOperators::kNone) << t.name;
    EXPECT_EQ(query::is_textual(field_of(t.type)), t.textual) << t.name;
    // A column the default views show is a column.
    if (t.list_column || t.search_field) {
      EXPECT_TRUE(t.column) << t.name;
    }
  }
  EXPECT_EQ(traits(FieldType::kBinary).filter, FilterOperators::kNullOnly);
  EXPECT_EQ(traits(FieldType::kJson).filter, FilterOperators::kEquality);
}

}  // namespace
}  // namespace keel::schema
