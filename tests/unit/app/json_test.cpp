#include "app/json.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "app/error.hpp"
#include "http/message.hpp"

namespace keel::json {
namespace {

std::string nested(int levels) {
  return std::string(static_cast<size_t>(levels), '[') + "1" +
         std::string(static_cast<size_t>(levels), ']');
}

TEST(Json, NestingIsCountedWhileParsingWithoutRecursion) {
  rapidjson::Document doc;
  EXPECT_TRUE(try_parse(doc, nested(64), 64).ok);
  EXPECT_EQ(depth(doc), 64);
  auto r = try_parse(doc, nested(65), 64);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.too_deep);
  // Far deeper than any stack would take by recursion.
  r = try_parse(doc, nested(1000000), 64);
  EXPECT_TRUE(r.too_deep);
  EXPECT_TRUE(try_parse(doc, R"({"a": {"b": [{}]}})", 4).ok);
  EXPECT_EQ(depth(doc), 4);
  EXPECT_FALSE(try_parse(doc, R"({"a": {"b": [{}]}})", 3).ok);
  EXPECT_TRUE(try_parse(doc, "17", 1).ok);
  EXPECT_EQ(depth(doc), 0);
}

TEST(Json, ParseThrowsTheCallersCodeOrTheLimit) {
  rapidjson::Document doc;
  try {
    parse(doc, "{\"a\": ", "the body", "x.bad");
    FAIL() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(http::status_of(e), 400);
    EXPECT_EQ(e.code(), "x.bad");
    EXPECT_NE(std::string(e.what()).find("the body"), std::string::npos);
  }
  try {
    parse(doc, nested(100), "the body", "x.bad", 10);
    FAIL() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(http::status_of(e), 400);
    EXPECT_EQ(e.code(), "limits.json_depth");
    EXPECT_NE(std::string(e.what()).find("10 levels"), std::string::npos) << e.what();
    EXPECT_FALSE(e.hint().empty());
  }
  // Invalid UTF-8 is a syntax error.
  EXPECT_FALSE(try_parse(doc, "\"\xff\"", 4).ok);
}

TEST(Json, MembersKeepTheirSourceText) {
  rapidjson::Document doc;
  std::vector<std::string_view> members;
  const std::string text =
      R"( { "a" : 123456789012345678901234567890 , "b":{"c": [1, 2.50]},"d" :"x\"y", )"
      R"("e": true, "f": null, "g": -0.10e2 } )";
  ASSERT_TRUE(try_parse(doc, text, 8, &members).ok);
  ASSERT_EQ(members.size(), 6u);
  EXPECT_EQ(members[0], "123456789012345678901234567890");
  EXPECT_EQ(members[1], R"({"c": [1, 2.50]})");
  EXPECT_EQ(members[2], R"("x\"y")");
  EXPECT_EQ(members[3], "true");
  EXPECT_EQ(members[4], "null");
  EXPECT_EQ(members[5], "-0.10e2");
  // Not an object at the top: no members.
  ASSERT_TRUE(try_parse(doc, "[1, {\"a\": 2}]", 8, &members).ok);
  EXPECT_TRUE(members.empty());
}

}  // namespace
}  // namespace keel::json
