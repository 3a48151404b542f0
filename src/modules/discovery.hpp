#pragma once

#include <filesystem>
#include <vector>

#include "app/error.hpp"
#include "modules/manifest.hpp"

namespace keel::modules {

struct Discovery {
  std::vector<Manifest> modules;  // valid manifests, sorted by name
  Diagnostics diagnostics;        // bad manifests (errors), shadowed duplicates (warnings)
};

// Finds the modules of every directory of `addons_path`, in order: the first directory that
// holds a name wins and a later one is reported as a warning naming both places. A folder
// without manifest.yaml is not a module. Every manifest is validated; all problems of all
// manifests are collected in one pass. When `core_dir` is given, only the modules found there
// may say `core: true`.
Discovery discover(const std::vector<std::filesystem::path>& addons_path,
                   const std::filesystem::path& core_dir = {});

}  // namespace keel::modules
