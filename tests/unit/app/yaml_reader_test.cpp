#include "app/yaml_reader.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "app/error.hpp"

namespace keel {
namespace {

const std::filesystem::path kFile = "addons/x/entities/order.yaml";

// A reader over one YAML text; the text must parse.
class YamlReaderTest : public ::testing::Test {
 protected:
  YAML::Node load(std::string_view text) {
    auto node = reader_.parse(text);
    EXPECT_TRUE(node.has_value()) << dump();
    return node.value_or(YAML::Node());
  }

  std::string dump() const {
    std::string out;
    for (const auto& d : diagnostics_.items())
      out += d.to_string() + "\n";
    return out;
  }

  // The only diagnostic so far, which must be an error.
  Diagnostic only_error() const {
    auto errors = diagnostics_.errors();
    EXPECT_EQ(errors.size(), 1u) << dump();
    EXPECT_EQ(diagnostics_.items().size(), errors.size()) << dump();
    return errors.empty() ? Diagnostic{} : errors.front();
  }

  static std::string where(const SourceLocation& location) {
    return std::to_string(location.line) + ":" + std::to_string(location.column);
  }

  Diagnostics diagnostics_;
  YamlReader reader_{kFile, diagnostics_};
};

// ---- parse, at, error ---------------------------------------------------------------------------

TEST_F(YamlReaderTest, ParseGivesTheDocument) {
  YAML::Node doc = load("a: 1\nb: [x, y]\n");
  ASSERT_TRUE(doc.IsMap());
  EXPECT_EQ(doc["a"].Scalar(), "1");
  EXPECT_EQ(reader_.file(), kFile);
  EXPECT_TRUE(diagnostics_.empty());
}

TEST_F(YamlReaderTest, ParseErrorIsADiagnosticWithOneBasedPlace) {
  EXPECT_FALSE(reader_.parse("a: 1\nb: [x, y\n"));
  Diagnostic d = only_error();
  EXPECT_EQ(d.location.file, kFile);
  EXPECT_EQ(where(d.location), "3:1");
  EXPECT_EQ(d.message, "invalid YAML: end of sequence flow not found");
  EXPECT_EQ(d.hint, "check indentation, colons and quotes around this place");
}

TEST_F(YamlReaderTest, ParseErrorInTheFirstLine) {
  EXPECT_FALSE(reader_.parse("a: *nowhere\n"));
  EXPECT_EQ(where(only_error().location), "1:4");
}

TEST_F(YamlReaderTest, AtIsOneBased) {
  YAML::Node doc = load("top:\n  inner: [one, two]\n");
  EXPECT_EQ(where(reader_.at(doc)), "1:1");
  EXPECT_EQ(where(reader_.at(doc["top"])), "2:3");
  EXPECT_EQ(where(reader_.at(doc["top"]["inner"])), "2:10");
  EXPECT_EQ(where(reader_.at(doc["top"]["inner"][1])), "2:16");
  EXPECT_EQ(reader_.at(doc).file, kFile);
}

TEST_F(YamlReaderTest, AtOfNodesWithoutPlaceIsUnknown) {
  EXPECT_EQ(where(reader_.at(YAML::Node())), "0:0");
  const YAML::Node doc = load("a: 1\n");
  EXPECT_EQ(where(reader_.at(doc["missing"])), "0:0");  // must not throw
  EXPECT_EQ(reader_.at(doc["missing"]).to_string(), kFile.string());
}

TEST_F(YamlReaderTest, ErrorRecordsPlaceMessageAndHint) {
  YAML::Node doc = load("a: 1\nb: 2\n");
  reader_.error(doc["b"], "b is wrong", "use c");
  Diagnostic d = only_error();
  EXPECT_EQ(where(d.location), "2:4");
  EXPECT_EQ(d.message, "b is wrong");
  EXPECT_EQ(d.hint, "use c");
  EXPECT_EQ(d.to_string(), "addons/x/entities/order.yaml:2:4: error: b is wrong\n  hint: use c");
  EXPECT_EQ(&reader_.diagnostics(), &diagnostics_);
}

// ---- check_map ----------------------------------------------------------------------------------

const std::vector<std::string_view> kFieldKeys = {"type", "required", "target", "max_length"};

TEST_F(YamlReaderTest, CheckMapAcceptsAllowedKeys) {
  EXPECT_TRUE(reader_.check_map(load("type: string\nrequired: true\n"), kFieldKeys, "field"));
  EXPECT_TRUE(diagnostics_.empty()) << dump();
}

TEST_F(YamlReaderTest, CheckMapRejectsNonMaps) {
  EXPECT_FALSE(reader_.check_map(load("x: [a, b]\n")["x"], kFieldKeys, "field"));
  Diagnostic d = only_error();
  EXPECT_EQ(where(d.location), "1:4");
  EXPECT_EQ(d.message, "field must be a map, got a list");
}

TEST_F(YamlReaderTest, CheckMapRejectsScalarsAndNothing) {
  EXPECT_FALSE(reader_.check_map(load("string\n"), kFieldKeys, "field"));
  EXPECT_FALSE(reader_.check_map(load("x:\n")["x"], kFieldKeys, "field"));
  auto errors = diagnostics_.errors();
  ASSERT_EQ(errors.size(), 2u) << dump();
  EXPECT_EQ(errors[0].message, "field must be a map, got a scalar");
  EXPECT_EQ(errors[1].message, "field must be a map, got nothing");
}

TEST_F(YamlReaderTest, CheckMapReportsUnknownKeysWithSuggestion) {
  EXPECT_TRUE(reader_.check_map(load("type: string\nrequird: true\n"), kFieldKeys, "field"));
  Diagnostic d = only_error();
  EXPECT_EQ(where(d.location), "2:1");
  EXPECT_EQ(d.message, "unknown key \"requird\" in field");
  EXPECT_EQ(d.hint, "did you mean \"required\"?");
}

TEST_F(YamlReaderTest, CheckMapListsAllowedKeysWhenNothingIsClose) {
  EXPECT_TRUE(reader_.check_map(load("colour: red\n"), kFieldKeys, "field"));
  Diagnostic d = only_error();
  EXPECT_EQ(d.hint, "allowed keys: type required target max_length");
}

TEST_F(YamlReaderTest, CheckMapReportsDuplicates) {
  EXPECT_TRUE(reader_.check_map(load("type: a\nrequired: true\ntype: b\n"), kFieldKeys, "field"));
  Diagnostic d = only_error();
  EXPECT_EQ(where(d.location), "3:1");
  EXPECT_EQ(d.message, "duplicate key \"type\" in field");
  EXPECT_EQ(d.hint, "keep one \"type\"; YAML would silently use only one of them");
}

TEST_F(YamlReaderTest, CheckMapReportsEveryProblem) {
  EXPECT_TRUE(reader_.check_map(load("{type: a, x: 1, type: b, y: 2, [k]: v}"), kFieldKeys, "f"));
  std::vector<std::string> got;
  for (const auto& d : diagnostics_.errors())
    got.push_back(where(d.location) + " " + d.message);
  EXPECT_EQ(got, (std::vector<std::string>{
                     "1:11 unknown key \"x\" in f", "1:17 duplicate key \"type\" in f",
                     "1:26 unknown key \"y\" in f", "1:32 keys of f must be plain names"}));
}

// ---- string -------------------------------------------------------------------------------------

TEST_F(YamlReaderTest, StringGivesValueAndPlace) {
  YAML::Node doc = load("label: Sales order\ncount: 42\nquoted: 'yes'\n");
  auto label = reader_.string(doc, "label");
  ASSERT_TRUE(label);
  EXPECT_EQ(label->value, "Sales order");
  EXPECT_EQ(where(label->location), "1:8");
  EXPECT_EQ(reader_.string(doc, "count")->value, "42");  // scalars of any kind are text
  EXPECT_EQ(reader_.string(doc, "quoted")->value, "yes");
  EXPECT_TRUE(diagnostics_.empty()) << dump();
}

TEST_F(YamlReaderTest, StringMissingIsSilentUnlessRequired) {
  YAML::Node doc = load("\nlabel: x\nempty:\n");
  EXPECT_FALSE(reader_.string(doc, "nope"));
  EXPECT_FALSE(reader_.string(doc, "empty"));
  EXPECT_TRUE(diagnostics_.empty());
  EXPECT_FALSE(reader_.string(doc, "nope", true));
  Diagnostic d = only_error();
  EXPECT_EQ(where(d.location), "2:1");  // the map
  EXPECT_EQ(d.message, "missing required key \"nope\"");
  EXPECT_EQ(d.hint, "add `nope: ...`");
}

TEST_F(YamlReaderTest, StringOfWrongType) {
  YAML::Node doc = load("label: [a]\nother: {b: c}\n");
  EXPECT_FALSE(reader_.string(doc, "label"));
  EXPECT_FALSE(reader_.string(doc, "other", true));
  auto errors = diagnostics_.errors();
  ASSERT_EQ(errors.size(), 2u) << dump();
  EXPECT_EQ(where(errors[0].location), "1:8");
  EXPECT_EQ(errors[0].message, "\"label\" must be a string, got a list");
  EXPECT_EQ(where(errors[1].location), "2:8");
  EXPECT_EQ(errors[1].message, "\"other\" must be a string, got a map");
}

TEST_F(YamlReaderTest, AccessorsOnNonMapsDoNotThrow) {
  YAML::Node doc = load("scalar: text\nlist: [a]\n");
  EXPECT_FALSE(reader_.string(doc["scalar"], "key"));
  EXPECT_FALSE(reader_.boolean(doc["scalar"], "key"));
  EXPECT_FALSE(reader_.integer(doc["list"], "key"));
  EXPECT_FALSE(reader_.string_list(doc["scalar"], "key"));
  EXPECT_TRUE(diagnostics_.empty()) << dump();  // the caller's check_map reports the shape
  EXPECT_FALSE(reader_.string(doc["scalar"], "key", true));
  Diagnostic d = only_error();
  EXPECT_EQ(where(d.location), "1:9");
  EXPECT_EQ(d.message, "expected a map with \"key\", got a scalar");
}

// ---- boolean ------------------------------------------------------------------------------------

TEST_F(YamlReaderTest, BooleanAcceptsTrueAndFalse) {
  YAML::Node doc = load("a: true\nb: false\nc: True\nd: FALSE\ne:\n");
  EXPECT_EQ(reader_.boolean(doc, "a"), std::optional(true));
  EXPECT_EQ(reader_.boolean(doc, "b"), std::optional(false));
  EXPECT_EQ(reader_.boolean(doc, "c"), std::optional(true));
  EXPECT_EQ(reader_.boolean(doc, "d"), std::optional(false));
  EXPECT_EQ(reader_.boolean(doc, "e"), std::nullopt);
  EXPECT_EQ(reader_.boolean(doc, "missing"), std::nullopt);
  EXPECT_TRUE(diagnostics_.empty()) << dump();
}

TEST_F(YamlReaderTest, BooleanRejectsEverythingElse) {
  YAML::Node doc = load("a: \"true\"\nb: yes\nc: 1\nd: on\ne: [true]\n");
  for (const char* key : {"a", "b", "c", "d", "e"})
    EXPECT_EQ(reader_.boolean(doc, key), std::nullopt) << key;
  std::vector<std::string> got;
  for (const auto& d : diagnostics_.errors())
    got.push_back(where(d.location) + " " + d.message);
  EXPECT_EQ(got, (std::vector<std::string>{"1:4 \"a\" must be true or false, got \"true\"",
                                           "2:4 \"b\" must be true or false, got \"yes\"",
                                           "3:4 \"c\" must be true or false, got \"1\"",
                                           "4:4 \"d\" must be true or false, got \"on\"",
                                           "5:4 \"e\" must be true or false, got a list"}));
}

TEST_F(YamlReaderTest, AsBooleanAndIsString) {
  YAML::Node doc = load("a: true\nb: 'false'\nc: [x]\nd: text\n");
  EXPECT_EQ(reader_.as_boolean(doc["a"]), std::optional(true));
  EXPECT_EQ(reader_.as_boolean(doc["b"]), std::nullopt);
  EXPECT_EQ(reader_.as_boolean(doc["c"]), std::nullopt);
  EXPECT_EQ(reader_.as_boolean(doc["d"]), std::nullopt);
  EXPECT_TRUE(reader_.is_string(doc["d"]));
  EXPECT_TRUE(reader_.is_string(doc["b"]));
  EXPECT_FALSE(reader_.is_string(doc["c"]));
  const YAML::Node& const_doc = doc;
  EXPECT_FALSE(reader_.is_string(const_doc["missing"]));  // must not throw
  EXPECT_EQ(reader_.as_boolean(const_doc["missing"]), std::nullopt);
  EXPECT_TRUE(diagnostics_.empty());
}

// ---- integer ------------------------------------------------------------------------------------

TEST_F(YamlReaderTest, IntegerParsesWholeNumbers) {
  YAML::Node doc = load("a: 42\nb: -7\nc: 0\nd: 9223372036854775807\ne:\n");
  EXPECT_EQ(reader_.integer(doc, "a"), std::optional(42LL));
  EXPECT_EQ(reader_.integer(doc, "b"), std::optional(-7LL));
  EXPECT_EQ(reader_.integer(doc, "c"), std::optional(0LL));
  EXPECT_EQ(reader_.integer(doc, "d"), std::optional(9223372036854775807LL));
  EXPECT_EQ(reader_.integer(doc, "e"), std::nullopt);
  EXPECT_EQ(reader_.integer(doc, "missing"), std::nullopt);
  EXPECT_TRUE(diagnostics_.empty()) << dump();
}

TEST_F(YamlReaderTest, IntegerRejectsEverythingElse) {
  YAML::Node doc = load(
      "a: 1.5\nb: abc\nc: '42'\nd: 9223372036854775808\ne: 12abc\nf: {x: 1}\ng: ''\nh: 0x10\n");
  for (const char* key : {"a", "b", "c", "d", "e", "f", "g", "h"})
    EXPECT_EQ(reader_.integer(doc, key), std::nullopt) << key;
  std::vector<std::string> got;
  for (const auto& d : diagnostics_.errors())
    got.push_back(where(d.location) + " " + d.message);
  EXPECT_EQ(got, (std::vector<std::string>{
                     "1:4 \"a\" must be an integer, got \"1.5\"",
                     "2:4 \"b\" must be an integer, got \"abc\"",
                     "3:4 \"c\" must be an integer, got \"42\"",
                     "4:4 \"d\" must be an integer, got \"9223372036854775808\"",
                     "5:4 \"e\" must be an integer, got \"12abc\"",
                     "6:4 \"f\" must be an integer, got a map",
                     "7:4 \"g\" must be an integer, got \"\"",
                     "8:4 \"h\" must be an integer, got \"0x10\"",
                 }));
}

// ---- string_list --------------------------------------------------------------------------------

TEST_F(YamlReaderTest, StringListGivesValuesAndPlaces) {
  YAML::Node doc = load("files:\n  - a.yaml\n  - b.yaml\nflow: [x, 'y']\nnone: []\n");
  auto files = reader_.string_list(doc, "files");
  ASSERT_TRUE(files);
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].value, "a.yaml");
  EXPECT_EQ(where((*files)[0].location), "2:5");
  EXPECT_EQ((*files)[1].value, "b.yaml");
  EXPECT_EQ(where((*files)[1].location), "3:5");
  auto flow = reader_.string_list(doc, "flow");
  ASSERT_TRUE(flow);
  ASSERT_EQ(flow->size(), 2u);
  EXPECT_EQ((*flow)[1].value, "y");
  EXPECT_EQ(where((*flow)[1].location), "4:11");
  auto none = reader_.string_list(doc, "none");
  ASSERT_TRUE(none);  // an empty list is a list
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(reader_.string_list(doc, "missing"));
  EXPECT_TRUE(diagnostics_.empty()) << dump();
}

