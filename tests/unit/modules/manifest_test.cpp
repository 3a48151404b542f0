#include "modules/manifest.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace keel::modules {
namespace {

namespace fs = std::filesystem;

const fs::path kFile = "addons/sales/manifest.yaml";
// The smallest valid manifest; tests append to it, so their own lines start at line 3.
const std::string kHead = "name: sales\nversion: 1.0.0\n";

struct Parsed {
  std::optional<Manifest> manifest;
  Diagnostics diagnostics;
};

Parsed parse(std::string_view text, std::string_view folder = "sales") {
  Parsed out;
  out.manifest = parse_manifest(text, kFile, folder, out.diagnostics);
  return out;
}

std::string dump(const Diagnostics& diagnostics) {
  std::string out;
  for (const auto& d : diagnostics.items())
    out += d.to_string() + "\n";
  return out;
}

// Where a diagnostic points, as "line:column".
std::string where(const Diagnostic& d) {
  return std::to_string(d.location.line) + ":" + std::to_string(d.location.column);
}

// Parses `text`, which must be rejected with exactly one error, and returns that error.
Diagnostic single_error(std::string_view text, std::string_view folder = "sales") {
  Parsed p = parse(text, folder);
  EXPECT_FALSE(p.manifest.has_value()) << text;
  auto errors = p.diagnostics.errors();
  EXPECT_EQ(errors.size(), 1u) << text << "\n" << dump(p.diagnostics);
  if (errors.empty()) return {};
  EXPECT_EQ(errors.front().location.file, kFile);
  return errors.front();
}

// Parses `text`, which must be valid, and returns the manifest.
Manifest valid(std::string_view text, std::string_view folder = "sales") {
  Parsed p = parse(text, folder);
  EXPECT_TRUE(p.manifest.has_value()) << text << "\n" << dump(p.diagnostics);
  EXPECT_TRUE(p.diagnostics.empty()) << dump(p.diagnostics);
  return p.manifest.value_or(Manifest{});
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

std::vector<std::string> values(const std::vector<LocatedString>& items) {
  std::vector<std::string> out;
  for (const auto& item : items)
    out.push_back(item.value);
  return out;
}

// ---- Valid manifests --------------------------------------------------------------------------

TEST(ManifestParse, MinimalManifestHasDefaults) {
  Manifest m = valid(kHead);
  EXPECT_EQ(m.name, "sales");
  EXPECT_EQ(m.version.to_string(), "1.0.0");
  EXPECT_TRUE(m.summary.empty());
  EXPECT_TRUE(m.description.empty());
  EXPECT_FALSE(m.core);
  EXPECT_FALSE(m.auto_install);
  EXPECT_TRUE(m.depends.empty());
  EXPECT_TRUE(m.entities.empty());
  EXPECT_TRUE(m.demo.empty());
  EXPECT_TRUE(m.library.empty());
  EXPECT_EQ(m.file, kFile);
  EXPECT_EQ(m.dir, fs::path("addons/sales"));
  EXPECT_EQ(m.location.line, 1);
  EXPECT_EQ(m.location.column, 1);
}

TEST(ManifestParse, EveryKeyOfTheContract) {
  const std::string text =
      "name: sales                 # must equal the folder name\n"  // 1
      "version: 1.2.0-rc.1+build.7\n"                               // 2
      "summary: Quotations and sales orders\n"                      // 3
      "description: Everything about selling\n"                     // 4
      "author: Keel team\n"                                         // 5
      "license: Apache-2.0\n"                                       // 6
      "website: https://example.com/sales\n"                        // 7
      "category: Sales\n"                                           // 8
      "core: true\n"                                                // 9
      "depends:\n"                                                  // 10
      "  - base\n"                                                  // 11
      "  - contacts >=1.0 <2\n"                                     // 12
      "  - name: accounting\n"                                      // 13
      "    version: ^2.1\n"                                         // 14
      "    git: file:///srv/git/accounting.git\n"                   // 15
      "    ref: v2.1.3\n"                                           // 16
      "auto_install: true\n"                                        // 17
      "entities: [entities/*.yaml]\n"                               // 18
      "views: [views/*.yaml, views/extra/menu.yaml]\n"              // 19
      "security: [security/*.yaml]\n"                               // 20
      "data: [data/*.yaml]\n"                                       // 21
      "demo: demo/demo.yaml\n"                                      // 22
      "library: sales\n";                                           // 23
  Manifest m = valid(text);
  EXPECT_EQ(m.name, "sales");
  EXPECT_EQ(m.version.to_string(), "1.2.0-rc.1+build.7");
  EXPECT_EQ(m.summary, "Quotations and sales orders");
  EXPECT_EQ(m.description, "Everything about selling");
  EXPECT_EQ(m.author, "Keel team");
  EXPECT_EQ(m.license, "Apache-2.0");
  EXPECT_EQ(m.website, "https://example.com/sales");
  EXPECT_EQ(m.category, "Sales");
  EXPECT_TRUE(m.core);
  EXPECT_TRUE(m.auto_install);
  EXPECT_EQ(m.library, "sales");

  ASSERT_EQ(m.depends.size(), 3u);
  EXPECT_EQ(m.depends[0].name, "base");
  EXPECT_TRUE(m.depends[0].constraint.is_any());
  EXPECT_TRUE(m.depends[0].git.empty());
  EXPECT_EQ(m.depends[0].location.to_string(), "addons/sales/manifest.yaml:11:5");

  EXPECT_EQ(m.depends[1].name, "contacts");
  EXPECT_EQ(m.depends[1].constraint.text(), ">=1.0 <2");
  EXPECT_TRUE(m.depends[1].constraint.matches(Version(1, 5, 0)));
  EXPECT_FALSE(m.depends[1].constraint.matches(Version(2, 0, 0)));
  EXPECT_FALSE(m.depends[1].constraint.matches(Version(0, 9, 0)));
  EXPECT_EQ(m.depends[1].location.to_string(), "addons/sales/manifest.yaml:12:5");

  EXPECT_EQ(m.depends[2].name, "accounting");
  EXPECT_EQ(m.depends[2].constraint.text(), "^2.1");
  EXPECT_TRUE(m.depends[2].constraint.matches(Version(2, 9, 0)));
  EXPECT_FALSE(m.depends[2].constraint.matches(Version(3, 0, 0)));
  EXPECT_FALSE(m.depends[2].constraint.matches(Version(2, 0, 9)));
  EXPECT_EQ(m.depends[2].git, "file:///srv/git/accounting.git");
  EXPECT_EQ(m.depends[2].ref, "v2.1.3");
  EXPECT_EQ(m.depends[2].location.to_string(), "addons/sales/manifest.yaml:13:5");

  EXPECT_EQ(values(m.entities), (std::vector<std::string>{"entities/*.yaml"}));
  EXPECT_EQ(values(m.views), (std::vector<std::string>{"views/*.yaml", "views/extra/menu.yaml"}));
  EXPECT_EQ(values(m.security), (std::vector<std::string>{"security/*.yaml"}));
  EXPECT_EQ(values(m.data), (std::vector<std::string>{"data/*.yaml"}));
  EXPECT_EQ(values(m.demo), (std::vector<std::string>{"demo/demo.yaml"}));  // a single string
  EXPECT_EQ(m.entities[0].location.to_string(), "addons/sales/manifest.yaml:18:12");
  EXPECT_EQ(m.views[1].location.to_string(), "addons/sales/manifest.yaml:19:23");
  EXPECT_EQ(m.demo[0].location.to_string(), "addons/sales/manifest.yaml:22:7");
}

TEST(ManifestParse, DependsStringForms) {
  Manifest m = valid(kHead +
                     "depends:\n"
                     "  - base\n"
                     "  - contacts   ^1.2\n"
                     "  - \"products ~1.0\"\n"
                     "  - stock >= 1.0 < 2 || 3.*\n"
                     "  - 'hr  '\n");
  ASSERT_EQ(m.depends.size(), 5u);
  EXPECT_EQ(m.depends[0].name, "base");
  EXPECT_EQ(m.depends[1].name, "contacts");
  EXPECT_EQ(m.depends[1].constraint.text(), "^1.2");
  EXPECT_EQ(m.depends[2].name, "products");
  EXPECT_TRUE(m.depends[2].constraint.matches(Version(1, 0, 5)));
  EXPECT_FALSE(m.depends[2].constraint.matches(Version(1, 1, 0)));
  EXPECT_EQ(m.depends[3].name, "stock");
  EXPECT_TRUE(m.depends[3].constraint.matches(Version(3, 2, 0)));
  EXPECT_FALSE(m.depends[3].constraint.matches(Version(2, 2, 0)));
  EXPECT_EQ(m.depends[4].name, "hr");  // trailing blanks are no constraint
  EXPECT_TRUE(m.depends[4].constraint.is_any());
}

TEST(ManifestParse, DependsMapForms) {
  Manifest m = valid(kHead +
                     "depends:\n"
                     "  - {name: contacts}\n"
                     "  - {name: products, version: 2}\n"
                     "  - name: stock\n"
                     "    git: ../stock.git\n");
  ASSERT_EQ(m.depends.size(), 3u);
  EXPECT_EQ(m.depends[0].name, "contacts");
  EXPECT_TRUE(m.depends[0].constraint.is_any());
  EXPECT_EQ(m.depends[1].name, "products");
  EXPECT_TRUE(m.depends[1].constraint.matches(Version(2, 7, 0)));
  EXPECT_FALSE(m.depends[1].constraint.matches(Version(3, 0, 0)));
  EXPECT_EQ(m.depends[2].git, "../stock.git");
  EXPECT_TRUE(m.depends[2].ref.empty());
}

TEST(ManifestParse, EmptyOptionalValuesAreAbsent) {
  Manifest m = valid(kHead + "summary:\ncore:\ndepends:\nentities:\nlibrary: ~\n");
  EXPECT_TRUE(m.summary.empty());
  EXPECT_FALSE(m.core);
  EXPECT_TRUE(m.depends.empty());
  EXPECT_TRUE(m.entities.empty());
  EXPECT_TRUE(m.library.empty());
}

TEST(ManifestParse, BooleansAcceptYamlCoreSpellings) {
  EXPECT_TRUE(valid(kHead + "core: True\n").core);
  EXPECT_TRUE(valid(kHead + "core: TRUE\n").core);
  EXPECT_FALSE(valid(kHead + "core: false\nauto_install: False\n").auto_install);
}

TEST(ManifestParse, FolderNameIsOptional) {
  EXPECT_EQ(valid("name: anything\nversion: 0.1.0\n", "").name, "anything");
}

TEST(ManifestParse, EarlierErrorsOfOtherFilesDoNotReject) {
  Diagnostics diagnostics;
  diagnostics.error({"other/manifest.yaml", 1, 1}, "some earlier problem");
  auto m = parse_manifest(kHead, kFile, "sales", diagnostics);
  EXPECT_TRUE(m.has_value());
  EXPECT_EQ(diagnostics.items().size(), 1u);
}

TEST(ManifestParse, ManifestKeysInDocumentationOrder) {
  const std::vector<std::string_view> expected = {
      "name",    "version",  "summary", "description", "author",       "license",
      "website", "category", "core",    "depends",     "auto_install", "entities",
      "views",   "security", "data",    "demo",        "library"};
  EXPECT_EQ(manifest_keys(), expected);
}

TEST(ManifestParse, ValidNames) {
  for (std::string_view name : {"a", "sales", "sale_stock", "x2", "a_1_b"})
    EXPECT_TRUE(is_valid_name(name)) << name;
  for (std::string_view name : {"", "Sales", "9lives", "_sales", "sale-stock", "sale stock", "sálé",
                                "sales.order", "sALES"})
    EXPECT_FALSE(is_valid_name(name)) << name;
}

// ---- Errors, each with its exact place --------------------------------------------------------

TEST(ManifestErrors, UnknownKeySuggestsTheClosest) {
  Diagnostic d = single_error(kHead + "sumary: Sales\n");
  EXPECT_EQ(where(d), "3:1");
  EXPECT_EQ(d.message, "unknown key \"sumary\" in manifest");
  EXPECT_EQ(d.hint, "did you mean \"summary\"?");

  d = single_error(kHead + "  # comment\nDepends: [base]\n");
  EXPECT_EQ(where(d), "4:1");
  EXPECT_EQ(d.hint, "did you mean \"depends\"?");
  EXPECT_EQ(d.to_string(),
            "addons/sales/manifest.yaml:4:1: error: unknown key \"Depends\" in manifest\n"
            "  hint: did you mean \"depends\"?");
}

TEST(ManifestErrors, UnknownKeyFarFromAllListsTheAllowedOnes) {
  Diagnostic d = single_error(kHead + "frobnicate: 3\n");
  EXPECT_EQ(where(d), "3:1");
  EXPECT_EQ(d.message, "unknown key \"frobnicate\" in manifest");
  EXPECT_EQ(d.hint,
            "allowed keys: name version summary description author license website category "
            "core depends auto_install entities views security data demo library");
}

TEST(ManifestErrors, DuplicateKey) {
  Diagnostic d = single_error(kHead + "summary: a\nversion: 1.0.1\n");
  EXPECT_EQ(where(d), "4:1");
  EXPECT_EQ(d.message, "duplicate key \"version\" in manifest");
  EXPECT_TRUE(contains(d.hint, "keep one \"version\"")) << d.hint;
}

TEST(ManifestErrors, DuplicateKeyInADependency) {
  Diagnostic d = single_error(kHead + "depends:\n  - {name: a, version: 1, version: 2}\n");
  EXPECT_EQ(where(d), "4:27");
  EXPECT_EQ(d.message, "duplicate key \"version\" in dependency");
}

TEST(ManifestErrors, SummaryAsList) {
  Diagnostic d = single_error(kHead + "summary: [a, b]\n");
  EXPECT_EQ(where(d), "3:10");
  EXPECT_EQ(d.message, "\"summary\" must be a string, got a list");
}

TEST(ManifestErrors, StringFieldsAsMaps) {
  for (std::string key : {"description", "author", "license", "website", "category", "library"}) {
    Diagnostic d = single_error(kHead + key + ": {a: b}\n");
    EXPECT_EQ(where(d), "3:" + std::to_string(key.size() + 3)) << key;
    EXPECT_EQ(d.message, "\"" + key + "\" must be a string, got a map");
  }
}

TEST(ManifestErrors, CoreQuotedYes) {
  Diagnostic d = single_error(kHead + "core: \"yes\"\n");
  EXPECT_EQ(where(d), "3:7");
  EXPECT_EQ(d.message, "\"core\" must be true or false, got \"yes\"");
}

TEST(ManifestErrors, CoreQuotedTrueIsAString) {
  Diagnostic d = single_error(kHead + "core: 'true'\n");
  EXPECT_EQ(where(d), "3:7");
  EXPECT_EQ(d.message, "\"core\" must be true or false, got \"true\"");
}

TEST(ManifestErrors, CoreMaybe) {
  Diagnostic d = single_error(kHead + "core: maybe\n");
  EXPECT_EQ(where(d), "3:7");
  EXPECT_EQ(d.message, "\"core\" must be true or false, got \"maybe\"");
}

TEST(ManifestErrors, AutoInstallAsList) {
  Diagnostic d = single_error(kHead + "auto_install: [true]\n");
  EXPECT_EQ(where(d), "3:15");
  EXPECT_EQ(d.message, "\"auto_install\" must be true or false, got a list");
}

TEST(ManifestErrors, DependsAsString) {
  Diagnostic d = single_error(kHead + "depends: base\n");
  EXPECT_EQ(where(d), "3:10");
  EXPECT_EQ(d.message, "\"depends\" must be a list, got a scalar");
  EXPECT_EQ(d.hint, "write one dependency per line: `- base`");
}

TEST(ManifestErrors, DependsAsMap) {
  Diagnostic d = single_error(kHead + "depends:\n  base: 1.0\n");
  EXPECT_EQ(where(d), "4:3");
  EXPECT_EQ(d.message, "\"depends\" must be a list, got a map");
}

TEST(ManifestErrors, EntitiesAsMap) {
  Diagnostic d = single_error(kHead + "entities: {sale_order: {label: Order}}\n");
  EXPECT_EQ(where(d), "3:11");
  EXPECT_EQ(d.message, "\"entities\" must be a list of strings, got a map");
}

TEST(ManifestErrors, PatternItemsMustBeStrings) {
  Diagnostic d = single_error(kHead + "views: [a.yaml, [b.yaml]]\n");
  EXPECT_EQ(where(d), "3:17");
  EXPECT_EQ(d.message, "items of \"views\" must be strings, got a list");
}

TEST(ManifestErrors, MissingName) {
  Diagnostic d = single_error("# a comment\n\nversion: 1.0.0\nsummary: x\n");
  EXPECT_EQ(where(d), "3:1");
  EXPECT_EQ(d.message, "missing required key \"name\"");
  EXPECT_EQ(d.hint, "add `name: ...`");
}

TEST(ManifestErrors, MissingVersion) {
  Diagnostic d = single_error("name: sales\nsummary: x\n");
  EXPECT_EQ(where(d), "1:1");
  EXPECT_EQ(d.message, "missing required key \"version\"");
  EXPECT_EQ(d.hint, "add `version: ...`");
}

TEST(ManifestErrors, EmptyVersionIsMissing) {
  Diagnostic d = single_error("name: sales\nversion:\n");
  EXPECT_EQ(d.message, "missing required key \"version\"");
}

TEST(ManifestErrors, NameDiffersFromFolder) {
  Diagnostic d = single_error("name: sale\nversion: 1.0.0\n");
  EXPECT_EQ(where(d), "1:7");
  EXPECT_EQ(d.message, "module name \"sale\" differs from its folder \"sales\"");
  EXPECT_EQ(d.hint, "rename the folder or set `name: sales`");
}

TEST(ManifestErrors, BadSemver) {
  Diagnostic d = single_error("name: sales\nversion: 1.0\n");
  EXPECT_EQ(where(d), "2:10");
  EXPECT_EQ(d.message,
            "bad version: \"1.0\" is not a semantic version MAJOR.MINOR.PATCH (e.g. 1.2.0)");
  EXPECT_EQ(d.hint, "versions are semantic: MAJOR.MINOR.PATCH, e.g. 1.0.0");
  for (std::string bad : {"01.0.0", "1.0.0-", "1.0.0-01", "1.0.0+", "v1.0.0", "latest", "'1.0'"}) {
    d = single_error("name: sales\nversion: " + bad + "\n");
    EXPECT_EQ(where(d), "2:10") << bad;
    EXPECT_TRUE(contains(d.message, "bad version: ")) << bad << ": " << d.message;
  }
}

TEST(ManifestErrors, VersionAsList) {
  Diagnostic d = single_error("name: sales\nversion: [1, 0, 0]\n");
  EXPECT_EQ(where(d), "2:10");
  EXPECT_EQ(d.message, "\"version\" must be a string, got a list");
}

TEST(ManifestErrors, BadModuleNames) {
  for (std::string bad : {"Sales", "9lives", "sale-stock", "_sales", "sale stock", "''"}) {
    Diagnostic d = single_error("name: " + bad + "\nversion: 1.0.0\n", "");
    EXPECT_EQ(where(d), "1:7") << bad;
    EXPECT_TRUE(contains(d.message, "bad module name \"")) << d.message;
    EXPECT_EQ(d.hint, "module names are lowercase letters, digits and _, starting with a letter");
  }
}

TEST(ManifestErrors, BadNameIsReportedBeforeTheFolderMismatch) {
  Diagnostic d = single_error("name: Sales\nversion: 1.0.0\n", "sales");
  EXPECT_EQ(d.message, "bad module name \"Sales\"");
}

TEST(ManifestErrors, BadDependencyNameStringForm) {
  Diagnostic d = single_error(kHead + "depends:\n  - base\n  - Contacts >=1.0\n");
  EXPECT_EQ(where(d), "5:5");
  EXPECT_EQ(d.message, "bad module name \"Contacts\" in depends");
  EXPECT_FALSE(d.hint.empty());
}

TEST(ManifestErrors, BadDependencyNameMapForm) {
  Diagnostic d = single_error(kHead + "depends:\n  - {name: bad-name}\n");
  EXPECT_EQ(where(d), "4:12");
  EXPECT_EQ(d.message, "bad module name \"bad-name\" in depends");
  EXPECT_FALSE(d.hint.empty());
}

TEST(ManifestErrors, BadLibraryName) {
  Diagnostic d = single_error(kHead + "library: lib-sales\n");
  EXPECT_EQ(where(d), "3:10");
  EXPECT_EQ(d.message, "bad library name \"lib-sales\"");
  EXPECT_TRUE(contains(d.hint, "lib<library>.so")) << d.hint;
}

TEST(ManifestErrors, BadConstraintStringForm) {
  Diagnostic d = single_error(kHead + "depends:\n  - contacts >=abc\n");
  EXPECT_EQ(where(d), "4:5");
  EXPECT_EQ(d.message, "bad version constraint for \"contacts\": \"abc\" is not a version");
  EXPECT_EQ(d.hint, "use e.g. \">=1.0 <2\", \"^1.2\", \"~1.2.3\" or \"1.2.*\"");
}

TEST(ManifestErrors, BadConstraintMapForm) {
  Diagnostic d = single_error(kHead + "depends:\n  - name: contacts\n    version: \"=>1\"\n");
  EXPECT_EQ(where(d), "5:14");
  EXPECT_TRUE(contains(d.message,
                       "bad version constraint for \"contacts\": unknown operator "
                       "\"=>\""))
      << d.message;
  EXPECT_FALSE(d.hint.empty());
}

TEST(ManifestErrors, DependencyVersionAsList) {
  Diagnostic d = single_error(kHead + "depends:\n  - name: contacts\n    version: [1]\n");
  EXPECT_EQ(where(d), "5:14");
  EXPECT_EQ(d.message, "\"version\" must be a string, got a list");
}

TEST(ManifestErrors, RefWithoutGit) {
  Diagnostic d = single_error(kHead + "depends:\n  - name: accounting\n    ref: v2.1.3\n");
  EXPECT_EQ(where(d), "5:10");
  EXPECT_EQ(d.message, "\"ref\" without \"git\" in the dependency on \"accounting\"");
  EXPECT_EQ(d.hint, "add the repository as `git: URL`");
}

TEST(ManifestErrors, EmptyGit) {
  Diagnostic d = single_error(kHead + "depends:\n  - name: accounting\n    git: ''\n");
  EXPECT_EQ(where(d), "5:10");
  EXPECT_EQ(d.message, "\"git\" must not be empty");
  EXPECT_FALSE(d.hint.empty());
}

TEST(ManifestErrors, DependencyWithoutName) {
  Diagnostic d = single_error(kHead + "depends:\n  - {version: ^1}\n");
  EXPECT_EQ(where(d), "4:5");
  EXPECT_EQ(d.message, "missing required key \"name\"");
}

TEST(ManifestErrors, DependencyUnknownKey) {
  Diagnostic d = single_error(kHead + "depends:\n  - {name: contacts, verison: ^1}\n");
  EXPECT_EQ(where(d), "4:22");
  EXPECT_EQ(d.message, "unknown key \"verison\" in dependency");
  EXPECT_EQ(d.hint, "did you mean \"version\"?");
}

TEST(ManifestErrors, DependencyAsList) {
  Diagnostic d = single_error(kHead + "depends:\n  - [contacts, products]\n");
  EXPECT_EQ(where(d), "4:5");
  EXPECT_TRUE(contains(d.message, "a dependency must be a name")) << d.message;
  EXPECT_TRUE(contains(d.message, "got a list")) << d.message;
}

TEST(ManifestErrors, DependencyListedTwice) {
  Diagnostic d = single_error(kHead + "depends:\n  - base\n  - contacts\n  - base >=0.1\n");
  EXPECT_EQ(where(d), "6:5");
  EXPECT_EQ(d.message, "\"base\" is listed twice in depends");
  EXPECT_EQ(d.hint, "merge the two entries into one");

  d = single_error(kHead + "depends:\n  - contacts\n  - {name: contacts, version: ^1}\n");
  EXPECT_EQ(where(d), "5:5");
  EXPECT_EQ(d.message, "\"contacts\" is listed twice in depends");
}

TEST(ManifestErrors, DependsOnItself) {
  Diagnostic d = single_error(kHead + "depends:\n  - base\n  - sales ^1\n");
  EXPECT_EQ(where(d), "5:5");
  EXPECT_EQ(d.message, "module \"sales\" depends on itself");
  EXPECT_FALSE(d.hint.empty());
}

TEST(ManifestErrors, PatternsEscapingTheFolder) {
  struct Case {
    std::string line;
    std::string where;
    std::string pattern;
    std::string key;
  };
  for (const Case& c : std::vector<Case>{
           {"entities: [../x.yaml]", "3:12", "../x.yaml", "entities"},
           {"views: /abs/*.yaml", "3:8", "/abs/*.yaml", "views"},
           {"security: [ok/*.yaml, ../bad.yaml]", "3:23", "../bad.yaml", "security"},
           {"data: [data/../../other/x.yaml]", "3:8", "data/../../other/x.yaml", "data"},
           {"demo: ['']", "3:8", "", "demo"},
           {"entities: ['/etc/passwd']", "3:12", "/etc/passwd", "entities"},
       }) {
    Diagnostic d = single_error(kHead + c.line + "\n");
    EXPECT_EQ(where(d), c.where) << c.line;
    EXPECT_EQ(d.message,
              "\"" + c.pattern + "\" in \"" + c.key + "\" must be a path inside the module folder");
    EXPECT_EQ(d.hint, "write it relative to the module folder, e.g. " + c.key + "/*.yaml");
  }
}

TEST(ManifestErrors, YamlSyntaxErrors) {
  Diagnostic d = single_error("name: sales\nversion: [1.0.0\n");
  EXPECT_EQ(where(d), "3:1");  // where yaml-cpp notices the unclosed list: the end of the text
  EXPECT_EQ(d.message, "invalid YAML: end of sequence flow not found");
  EXPECT_EQ(d.hint, "check indentation, colons and quotes around this place");

  d = single_error("name: sales\n  version: 1.0.0\n");
  EXPECT_EQ(where(d), "2:10");
  EXPECT_EQ(d.message, "invalid YAML: illegal map value");

  d = single_error("name: sales\nversion: 1.0.0\n\tsummary: x\n");
  EXPECT_EQ(where(d), "3:1");
  EXPECT_TRUE(contains(d.message, "tab")) << d.message;

  d = single_error("name: *sales\n");
  EXPECT_EQ(where(d), "1:7");
  EXPECT_TRUE(contains(d.message, "anchor")) << d.message;
}

TEST(ManifestErrors, EmptyFile) {
  for (std::string_view text : {"", "\n\n", "# nothing yet\n", "---\n"}) {
    Diagnostic d = single_error(text);
    EXPECT_EQ(where(d), "1:1") << text;
    EXPECT_EQ(d.message,
              "a manifest must be a map with at least `name` and `version`, got nothing");
    EXPECT_EQ(d.hint, "start with:\nname: sales\nversion: 1.0.0");
  }
  EXPECT_EQ(single_error("", "").hint, "start with:\nname: my_module\nversion: 1.0.0");
}

TEST(ManifestErrors, DocumentNotAMap) {
  Diagnostic d = single_error("\n- name: sales\n");
  EXPECT_EQ(where(d), "2:1");
  EXPECT_EQ(d.message, "a manifest must be a map with at least `name` and `version`, got a list");
  d = single_error("sales 1.0.0\n");
  EXPECT_EQ(where(d), "1:1");
  EXPECT_TRUE(contains(d.message, "got a scalar")) << d.message;
}

TEST(ManifestErrors, AllErrorsReportedInOnePass) {
  const std::string text =
      "name: Sales_App\n"        // 1: bad name
      "version: 1.0\n"           // 2: bad version
      "sumary: x\n"              // 3: unknown key
      "core: maybe\n"            // 4: not a boolean
      "depends:\n"               // 5
      "  - base\n"               // 6
      "  - base\n"               // 7: listed twice
      "  - contacts >=abc\n"     // 8: bad constraint
      "  - name: accounting\n"   // 9
      "    ref: v1\n"            // 10: ref without git
      "entities: [../x.yaml]\n"  // 11: escapes the folder
      "views: {a: b}\n"          // 12: not a list
      "library: Bad\n"           // 13: bad library name
      "summary: [a]\n";          // 14: not a string
  Parsed p = parse(text, "sales_app");
  EXPECT_FALSE(p.manifest.has_value());
  std::vector<std::string> got;
  for (const auto& d : p.diagnostics.errors())
    got.push_back(where(d) + " " + d.message);
  std::sort(got.begin(), got.end(), [](const std::string& a, const std::string& b) {
    return std::stoi(a) != std::stoi(b) ? std::stoi(a) < std::stoi(b) : a < b;
  });
  const std::vector<std::string> expected = {
      "1:7 bad module name \"Sales_App\"",
      "2:10 bad version: \"1.0\" is not a semantic version MAJOR.MINOR.PATCH (e.g. 1.2.0)",
      "3:1 unknown key \"sumary\" in manifest",
      "4:7 \"core\" must be true or false, got \"maybe\"",
      "7:5 \"base\" is listed twice in depends",
      "8:5 bad version constraint for \"contacts\": \"abc\" is not a version",
      "10:10 \"ref\" without \"git\" in the dependency on \"accounting\"",
      "11:12 \"../x.yaml\" in \"entities\" must be a path inside the module folder",
      "12:8 \"views\" must be a list of strings, got a map",
      "13:10 bad library name \"Bad\"",
      "14:10 \"summary\" must be a string, got a list",
  };
  EXPECT_EQ(got, expected) << dump(p.diagnostics);
}

// ---- Files: load_manifest and expand_patterns -------------------------------------------------

class ManifestFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = fs::temp_directory_path() /
            ("keel_manifest_test_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "sales");
    manifest_.name = "sales";
    manifest_.dir = root_ / "sales";
    manifest_.file = manifest_.dir / "manifest.yaml";
  }
  void TearDown() override { fs::remove_all(root_); }

  void write(const fs::path& relative, std::string_view text = "x: 1\n") {
    fs::path p = root_ / relative;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }

  // Patterns as a manifest would hold them, on lines 10, 11, ...
  std::vector<LocatedString> patterns(std::vector<std::string> texts) {
    std::vector<LocatedString> out;
    int line = 10;
    for (auto& t : texts)
      out.push_back({std::move(t), {manifest_.file, line++, 3}});
    return out;
  }

  std::vector<fs::path> in_module(std::vector<std::string> relative) {
    std::vector<fs::path> out;
    for (const auto& r : relative)
      out.push_back(manifest_.dir / r);
    return out;
  }

  fs::path root_;
  Manifest manifest_;
};

TEST_F(ManifestFiles, LoadManifestUsesTheFolderName) {
  write("sales/manifest.yaml", kHead + "summary: Sales\n");
  Diagnostics diagnostics;
  auto m = load_manifest(root_ / "sales", diagnostics);
  ASSERT_TRUE(m.has_value()) << dump(diagnostics);
  EXPECT_EQ(m->summary, "Sales");
  EXPECT_EQ(m->dir, root_ / "sales");
  EXPECT_EQ(m->file, root_ / "sales" / "manifest.yaml");

  write("other/manifest.yaml", kHead);
  Diagnostics mismatch;
  EXPECT_FALSE(load_manifest(root_ / "other", mismatch));
  ASSERT_EQ(mismatch.errors().size(), 1u);
  EXPECT_EQ(mismatch.errors()[0].location.to_string(),
            (root_ / "other" / "manifest.yaml").string() + ":1:7");
  EXPECT_EQ(mismatch.errors()[0].message,
            "module name \"sales\" differs from its folder \"other\"");
}

TEST_F(ManifestFiles, LoadManifestReportsAMissingFile) {
  Diagnostics diagnostics;
  EXPECT_FALSE(load_manifest(root_ / "nothing", diagnostics));
  ASSERT_EQ(diagnostics.errors().size(), 1u);
  EXPECT_EQ(diagnostics.errors()[0].location.file, root_ / "nothing" / "manifest.yaml");
  EXPECT_EQ(diagnostics.errors()[0].message, "cannot read the manifest");
  EXPECT_FALSE(diagnostics.errors()[0].hint.empty());
}

TEST_F(ManifestFiles, GlobsAreSortedAndDeduplicated) {
  for (const char* f : {"sales/entities/c.yaml", "sales/entities/a.yaml", "sales/entities/B.yaml",
                        "sales/entities/b.yaml", "sales/entities/note.txt", "sales/views/z.yaml",
                        "sales/views/a.yaml"})
    write(f);
  fs::create_directories(root_ / "sales/entities/dir.yaml");  // a directory is not a file
  Diagnostics diagnostics;
  auto files = expand_patterns(
      manifest_, patterns({"entities/*.yaml", "views/z.yaml", "entities/a.yaml", "views/*.yaml"}),
      diagnostics);
  EXPECT_TRUE(diagnostics.empty()) << dump(diagnostics);
  // Each pattern's matches sorted (byte order), in the order of the patterns, each file once.
  EXPECT_EQ(files, in_module({"entities/B.yaml", "entities/a.yaml", "entities/b.yaml",
                              "entities/c.yaml", "views/z.yaml", "views/a.yaml"}));
}

TEST_F(ManifestFiles, QuestionMarkAndBracketGlobs) {
  for (const char* f : {"sales/data/d1.yaml", "sales/data/d2.yaml", "sales/data/d10.yaml"})
    write(f);
  Diagnostics diagnostics;
  EXPECT_EQ(expand_patterns(manifest_, patterns({"data/d?.yaml"}), diagnostics),
            in_module({"data/d1.yaml", "data/d2.yaml"}));
  EXPECT_EQ(expand_patterns(manifest_, patterns({"data/d[2-9].yaml"}), diagnostics),
            in_module({"data/d2.yaml"}));
  EXPECT_TRUE(diagnostics.empty()) << dump(diagnostics);
}

TEST_F(ManifestFiles, MissingLiteralPathIsAnError) {
  write("sales/data/present.yaml");
  Diagnostics diagnostics;
  auto files = expand_patterns(
      manifest_, patterns({"data/present.yaml", "data/missing.yaml", "nodir/x.yaml"}), diagnostics);
  EXPECT_EQ(files, in_module({"data/present.yaml"}));
  auto errors = diagnostics.errors();
  ASSERT_EQ(errors.size(), 2u) << dump(diagnostics);
  EXPECT_EQ(errors[0].location.to_string(), manifest_.file.string() + ":11:3");
  EXPECT_EQ(errors[0].message, "\"data/missing.yaml\" does not exist in module \"sales\"");
  EXPECT_EQ(errors[0].hint, "create the file or remove it from the manifest");
  EXPECT_EQ(errors[1].location.line, 12);
  EXPECT_EQ(errors[1].message, "\"nodir/x.yaml\" does not exist in module \"sales\"");
}

TEST_F(ManifestFiles, LiteralDirectoryIsAnError) {
  fs::create_directories(root_ / "sales/data/folder.yaml");
  Diagnostics diagnostics;
  EXPECT_TRUE(expand_patterns(manifest_, patterns({"data/folder.yaml"}), diagnostics).empty());
  auto errors = diagnostics.errors();
  ASSERT_EQ(errors.size(), 1u) << dump(diagnostics);
  EXPECT_EQ(errors[0].location.line, 10);
  EXPECT_EQ(errors[0].message, "\"data/folder.yaml\" in module \"sales\" is not a file");
  EXPECT_FALSE(errors[0].hint.empty());
}

TEST_F(ManifestFiles, WildcardWithoutMatchIsFine) {
  fs::create_directories(root_ / "sales/demo");
  Diagnostics diagnostics;
  auto files =
      expand_patterns(manifest_, patterns({"demo/*.yaml", "nodir/*.yaml", "x?.yaml"}), diagnostics);
  EXPECT_TRUE(files.empty());
  EXPECT_TRUE(diagnostics.empty()) << dump(diagnostics);
}

TEST_F(ManifestFiles, LinksLeavingTheFolderAreErrors) {
  write("outside.yaml");
  write("sales/entities/a.yaml");
  fs::create_symlink("../../outside.yaml", root_ / "sales/entities/evil.yaml");
  fs::create_symlink("a.yaml", root_ / "sales/entities/same.yaml");
  Diagnostics diagnostics;
  auto files = expand_patterns(manifest_, patterns({"entities/*.yaml"}), diagnostics);
  EXPECT_EQ(files, in_module({"entities/a.yaml", "entities/same.yaml"}));
  auto errors = diagnostics.errors();
  ASSERT_EQ(errors.size(), 1u) << dump(diagnostics);
  EXPECT_EQ(errors[0].location.line, 10);
  EXPECT_TRUE(contains(errors[0].message, "evil.yaml")) << errors[0].message;
  EXPECT_TRUE(contains(errors[0].message, "is outside module \"sales\"")) << errors[0].message;

  Diagnostics literal;
  EXPECT_TRUE(expand_patterns(manifest_, patterns({"entities/evil.yaml"}), literal).empty());
  EXPECT_EQ(literal.errors().size(), 1u) << dump(literal);
}

// ---- The JSON Schema of manifest.yaml ---------------------------------------------------------

class ManifestSchema : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream in(fs::path(KEEL_SOURCE_DIR) / "schema" / "manifest.schema.json");
    ASSERT_TRUE(in) << "schema/manifest.schema.json is missing";
    std::stringstream text;
    text << in.rdbuf();
    doc_.Parse(text.str().c_str());
    ASSERT_FALSE(doc_.HasParseError()) << "offset " << doc_.GetErrorOffset();
    ASSERT_TRUE(doc_.IsObject());
  }

  const rapidjson::Value& member(const rapidjson::Value& v, const char* name) {
    static const rapidjson::Value kNull;
    if (!v.IsObject() || !v.HasMember(name)) {
      ADD_FAILURE() << "no member \"" << name << "\"";
      return kNull;
    }
    return v[name];
  }

  std::string string_of(const rapidjson::Value& v, const char* name) {
    const auto& m = member(v, name);
    return m.IsString() ? m.GetString() : std::string();
  }

  rapidjson::Document doc_;
};

