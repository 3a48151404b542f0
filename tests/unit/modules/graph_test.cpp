#include "modules/graph.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "app/error.hpp"
#include "modules/manifest.hpp"

namespace keel::modules {
namespace {

// A manifest parsed from inline YAML, as if read from /addons/<name>/manifest.yaml.
// `body` follows the `name:` line; it defaults to a bare version.
Manifest mod(const std::string& name, const std::string& body = "version: 1.0.0\n") {
  Diagnostics diagnostics;
  std::string text = "name: " + name + "\n" + body;
  auto m = parse_manifest(text, "/addons/" + name + "/manifest.yaml", name, diagnostics);
  EXPECT_TRUE(m.has_value()) << text;
  for (const auto& d : diagnostics.items())
    ADD_FAILURE() << d.to_string();
  return m ? *m : Manifest{};
}

// A module at version 1.0.0 depending on `deps` (YAML list items, e.g. "contacts >=1.0").
Manifest dep(const std::string& name, const std::vector<std::string>& deps,
             const std::string& extra = "") {
  std::string body = "version: 1.0.0\n" + extra;
  if (!deps.empty()) {
    body += "depends:\n";
    for (const auto& d : deps)
      body += "  - " + d + "\n";
  }
  return mod(name, body);
}

std::vector<std::string> names(const std::vector<const Manifest*>& list) {
  std::vector<std::string> out;
  for (const auto* m : list)
    out.push_back(m->name);
  return out;
}

std::vector<std::string> messages(const std::vector<Diagnostic>& diagnostics) {
  std::vector<std::string> out;
  for (const auto& d : diagnostics)
    out.push_back(d.message);
  return out;
}

std::vector<std::string> messages(const Diagnostics& diagnostics) {
  return messages(diagnostics.items());
}

using Names = std::vector<std::string>;

// The demo addons: base <- contacts, products <- inventory, sales <- sale_stock (auto_install).
std::vector<Manifest> demo() {
  return {
      mod("base", "version: 0.1.0\ncore: true\n"),
      mod("contacts", "version: 1.2.0\ndepends: [base]\n"),
      mod("products", "version: 1.0.0\ndepends: [base]\n"),
      dep("inventory", {"products ~1.0", "{name: contacts, version: \">=1.1\"}"}),
      mod("sales", "version: 1.1.0\ndepends: [base, contacts >=1.0 <2, products ^1.0]\n"),
      dep("sale_stock", {"sales", "inventory"}, "auto_install: true\n"),
  };
}

// --- order -------------------------------------------------------------------------------

TEST(ModuleGraphTest, OrderPutsDependenciesFirstWithLexicalTieBreak) {
  ModuleGraph graph(demo());
  EXPECT_TRUE(graph.diagnostics().empty());
  EXPECT_EQ(names(graph.order()),
            (Names{"base", "contacts", "products", "inventory", "sales", "sale_stock"}));
}

TEST(ModuleGraphTest, OrderDoesNotDependOnInputOrder) {
  auto modules = demo();
  const Names expected = names(ModuleGraph(modules).order());
  std::sort(modules.begin(), modules.end(),
            [](const Manifest& a, const Manifest& b) { return a.name < b.name; });
  do {
    EXPECT_EQ(names(ModuleGraph(modules).order()), expected);
  } while (
      std::next_permutation(modules.begin(), modules.end(),
                            [](const Manifest& a, const Manifest& b) { return a.name < b.name; }));
}

TEST(ModuleGraphTest, TieBreakTakesTheSmallestReadyModuleNotTheShallowest) {
  // After base, both b and c are ready; a only becomes ready after c. A depth-first or
  // declaration-order walk would give other orders.
  ModuleGraph graph({dep("c", {"base"}), dep("a", {"c"}), dep("b", {"base"}), mod("base")});
  EXPECT_EQ(names(graph.order()), (Names{"base", "b", "c", "a"}));
  ModuleGraph independent({mod("zeta"), mod("alpha"), mod("mid")});
  EXPECT_EQ(names(independent.order()), (Names{"alpha", "mid", "zeta"}));
}

TEST(ModuleGraphTest, ModulesAreSortedByNameAndFoundByName) {
  ModuleGraph graph(demo());
  Names all;
  for (const auto& m : graph.modules())
    all.push_back(m.name);
  EXPECT_EQ(all, (Names{"base", "contacts", "inventory", "products", "sale_stock", "sales"}));
  ASSERT_NE(graph.find("sales"), nullptr);
  EXPECT_EQ(graph.find("sales")->version.to_string(), "1.1.0");
  EXPECT_EQ(graph.find("nope"), nullptr);
  EXPECT_FALSE(graph.is_broken("sales"));
}

TEST(ModuleGraphTest, ANameGivenTwiceKeepsTheFirstWithAWarning) {
  ModuleGraph graph({mod("base", "version: 1.0.0\n"), mod("base", "version: 2.0.0\n")});
  ASSERT_EQ(graph.modules().size(), 1u);
  EXPECT_EQ(graph.modules()[0].version.to_string(), "1.0.0");
  ASSERT_EQ(graph.diagnostics().items().size(), 1u);
  EXPECT_EQ(graph.diagnostics().items()[0].severity, Severity::kWarning);
  EXPECT_FALSE(graph.diagnostics().has_errors());
  EXPECT_EQ(names(graph.order()), (Names{"base"}));
}

// --- cycles ------------------------------------------------------------------------------

TEST(ModuleGraphTest, CycleOfTwoNamesBothModules) {
  ModuleGraph graph({mod("base"), dep("sales", {"base", "stock"}), dep("stock", {"sales"})});
  ASSERT_EQ(graph.diagnostics().errors().size(), 1u);
  const Diagnostic d = graph.diagnostics().errors()[0];
  EXPECT_EQ(d.message, "dependency cycle: sales -> stock -> sales");
  EXPECT_FALSE(d.hint.empty());
  // Located at sales' dependency on stock (line 4: name, version, depends:, - base, - stock).
  EXPECT_EQ(d.location.file, "/addons/sales/manifest.yaml");
  EXPECT_EQ(d.location.line, 5);
  EXPECT_TRUE(graph.is_broken("sales"));
  EXPECT_TRUE(graph.is_broken("stock"));
  EXPECT_FALSE(graph.is_broken("base"));
  EXPECT_EQ(names(graph.order()), (Names{"base"}));
}

TEST(ModuleGraphTest, CycleOfThreeNamesEveryModuleInOrder) {
  ModuleGraph graph({dep("stock", {"crm"}), dep("crm", {"sales"}), dep("sales", {"stock"})});
  ASSERT_EQ(graph.diagnostics().errors().size(), 1u);
  EXPECT_EQ(graph.diagnostics().errors()[0].message,
            "dependency cycle: crm -> sales -> stock -> crm");
  EXPECT_TRUE(graph.order().empty());
}

TEST(ModuleGraphTest, CycleMessageNamesEveryModuleOfAKnot) {
  // a <-> b is the shortest cycle, but c is in the same knot (b -> c -> a).
  ModuleGraph graph({dep("a", {"b"}), dep("b", {"a", "c"}), dep("c", {"a"})});
  ASSERT_EQ(graph.diagnostics().errors().size(), 1u);
  const std::string message = graph.diagnostics().errors()[0].message;
  EXPECT_EQ(message.rfind("dependency cycle: a -> b -> a", 0), 0u) << message;
  EXPECT_NE(message.find("modules in the cycle: a b c"), std::string::npos) << message;
}

TEST(ModuleGraphTest, TwoCyclesAreBothReported) {
  ModuleGraph graph({dep("a", {"b"}), dep("b", {"a"}), dep("x", {"y"}), dep("y", {"x"})});
  EXPECT_EQ(messages(graph.diagnostics()),
            (Names{"dependency cycle: a -> b -> a", "dependency cycle: x -> y -> x"}));
}

TEST(ModuleGraphTest, DependentsOfACycleAreBrokenButNotReportedAsInTheCycle) {
  ModuleGraph graph({mod("base"), dep("sales", {"stock"}), dep("stock", {"sales"}),
                     dep("report", {"sales"}), dep("dashboard", {"report", "base"}),
                     dep("other", {"base"})});
  EXPECT_TRUE(graph.is_broken("report"));
  EXPECT_TRUE(graph.is_broken("dashboard"));
  EXPECT_FALSE(graph.is_broken("other"));
  EXPECT_EQ(names(graph.order()), (Names{"base", "other"}));
  ASSERT_EQ(graph.diagnostics().errors().size(), 1u);
  EXPECT_EQ(graph.diagnostics().errors()[0].message, "dependency cycle: sales -> stock -> sales");
}

TEST(ModuleGraphTest, SelfDependencyBuiltByHandIsACycle) {
  // parse_manifest refuses it; a graph built from hand-made manifests must still report it.
  Manifest m = mod("loop");
  m.depends.push_back(Dependency{"loop", {}, "", "", {}});
  ModuleGraph graph({m});
  EXPECT_TRUE(graph.is_broken("loop"));
  EXPECT_EQ(messages(graph.diagnostics()), (Names{"dependency cycle: loop -> loop"}));
}

// --- missing dependencies and constraints ----------------------------------------------

TEST(ModuleGraphTest, MissingDependencyNamesWhoNeedsIt) {
  ModuleGraph graph({mod("base"), dep("sales", {"base", "stock"}), dep("report", {"sales"})});
  ASSERT_EQ(graph.diagnostics().errors().size(), 1u);
  const Diagnostic d = graph.diagnostics().errors()[0];
  EXPECT_NE(d.message.find("\"sales\""), std::string::npos) << d.message;
  EXPECT_NE(d.message.find("\"stock\""), std::string::npos) << d.message;
  EXPECT_NE(d.hint.find("--addons-path"), std::string::npos) << d.hint;
  EXPECT_EQ(d.hint.find("keel module fetch"), std::string::npos) << d.hint;
  EXPECT_EQ(d.location.file, "/addons/sales/manifest.yaml");
  EXPECT_EQ(d.location.line, 5);
  EXPECT_EQ(d.location.column, 5);
  EXPECT_TRUE(graph.is_broken("sales"));
  EXPECT_TRUE(graph.is_broken("report"));
  EXPECT_EQ(names(graph.order()), (Names{"base"}));
}

TEST(ModuleGraphTest, MissingDependencyWithGitSourceHintsAtFetch) {
  ModuleGraph graph(
      {dep("sales", {"{name: stock, git: \"file:///srv/git/stock.git\", ref: v1.0.0}"})});
  ASSERT_EQ(graph.diagnostics().errors().size(), 1u);
  const Diagnostic d = graph.diagnostics().errors()[0];
  EXPECT_NE(d.message.find("\"stock\""), std::string::npos) << d.message;
  EXPECT_NE(d.hint.find("keel module fetch"), std::string::npos) << d.hint;
  EXPECT_NE(d.hint.find("file:///srv/git/stock.git"), std::string::npos) << d.hint;
}

TEST(ModuleGraphTest, UnsatisfiedConstraintNamesConstraintAndFoundVersion) {
  ModuleGraph graph({mod("contacts", "version: 1.2.0\n"), dep("sales", {"contacts >=2.0 <3"})});
  ASSERT_EQ(graph.diagnostics().errors().size(), 1u);
  const Diagnostic d = graph.diagnostics().errors()[0];
  EXPECT_NE(d.message.find("\"sales\""), std::string::npos) << d.message;
  EXPECT_NE(d.message.find("contacts >=2.0 <3"), std::string::npos) << d.message;
  EXPECT_NE(d.message.find("contacts 1.2.0"), std::string::npos) << d.message;
  EXPECT_NE(d.message.find("/addons/contacts"), std::string::npos) << d.message;
  EXPECT_TRUE(graph.is_broken("sales"));
  EXPECT_FALSE(graph.is_broken("contacts"));
  EXPECT_EQ(names(graph.order()), (Names{"contacts"}));
}

TEST(ModuleGraphTest, SatisfiedConstraintsAreNotProblems) {
  ModuleGraph graph({mod("contacts", "version: 1.2.0\n"),
                     dep("sales", {"contacts ^1.1", "{name: products, version: \"~2.3\"}"}),
                     mod("products", "version: 2.3.9\n")});
  EXPECT_TRUE(graph.diagnostics().empty());
  EXPECT_EQ(names(graph.order()), (Names{"contacts", "products", "sales"}));
}

// --- install_closure ---------------------------------------------------------------------

TEST(ModuleGraphTest, InstallPullsInDependenciesInOrder) {
  ModuleGraph graph(demo());
  EXPECT_EQ(names(graph.install_closure({"sales"}, {})),
            (Names{"base", "contacts", "products", "sales"}));
}

TEST(ModuleGraphTest, InstallSkipsInstalledModules) {
  ModuleGraph graph(demo());
  EXPECT_EQ(names(graph.install_closure({"sales"}, {"base", "contacts"})),
            (Names{"products", "sales"}));
  EXPECT_TRUE(
      graph.install_closure({"sales", "contacts"}, {"base", "contacts", "products", "sales"})
          .empty());
}

TEST(ModuleGraphTest, AutoInstallJoinsWhenAllItsDependenciesWillBeInstalled) {
  ModuleGraph graph(demo());
  // Both sides installed now.
  EXPECT_EQ(names(graph.install_closure({"sales", "inventory"}, {})),
            (Names{"base", "contacts", "products", "inventory", "sales", "sale_stock"}));
  // One side installed before, the other now.
  EXPECT_EQ(names(graph.install_closure({"sales"}, {"base", "contacts", "products", "inventory"})),
            (Names{"sales", "sale_stock"}));
  EXPECT_EQ(names(graph.install_closure({"inventory"}, {"base", "contacts", "products", "sales"})),
            (Names{"inventory", "sale_stock"}));
}

TEST(ModuleGraphTest, AutoInstallStaysOutWhenADependencyIsMissing) {
  ModuleGraph graph(demo());
  EXPECT_EQ(names(graph.install_closure({"sales"}, {})),
            (Names{"base", "contacts", "products", "sales"}));
  EXPECT_EQ(names(graph.install_closure({"contacts"}, {"base", "products", "inventory"})),
            (Names{"contacts"}));
}

TEST(ModuleGraphTest, AutoInstallNeedsAtLeastOneModuleBeingInstalled) {
  auto modules = demo();
  modules.push_back(dep("extra", {"base"}));
  ModuleGraph graph(std::move(modules));
  // Everything sale_stock needs is installed already, but none of it is being installed now.
  const std::set<std::string> installed = {"base", "contacts", "products", "inventory", "sales"};
  EXPECT_TRUE(graph.install_closure({"sales"}, installed).empty());
  EXPECT_EQ(names(graph.install_closure({"extra"}, installed)), (Names{"extra"}));
}

TEST(ModuleGraphTest, AutoInstallGlueChains) {
  // glue2 needs glue, which joins because of a and b.
  ModuleGraph graph({mod("a"), mod("b"), dep("glue", {"a", "b"}, "auto_install: true\n"),
                     dep("glue2", {"glue", "a"}, "auto_install: true\n"),
                     dep("lonely", {"c"}, "auto_install: true\n"), mod("c")});
  EXPECT_EQ(names(graph.install_closure({"a", "b"}, {})), (Names{"a", "b", "glue", "glue2"}));
  EXPECT_EQ(names(graph.install_closure({"b"}, {"a"})), (Names{"b", "glue", "glue2"}));
  EXPECT_EQ(names(graph.install_closure({"c"}, {})), (Names{"c", "lonely"}));
}

TEST(ModuleGraphTest, InstallOfAnUnknownNameSuggestsTheClosest) {
  ModuleGraph graph(demo());
  try {
    graph.install_closure({"sales", "contact"}, {});
    FAIL() << "no exception";
  } catch (const ValidationError& e) {
    FAIL() << "an unknown name is not a validation error: " << e.what();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "module.unknown");
    EXPECT_NE(std::string(e.what()).find("\"contact\""), std::string::npos) << e.what();
    EXPECT_EQ(e.hint(), "did you mean \"contacts\"?");
  }
  try {
    graph.install_closure({"zzzzzzzzzz"}, {});
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "module.unknown");
    EXPECT_EQ(e.hint().find("did you mean"), std::string::npos) << e.hint();
  }
}