TEST_F(YamlReaderTest, StringListScalarOnlyWhenAllowed) {
  YAML::Node doc = load("one: a.yaml\n");
  auto list = reader_.string_list(doc, "one", /*allow_scalar=*/true);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].value, "a.yaml");
  EXPECT_EQ(where((*list)[0].location), "1:6");
  EXPECT_TRUE(diagnostics_.empty());

  EXPECT_FALSE(reader_.string_list(doc, "one"));
  Diagnostic d = only_error();
  EXPECT_EQ(where(d.location), "1:6");
  EXPECT_EQ(d.message, "\"one\" must be a list of strings, got a scalar");
}

TEST_F(YamlReaderTest, StringListOfWrongType) {
  YAML::Node doc = load("m: {a: b}\n");
  EXPECT_FALSE(reader_.string_list(doc, "m", true));
  Diagnostic d = only_error();
  EXPECT_EQ(where(d.location), "1:4");
  EXPECT_EQ(d.message, "\"m\" must be a list of strings, got a map");
}

TEST_F(YamlReaderTest, StringListReportsEveryBadItem) {
  YAML::Node doc = load("l: [ok, [x], {y: z}, fine]\n");
  EXPECT_FALSE(reader_.string_list(doc, "l"));
  std::vector<std::string> got;
  for (const auto& d : diagnostics_.errors())
    got.push_back(where(d.location) + " " + d.message);
  EXPECT_EQ(got, (std::vector<std::string>{"1:9 items of \"l\" must be strings, got a list",
                                           "1:14 items of \"l\" must be strings, got a map"}));
}

