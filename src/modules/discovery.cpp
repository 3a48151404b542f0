#include "modules/discovery.hpp"

#include <algorithm>
#include <map>

namespace keel::modules {
namespace fs = std::filesystem;

Discovery discover(const std::vector<fs::path>& addons_path) {
  Discovery out;
  std::map<std::string, fs::path> first_seen;  // module name -> its folder
  for (const auto& dir : addons_path) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      out.diagnostics.warning({dir}, "addons directory does not exist; skipped",
                              "fix --addons-path, KEEL_ADDONS_PATH or addons.path in keel.toml");
      continue;
    }
    std::vector<fs::path> folders;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.is_directory() && fs::exists(entry.path() / "manifest.yaml"))
        folders.push_back(entry.path());
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
      if (auto manifest = load_manifest(folder, out.diagnostics))
        out.modules.push_back(std::move(*manifest));
    }
  }
  std::sort(out.modules.begin(), out.modules.end(),
            [](const Manifest& a, const Manifest& b) { return a.name < b.name; });
  return out;
}

}  // namespace keel::modules