TEST(ModuleGraphTest, InstallOfABrokenModuleCarriesTheRootProblems) {
  auto modules = demo();
  modules.push_back(dep("report", {"sales", "stock"}));  // stock is missing
  modules.push_back(dep("dashboard", {"report"}));       // broken through report
  modules.push_back(dep("loop_a", {"loop_b"}));          // a cycle
  modules.push_back(dep("loop_b", {"loop_a"}));          //
  modules.push_back(dep("uses_loop", {"loop_a"}));       // broken through it
  modules.push_back(dep("too_new", {"contacts >=5"}));   // constraint
  ModuleGraph graph(std::move(modules));

  auto problems_of = [&](const std::vector<std::string>& names) {
    try {
      graph.install_closure(names, {});
    } catch (const ValidationError& e) {
      EXPECT_EQ(e.code(), "module.unresolvable");
      return messages(e.diagnostics());
    }
    ADD_FAILURE() << "no ValidationError";
    return Names{};
  };
  auto dashboard = problems_of({"dashboard"});
  ASSERT_EQ(dashboard.size(), 1u);
  EXPECT_NE(dashboard[0].find("\"report\" depends on \"stock\""), std::string::npos)
      << dashboard[0];
  EXPECT_EQ(problems_of({"uses_loop"}), (Names{"dependency cycle: loop_a -> loop_b -> loop_a"}));
  auto constraint = problems_of({"too_new"});
  ASSERT_EQ(constraint.size(), 1u);
  EXPECT_NE(constraint[0].find("contacts >=5"), std::string::npos) << constraint[0];
  EXPECT_EQ(problems_of({"dashboard", "too_new"}).size(), 2u);
  // Healthy modules install despite broken neighbours.
  EXPECT_EQ(names(graph.install_closure({"contacts"}, {"base"})), (Names{"contacts"}));
}

