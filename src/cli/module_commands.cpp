#include "cli/module_commands.hpp"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "app/error.hpp"
#include "cli/context.hpp"
#include "cli/database.hpp"
#include "install/lifecycle.hpp"
#include "install/module_state_json.hpp"
#include "modules/discovery.hpp"
#include "modules/graph.hpp"

namespace keel::cli {

namespace {

void print_warnings(const Diagnostics& diagnostics) {
  for (const auto& d : diagnostics.items())
    if (d.severity == Severity::kWarning) std::cerr << d.to_string() << '\n';
}

}  // namespace

modules::ModuleGraph load_graph(const Context& context) {
  auto found = modules::discover(context.config.module_path(), context.config.core_dir);
  print_warnings(found.diagnostics);
  throw_if_errors(found.diagnostics, "manifest.invalid", "invalid module manifests");
  modules::ModuleGraph graph(std::move(found.modules));
  print_warnings(graph.diagnostics());
  return graph;
}

namespace {

// A graph with a cycle, a missing dependency or an unsatisfied constraint is a failure the
// user can fix (exit 1), reported with every problem.
void throw_if_unresolvable(const modules::ModuleGraph& graph) {
  throw_if_errors(graph.diagnostics(), "module.unresolvable",
                  "the module graph cannot be resolved");
}

// States come from the database when there is one; `module list` never creates it.
std::vector<install::ModuleState> module_rows(const Context& context,
                                              const modules::ModuleGraph& graph) {
  std::map<std::string, std::string> installed;
  if (auto database = Database::open(context.config, /*create=*/false))
    installed = install::installed_modules(database->connection());
  return install::module_states(graph, installed);
}

int list_modules(Context& context, bool json) {
  // Every module found is listed, even when the graph has problems; those follow on stderr
  // and make the exit status 1 (like `npm ls`).
  auto graph = load_graph(context);
  auto rows = module_rows(context, graph);
  if (json) {
    rapidjson::StringBuffer buffer;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buffer);
    w.SetIndent(' ', 2);
    w.StartArray();
    for (const auto& row : rows) {
      w.StartObject();
      install::write_module_state(w, row);
      w.Key("path");
      w.String(row.manifest->dir.string().c_str());
      w.EndObject();
    }
    w.EndArray();
    std::cout << buffer.GetString() << '\n';
    throw_if_unresolvable(graph);
    return 0;
  }
  size_t name_w = 4, version_w = 7, state_w = 5;
  for (const auto& row : rows) {
    name_w = std::max(name_w, row.manifest->name.size());
    version_w = std::max(version_w, row.manifest->version.to_string().size());
    state_w = std::max(state_w, row.state.size());
  }
  auto pad = [](const std::string& s, size_t w) { return s + std::string(w - s.size() + 2, ' '); };
  std::cout << pad("NAME", name_w) << pad("VERSION", version_w) << pad("STATE", state_w)
            << pad("KIND", 6) << "PATH\n";
  for (const auto& row : rows) {
    const auto& m = *row.manifest;
    std::cout << pad(m.name, name_w) << pad(m.version.to_string(), version_w)
              << pad(row.state, state_w) << pad(m.core ? "core" : "custom", 6) << m.dir.string()
              << '\n';
  }
  throw_if_unresolvable(graph);
  return 0;
}

int show_graph(Context& context, bool dot) {
  auto graph = load_graph(context);
  throw_if_unresolvable(graph);
  auto order = graph.order();
  if (!dot) {
    for (const auto* m : order)
      std::cout << m->name << ' ' << m->version.to_string() << '\n';
    return 0;
  }
  std::cout << "digraph modules {\n  rankdir=BT;\n  node [shape=box];\n";
  for (const auto* m : order) {
    std::cout << "  \"" << m->name << "\" [label=\"" << m->name << "\\n"
              << m->version.to_string() << "\"" << (m->core ? ", style=bold" : "") << "];\n";
  }
  for (const auto* m : order)
    for (const auto& d : m->depends) {
      std::cout << "  \"" << m->name << "\" -> \"" << d.name << "\"";
      if (!d.constraint.is_any()) std::cout << " [label=\"" << d.constraint.text() << "\"]";
      std::cout << ";\n";
    }
  std::cout << "}\n";
  return 0;
}

}  // namespace

void add_module_commands(CLI::App& app, Runner& selected) {
  auto* module = app.add_subcommand("module", "find, install, upgrade and remove modules");
  module->require_subcommand(1);
  module->fallthrough();

  auto json = std::make_shared<bool>(false);
  auto* list = module->add_subcommand("list", "every module on the addons path, with its state");
  list->add_flag("--json", *json, "print a JSON array");
  list->fallthrough();
  list->callback(
      [&selected, json] { selected = [json](Context& c) { return list_modules(c, *json); }; });

  auto dot = std::make_shared<bool>(false);
  auto* graph = module->add_subcommand("graph", "the resolved dependency order");
  graph->add_flag("--dot", *dot, "print the graph in Graphviz DOT");
  graph->fallthrough();
  graph->callback(
      [&selected, dot] { selected = [dot](Context& c) { return show_graph(c, *dot); }; });
}

}  // namespace keel::cli
