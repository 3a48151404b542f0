#include "native/env.hpp"

#include <gtest/gtest.h>

namespace keel::native {
namespace {

// A decimal a client sends as a JSON number reaches module code with every digit: the member's
// source text, never a double (a double keeps about 16 digits: 12345678901234567.89 would read
// as 12345678901234568).
TEST(ParseRecord, NumbersWithAFractionKeepTheirSourceText) {
  auto r = parse_record(R"({"amount": 12345678901234567.89, "qty":3, "price" : 0.10 ,"n":null})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get("amount").as_decimal().to_string(), "12345678901234567.89");
  EXPECT_EQ(r->get("price").as_decimal().to_string(), "0.10");
  EXPECT_TRUE(r->get("qty").is_int());
  EXPECT_EQ(r->get("qty").as_decimal().to_string(), "3");
  EXPECT_TRUE(r->get("n").is_null());
  EXPECT_DOUBLE_EQ(r->get("price").as_number(), 0.1);  // a float field still reads a number
}

TEST(ParseRecord, DecimalStringsStayStrings) {
  auto r = parse_record(R"({"amount":"99999999999999999999.99"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get("amount").as_decimal().to_string(), "99999999999999999999.99");
}

TEST(ParseRecord, NotAnObject) {
  EXPECT_FALSE(parse_record("[1.5]"));
  EXPECT_FALSE(parse_record("{"));
}

}  // namespace
}  // namespace keel::native