// --- uninstall_closure -------------------------------------------------------------------

const std::set<std::string> kAllDemo = {"base",      "contacts", "products",
                                        "inventory", "sales",    "sale_stock"};

TEST(ModuleGraphTest, UninstallTakesInstalledDependentsTransitivelyDependentsFirst) {
  ModuleGraph graph(demo());
  EXPECT_EQ(names(graph.uninstall_closure({"contacts"}, kAllDemo)),
            (Names{"sale_stock", "sales", "inventory", "contacts"}));
  EXPECT_EQ(names(graph.uninstall_closure({"products"}, kAllDemo)),
            (Names{"sale_stock", "sales", "inventory", "products"}));
  EXPECT_EQ(names(graph.uninstall_closure({"sale_stock"}, kAllDemo)), (Names{"sale_stock"}));
  EXPECT_EQ(names(graph.uninstall_closure({"sale_stock", "inventory"}, kAllDemo)),
            (Names{"sale_stock", "inventory"}));
}

TEST(ModuleGraphTest, UninstallTakesOnlyInstalledDependents) {
  ModuleGraph graph(demo());
  EXPECT_EQ(names(graph.uninstall_closure({"contacts"}, {"base", "contacts", "products", "sales"})),
            (Names{"sales", "contacts"}));
}