TEST_F(ManifestSchema, PropertiesAreExactlyTheManifestKeys) {
  const auto& properties = member(doc_, "properties");
  ASSERT_TRUE(properties.IsObject());
  std::vector<std::string> keys;
  for (auto it = properties.MemberBegin(); it != properties.MemberEnd(); ++it)
    keys.emplace_back(it->name.GetString());
  std::vector<std::string> expected(manifest_keys().begin(), manifest_keys().end());
  EXPECT_EQ(keys, expected);  // same keys, same (documentation) order
}

TEST_F(ManifestSchema, TopLevelIsClosedAndRequiresNameAndVersion) {
  EXPECT_EQ(string_of(doc_, "$schema"), "https://json-schema.org/draft/2020-12/schema");
  EXPECT_EQ(string_of(doc_, "type"), "object");
  EXPECT_FALSE(string_of(doc_, "description").empty());
  const auto& additional = member(doc_, "additionalProperties");
  ASSERT_TRUE(additional.IsBool());
  EXPECT_FALSE(additional.GetBool());
  const auto& required = member(doc_, "required");
  ASSERT_TRUE(required.IsArray());
  std::vector<std::string> names;
  for (const auto& r : required.GetArray())
    names.emplace_back(r.GetString());
  EXPECT_EQ(names, (std::vector<std::string>{"name", "version"}));
}

