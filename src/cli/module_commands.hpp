#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace keel::cli {

struct Context;
using Runner = std::function<int(Context&)>;

// Adds `keel module ...` to `app`; the chosen command's runner goes to `selected`.
void add_module_commands(CLI::App& app, Runner& selected);

}  // namespace keel::cli
