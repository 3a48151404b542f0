#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "app/error.hpp"
#include "modules/manifest.hpp"

namespace keel::modules {

// The dependency graph of the modules found on the addons path. Built once, immutable.
// Problems (a missing dependency, an unsatisfied version constraint, a cycle) do not stop the
// build: they are reported in diagnostics() and mark the modules involved, and every module
// that needs them, as broken. Operations that touch a broken module throw.
class ModuleGraph {
 public:
  explicit ModuleGraph(std::vector<Manifest> modules);

  const Diagnostics& diagnostics() const { return diagnostics_; }
  const Manifest* find(std::string_view name) const;
  const std::vector<Manifest>& modules() const { return modules_; }  // sorted by name
  bool is_broken(std::string_view name) const { return broken_.count(std::string(name)) > 0; }

  // Every healthy module in install order: dependencies first, ties broken by name.
  std::vector<const Manifest*> order() const;

  // What installing `names` brings in, in install order: the modules, their dependencies not
  // in `installed`, and each auto_install module whose dependencies will all be installed once
  // this is done and that needs at least one module being installed now. Modules already in
  // `installed` are left out. Throws Error for an unknown name ("did you mean" hint) and
  // ValidationError, carrying the root problems, when a module it needs is broken.
  std::vector<const Manifest*> install_closure(const std::vector<std::string>& names,
                                               const std::set<std::string>& installed) const;

  // What uninstalling `names` takes with it, dependents first: the modules and every module of
  // `installed` that depends on them, directly or not. Throws for an unknown name, a module
  // that is not installed, or a core module (core modules are never uninstalled, neither when
  // named nor when they would be taken along as a dependent).
  std::vector<const Manifest*> uninstall_closure(const std::vector<std::string>& names,
                                                 const std::set<std::string>& installed) const;

  // The modules that declare a dependency on `name`, sorted by name.
  std::vector<const Manifest*> dependents(std::string_view name) const;

 private:
  const Manifest& require(const std::string& name) const;
  void check_dependencies();
  void compute_order();
  void report_cycles(const std::vector<std::string>& stuck);
  [[noreturn]] void throw_broken(const std::vector<std::string>& names) const;

  std::vector<Manifest> modules_;
  std::map<std::string, size_t, std::less<>> index_;
  std::vector<std::vector<size_t>> dependents_;  // by index
  std::vector<std::string> order_;               // healthy modules, install order
  std::map<std::string, size_t> position_;       // name -> index in order_
  std::map<std::string, size_t> rank_;  // name -> place in a dependencies-first order of ALL
                                        // modules, broken ones included
  std::set<std::string> broken_;
  std::map<std::string, std::vector<Diagnostic>> problems_;  // module -> its own problems
  Diagnostics diagnostics_;
};

}  // namespace keel::modules
