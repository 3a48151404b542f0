#include "cli/lifecycle_commands.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "cli/context.hpp"
#include "cli/database.hpp"
#include "install/lifecycle.hpp"
#include "modules/graph.hpp"
#include "modules/signing.hpp"

namespace keel::cli {

namespace {

// Progress goes to a terminal only; scripts get the summary.
install::Progress terminal_progress() {
  if (!::isatty(STDERR_FILENO)) return {};
  return [](const std::string& module, const std::string& step) {
    std::cerr << "  " << module << ": " << step << '\n';
  };
}

// "installed: a b c", or "nothing to install".
void print_list(const char* verb, const char* done, const std::vector<std::string>& names) {
  if (names.empty()) {
    std::cout << "nothing to " << verb << '\n';
    return;
  }
  std::cout << done << ':';
  for (const auto& n : names)
    std::cout << ' ' << n;
  std::cout << '\n';
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names)
    out += (out.empty() ? "" : " ") + n;
  return out;
}

struct Args {
  std::vector<std::string> names;
  bool demo = false, all = false, purge = false, yes = false;
};

}  // namespace

void add_lifecycle_commands(CLI::App& module, Runner& selected) {
  auto args = std::make_shared<Args>();

  auto* plan =
      module.add_subcommand("plan", "dry run of install: modules and SQL; changes nothing");
  plan->add_option("names", args->names, "modules to install")->required();
  plan->fallthrough();
  plan->callback([&selected, args] {
    selected = [args](Context& c) {
      auto graph = load_graph(c);
      auto database = Database::open(c.config);
      install::Lifecycle lifecycle(database->connection(), graph);
      auto p = lifecycle.plan(args->names);
      if (p.modules.empty()) {
        std::cout << "-- nothing to install\n";
        return 0;
      }
      std::cout << "-- modules to install, in order:";
      for (const auto* m : p.modules)
        std::cout << ' ' << m->name << '@' << m->version.to_string();
      std::cout << "\n-- " << p.statements.size() << " schema statements\n";
      std::string module_name;
      for (const auto& st : p.statements) {
        if (st.module != module_name) {
          module_name = st.module;
          std::cout << "\n-- module " << module_name << '\n';
        }
        std::cout << st.sql << ";\n";
      }
      return 0;
    };
  });

  auto* install = module.add_subcommand("install", "install modules and their dependencies");
  install->add_option("names", args->names, "modules to install")->required();
  install->add_flag("--demo", args->demo, "also load the modules' demo data");
  install->fallthrough();
  install->callback([&selected, args] {
    selected = [args](Context& c) {
      auto graph = load_graph(c);
      auto database = Database::open(c.config);
      install::Lifecycle lifecycle(database->connection(), graph, terminal_progress());
      lifecycle.set_isolation(native::isolation_of(c.config));
      lifecycle.set_registry_cache(c.config.var_dir / "cache");
      lifecycle.set_module_check(modules::signature_check(c.config));
      print_list("install", "installed", lifecycle.install(args->names, args->demo));
      return 0;
    };
  });

  auto* upgrade = module.add_subcommand("upgrade", "apply new module versions");
  upgrade->add_option("names", args->names, "modules to upgrade");
  upgrade->add_flag("--all", args->all, "upgrade every installed module");
  upgrade->fallthrough();
  upgrade->callback([&selected, args] {
    selected = [args](Context& c) {
      if (args->names.empty() && !args->all)
        throw UsageError("name the modules to upgrade, or give --all");
      if (!args->names.empty() && args->all)
        throw UsageError("give module names or --all, not both");
      auto graph = load_graph(c);
      auto database = Database::open(c.config);
      install::Lifecycle lifecycle(database->connection(), graph, terminal_progress());
      lifecycle.set_isolation(native::isolation_of(c.config));
      lifecycle.set_registry_cache(c.config.var_dir / "cache");
      lifecycle.set_module_check(modules::signature_check(c.config));
      print_list("upgrade", "upgraded", lifecycle.upgrade(args->names));
      return 0;
    };
  });

  auto* uninstall = module.add_subcommand("uninstall", "uninstall modules and their dependents");
  uninstall->add_option("names", args->names, "modules to uninstall")->required();
  uninstall->add_flag("--purge", args->purge, "also drop their tables, columns and records");
  uninstall->add_flag("--yes,-y", args->yes, "do not ask for confirmation");
  uninstall->fallthrough();
  uninstall->callback([&selected, args] {
    selected = [args](Context& c) {
      auto graph = load_graph(c);
      auto database = Database::open(c.config);
      install::Lifecycle lifecycle(database->connection(), graph, terminal_progress());
      lifecycle.set_isolation(native::isolation_of(c.config));
      lifecycle.set_registry_cache(c.config.var_dir / "cache");
      auto closure = lifecycle.uninstall_closure(args->names);
      if (!args->yes) {
        if (!::isatty(STDIN_FILENO))
          throw Error("module.confirm", "uninstall needs confirmation and there is no terminal",
                      "add --yes to confirm", "it would uninstall: " + joined(closure));
        std::cerr << "This uninstalls: " << joined(closure)
                  << (args->purge ? "\nand DROPS their tables, columns and records.\n"
                                  : "\n(their data stays in the database).\n")
                  << "Continue? [y/N] ";
        std::string answer;
        std::getline(std::cin, answer);
        if (answer != "y" && answer != "Y" && answer != "yes") {
          std::cerr << "cancelled\n";
          return 1;
        }
      }
      print_list("uninstall", "uninstalled", lifecycle.uninstall(args->names, args->purge));
      return 0;
    };
  });
}

}  // namespace keel::cli
