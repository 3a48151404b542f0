// keel::sdk::Decimal against PostgreSQL's numeric on random values: every operation's exact
// text must be the one PostgreSQL computes.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "db/connection.hpp"
#include "keel/decimal.hpp"
#include "support/pg.hpp"

namespace keel::sdk {
namespace {

// A random decimal of up to `max_digits` digits and a scale in [0, max_scale], either sign.
Decimal random_decimal(std::mt19937_64& rng, int max_digits, int max_scale) {
  std::uniform_int_distribution<int> digits_of(1, max_digits), scale_of(0, max_scale), digit(0, 9),
      sign(0, 1);
  int digits = digits_of(rng);
  Decimal::Mantissa m = 0;
  for (int i = 0; i < digits; ++i)
    m = m * 10 + digit(rng);
  return Decimal::from_mantissa(sign(rng) ? -m : m, scale_of(rng));
}

std::string array_literal(const std::vector<Decimal>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i)
    out += (i ? "," : "") + values[i].to_string();
  return out + "}";
}

TEST(DecimalVsNumeric, ArithmeticAndRoundingMatchPostgresqlOnRandomValues) {
  testing::TestDatabase database;
  auto conn = database.connect();
  std::mt19937_64 rng(20261205);
  constexpr int kCount = 3000;
  std::vector<Decimal> a, b;
  for (int i = 0; i < kCount; ++i) {
    a.push_back(random_decimal(rng, 18, 6));
    b.push_back(random_decimal(rng, 18, 6));
  }
  // (a is given 30 digits after the point: PostgreSQL divides to the larger scale of its operands
  // and 16 significant digits, fewer than 4 decimals of a large quotient.)
  // Halves are frequent at scale 3 rounded to 2: exercise the tie rules.
  std::vector<Decimal> c;
  for (int i = 0; i < kCount; ++i)
    c.push_back(
        Decimal::from_mantissa(random_decimal(rng, 6, 0).mantissa() / 10 * 10 + 5 * (i % 2), 3));
  auto r = conn.exec(
      "SELECT (a + b)::text, (a - b)::text, (a * b)::text, round(a * b, 2)::text, "
      "       CASE WHEN b = 0 THEN NULL ELSE round(a::numeric(70, 30) / b, 4)::text END, "
      "       round(c, 2)::text, trunc(c, 2)::text, "
      "       (CASE WHEN abs(c * 100 - trunc(c * 100)) = 0.5 AND mod(trunc(c * 100), 2) = 0 "
      "             THEN trunc(c, 2) ELSE round(c, 2) END)::text, "
      "       (a < b), (a = b) "
      "FROM unnest($1::numeric[], $2::numeric[], $3::numeric[]) WITH ORDINALITY AS t(a, b, c, i) "
      "ORDER BY i",
      db::Params().add(array_literal(a)).add(array_literal(b)).add(array_literal(c)));
  ASSERT_EQ(r.rows(), kCount);
  for (int i = 0; i < kCount; ++i) {
    SCOPED_TRACE(a[i].to_string() + " and " + b[i].to_string() + ", " + c[i].to_string());
    EXPECT_EQ((a[i] + b[i]).to_string(), r.get(i, 0));
    EXPECT_EQ((a[i] - b[i]).to_string(), r.get(i, 1));
    EXPECT_EQ((a[i] * b[i]).to_string(), r.get(i, 2));
    EXPECT_EQ((a[i] * b[i]).round(2).to_string(), r.get(i, 3));
    if (!b[i].is_zero()) {
      EXPECT_EQ(a[i].divide(b[i], 4).to_string(), r.get(i, 4));
    }
    EXPECT_EQ(c[i].round(2).to_string(), r.get(i, 5));
    EXPECT_EQ(c[i].round(2, Rounding::kDown).to_string(), r.get(i, 6));
    EXPECT_EQ(c[i].round(2, Rounding::kHalfEven).to_string(), r.get(i, 7));
    EXPECT_EQ(a[i] < b[i], r.get_bool(i, 8));
    EXPECT_EQ(a[i] == b[i], r.get_bool(i, 9));
  }
}

TEST(DecimalVsNumeric, TextRoundTripsThroughNumericColumns) {
  testing::TestDatabase database;
  auto conn = database.connect();
  conn.exec("CREATE TABLE m (v numeric(38, 10))");
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) {
    Decimal d = random_decimal(rng, 28, 10).round(10);
    auto r = conn.exec("INSERT INTO m VALUES ($1::numeric) RETURNING v::text",
                       db::Params().add(d.to_string()));
    EXPECT_EQ(Decimal::parse(r.get(0, 0)), d);
    EXPECT_EQ(r.get(0, 0), d.to_string());
  }
}

}  // namespace
}  // namespace keel::sdk
