#include "cli/database.hpp"

#include <filesystem>

namespace keel::cli {
namespace fs = std::filesystem;

std::unique_ptr<Database> Database::open(const Config& config, bool create) {
  if (!config.db_url.empty())
    return std::unique_ptr<Database>(new Database(nullptr, config.db_url));
  db::Cluster::Options options;
  options.data_dir = config.var_dir / "pg";
  options.socket_dir = config.var_dir / "run";
  options.os_user = config.embedded_user;
  if (!create && !fs::exists(options.data_dir / "PG_VERSION")) return nullptr;
  auto cluster = std::make_unique<db::Cluster>(options);
  cluster->start();
  std::string conninfo = cluster->conninfo();
  return std::unique_ptr<Database>(new Database(std::move(cluster), std::move(conninfo)));
}

}  // namespace keel::cli
