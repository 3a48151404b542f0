// CLI scenarios: the real `keel` binary run over the fixture addon trees of
// tests/fixtures/addons/<case>/. Each case directory holds module folders (or directories of
// them) and a case.yaml:
//
//   args: [module, list, --addons-path, "{dir}"]   # keel's arguments; {dir} = the case directory
//   env: {KEEL_ADDONS_PATH: "{dir}/mods"}          # optional, added to a clean environment
//   cwd: sub                                       # optional, relative to {dir} (default {dir})
//   exit: 1                                        # expected exit status
//   stdout: [...]                                  # substrings that must appear
//   stderr: [...]
//   stdout_absent: [...], stderr_absent: [...]     # optional: substrings that must not appear
//   stdout_lines: [...]                            # optional: stdout, line by line, exactly
//   stdout_json: '[...]'                           # optional: stdout parses to this JSON
//
// {dir} is replaced everywhere (arguments, environment, expectations). KEEL_CORE_PATH points
// at the source tree's core/ and every other KEEL_* variable of the caller is removed.

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/run.hpp"

namespace {
namespace fs = std::filesystem;
using keel::testing::run_keel;
using Result = keel::testing::RunResult;

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

// Every case directory: a folder of tests/fixtures/addons with a case.yaml.
std::vector<fs::path> case_directories() {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(KEEL_FIXTURES_DIR "/addons"))
    if (entry.is_directory() && fs::exists(entry.path() / "case.yaml")) out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

class CliScenario : public ::testing::TestWithParam<fs::path> {};

TEST_P(CliScenario, Run) {
  const fs::path dir = GetParam();
  YAML::Node spec = YAML::LoadFile((dir / "case.yaml").string());
  ASSERT_TRUE(spec.IsMap()) << "case.yaml must be a map";
  static const std::set<std::string> kKeys = {
      "args",   "env",           "cwd",           "exit",         "stdout",
      "stderr", "stdout_absent", "stderr_absent", "stdout_lines", "stdout_json"};
  for (const auto& item : spec)
    ASSERT_TRUE(kKeys.count(item.first.as<std::string>()))
        << "unknown key in case.yaml: " << item.first.as<std::string>();
  ASSERT_TRUE(spec["args"].IsSequence()) << "case.yaml needs `args`, a list";
  ASSERT_TRUE(spec["exit"].IsScalar()) << "case.yaml needs `exit`";

  auto expand = [&](const std::string& s) { return replace_all(s, "{dir}", dir.string()); };
  auto strings = [&](const char* key) {
    std::vector<std::string> out;
    if (spec[key])
      for (const auto& item : spec[key])
        out.push_back(expand(item.as<std::string>()));
    return out;
  };
  std::map<std::string, std::string> env;
  if (spec["env"])
    for (const auto& item : spec["env"])
      env[item.first.as<std::string>()] = expand(item.second.as<std::string>());
  fs::path cwd = spec["cwd"] ? dir / spec["cwd"].as<std::string>() : dir;

  const std::vector<std::string> args = strings("args");
  Result r = run_keel(args, env, cwd);
  std::string command = "keel";
  for (const auto& a : args)
    command += " " + a;
  SCOPED_TRACE(command + "\n--- stdout:\n" + r.out + "--- stderr:\n" + r.err + "---");

  EXPECT_EQ(r.status, spec["exit"].as<int>());
  for (const auto& s : strings("stdout"))
    EXPECT_NE(r.out.find(s), std::string::npos) << "stdout lacks: " << s;
  for (const auto& s : strings("stderr"))
    EXPECT_NE(r.err.find(s), std::string::npos) << "stderr lacks: " << s;
  for (const auto& s : strings("stdout_absent"))
    EXPECT_EQ(r.out.find(s), std::string::npos) << "stdout has: " << s;
  for (const auto& s : strings("stderr_absent"))
    EXPECT_EQ(r.err.find(s), std::string::npos) << "stderr has: " << s;
  if (spec["stdout_lines"]) {
    EXPECT_EQ(lines_of(r.out), strings("stdout_lines"));
  }
  if (spec["stdout_json"]) {
    rapidjson::Document expected, actual;
    std::string text = expand(spec["stdout_json"].as<std::string>());
    ASSERT_FALSE(expected.Parse(text.c_str()).HasParseError()) << "bad stdout_json: " << text;
    ASSERT_FALSE(actual.Parse(r.out.c_str()).HasParseError()) << "stdout is not JSON";
    EXPECT_TRUE(actual == expected) << "stdout JSON differs from stdout_json";
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CliScenario, ::testing::ValuesIn(case_directories()),
                         [](const ::testing::TestParamInfo<fs::path>& info) {
                           std::string name = info.param.filename().string();
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

// The demo addons of the source tree must always list and resolve.
TEST(CliDemoTree, ListsEveryModule) {
  Result r = run_keel({"module", "list", "--addons-path", KEEL_SOURCE_DIR "/addons"}, {},
                      fs::temp_directory_path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  auto lines = lines_of(r.out);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0].rfind("NAME", 0), 0u) << lines[0];
  std::vector<std::string> names;
  for (size_t i = 1; i < lines.size(); ++i)
    names.push_back(lines[i].substr(0, lines[i].find(' ')));
  EXPECT_EQ(names, (std::vector<std::string>{"base", "contacts", "inventory", "products",
                                             "sale_stock", "sales", "sales_discount"}));
  EXPECT_NE(r.out.find(KEEL_SOURCE_DIR "/core/base"), std::string::npos);
  EXPECT_NE(r.out.find(KEEL_SOURCE_DIR "/addons/sale_stock"), std::string::npos);
}

TEST(CliDemoTree, GraphIsInDependencyOrder) {
  Result r = run_keel({"module", "graph", "--addons-path", KEEL_SOURCE_DIR "/addons"}, {},
                      fs::temp_directory_path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  std::vector<std::string> names;
  for (const auto& line : lines_of(r.out)) {
    auto space = line.find(' ');
    ASSERT_NE(space, std::string::npos) << line;
    names.push_back(line.substr(0, space));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"base", "contacts", "products", "inventory", "sales",
                                             "sale_stock", "sales_discount"}));
}

TEST(CliDemoTree, DotDrawsEdgesFromDependentToDependency) {
  Result r = run_keel({"--addons-path", KEEL_SOURCE_DIR "/addons", "module", "graph", "--dot"}, {},
                      fs::temp_directory_path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("digraph modules {", 0), 0u) << r.out;
  for (const char* edge :
       {"\"sale_stock\" -> \"sales\"", "\"sale_stock\" -> \"inventory\"",
        "\"inventory\" -> \"products\" [label=\"^1.0\"]",
        "\"sales\" -> \"contacts\" [label=\">=1.0 <2\"]", "\"contacts\" -> \"base\""})
    EXPECT_NE(r.out.find(edge), std::string::npos) << edge;
  EXPECT_EQ(r.out.find("\"base\" -> "), std::string::npos);
}

}  // namespace
