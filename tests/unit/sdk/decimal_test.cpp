#include "keel/decimal.hpp"

#include <gtest/gtest.h>

#include <string>

#include "keel/value.hpp"

namespace keel::sdk {
namespace {

Decimal D(const char* s) {
  return Decimal::parse(s);
}

TEST(Decimal, ParsesAndFormatsExactly) {
  EXPECT_EQ(D("12.50").to_string(), "12.50");
  EXPECT_EQ(D("12.50").scale(), 2);
  EXPECT_EQ(D("-0.005").to_string(), "-0.005");
  EXPECT_EQ(D("+3").to_string(), "3");
  EXPECT_EQ(D(".5").to_string(), "0.5");
  EXPECT_EQ(D("7.").to_string(), "7");
  EXPECT_EQ(D("-0").to_string(), "0");
  EXPECT_EQ(D("0.000").to_string(), "0.000");
  // 38 significant digits are kept, every one of them.
  const char* big = "1234567890123456789012345678.9012345678";
  EXPECT_EQ(D(big).to_string(), big);
  EXPECT_EQ(D("-99999999999999999999999999999999999999").to_string(),
            "-99999999999999999999999999999999999999");
  EXPECT_EQ(Decimal::from_mantissa(1999, 2).to_string(), "19.99");
  EXPECT_EQ(Decimal(-42).to_string(), "-42");
}

TEST(Decimal, RefusesWhatIsNotADecimal) {
  for (const char* bad : {"", "-", ".", "1.2.3", "abc", "1e5", " 1", "1 ", "0x10", "1,5"})
    EXPECT_THROW(D(bad), DecimalError) << bad;
  EXPECT_THROW(D("123456789012345678901234567890123456789"), DecimalOverflow);
  Decimal d;
  EXPECT_FALSE(Decimal::try_parse("12a", d));
}

TEST(Decimal, AddsSubtractsAndMultipliesExactly) {
  EXPECT_EQ((D("0.1") + D("0.2")).to_string(), "0.3");  // 0.30000000000000004 in a double
  EXPECT_EQ((D("1.005") - D("2")).to_string(), "-0.995");
  EXPECT_EQ((D("19.99") * D("3.500")).to_string(), "69.96500");
  EXPECT_EQ((D("-1.5") * D("-1.5")).to_string(), "2.25");
  Decimal sum;
  for (int i = 0; i < 10; ++i)
    sum += D("0.10");
  EXPECT_EQ(sum, Decimal(1));
  EXPECT_EQ(sum.to_string(), "1.00");
}

TEST(Decimal, OverflowThrowsInsteadOfWrapping) {
  Decimal max = D("99999999999999999999999999999999999999");
  EXPECT_THROW(max + Decimal(1), DecimalOverflow);
  EXPECT_THROW(-max - Decimal(1), DecimalOverflow);
  EXPECT_THROW(max * Decimal(2), DecimalOverflow);
  EXPECT_THROW(D("10000000000000000000") * D("10000000000000000000"), DecimalOverflow);
  EXPECT_THROW(D("1").round(39), DecimalOverflow);
  EXPECT_THROW(D("1.5").round(-1), DecimalOverflow);
  EXPECT_THROW(max.round(1), DecimalOverflow);  // 39 digits
  EXPECT_THROW(D("1").divide(Decimal(0), 2), DecimalError);
}

TEST(Decimal, RoundsHalfUpHalfEvenAndDown) {
  EXPECT_EQ(D("2.345").round(2).to_string(), "2.35");
  EXPECT_EQ(D("-2.345").round(2).to_string(), "-2.35");
  EXPECT_EQ(D("2.345").round(2, Rounding::kHalfEven).to_string(), "2.34");
  EXPECT_EQ(D("2.355").round(2, Rounding::kHalfEven).to_string(), "2.36");
  EXPECT_EQ(D("-2.345").round(2, Rounding::kHalfEven).to_string(), "-2.34");
  EXPECT_EQ(D("2.3451").round(2, Rounding::kHalfEven).to_string(), "2.35");
  EXPECT_EQ(D("2.349").round(2, Rounding::kDown).to_string(), "2.34");
  EXPECT_EQ(D("-2.349").round(2, Rounding::kDown).to_string(), "-2.34");
  EXPECT_EQ(D("0.5").round(0).to_string(), "1");
  EXPECT_EQ(D("0.5").round(0, Rounding::kHalfEven).to_string(), "0");
  EXPECT_EQ(D("2.5").round(4).to_string(), "2.5000");
  EXPECT_EQ(D("12.500").normalized().to_string(), "12.5");
}

TEST(Decimal, DividesAtAnExplicitScale) {
  EXPECT_EQ(D("10").divide(Decimal(3), 2).to_string(), "3.33");
  EXPECT_EQ(D("20").divide(Decimal(3), 2).to_string(), "6.67");
  EXPECT_EQ(D("-20").divide(Decimal(3), 2).to_string(), "-6.67");
  EXPECT_EQ(D("1").divide(Decimal(8), 2).to_string(), "0.13");
  EXPECT_EQ(D("1").divide(Decimal(8), 2, Rounding::kHalfEven).to_string(), "0.12");
  EXPECT_EQ(D("1").divide(Decimal(8), 2, Rounding::kDown).to_string(), "0.12");
  EXPECT_EQ(D("1.000").divide(D("0.25"), 0).to_string(), "4");
  EXPECT_EQ(D("7.5").divide(D("-2.5"), 3).to_string(), "-3.000");
}

TEST(Decimal, ComparesByValue) {
  EXPECT_EQ(D("1.0"), D("1.00"));
  EXPECT_LT(D("1.09"), D("1.1"));
  EXPECT_LT(D("-1.1"), D("-1.09"));
  EXPECT_GT(D("0.001"), D("0"));
  EXPECT_LT(D("-0.001"), D("0"));
  EXPECT_GT(D("99999999999999999999999999999999999999"),
            D("0.99999999999999999999999999999999999999"));
  EXPECT_LT(D("2"), D("10.5"));
  EXPECT_TRUE(D("10") >= 10);
}

TEST(Decimal, ValueCarriesDecimals) {
  Value v(D("12.50"));
  EXPECT_TRUE(v.is_decimal());
  EXPECT_EQ(to_json(v), "\"12.50\"");
  EXPECT_EQ(v.as_decimal(), D("12.5"));
  // Decimal fields arrive as the API answers them: exact strings.
  EXPECT_EQ(Value("0.1").as_decimal() + Value("0.2").as_decimal(), D("0.3"));
  EXPECT_EQ(Value(7).as_decimal(), Decimal(7));
  EXPECT_EQ(Value().as_decimal(D("1.5")), D("1.5"));
  EXPECT_THROW(Value(0.5).as_decimal(), DecimalError);
  EXPECT_THROW(Value("x").as_decimal(), DecimalError);
  EXPECT_THROW(v.as_number(), std::invalid_argument);
}

}  // namespace
}  // namespace keel::sdk