TEST(ModuleGraphTest, UninstallRefusesCoreModules) {
  ModuleGraph graph(demo());
  try {
    graph.uninstall_closure({"base"}, kAllDemo);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "module.core");
    EXPECT_NE(std::string(e.what()).find("\"base\""), std::string::npos) << e.what();
  }
  // Nor is a core module taken along as a dependent of a custom one.
  ModuleGraph odd({mod("helper"), dep("kernel", {"helper"}, "core: true\n")});
  try {
    odd.uninstall_closure({"helper"}, {"helper", "kernel"});
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "module.core");
    EXPECT_NE(std::string(e.what()).find("\"kernel\""), std::string::npos) << e.what();
  }
  EXPECT_EQ(names(odd.uninstall_closure({"helper"}, {"helper"})), (Names{"helper"}));
}

TEST(ModuleGraphTest, UninstallRefusesNotInstalledAndUnknownModules) {
  ModuleGraph graph(demo());
  try {
    graph.uninstall_closure({"inventory"}, {"base", "contacts"});
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "module.not_installed");
    EXPECT_NE(std::string(e.what()).find("\"inventory\""), std::string::npos) << e.what();
  }
  try {
    graph.uninstall_closure({"sale"}, kAllDemo);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "module.unknown");
    EXPECT_NE(e.hint().find("did you mean \"sales\"?"), std::string::npos) << e.hint();
  }
}