// ---- yaml_kind ----------------------------------------------------------------------------------

TEST_F(YamlReaderTest, YamlKind) {
  const YAML::Node doc = load("m: {a: b}\nl: [a]\ns: x\nn:\n");
  EXPECT_EQ(yaml_kind(doc["m"]), "a map");
  EXPECT_EQ(yaml_kind(doc["l"]), "a list");
  EXPECT_EQ(yaml_kind(doc["s"]), "a scalar");
  EXPECT_EQ(yaml_kind(doc["n"]), "nothing");
  EXPECT_EQ(yaml_kind(doc["missing"]), "nothing");  // must not throw
  EXPECT_EQ(yaml_kind(YAML::Node()), "nothing");
}

// ---- closest_match ------------------------------------------------------------------------------

const std::vector<std::string_view> kKeys = {"name",    "version", "summary", "description",
                                             "depends", "data",    "demo",    "auto_install"};

TEST(ClosestMatch, FindsTypos) {
  EXPECT_EQ(closest_match("nmae", kKeys), std::optional<std::string_view>("name"));
  EXPECT_EQ(closest_match("Name", kKeys), std::optional<std::string_view>("name"));
  EXPECT_EQ(closest_match("verison", kKeys), std::optional<std::string_view>("version"));
  EXPECT_EQ(closest_match("sumary", kKeys), std::optional<std::string_view>("summary"));
  EXPECT_EQ(closest_match("depend", kKeys), std::optional<std::string_view>("depends"));
  EXPECT_EQ(closest_match("dependss", kKeys), std::optional<std::string_view>("depends"));
  EXPECT_EQ(closest_match("autoinstall", kKeys), std::optional<std::string_view>("auto_install"));
  EXPECT_EQ(closest_match("name", kKeys), std::optional<std::string_view>("name"));
}