TEST_F(ManifestSchema, EveryPropertyHasADescription) {
  const auto& properties = member(doc_, "properties");
  for (auto it = properties.MemberBegin(); it != properties.MemberEnd(); ++it) {
    const auto& p = it->value;
    bool described = p.IsObject() && p.HasMember("description") && p["description"].IsString() &&
                     p["description"].GetStringLength() > 0;
    EXPECT_TRUE(described) << it->name.GetString();
  }
}

// Resolves a local "$ref": "#/$defs/x" (or returns the value itself).
const rapidjson::Value& resolve(const rapidjson::Document& doc, const rapidjson::Value& v) {
  if (v.IsObject() && v.HasMember("$ref") && v["$ref"].IsString()) {
    std::string ref = v["$ref"].GetString();
    const std::string prefix = "#/$defs/";
    if (ref.rfind(prefix, 0) == 0 && doc.HasMember("$defs")) {
      std::string name = ref.substr(prefix.size());
      if (doc["$defs"].HasMember(name.c_str())) return doc["$defs"][name.c_str()];
    }
  }
  return v;
}

TEST_F(ManifestSchema, NamePatternAgreesWithTheParser) {
  const auto& name = resolve(doc_, member(member(doc_, "properties"), "name"));
  std::string pattern = string_of(name, "pattern");
  EXPECT_EQ(pattern, "^[a-z][a-z0-9_]*$");
  std::regex re(pattern);
  for (std::string_view n : {"a", "sales", "sale_stock", "x2", "", "Sales", "9x", "_a", "a-b"})
    EXPECT_EQ(std::regex_match(std::string(n), re), is_valid_name(n)) << n;
}

