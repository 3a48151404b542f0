#include "cli/database.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "cli/context.hpp"
#include "cli/module_commands.hpp"
#include "install/lifecycle.hpp"
#include "modules/graph.hpp"
#include "modules/signing.hpp"
#include "native/isolation.hpp"

namespace keel::cli {
namespace fs = std::filesystem;

std::unique_ptr<Database> Database::open(const Config& config, bool create) {
  return open(config, create, {});
}

std::unique_ptr<Database> Database::open(
    const Config& config, const std::function<void(const std::string&)>& before_connecting) {
  return open(config, true, before_connecting);
}

std::unique_ptr<Database> Database::open(
    const Config& config, bool create,
    const std::function<void(const std::string&)>& before_connecting) {
  if (!config.db_url.empty())
    return std::unique_ptr<Database>(new Database(nullptr, config.db_url, before_connecting));
  db::Cluster::Options options;
  options.data_dir = config.var_dir / "pg";
  options.socket_dir = config.var_dir / "run";
  options.os_user = config.embedded_user;
  if (!create && !fs::exists(options.data_dir / "PG_VERSION")) return nullptr;
  auto cluster = std::make_unique<db::Cluster>(options);
  cluster->start();
  std::string conninfo = cluster->conninfo();
  return std::unique_ptr<Database>(
      new Database(std::move(cluster), std::move(conninfo), before_connecting));
}

std::unique_ptr<Database> open_with_base(const Context& context) {
  auto database = Database::open(context.config);
  install_base(context, *database);
  return database;
}

void install_base(const Context& context, Database& database) {
  // Every start but the first: nothing to install, and no module file needs reading for it
  // (~30 ms of a restart over 51 modules).
  if (runtime::installed_modules(database.connection()).count("base")) return;
  auto graph = load_graph(context);
  install::Lifecycle lifecycle(database.connection(), graph);
  lifecycle.set_module_check(modules::signature_check(context.config));
  auto installed = lifecycle.install({});
  if (!installed.empty()) spdlog::info("installed base on the empty database");
}

runtime::Snapshot installed_snapshot(const Context& context, db::Connection& conn) {
  runtime::BuildOptions options;
  options.isolation = native::isolation_of(context.config);
  return runtime::load_installed(conn, load_graph(context), options);
}

}  // namespace keel::cli
