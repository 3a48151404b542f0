#include "support/fixture.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "modules/discovery.hpp"
#include "support/auth.hpp"

namespace keel::testing {
namespace fs = std::filesystem;

AddonsFixture::AddonsFixture() {
  config.addons_path = {tree.path()};
  config.core_dir = KEEL_SOURCE_DIR "/core";
  config.secret = kTestSecret;
  conn = std::make_unique<db::Connection>(database.connect());
}

AddonsFixture::~AddonsFixture() = default;

void AddonsFixture::use_fixture(const std::string& name) const {
  fs::path from = fs::path(KEEL_FIXTURES_DIR) / "addons" / name;
  if (!fs::is_directory(from)) throw std::runtime_error("no fixture tree " + from.string());
  fs::copy(from, tree.path(), fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

install::Lifecycle AddonsFixture::lifecycle() {
  auto found = modules::discover(config.module_path());
  for (const auto& d : found.diagnostics.items())
    if (d.severity == Severity::kError)
      ADD_FAILURE() << "discovering the addons: " << d.to_string();
  graph = std::make_unique<modules::ModuleGraph>(std::move(found.modules));
  return install::Lifecycle(*conn, *graph);
}

std::vector<std::string> AddonsFixture::install(const std::vector<std::string>& names, bool demo) {
  return lifecycle().install(names, demo);
}

}  // namespace keel::testing