TEST_F(ManifestSchema, VersionPatternAgreesWithTheParser) {
  const auto& version = resolve(doc_, member(member(doc_, "properties"), "version"));
  std::regex re(string_of(version, "pattern"));
  for (std::string_view v : {"0.0.0",
                             "1.2.3",
                             "10.20.30",
                             "1.0.0-alpha",
                             "1.0.0-alpha.1",
                             "1.0.0-0A.is.legal",
                             "1.0.0+01",
                             "1.2.3----RC-SNAPSHOT.12.9.1--.12+788",
                             "1.0.0-rc.1+build.1",
                             "1",
                             "1.2",
                             "01.0.0",
                             "1.01.0",
                             "1.0.0-01",
                             "1.0.0-",
                             "1.0.0+",
                             "1.0.0-a..b",
                             "v1.0.0",
                             "1.0.0 ",
                             "1.2.3.4",
                             "1.0.0-al_pha",
                             "1.0.0+a+b"})
    EXPECT_EQ(std::regex_match(std::string(v), re), Version::parse(v).has_value()) << v;
}

TEST_F(ManifestSchema, DependsItemsAreAStringOrAClosedObject) {
  const auto& depends = resolve(doc_, member(member(doc_, "properties"), "depends"));
  EXPECT_EQ(string_of(depends, "type"), "array");
  const auto& items = resolve(doc_, member(depends, "items"));
  const auto& one_of = member(items, "oneOf");
  ASSERT_TRUE(one_of.IsArray());
  ASSERT_EQ(one_of.Size(), 2u);
  const auto& as_string = resolve(doc_, one_of[0]);
  const auto& as_object = resolve(doc_, one_of[1]);
  EXPECT_EQ(string_of(as_string, "type"), "string");
  // The string form: a module name, then optionally a constraint.
  std::regex re(string_of(as_string, "pattern"));
  EXPECT_TRUE(std::regex_search("contacts >=1.0 <2", re));
  EXPECT_TRUE(std::regex_search("base", re));
  EXPECT_FALSE(std::regex_search("Contacts", re));
  EXPECT_FALSE(std::regex_search("bad-name ^1", re));

  EXPECT_EQ(string_of(as_object, "type"), "object");
  const auto& additional = member(as_object, "additionalProperties");
  ASSERT_TRUE(additional.IsBool());
  EXPECT_FALSE(additional.GetBool());
  const auto& props = member(as_object, "properties");
  std::vector<std::string> keys;
  for (auto it = props.MemberBegin(); it != props.MemberEnd(); ++it)
    keys.emplace_back(it->name.GetString());
  EXPECT_EQ(keys, (std::vector<std::string>{"name", "version", "git", "ref"}));
  const auto& required = member(as_object, "required");
  ASSERT_TRUE(required.IsArray());
  ASSERT_EQ(required.Size(), 1u);
  EXPECT_STREQ(required[0].GetString(), "name");
}

}  // namespace
}  // namespace keel::modules
