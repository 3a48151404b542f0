#include "modules/discovery.hpp"

#include <algorithm>
#include <map>

namespace keel::modules {
namespace fs = std::filesystem;

Discovery discover(const std::vector<fs::path>& addons_path, const fs::path& core_dir) {
  Discovery out;
  std::map<std::string, fs::path> first_seen;  // module name -> its folder
  std::vector<fs::path> scanned;               // directories already searched
  for (const auto& dir : addons_path) {
    std::error_code ec;
    if (!fs::exists(dir, ec)) {
      out.diagnostics.warning({dir}, "addons directory does not exist; skipped",
                              "fix --addons-path, KEEL_ADDONS_PATH or addons.path in keel.toml");
      continue;
    }
    if (!fs::is_directory(dir, ec)) {
      out.diagnostics.warning({dir}, "addons path entry is not a directory; skipped",
                              "fix --addons-path, KEEL_ADDONS_PATH or addons.path in keel.toml");
      continue;
    }
    // The same directory named twice (e.g. the core directory also on the addons path, or
    // through another spelling) is searched once: its modules are not duplicates of themselves.
    if (std::any_of(scanned.begin(), scanned.end(), [&](const fs::path& p) {
          std::error_code eq;
          return fs::equivalent(p, dir, eq);
        }))
      continue;
    scanned.push_back(dir);
    std::vector<fs::path> folders;
    fs::directory_iterator entries(dir, ec), end;
    if (ec) {
      out.diagnostics.error({dir}, "cannot read addons directory: " + ec.message(),
                            "check its permissions");
      continue;
    }
    for (; entries != end; entries.increment(ec)) {
      std::error_code e;
      if (entries->is_directory(e) && fs::exists(entries->path() / "manifest.yaml", e))
        folders.push_back(entries->path());
    }
    if (ec)
      out.diagnostics.error({dir}, "cannot read addons directory: " + ec.message(),
                            "check its permissions");
    std::sort(folders.begin(), folders.end());
    for (const auto& folder : folders) {
      std::string name = folder.filename().string();
      if (!is_valid_name(name)) {
        out.diagnostics.error({folder / "manifest.yaml"}, "bad module folder name \"" + name + "\"",
                              "module folders are named [a-z][a-z0-9_]*, like the module");
        continue;
      }
      if (auto it = first_seen.find(name); it != first_seen.end()) {
        out.diagnostics.warning({folder / "manifest.yaml"},
                                "module \"" + name + "\" found twice: using " +
                                    it->second.string() + ", ignoring " + folder.string(),
                                "remove one copy or reorder the addons path");
        continue;
      }
      first_seen.emplace(name, folder);
      auto manifest = load_manifest(folder, out.diagnostics);
      if (!manifest) continue;
      if (manifest->core && !core_dir.empty() && dir != core_dir) {
        out.diagnostics.error({folder / "manifest.yaml"},
                              "module \"" + name +
                                  "\" says `core: true` but is not in Keel's core "
                                  "directory (" +
                                  core_dir.string() + ")",
                              "core modules ship with Keel; remove `core: true`");
        continue;
      }
      out.modules.push_back(std::move(*manifest));
    }
  }
  std::sort(out.modules.begin(), out.modules.end(),
            [](const Manifest& a, const Manifest& b) { return a.name < b.name; });
  return out;
}

}  // namespace keel::modules