TEST(ModuleGraphTest, UninstallPutsBrokenInstalledDependentsBeforeTheirDependencies) {
  // report and dashboard are installed but broken now (a dependency vanished from the path):
  // they must still be removed before what they depend on.
  ModuleGraph graph(
      {mod("a"), dep("report", {"a", "vanished"}), dep("dashboard", {"report"}), dep("b", {"a"})});
  ASSERT_TRUE(graph.is_broken("report"));
  EXPECT_EQ(names(graph.uninstall_closure({"a"}, {"a", "b", "report", "dashboard"})),
            (Names{"dashboard", "report", "b", "a"}));
  // Same when the broken ones hang off a cycle.
  ModuleGraph cyclic({mod("a"), dep("x", {"a", "y"}), dep("y", {"x"}), dep("z", {"y"})});
  auto order = names(cyclic.uninstall_closure({"a"}, {"a", "x", "y", "z"}));
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order.back(), "a");
  EXPECT_LT(std::find(order.begin(), order.end(), "z") - order.begin(),
            std::find(order.begin(), order.end(), "y") - order.begin());
}

// --- dependents --------------------------------------------------------------------------

TEST(ModuleGraphTest, DependentsAreDirectAndSortedByName) {
  ModuleGraph graph(demo());
  EXPECT_EQ(names(graph.dependents("base")), (Names{"contacts", "products", "sales"}));
  EXPECT_EQ(names(graph.dependents("contacts")), (Names{"inventory", "sales"}));
  EXPECT_TRUE(graph.dependents("sale_stock").empty());
  EXPECT_TRUE(graph.dependents("unknown").empty());
}

}  // namespace
}  // namespace keel::modules
