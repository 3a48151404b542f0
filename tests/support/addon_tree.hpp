#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace keel::testing {

// A temporary addons directory, written file by file from the test, removed at the end.
class AddonTree {
 public:
  AddonTree();
  ~AddonTree();
  AddonTree(const AddonTree&) = delete;
  AddonTree& operator=(const AddonTree&) = delete;

  // Writes `content` to `relative` (e.g. "shop/manifest.yaml"), creating folders.
  void write(const std::string& relative, std::string_view content) const;
  void remove(const std::string& relative) const;
  const std::filesystem::path& path() const { return root_; }

 private:
  std::filesystem::path root_;
};

}  // namespace keel::testing
