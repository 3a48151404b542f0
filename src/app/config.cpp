#include "app/config.hpp"

#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "app/error.hpp"

namespace keel {
namespace fs = std::filesystem;

std::optional<std::string> process_env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

std::vector<fs::path> Config::module_path() const {
  std::vector<fs::path> out;
  if (!core_dir.empty()) out.push_back(core_dir);
  for (const auto& p : addons_path)
    if (p != core_dir) out.push_back(p);
  return out;
}

std::vector<fs::path> split_path_list(const std::string& text) {
  std::vector<fs::path> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(':', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

fs::path default_core_dir(const EnvLookup& env) {
  if (auto v = env("KEEL_CORE_PATH")) return *v;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path installed = exe.parent_path().parent_path() / "share" / "keel" / "core";
    if (fs::is_directory(installed, ec)) return installed;
  }
  return KEEL_SOURCE_CORE_DIR;
}

namespace {

[[noreturn]] void config_error(const fs::path& file, const toml::source_region& where,
                               const std::string& message, const std::string& hint = {}) {
  SourceLocation loc{file, static_cast<int>(where.begin.line),
                     static_cast<int>(where.begin.column)};
  throw ValidationError("config.invalid", "invalid configuration file " + file.string(),
                        {Diagnostic{Severity::kError, loc, message, hint}});
}

// Reads the keys Keel knows and rejects the others, so that a typo never goes unnoticed.
void apply_file(const fs::path& file, Config& config) {
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    config_error(file, e.source(), std::string(e.description()));
  }
  const std::map<std::string, std::vector<std::string>> known = {
      {"database", {"url", "embedded_user"}},
      {"addons", {"path"}},
      {"server", {"listen"}},
      {"security", {"secret"}},
      {"log", {"level"}},
      {"paths", {"var"}},
  };
  for (auto&& [section, node] : root) {
    auto it = known.find(std::string(section.str()));
    if (it == known.end() || !node.is_table()) {
      config_error(file, node.source(), "unknown section \"" + std::string(section.str()) + "\"",
                   "known sections: database, addons, server, security, log, paths");
    }
    for (auto&& [key, value] : *node.as_table()) {
      const auto& keys = it->second;
      if (std::find(keys.begin(), keys.end(), std::string(key.str())) == keys.end())
        config_error(file, value.source(),
                     "unknown key \"" + std::string(key.str()) + "\" in [" + it->first + "]");
    }
  }
  auto str = [&](const char* section, const char* key, std::string& target) {
    auto node = root[section][key];
    if (!node) return;
    if (auto v = node.value<std::string>())
      target = *v;
    else
      config_error(file, node.node()->source(),
                   std::string(section) + "." + key + " must be a string");
  };
  str("database", "url", config.db_url);
  str("database", "embedded_user", config.embedded_user);
  str("server", "listen", config.listen);
  str("security", "secret", config.secret);
  str("log", "level", config.log_level);
  fs::path base = file.parent_path();
  if (auto node = root["paths"]["var"]) {
    std::string v;
    str("paths", "var", v);
    config.var_dir = base / v;
  }
  if (auto node = root["addons"]["path"]) {
    std::vector<fs::path> dirs;
    if (auto s = node.value<std::string>()) {
      dirs = split_path_list(*s);
    } else if (auto* arr = node.as_array()) {
      for (auto& item : *arr) {
        auto v = item.value<std::string>();
        if (!v) config_error(file, item.source(), "addons.path entries must be strings");
        dirs.emplace_back(*v);
      }
    } else {
      config_error(file, node.node()->source(),
                   "addons.path must be a list of directories or a \"a:b\" string");
    }
    // Relative directories in the file are relative to the file itself.
    config.addons_path.clear();
    for (auto& d : dirs)
      config.addons_path.push_back(d.is_absolute() ? d : base / d);
  }
}

}  // namespace

Config load_config(const CommandLineSettings& flags, const EnvLookup& env) {
  Config config;
  config.addons_path = {"addons"};
  config.core_dir = default_core_dir(env);

  fs::path file;
  if (flags.config_file) {
    file = *flags.config_file;
    std::error_code ec;
    if (!fs::is_regular_file(file, ec))
      throw Error("config.missing", "config file " + file.string() + " does not exist",
                  "check the --config argument");
  } else if (fs::is_regular_file("keel.toml")) {
    file = "keel.toml";
  }
  if (!file.empty()) {
    config.config_file = file;
    apply_file(file, config);
  }

  if (auto v = env("KEEL_DB_URL")) config.db_url = *v;
  if (auto v = env("KEEL_ADDONS_PATH")) config.addons_path = split_path_list(*v);
  if (auto v = env("KEEL_LISTEN")) config.listen = *v;
  if (auto v = env("KEEL_SECRET")) config.secret = *v;
  if (auto v = env("KEEL_LOG_LEVEL")) config.log_level = *v;

  if (flags.db_url) config.db_url = *flags.db_url;
  if (flags.addons_path) config.addons_path = split_path_list(*flags.addons_path);
  if (flags.listen) config.listen = *flags.listen;
  if (flags.log_level) config.log_level = *flags.log_level;
  if (flags.embedded_user) config.embedded_user = *flags.embedded_user;
  return config;
}

}  // namespace keel
