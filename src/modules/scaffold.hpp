#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace keel::modules {

struct ScaffoldOptions {
  std::string name;     // the module: [a-z][a-z0-9_]*
  std::string entity;   // its first entity; empty: the module's name
  bool native = false;  // also a C++ skeleton (src/<name>.cpp) and its CMakeLists.txt
};

// `keel module new` (docs/modules.md "A new module in one command"): writes `dir`/<name> with a
// manifest, an entity with a few fields, a security file (roles <name>.user and <name>.manager
// and their access rows), a views file (list and form views, a menu, an action), a data file
// with one record and, when native, a C++ skeleton with a validate hook. The folder must not
// exist; nothing is left behind on failure. Returns the files written, relative to the folder.
std::vector<std::string> scaffold_module(const std::filesystem::path& dir,
                                         const ScaffoldOptions& options);

}  // namespace keel::modules
