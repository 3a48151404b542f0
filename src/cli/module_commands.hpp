#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace keel::modules {
class ModuleGraph;
}

namespace keel::cli {

struct Context;
using Runner = std::function<int(Context&)>;

// Discovers the modules of the configured path; warnings (and problems of the graph, which
// only matter to the modules involved) go to stderr, manifest errors throw, all at once.
modules::ModuleGraph load_graph(const Context& context);

// Adds `keel module ...` to `app`; the chosen command's runner goes to `selected`.
void add_module_commands(CLI::App& app, Runner& selected);

}  // namespace keel::cli
