#pragma once

#include <memory>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "db/connection.hpp"
#include "install/lifecycle.hpp"
#include "modules/graph.hpp"
#include "support/addon_tree.hpp"
#include "support/pg.hpp"

namespace keel::testing {

// The set-up integration tests share, in one place: a fresh database and a connection to it, a
// temporary addon tree (written by the test, or copied from tests/fixtures/addons), the Config
// of a server over them (core modules of the source tree, the tree as addons path, kTestSecret
// as token secret), and the modules installed through the lifecycle API as `keel module
// install` does. A test fixture derives from ::testing::Test and from this; a server is then
// `TestServer server(config, database.conninfo())` (support/test_server.hpp) and users come
// from support/auth.hpp.
class AddonsFixture {
 public:
  AddonsFixture();
  virtual ~AddonsFixture();

  // Copies the modules of tests/fixtures/addons/<name>/ into the tree (several fixtures can be
  // layered; files the test writes afterwards replace theirs).
  void use_fixture(const std::string& name) const;

  // A Lifecycle over the modules found now on config.module_path() (the graph it needs is
  // kept in `graph` until the next call); an error of the discovery fails the test.
  install::Lifecycle lifecycle();
  std::vector<std::string> install(const std::vector<std::string>& names, bool demo = false);

  TestDatabase database;
  AddonTree tree;
  Config config;
  std::unique_ptr<db::Connection> conn;
  std::unique_ptr<modules::ModuleGraph> graph;
};

}  // namespace keel::testing