TEST(ClosestMatch, LongWordsTolerateMoreEdits) {
  // Three edits: too many for a short word, fine for a long one (a third of its length).
  EXPECT_EQ(closest_match("xescrzptiox", kKeys), std::optional<std::string_view>("description"));
  EXPECT_EQ(closest_match("descrptn", kKeys), std::nullopt);
  EXPECT_EQ(closest_match("vrsn", kKeys), std::nullopt);
}

TEST(ClosestMatch, PicksTheNearestAndTheFirstOnTies) {
  EXPECT_EQ(closest_match("dema", kKeys), std::optional<std::string_view>("demo"));
  EXPECT_EQ(closest_match("dat", kKeys), std::optional<std::string_view>("data"));
  EXPECT_EQ(closest_match("deta", kKeys), std::optional<std::string_view>("data"));
  const std::vector<std::string_view> tie = {"cat", "bat"};
  EXPECT_EQ(closest_match("rat", tie), std::optional<std::string_view>("cat"));
}

TEST(ClosestMatch, NothingWhenFarOrEmpty) {
  EXPECT_EQ(closest_match("frobnicate", kKeys), std::nullopt);
  EXPECT_EQ(closest_match("zzz", kKeys), std::nullopt);
  EXPECT_EQ(closest_match("name", {}), std::nullopt);
  // A word that shares nothing with a candidate is no typo of it, however short.
  EXPECT_EQ(closest_match("", {"id", "ab"}), std::nullopt);
  EXPECT_EQ(closest_match("x", {"id", "ab"}), std::nullopt);
  EXPECT_EQ(closest_match("id", {"xy"}), std::nullopt);
  EXPECT_EQ(closest_match("id", {"ids"}), std::optional<std::string_view>("ids"));
}

}  // namespace
}  // namespace keel
