// UI catalog benchmark: how long a server takes to make its UI catalog for the modules installed
// on a database, from the views files on its disk (ui::build_catalog, as servers did before issue
// 15) and from the UI tables the installs wrote (ui::load_catalog, what servers do now).
//   ui_catalog_bench DB_URL ADDONS_DIR [ROUNDS]
// prints the median and the fastest of ROUNDS (default 30) of each, in milliseconds.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "db/connection.hpp"
#include "install/lifecycle.hpp"
#include "modules/discovery.hpp"
#include "modules/graph.hpp"
#include "query/filter.hpp"
#include "schema/registry.hpp"
#include "ui/catalog.hpp"
#include "ui/store.hpp"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s DB_URL ADDONS_DIR [ROUNDS]\n", argv[0]);
    return 2;
  }
  int rounds = argc > 3 ? std::stoi(argv[3]) : 30;
  using namespace keel;
  auto conn = db::Connection::open(argv[1]);
  modules::ModuleGraph graph(modules::discover({KEEL_SOURCE_DIR "/core", argv[2]}).modules);
  auto installed = install::installed_modules(conn);
  std::vector<const modules::Manifest*> modules;
  for (const auto* m : graph.order())
    if (installed.count(m->name)) modules.push_back(m);
  Diagnostics diagnostics;
  std::shared_ptr<const schema::Registry> registry = schema::Registry::build(modules, diagnostics);
  auto policy = query::load_policy(modules, *registry, diagnostics);
  throw_if_errors(diagnostics, "entity.invalid", "invalid entity definitions");
  auto time = [&](auto make) {
    std::vector<double> ms;
    for (int i = 0; i < rounds; ++i) {
      auto start = std::chrono::steady_clock::now();
      make();
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
    }
    std::sort(ms.begin(), ms.end());
    return std::pair{ms[ms.size() / 2], ms.front()};
  };
  auto files = time([&] { ui::build_catalog(modules, registry, policy); });
  auto stored = time([&] { ui::load_catalog(conn, modules, registry, policy); });
  std::printf(
      "%zu modules, %d rounds: files %.2f ms (fastest %.2f), database %.2f ms (fastest %.2f)\n",
      modules.size(), rounds, files.first, files.second, stored.first, stored.second);
}
