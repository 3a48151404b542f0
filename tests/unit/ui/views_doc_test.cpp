// The examples of docs/views.md are valid: each ```yaml block whose first line is
// `# views: <module>` becomes the views file of a module that depends on <module>, installed
// over the demo addons, and must build without a diagnostic.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "modules/discovery.hpp"
#include "modules/graph.hpp"
#include "query/filter.hpp"
#include "schema/registry.hpp"
#include "support/addon_tree.hpp"
#include "ui/catalog.hpp"

namespace keel::ui {
namespace {
namespace fs = std::filesystem;

TEST(ViewsDoc, ExamplesAreValid) {
  const fs::path file = fs::path(KEEL_SOURCE_DIR) / "docs" / "views.md";
  std::ifstream in(file);
  ASSERT_TRUE(in.is_open());
  keel::testing::AddonTree tree;
  std::string line, text, module;
  bool open = false;
  int number = 0, checked = 0;
  static const std::regex kAsset(R"(asset: (static/[^,} ]+))");
  while (std::getline(in, line)) {
    ++number;
    if (!open && line == "```yaml") {
      open = true;
      text.clear();
      module.clear();
      continue;
    }
    if (!open) continue;
    if (line != "```") {
      if (text.empty() && line.rfind("# views: ", 0) == 0) module = line.substr(9);
      text += line + "\n";
      continue;
    }
    open = false;
    if (module.empty()) continue;
    std::string name = "doc" + std::to_string(number);
    tree.write(name + "/manifest.yaml",
               "name: " + name + "\nversion: 1.0.0\ndepends: [" + module + "]\nviews: [v.yaml]\n");
    tree.write(name + "/v.yaml", text);
    for (std::sregex_iterator it(text.begin(), text.end(), kAsset), end; it != end; ++it)
      tree.write(name + "/" + (*it)[1].str(), "export default 1;\n");
    ++checked;
  }
  EXPECT_GE(checked, 5);
  auto found = modules::discover(
      {fs::path(KEEL_SOURCE_DIR) / "core", fs::path(KEEL_SOURCE_DIR) / "addons", tree.path()});
  modules::ModuleGraph graph(std::move(found.modules));
  for (const auto& d : graph.diagnostics().errors())
    ADD_FAILURE() << d.to_string();
  Diagnostics diagnostics;
  auto registry = schema::Registry::build(graph.order(), diagnostics);
  auto policy = query::load_policy(graph.order(), *registry, diagnostics);
  auto catalog = Catalog::build(graph.order(), registry, policy, diagnostics);
  for (const auto& d : diagnostics.items())
    ADD_FAILURE() << d.to_string() << " (a block of " << file << ")";
}

}  // namespace
}  // namespace keel::ui
