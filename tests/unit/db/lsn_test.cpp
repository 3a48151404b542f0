#include <gtest/gtest.h>

#include "db/replicas.hpp"

namespace keel::db {
namespace {

TEST(Lsn, ParsesAndFormatsPostgresText) {
  EXPECT_EQ(parse_lsn("0/0"), Lsn{0});
  EXPECT_EQ(parse_lsn("16/B374D848"), (Lsn{0x16} << 32) | 0xB374D848);
  EXPECT_EQ(parse_lsn("16/b374d848"), (Lsn{0x16} << 32) | 0xB374D848);
  EXPECT_EQ(parse_lsn("FFFFFFFF/FFFFFFFF"), ~Lsn{0});
  EXPECT_EQ(format_lsn((Lsn{0x16} << 32) | 0xB374D848), "16/B374D848");
  EXPECT_EQ(format_lsn(0), "0/0");
  EXPECT_EQ(format_lsn(*parse_lsn("0/3000148")), "0/3000148");
  // Compared as numbers, not text.
  EXPECT_LT(*parse_lsn("0/FFFFFFFF"), *parse_lsn("1/0"));
}

TEST(Lsn, RefusesAnythingElse) {
  for (const char* bad : {"", "/", "0/", "/0", "12", "0/1/2", "x/1", "1/x", "100000000/0",
                          "0/100000000", " 0/1", "0/1 ", "-1/0", "+1/0"})
    EXPECT_FALSE(parse_lsn(bad)) << bad;
}

}  // namespace
}  // namespace keel::db
