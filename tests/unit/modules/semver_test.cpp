#include "modules/semver.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

namespace keel::modules {

// Readable failure messages (found by argument-dependent lookup).
static void PrintTo(const Version& version, std::ostream* os) {
  *os << version.to_string();
}

namespace {

Version v(std::string_view text) {
  std::string error;
  auto parsed = Version::parse(text, &error);
  EXPECT_TRUE(parsed.has_value()) << text << ": " << error;
  return parsed.value_or(Version{});
}

VersionConstraint c(std::string_view text) {
  std::string error;
  auto parsed = VersionConstraint::parse(text, &error);
  EXPECT_TRUE(parsed.has_value()) << text << ": " << error;
  return parsed.value_or(VersionConstraint{});
}

// The error text of a constraint that must not parse.
std::string constraint_error(std::string_view text) {
  std::string error;
  auto parsed = VersionConstraint::parse(text, &error);
  EXPECT_FALSE(parsed.has_value()) << "\"" << text << "\" parsed but should not";
  EXPECT_FALSE(error.empty()) << text;
  return error;
}

// Checks `constraint` admits every version of `yes` and none of `no`.
void expect_matches(std::string_view constraint, const std::vector<std::string_view>& yes,
                    const std::vector<std::string_view>& no) {
  VersionConstraint parsed = c(constraint);
  for (auto text : yes)
    EXPECT_TRUE(parsed.matches(v(text))) << "\"" << constraint << "\" should admit " << text;
  for (auto text : no)
    EXPECT_FALSE(parsed.matches(v(text))) << "\"" << constraint << "\" should reject " << text;
}

// ---- Version parsing --------------------------------------------------------------------------

TEST(VersionParse, FullVersionWithPrereleaseAndBuild) {
  Version x = v("1.2.3-alpha.1+build.5");
  EXPECT_EQ(x.major(), 1u);
  EXPECT_EQ(x.minor(), 2u);
  EXPECT_EQ(x.patch(), 3u);
  EXPECT_EQ(x.prerelease(), (std::vector<std::string>{"alpha", "1"}));
  EXPECT_EQ(x.build(), "build.5");
  EXPECT_TRUE(x.is_prerelease());
  EXPECT_EQ(x.to_string(), "1.2.3-alpha.1+build.5");
}

TEST(VersionParse, PlainVersion) {
  Version x = v("10.20.30");
  EXPECT_EQ(x.major(), 10u);
  EXPECT_EQ(x.minor(), 20u);
  EXPECT_EQ(x.patch(), 30u);
  EXPECT_FALSE(x.is_prerelease());
  EXPECT_TRUE(x.build().empty());
  EXPECT_EQ(x.to_string(), "10.20.30");
  EXPECT_EQ(v("0.0.0").to_string(), "0.0.0");
}

TEST(VersionParse, ValidExamplesFromSemverOrg) {
  for (std::string_view text : {"0.0.4",
                                "1.2.3",
                                "10.20.30",
                                "1.1.2-prerelease+meta",
                                "1.1.2+meta",
                                "1.1.2+meta-valid",
                                "1.0.0-alpha",
                                "1.0.0-beta",
                                "1.0.0-alpha.beta",
                                "1.0.0-alpha.beta.1",
                                "1.0.0-alpha.1",
                                "1.0.0-alpha0.valid",
                                "1.0.0-alpha.0valid",
                                "1.0.0-rc.1+build.1",
                                "2.0.0-rc.1+build.123",
                                "1.2.3-beta",
                                "10.2.3-DEV-SNAPSHOT",
                                "1.2.3-SNAPSHOT-123",
                                "2.0.0+build.1848",
                                "2.0.1-alpha.1227",
                                "1.0.0-alpha+beta",
                                "1.2.3----RC-SNAPSHOT.12.9.1--.12+788",
                                "1.2.3----R-S.12.9.1--.12+meta",
                                "1.0.0+0.build.1-rc.10000aaa-kk-0.1",
                                "1.0.0-0A.is.legal",
                                "1.0.0+01",
                                "18446744073709551615.0.0"}) {
    std::string error;
    auto parsed = Version::parse(text, &error);
    ASSERT_TRUE(parsed.has_value()) << text << ": " << error;
    EXPECT_EQ(parsed->to_string(), text);
  }
}

TEST(VersionParse, HyphensInsidePrereleaseAndBuild) {
  Version x = v("1.0.0-x-y.z-1+b-1.c");
  EXPECT_EQ(x.prerelease(), (std::vector<std::string>{"x-y", "z-1"}));
  EXPECT_EQ(x.build(), "b-1.c");
}

TEST(VersionParse, RejectsLeadingZeros) {
  for (std::string_view text : {"01.0.0", "1.01.0", "1.0.01", "00.0.0", "1.0.0-01", "1.0.0-a.00"}) {
    std::string error;
    EXPECT_FALSE(Version::parse(text, &error)) << text;
    EXPECT_FALSE(error.empty()) << text;
  }
}

TEST(VersionParse, RejectsMissingOrExtraParts) {
  for (std::string_view text :
       {"", "1", "1.2", "1.2.", ".1.2", "1..2", "1.2.3.4", "a.b.c", "1.2.x", "v1.2.3", " 1.2.3",
        "1.2.3 ", "-1.2.3", "+1.2.3", "1.2.-3", "18446744073709551616.0.0"}) {
    std::string error;
    EXPECT_FALSE(Version::parse(text, &error)) << "\"" << text << "\"";
    EXPECT_NE(error.find("is not a semantic version"), std::string::npos) << text << ": " << error;
  }
}

TEST(VersionParse, RejectsBadPrerelease) {
  for (std::string_view text : {"1.2.3-", "1.2.3-alpha.", "1.2.3-.alpha", "1.2.3-alpha..1",
                                "1.2.3-al_pha", "1.2.3-α", "1.2.3-alpha 1", "1.0.0-alpha.01"}) {
    std::string error;
    EXPECT_FALSE(Version::parse(text, &error)) << text;
    EXPECT_NE(error.find("pre-release"), std::string::npos) << text << ": " << error;
  }
}

TEST(VersionParse, RejectsBadBuild) {
  for (std::string_view text :
       {"1.2.3+", "1.2.3+a..b", "1.2.3+.a", "1.2.3+a.", "1.2.3+a+b", "1.2.3+a_b", "1.2.3-rc.1+"}) {
    std::string error;
    EXPECT_FALSE(Version::parse(text, &error)) << text;
    EXPECT_NE(error.find("build metadata"), std::string::npos) << text << ": " << error;
  }
}

TEST(VersionParse, ErrorIsOptional) {
  EXPECT_FALSE(Version::parse("nope"));
  EXPECT_TRUE(Version::parse("1.0.0"));
}

// ---- Version precedence -----------------------------------------------------------------------

TEST(VersionOrder, SemverOrgExampleChain) {
  const std::vector<std::string_view> chain = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                                               "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                                               "1.0.0-rc.1",  "1.0.0",         "1.0.1-0",
                                               "1.0.1",       "1.1.0",         "2.0.0-rc.1",
                                               "2.0.0",       "2.1.0",         "2.1.1",
                                               "10.0.0"};
  for (size_t i = 0; i < chain.size(); ++i) {
    for (size_t j = 0; j < chain.size(); ++j) {
      Version a = v(chain[i]), b = v(chain[j]);
      EXPECT_EQ(a < b, i < j) << chain[i] << " < " << chain[j];
      EXPECT_EQ(a == b, i == j) << chain[i] << " == " << chain[j];
      EXPECT_EQ(a > b, i > j) << chain[i] << " > " << chain[j];
    }
  }
}

TEST(VersionOrder, NumericComponentsCompareNumerically) {
  EXPECT_LT(v("1.9.0"), v("1.10.0"));
  EXPECT_LT(v("1.0.9"), v("1.0.10"));
  EXPECT_LT(v("9.0.0"), v("10.0.0"));
  EXPECT_LT(v("1.0.0-rc.9"), v("1.0.0-rc.10"));
  EXPECT_LT(v("1.0.0-2"), v("1.0.0-10"));
}

TEST(VersionOrder, NumericIdentifiersBelowAlphanumeric) {
  EXPECT_LT(v("1.0.0-999"), v("1.0.0-a"));
  EXPECT_LT(v("1.0.0-alpha.99"), v("1.0.0-alpha.a"));
  EXPECT_GT(v("1.0.0-alpha.a"), v("1.0.0-alpha.1"));
}

TEST(VersionOrder, AlphanumericIdentifiersCompareInAscii) {
  EXPECT_LT(v("1.0.0-Beta"), v("1.0.0-alpha"));  // 'B' < 'a' in ASCII
  EXPECT_LT(v("1.0.0-alpha"), v("1.0.0-alphb"));
  EXPECT_GT(v("1.0.0-a-b"), v("1.0.0-a.b"));  // identifiers "a-b" > "a"
  EXPECT_LT(v("1.0.0-rc1"), v("1.0.0-rc2"));
}

TEST(VersionOrder, LongerPrereleaseRanksHigher) {
  EXPECT_LT(v("1.0.0-alpha"), v("1.0.0-alpha.0"));
  EXPECT_LT(v("1.0.0-a.b"), v("1.0.0-a.b.c"));
}

TEST(VersionOrder, PrereleaseBelowRelease) {
  EXPECT_LT(v("1.0.0-rc.1"), v("1.0.0"));
  EXPECT_GT(v("1.0.0"), v("1.0.0-zzz.999"));
  EXPECT_GT(v("1.0.0-alpha"), v("0.9.9"));
}

TEST(VersionOrder, BuildMetadataIgnored) {
  EXPECT_EQ(v("1.0.0+a"), v("1.0.0+b"));
  EXPECT_EQ(v("1.0.0+a"), v("1.0.0"));
  EXPECT_EQ(v("1.0.0-rc.1+x.1"), v("1.0.0-rc.1+y"));
  EXPECT_EQ(v("1.0.0+a") <=> v("1.0.0+b"), std::strong_ordering::equal);
  EXPECT_LT(v("1.0.0-rc.1+zzz"), v("1.0.0+aaa"));
}

TEST(VersionOrder, ConstructorAndEquality) {
  EXPECT_EQ(Version(1, 2, 3), v("1.2.3"));
  EXPECT_NE(Version(1, 2, 3), v("1.2.3-rc.1"));
  EXPECT_EQ(Version().to_string(), "0.0.0");
}

// ---- Constraints ------------------------------------------------------------------------------

TEST(VersionConstraint, DefaultMatchesEverything) {
  VersionConstraint any;
  EXPECT_TRUE(any.is_any());
  EXPECT_EQ(any.text(), "*");
  EXPECT_TRUE(any.matches(v("0.0.0")));
  EXPECT_TRUE(any.matches(v("99.0.0-rc.1")));
}

TEST(VersionConstraint, TextIsTrimmed) {
  EXPECT_EQ(c("  >=1.0 <2\t").text(), ">=1.0 <2");
  EXPECT_FALSE(c(">=1.0").is_any());
}

TEST(VersionConstraint, Exact) {
  expect_matches("=1.2.3", {"1.2.3", "1.2.3+build"}, {"1.2.4", "1.2.2", "1.2.3-rc.1", "1.3.0"});
  expect_matches("1.2.3", {"1.2.3", "1.2.3+build"}, {"1.2.4", "1.2.2", "1.2.3-rc.1"});
  expect_matches("= 1.2.3", {"1.2.3"}, {"1.2.4"});
  expect_matches("1.2.3-rc.1", {"1.2.3-rc.1"}, {"1.2.3", "1.2.3-rc.2"});
}

TEST(VersionConstraint, PartialExactIsAFamily) {
  expect_matches("=1.2", {"1.2.0", "1.2.9"}, {"1.1.9", "1.3.0", "1.3.0-rc.1"});
  expect_matches("1", {"1.0.0", "1.9.9"}, {"0.9.9", "2.0.0", "2.0.0-alpha"});
}

TEST(VersionConstraint, GreaterOrEqual) {
  expect_matches(">=1.2.3", {"1.2.3", "1.2.4", "2.0.0", "1.2.3+b"}, {"1.2.2", "1.2.3-rc.1"});
  expect_matches(">=1.0", {"1.0.0", "5.0.0"}, {"0.9.9", "1.0.0-rc.1"});
  expect_matches(">= 1.0", {"1.0.0", "1.5.0"}, {"0.9.0"});
  expect_matches(">=1.0.0-beta", {"1.0.0-beta", "1.0.0-rc.1", "1.0.0"}, {"1.0.0-alpha"});
}

TEST(VersionConstraint, Greater) {
  expect_matches(">1.2.3", {"1.2.4", "1.3.0", "2.0.0"}, {"1.2.3", "1.2.3+b", "1.0.0"});
  // ">1.2" is above every 1.2.x.
  expect_matches(">1.2", {"1.3.0", "2.0.0"}, {"1.2.0", "1.2.99"});
  expect_matches(">1", {"2.0.0"}, {"1.99.99", "1.0.0"});
}

TEST(VersionConstraint, LessOrEqual) {
  expect_matches("<=1.2.3", {"1.2.3", "1.2.3-rc.1", "1.0.0"}, {"1.2.4", "2.0.0"});
  // "<=1.2" admits every 1.2.x.
  expect_matches("<=1.2", {"1.2.0", "1.2.99", "0.1.0"}, {"1.3.0", "1.3.0-alpha"});
  expect_matches("<= 1", {"1.99.0", "0.0.1"}, {"2.0.0", "2.0.0-rc.1"});
}

TEST(VersionConstraint, Less) {
  expect_matches("<1.2.3", {"1.2.2", "1.2.3-rc.1", "0.0.1"}, {"1.2.3", "1.2.4"});
  expect_matches("<2.0.0", {"1.99.99", "2.0.0-rc.1"}, {"2.0.0"});
  // `<` with a partial version excludes the bound's pre-releases too (npm, Cargo): "<2" is
  // "<2.0.0-0"; a full version after `<` is literal (docs/modules.md).
  expect_matches("<2", {"1.99.99", "1.0.0-rc.1"}, {"2.0.0-rc.1", "2.0.0", "3.0.0"});
  expect_matches("<1.3", {"1.2.99"}, {"1.3.0-alpha", "1.3.0"});
  expect_matches("<2.0.0-0", {"1.99.99"}, {"2.0.0-0", "2.0.0-rc.1", "2.0.0"});
}

TEST(VersionConstraint, RangesAreAnded) {
  expect_matches(">=1.0 <2", {"1.0.0", "1.5.0", "1.5.0-beta", "1.99.99"},
                 {"0.9.9", "1.0.0-rc.1", "2.0.0-rc.1", "2.0.0", "2.1.0"});
  expect_matches(">=1.0 <2.0.0-0", {"1.0.0", "1.99.99"}, {"2.0.0-rc.1", "2.0.0"});
  expect_matches(">= 1.0 < 2", {"1.0.0", "1.9.0"}, {"2.0.0", "0.1.0"});
  expect_matches(">1.0.0 <=1.5.0", {"1.0.1", "1.5.0"}, {"1.0.0", "1.5.1"});
  expect_matches(">=1.2.0\t<1.3.0", {"1.2.7"}, {"1.3.0"});
  // An empty intersection matches nothing.
  expect_matches(">=2 <1", {}, {"0.5.0", "1.5.0", "2.5.0"});
}

TEST(VersionConstraint, Caret) {
  expect_matches("^1.2.3", {"1.2.3", "1.2.4", "1.9.0", "1.99.99"},
                 {"1.2.2", "1.2.3-rc.1", "2.0.0", "2.0.0-rc.1", "2.0.0-0", "0.9.0"});
  expect_matches("^0.2.3", {"0.2.3", "0.2.9"}, {"0.2.2", "0.3.0", "0.3.0-rc.1", "1.0.0"});
  expect_matches("^0.0.3", {"0.0.3"}, {"0.0.2", "0.0.4", "0.0.4-rc.1", "0.1.0"});
  expect_matches("^0.0", {"0.0.0", "0.0.9"}, {"0.1.0", "0.1.0-alpha", "1.0.0"});
  expect_matches("^0", {"0.0.0", "0.9.9"}, {"1.0.0", "1.0.0-rc.1"});
  expect_matches("^1.2", {"1.2.0", "1.9.9"}, {"1.1.9", "2.0.0", "2.0.0-alpha"});
  expect_matches("^1.0", {"1.0.0", "1.5.0"}, {"2.0.0-rc.1", "2.0.0", "0.9.0"});
  expect_matches("^1", {"1.0.0", "1.9.0"}, {"2.0.0-beta", "0.9.0"});
  expect_matches("^ 1.2", {"1.2.0"}, {"2.0.0"});
  expect_matches("^1.2.3-beta.2", {"1.2.3-beta.2", "1.2.3-beta.3", "1.2.3", "1.9.0"},
                 {"1.2.3-beta.1", "2.0.0-0"});
}

TEST(VersionConstraint, Tilde) {
  expect_matches("~1.2.3", {"1.2.3", "1.2.9"}, {"1.2.2", "1.3.0", "1.3.0-rc.1", "2.0.0"});
  expect_matches("~1.2", {"1.2.0", "1.2.9"}, {"1.1.9", "1.3.0", "1.3.0-0"});
  expect_matches("~1", {"1.0.0", "1.9.9"}, {"0.9.9", "2.0.0", "2.0.0-rc.1"});
  expect_matches("~0.2.3", {"0.2.3", "0.2.4"}, {"0.3.0"});
  expect_matches("~ 1.2", {"1.2.5"}, {"1.3.0"});
}

TEST(VersionConstraint, Wildcards) {
  expect_matches("1.2.*", {"1.2.0", "1.2.99"}, {"1.1.9", "1.3.0", "1.3.0-rc.1", "2.0.0"});
  expect_matches("1.*", {"1.0.0", "1.99.0"}, {"0.9.0", "2.0.0", "2.0.0-rc.1"});
  expect_matches("1.x", {"1.4.0"}, {"2.0.0"});
  expect_matches("1.2.X", {"1.2.4"}, {"1.3.0"});
  expect_matches("1.*.*", {"1.4.0"}, {"2.0.0"});
  expect_matches("*", {"0.0.0", "1.0.0", "1.0.0-rc.1", "99.99.99"}, {});
  EXPECT_TRUE(c("*").is_any());
  EXPECT_TRUE(c("x").is_any());
}

TEST(VersionConstraint, OperatorsWithAWildcard) {
  // As documented in docs/modules.md: ">=*", "^*", "~*" are ">=0.0.0"; "<=*" is any version;
  // ">*" is ">0.0.0"; "<*" is "<0.0.0", which admits no release.
  for (std::string_view text : {">=*", "^*", "~*", ">=x"})
    expect_matches(text, {"0.0.0", "1.0.0", "5.0.0-rc.1"}, {"0.0.0-alpha"});
  expect_matches("<=*", {"0.0.0-alpha", "0.0.0", "9.0.0"}, {});
  expect_matches(">*", {"0.0.1", "0.1.0-rc.1"}, {"0.0.0", "0.0.0-rc.1"});
  expect_matches("<*", {"0.0.0-rc.1"}, {"0.0.0", "0.0.1", "1.0.0"});
}

TEST(VersionConstraint, Alternatives) {
  expect_matches("^1.2 || ^3.0", {"1.2.0", "1.9.0", "3.0.0", "3.4.0"},
                 {"1.1.0", "2.0.0", "2.5.0", "4.0.0"});
  expect_matches("1.0.0||2.0.0", {"1.0.0", "2.0.0"}, {"1.5.0"});
  expect_matches(">=1.0 <1.5 || >=2.0 <2.5", {"1.0.0", "1.4.9", "2.0.0", "2.4.9"},
                 {"1.5.0", "1.9.0", "2.5.0", "0.1.0"});
  expect_matches("<1 || >=3", {"0.5.0", "3.0.0"}, {"1.0.0", "2.9.9"});
}

TEST(VersionConstraint, WildcardAlternativeMatchesEverything) {
  EXPECT_TRUE(c("1.0.0 || *").is_any());
  EXPECT_TRUE(c("* || 1.0.0").is_any());
  EXPECT_TRUE(c("1.0.0 || *").matches(v("7.0.0")));
}

TEST(VersionConstraint, WildcardAlternativeStillValidatesTheOthers) {
  constraint_error("* || nonsense");
  constraint_error("* || >=1.0 ||");
  constraint_error("nonsense || *");
}

TEST(VersionConstraint, InvalidConstraintsExplainWhy) {
  EXPECT_EQ(constraint_error(""), "empty version constraint");
  EXPECT_EQ(constraint_error("   "), "empty version constraint");
  EXPECT_NE(constraint_error(">=").find("operator \">=\" without a version"), std::string::npos);
  EXPECT_NE(constraint_error(">=1.0 <").find("without a version"), std::string::npos);
  EXPECT_NE(constraint_error("=>1.0").find("unknown operator \"=>\""), std::string::npos);
  EXPECT_NE(constraint_error("~>1.2").find("unknown operator \"~>\""), std::string::npos);
  EXPECT_NE(constraint_error("==1.0").find("unknown operator"), std::string::npos);
  EXPECT_NE(constraint_error("1.2.3.4").find("more than three components"), std::string::npos);
  EXPECT_NE(constraint_error("abc").find("\"abc\" is not a version"), std::string::npos);
  EXPECT_NE(constraint_error(">=01.0").find("is not a version"), std::string::npos);
  EXPECT_NE(constraint_error("1..2").find("is not a version"), std::string::npos);
  EXPECT_NE(constraint_error("*.2").find("a number cannot follow a wildcard"), std::string::npos);
  EXPECT_NE(constraint_error("1.*.3").find("a number cannot follow a wildcard"), std::string::npos);
  EXPECT_NE(constraint_error("1.2-rc.1").find("needs a full MAJOR.MINOR.PATCH"), std::string::npos);
  EXPECT_NE(constraint_error("1.2.3-01").find("pre-release"), std::string::npos);
  EXPECT_NE(constraint_error("1.0 ||").find("empty alternative"), std::string::npos);
  EXPECT_NE(constraint_error("|| 1.0").find("empty alternative"), std::string::npos);
  EXPECT_NE(constraint_error("1.0 | 2.0").find("\"|\" is not a version"), std::string::npos);
  EXPECT_NE(constraint_error("1.0.0 - 2.0.0").find("is not a version"), std::string::npos);
  EXPECT_NE(constraint_error("v1.0").find("is not a version"), std::string::npos);
}

TEST(VersionConstraint, ErrorIsOptional) {
  EXPECT_FALSE(VersionConstraint::parse(">=nope"));
  EXPECT_TRUE(VersionConstraint::parse(">=1.0"));
}

}  // namespace
}  // namespace keel::modules
