// The examples of docs/ are tested: manifests in docs/modules.md must parse (or, when marked
// invalid, must not), keel.toml examples in docs/configuration.md must load, and the version
// constraint table of docs/modules.md must say what the resolver does.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "app/error.hpp"
#include "modules/discovery.hpp"
#include "modules/graph.hpp"
#include "modules/manifest.hpp"
#include "modules/semver.hpp"
#include "query/filter.hpp"
#include "schema/registry.hpp"

namespace {

namespace fs = std::filesystem;
using keel::modules::Version;
using keel::modules::VersionConstraint;

const fs::path kDocs = fs::path(KEEL_SOURCE_DIR) / "docs";

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  EXPECT_TRUE(in.is_open()) << "cannot read " << file;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

std::string trim(std::string s) {
  const char* blanks = " \t";
  size_t start = s.find_first_not_of(blanks);
  if (start == std::string::npos) return "";
  return s.substr(start, s.find_last_not_of(blanks) - start + 1);
}

// A fenced code block: ```lang ... ```.
struct Block {
  std::string lang;
  int line = 0;  // of the opening fence, 1-based
  std::string first_line;
  std::string text;
};

std::vector<Block> fenced_blocks(const fs::path& file) {
  std::vector<Block> blocks;
  std::optional<Block> open;
  int number = 0;
  for (const auto& line : split_lines(read_text(file))) {
    ++number;
    if (!open) {
      if (line.rfind("```", 0) == 0) {
        open = Block{};
        open->lang = trim(line.substr(3));
        open->line = number;
      }
      continue;
    }
    if (trim(line) == "```") {
      blocks.push_back(std::move(*open));
      open.reset();
      continue;
    }
    if (open->text.empty()) open->first_line = trim(line);
    open->text += line + '\n';
  }
  EXPECT_FALSE(open) << file << ": the block opened at line " << open->line << " never closes";
  return blocks;
}

// The block's text, preceded by blank lines so that positions in diagnostics are those of
// the Markdown file.
std::string at_its_line(const Block& block) {
  return std::string(block.line, '\n') + block.text;
}

std::string describe(const keel::Diagnostics& diagnostics) {
  std::string out;
  for (const auto& d : diagnostics.items())
    out += d.to_string() + '\n';
  return out;
}

TEST(Docs, ManifestExamplesAreValid) {
  const fs::path file = kDocs / "modules.md";
  int checked = 0;
  for (const auto& block : fenced_blocks(file)) {
    if (block.lang != "yaml" || block.first_line != "# manifest") continue;
    ++checked;
    SCOPED_TRACE("manifest block at " + file.string() + ":" + std::to_string(block.line));
    keel::Diagnostics diagnostics;
    auto manifest = keel::modules::parse_manifest(at_its_line(block), file, "", diagnostics);
    EXPECT_TRUE(manifest.has_value()) << describe(diagnostics);
    EXPECT_FALSE(diagnostics.has_errors()) << describe(diagnostics);
  }
  EXPECT_GE(checked, 3) << "the manifest examples of " << file << " were not found";
}

TEST(Docs, InvalidManifestExamplesFail) {
  const fs::path file = kDocs / "modules.md";
  int checked = 0;
  for (const auto& block : fenced_blocks(file)) {
    if (block.lang != "yaml" || block.first_line != "# manifest: invalid") continue;
    ++checked;
    SCOPED_TRACE("invalid manifest block at " + file.string() + ":" + std::to_string(block.line));
    keel::Diagnostics diagnostics;
    auto manifest = keel::modules::parse_manifest(at_its_line(block), file, "", diagnostics);
    EXPECT_FALSE(manifest.has_value());
    EXPECT_GE(diagnostics.errors().size(), 1u);
  }
  EXPECT_GE(checked, 1) << "the invalid manifest example of " << file << " was not found";
}

// The security file examples of docs/security.md load, as a module depending on the demo
// `sales`, without a diagnostic.
TEST(Docs, SecurityExamplesLoad) {
  const fs::path file = kDocs / "security.md";
  const fs::path dir =
      fs::temp_directory_path() / ("keel_docs_security_" + std::to_string(::getpid()));
  int checked = 0;
  for (const auto& block : fenced_blocks(file)) {
    if (block.lang != "yaml" || block.first_line != "# security") continue;
    ++checked;
    SCOPED_TRACE("security block at " + file.string() + ":" + std::to_string(block.line));
    fs::remove_all(dir);
    fs::create_directories(dir / "doc_example");
    std::ofstream(dir / "doc_example" / "manifest.yaml")
        << "name: doc_example\nversion: 1.0.0\ndepends: [sales]\nsecurity: [security.yaml]\n";
    std::ofstream(dir / "doc_example" / "security.yaml") << block.text;
    auto found = keel::modules::discover(
        {fs::path(KEEL_SOURCE_DIR) / "core", fs::path(KEEL_SOURCE_DIR) / "addons", dir},
        fs::path(KEEL_SOURCE_DIR) / "core");
    EXPECT_FALSE(found.diagnostics.has_errors()) << describe(found.diagnostics);
    keel::modules::ModuleGraph graph(std::move(found.modules));
    EXPECT_FALSE(graph.diagnostics().has_errors()) << describe(graph.diagnostics());
    keel::Diagnostics diagnostics;
    auto registry = keel::schema::Registry::build(graph.order(), diagnostics);
    auto policy = keel::query::load_policy(graph.order(), *registry, diagnostics);
    EXPECT_FALSE(diagnostics.has_errors()) << describe(diagnostics);
    EXPECT_NE(policy->role("doc_example.manager"), nullptr);
  }
  fs::remove_all(dir);
  EXPECT_GE(checked, 1) << "the security example of " << file << " was not found";
}

TEST(Docs, EveryManifestKeyIsDocumented) {
  const std::string text = read_text(kDocs / "modules.md");
  for (auto key : keel::modules::manifest_keys())
    EXPECT_NE(text.find("| `" + std::string(key) + "` |"), std::string::npos)
        << "manifest key \"" << key << "\" has no row in the table of docs/modules.md";
}

TEST(Docs, ConfigurationExamplesLoad) {
  const fs::path file = kDocs / "configuration.md";
  const fs::path dir = fs::temp_directory_path() / ("keel_docs_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const keel::EnvLookup no_env = [](const char*) -> std::optional<std::string> {
    return std::nullopt;
  };
  int checked = 0;
  for (const auto& block : fenced_blocks(file)) {
    if (block.lang != "toml") continue;
    ++checked;
    SCOPED_TRACE("toml block at " + file.string() + ":" + std::to_string(block.line));
    const fs::path config_file = dir / ("keel_" + std::to_string(block.line) + ".toml");
    std::ofstream(config_file, std::ios::binary) << block.text;
    keel::CommandLineSettings settings;
    settings.config_file = config_file;
    try {
      keel::load_config(settings, no_env);
    } catch (const keel::ValidationError& e) {
      std::string details;
      for (const auto& d : e.diagnostics())
        details += d.to_string() + '\n';
      ADD_FAILURE() << e.what() << '\n' << details;
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  EXPECT_GE(checked, 2) << "the keel.toml examples of " << file << " were not found";
}

// The cells of a Markdown table row; `\|` stands for a `|` inside a cell.
std::vector<std::string> table_cells(const std::string& row) {
  std::string text = row;
  for (size_t pos; (pos = text.find("\\|")) != std::string::npos;)
    text.replace(pos, 2, "\x01");
  std::vector<std::string> cells;
  std::istringstream in(text);
  for (std::string cell; std::getline(in, cell, '|');) {
    for (auto& c : cell)
      if (c == '\x01') c = '|';
    cells.push_back(trim(cell));
  }
  if (!cells.empty() && cells.front().empty()) cells.erase(cells.begin());
  return cells;
}

// The `code spans` of a cell.
std::vector<std::string> code_spans(const std::string& cell) {
  std::vector<std::string> spans;
  size_t start = 0;
  while ((start = cell.find('`', start)) != std::string::npos) {
    size_t end = cell.find('`', start + 1);
    if (end == std::string::npos) break;
    spans.push_back(cell.substr(start + 1, end - start - 1));
    start = end + 1;
  }
  return spans;
}

// Versions around every bound of the table: releases and pre-releases.
std::vector<Version> probe_versions() {
  std::vector<Version> out;
  for (const char* suffix : {"", "-0", "-alpha", "-beta.1", "-beta.2", "-beta.3", "-rc.1"})
    for (int major = 0; major <= 3; ++major)
      for (int minor = 0; minor <= 3; ++minor)
        for (int patch = 0; patch <= 4; ++patch) {
          std::string text = std::to_string(major) + "." + std::to_string(minor) + "." +
                             std::to_string(patch) + suffix;
          auto v = Version::parse(text);
          EXPECT_TRUE(v.has_value()) << text;
          if (v) out.push_back(*v);
        }
  return out;
}

TEST(Docs, ConstraintTableMatchesTheResolver) {
  const fs::path file = kDocs / "modules.md";
  const auto versions = probe_versions();
  bool inside = false;
  int rows = 0, line_number = 0;
  for (const auto& line : split_lines(read_text(file))) {
    ++line_number;
    if (line.rfind("<!-- constraint-table", 0) == 0) {
      inside = true;
      continue;
    }
    if (line.rfind("<!-- end constraint-table", 0) == 0) break;
    if (!inside || line.rfind("| `", 0) != 0) continue;
    SCOPED_TRACE(file.string() + ":" + std::to_string(line_number) + ": " + line);
    auto cells = table_cells(line);
    ASSERT_GE(cells.size(), 2u);
    auto written = code_spans(cells[0]);
    auto admits = code_spans(cells[1]);
    ASSERT_FALSE(written.empty());
    std::string expected_text;
    if (cells[1] == "any version")
      expected_text = "*";
    else if (admits.size() == 1)
      expected_text = admits.front();
    else
      FAIL() << "the right-hand cell must be one `constraint` or \"any version\"";
    std::string error;
    auto expected = VersionConstraint::parse(expected_text, &error);
    ASSERT_TRUE(expected.has_value()) << expected_text << ": " << error;
    for (const auto& text : written) {
      auto constraint = VersionConstraint::parse(text, &error);
      ASSERT_TRUE(constraint.has_value()) << text << ": " << error;
      for (const auto& v : versions)
        EXPECT_EQ(constraint->matches(v), expected->matches(v))
            << "\"" << text << "\" and \"" << expected_text << "\" disagree on " << v.to_string();
    }
    ++rows;
  }
  EXPECT_GE(rows, 20) << "the constraint table of " << file << " was not found";
}

}  // namespace
