#include "support/addon_tree.hpp"

#include <unistd.h>

#include <fstream>
#include <stdexcept>

namespace keel::testing {
namespace fs = std::filesystem;

AddonTree::AddonTree() {
  std::string tmpl = (fs::temp_directory_path() / "keel-addons-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  root_ = tmpl;
}

AddonTree::~AddonTree() {
  std::error_code ec;
  fs::remove_all(root_, ec);
}

void AddonTree::write(const std::string& relative, std::string_view content) const {
  fs::path file = root_ / relative;
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary | std::ios::trunc) << content;
}

void AddonTree::remove(const std::string& relative) const {
  fs::remove_all(root_ / relative);
}

}  // namespace keel::testing
