#include "app/config.hpp"

#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>

#include "app/error.hpp"

namespace keel {
namespace fs = std::filesystem;

std::optional<std::string> process_env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

bool Config::isolated(const std::string& module) const {
  auto it = module_isolation_overrides.find(module);
  return (it == module_isolation_overrides.end() ? module_isolation : it->second) == "process";
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

fs::path default_share_dir() {
  if (const char* v = std::getenv("KEEL_SHARE_PATH"); v && *v) return v;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path installed = exe.parent_path().parent_path() / "share" / "keel";
    if (fs::is_directory(installed / "openapi", ec)) return installed;
  }
  return fs::path(KEEL_SOURCE_CORE_DIR).parent_path() / "share";
}

fs::path default_web_root() {
  std::error_code ec;
  if (fs::is_regular_file("web/dist/index.html", ec)) return fs::absolute("web/dist", ec);
  // Installed (the Debian package): <prefix>/share/keel/web next to <prefix>/bin/keel.
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path installed = exe.parent_path().parent_path() / "share" / "keel" / "web";
    if (fs::is_regular_file(installed / "index.html", ec)) return installed;
  }
  fs::path source = fs::path(KEEL_SOURCE_CORE_DIR).parent_path() / "web" / "dist";
  if (fs::is_regular_file(source / "index.html", ec)) return source;
  return {};
}

namespace {

// A module name: a lowercase letter, then lowercase letters, digits and underscores. The rule of
// modules::is_valid_name, repeated here because app/ is the ground floor (modules/ sits above
// it and reads the configuration); tests/unit/app/config_test checks that both agree.
bool is_module_name(std::string_view name) {
  if (name.empty() || name.front() < 'a' || name.front() > 'z') return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

SourceLocation location_of(const fs::path& file, const toml::source_region& where) {
  return {file, static_cast<int>(where.begin.line), static_cast<int>(where.begin.column)};
}

// Reads the keys Keel knows and rejects the others, so that a typo never goes unnoticed. Every
// problem of the file is reported at once.
void apply_file(const fs::path& file, Config& config) {
  const std::string summary = "invalid configuration file " + file.string();
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw ValidationError(
        "config.invalid", summary,
        {Diagnostic{Severity::kError, location_of(file, e.source()), std::string(e.description()),
                    "check the TOML syntax around this place"}});
  }
  Diagnostics problems;
  auto error = [&](const toml::source_region& where, std::string message, std::string hint = {}) {
    problems.error(location_of(file, where), std::move(message), std::move(hint));
  };
  const std::map<std::string, std::vector<std::string_view>> known = {
      {"database",
       {"url", "embedded_user", "read_connections", "write_connections", "replica_urls",
        "replica_max_lag_ms", "replica_check_ms"}},
      {"addons", {"path"}},
      {"server",
       {"listen", "cors_origins", "hsts_max_age", "io_workers", "web_root", "trusted_proxies",
        "max_connections", "idle_timeout", "request_timeout"}},
      {"security",
       {"secret", "trusted_keys", "require_signed_modules", "access_token_lifetime",
        "refresh_token_lifetime", "module_isolation", "module_isolation_overrides",
        "module_call_timeout_ms", "module_memory_limit_mb"}},
      {"log", {"level", "format"}},
      {"paths", {"var"}},
      {"limits", {"json_depth", "json_value_depth"}},
  };
  std::vector<std::string_view> sections;
  for (const auto& [name, keys] : known)
    sections.push_back(name);
  for (auto&& [section, node] : root) {
    const std::string name(section.str());
    auto it = known.find(name);
    if (it == known.end()) {
      std::string hint = "known sections: database, addons, server, security, log, paths, limits";
      if (auto near = closest_match(name, sections))
        hint = "did you mean [" + std::string(*near) + "]?";
      error(section.source(), "unknown section \"" + name + "\"", hint);
      continue;
    }
    if (!node.is_table()) {
      error(section.source(), "\"" + name + "\" must be a section ([" + name + "]), not a value");
      continue;
    }
    for (auto&& [key, value] : *node.as_table()) {
      const auto& keys = it->second;
      const std::string key_name(key.str());
      if (std::find(keys.begin(), keys.end(), key_name) != keys.end()) continue;
      std::string hint = "known keys of [" + name + "]:";
      for (auto k : keys)
        hint += " " + std::string(k);
      if (auto near = closest_match(key_name, keys))
        hint = "did you mean \"" + std::string(*near) + "\"?";
      error(key.source(), "unknown key \"" + key_name + "\" in [" + name + "]", hint);
    }
  }
  auto str = [&](const char* section, const char* key) -> std::optional<std::string> {
    auto node = root[section][key];
    if (!node) return std::nullopt;
    if (auto v = node.value<std::string>()) return v;
    error(node.node()->source(), std::string(section) + "." + key + " must be a string");
    return std::nullopt;
  };
  if (auto v = str("database", "url")) config.db_url = *v;
  if (auto v = str("database", "embedded_user")) config.embedded_user = *v;
  if (auto v = str("server", "listen")) config.listen = *v;
  if (auto v = str("security", "secret")) config.secret = *v;
  if (auto v = str("log", "level")) config.log_level = *v;
  if (auto v = str("log", "format")) config.log_format = *v;
  // A whole number from `min` to `max`; `what` names it in the error.
  auto whole = [&](const char* section, const char* key, std::int64_t min, std::int64_t max,
                   const std::string& what) -> std::optional<std::int64_t> {
    auto node = root[section][key];
    if (!node) return std::nullopt;
    auto v = node.value<std::int64_t>();
    if (v && *v >= min && *v <= max) return v;
    error(node.node()->source(), std::string(section) + "." + key + " must be " + what);
    return std::nullopt;
  };
  constexpr std::int64_t kForever = std::numeric_limits<std::int64_t>::max();
  const std::string seconds = "a positive number of seconds";
  if (auto v = whole("security", "access_token_lifetime", 1, kForever, seconds))
    config.access_token_lifetime = *v;
  if (auto v = whole("security", "refresh_token_lifetime", 1, kForever, seconds))
    config.refresh_token_lifetime = *v;
  if (auto v = whole("server", "hsts_max_age", 0, kForever, seconds)) config.hsts_max_age = *v;
  if (auto v = whole("server", "max_connections", 16, 1000000, "a whole number from 16 to 1000000"))
    config.max_connections = *v;
  const std::string timeout = "a whole number of seconds from 1 to 3600";
  if (auto v = whole("server", "idle_timeout", 1, 3600, timeout)) config.idle_timeout = *v;
  if (auto v = whole("server", "request_timeout", 1, 3600, timeout)) config.request_timeout = *v;
  const std::string count = "a whole number from 1 to 1024";
  if (auto v = whole("server", "io_workers", 1, 1024, count))
    config.io_workers = static_cast<unsigned>(*v);
  if (auto v = whole("database", "read_connections", 1, 1024, count))
    config.read_connections = static_cast<unsigned>(*v);
  if (auto v = whole("database", "write_connections", 1, 1024, count))
    config.write_connections = static_cast<unsigned>(*v);
  if (auto v = whole("database", "replica_max_lag_ms", 1, 3600 * 1000,
                     "a whole number of milliseconds from 1 to 3600000"))
    config.replica_max_lag_ms = *v;
  if (auto v = whole("database", "replica_check_ms", 10, 60 * 1000,
                     "a whole number of milliseconds from 10 to 60000"))
    config.replica_check_ms = *v;
  if (auto node = root["database"]["replica_urls"]) {
    auto* arr = node.as_array();
    if (!arr)
      error(node.node()->source(), "database.replica_urls must be a list of connection strings");
    for (size_t i = 0; arr && i < arr->size(); ++i) {
      if (auto v = (*arr)[i].value<std::string>(); v && !v->empty())
        config.replica_urls.push_back(*v);
      else
        error((*arr)[i].source(),
              "database.replica_urls entries must be connection strings such as "
              "\"postgresql://replica1/keel\"");
    }
  }
  const std::string levels = "a whole number of levels from 8 to 10000";
  if (auto v = whole("limits", "json_depth", 8, 10000, levels))
    config.json_depth = static_cast<int>(*v);
  if (auto v = whole("limits", "json_value_depth", 8, 10000, levels))
    config.json_value_depth = static_cast<int>(*v);
  if (auto node = root["server"]["cors_origins"]) {
    auto* arr = node.as_array();
    if (!arr) error(node.node()->source(), "server.cors_origins must be a list of origins");
    for (size_t i = 0; arr && i < arr->size(); ++i) {
      if (auto v = (*arr)[i].value<std::string>())
        config.cors_origins.push_back(*v);
      else
        error((*arr)[i].source(),
              "server.cors_origins entries must be strings such as \"https://app.example.com\"");
    }
  }
  if (auto node = root["server"]["trusted_proxies"]) {
    auto* arr = node.as_array();
    if (!arr) error(node.node()->source(), "server.trusted_proxies must be a list of addresses");
    for (size_t i = 0; arr && i < arr->size(); ++i) {
      if (auto v = (*arr)[i].value<std::string>())
        config.trusted_proxies.push_back(*v);
      else
        error((*arr)[i].source(),
              "server.trusted_proxies entries must be strings such as \"127.0.0.1\"");
    }
  }
  // Relative directories in the file are relative to the file itself.
  fs::path base = file.parent_path();
  auto resolve = [&](const fs::path& p) {
    return p.is_absolute() ? p : (base / p).lexically_normal();
  };
  if (auto v = str("paths", "var")) config.var_dir = resolve(*v);
  if (auto v = str("server", "web_root")) config.web_root = resolve(*v);
  if (auto node = root["security"]["require_signed_modules"]) {
    if (auto v = node.value<bool>())
      config.require_signed_modules = *v;
    else
      error(node.node()->source(), "security.require_signed_modules must be true or false");
  }
  auto isolation_mode = [&](const toml::node& node, const std::string& what) {
    auto v = node.value<std::string>();
    if (v && (*v == "none" || *v == "process")) return v;
    error(node.source(), what + " must be \"none\" or \"process\"",
          "\"none\" runs module code in the server, \"process\" in a sandboxed module host");
    return std::optional<std::string>();
  };
  if (auto node = root["security"]["module_isolation"])
    if (auto v = isolation_mode(*node.node(), "security.module_isolation"))
      config.module_isolation = *v;
  if (auto node = root["security"]["module_isolation_overrides"]) {
    if (auto* table = node.as_table()) {
      for (auto&& [module, mode] : *table) {
        std::string name(module.str());
        if (!is_module_name(name))
          error(module.source(), "\"" + name + "\" is no module name");
        else if (auto v = isolation_mode(mode, "security.module_isolation_overrides." + name))
          config.module_isolation_overrides[name] = *v;
      }
    } else {
      error(node.node()->source(),
            "security.module_isolation_overrides must be a table of modules and modes",
            "module_isolation_overrides = { sales = \"none\", untrusted = \"process\" }");
    }
  }
  if (auto v = whole("security", "module_call_timeout_ms", 1, 3600 * 1000,
                     "a whole number of milliseconds from 1 to 3600000"))
    config.module_call_timeout_ms = *v;
  if (auto v = whole("security", "module_memory_limit_mb", 16, 1 << 20,
                     "a whole number of megabytes from 16 to 1048576"))
    config.module_memory_limit_mb = *v;
  if (auto node = root["security"]["trusted_keys"]) {
    // A key ("ed25519:...") as it is; anything else is the path of a .pub file.
    if (auto* arr = node.as_array()) {
      config.trusted_keys.clear();
      for (auto& item : *arr) {
        auto v = item.value<std::string>();
        if (!v) {
          error(item.source(), "security.trusted_keys entries must be strings");
          continue;
        }
        config.trusted_keys.push_back(v->rfind("ed25519:", 0) == 0 ? *v : resolve(*v).string());
      }
    } else {
      error(node.node()->source(),
            "security.trusted_keys must be a list of keys (\"ed25519:...\") or .pub files");
    }
  }
  if (auto node = root["addons"]["path"]) {
    std::vector<fs::path> dirs;
    bool ok = true;
    if (auto s = node.value<std::string>()) {
      dirs = split_path_list(*s);
    } else if (auto* arr = node.as_array()) {
      for (auto& item : *arr) {
        if (auto v = item.value<std::string>()) {
          dirs.emplace_back(*v);
        } else {
          error(item.source(), "addons.path entries must be strings");
          ok = false;
        }
      }
    } else {
      error(node.node()->source(), "addons.path must be a list of directories or a \"a:b\" string");
      ok = false;
    }
    if (ok) {
      config.addons_path.clear();
      for (auto& d : dirs)
        config.addons_path.push_back(resolve(d));
    }
  }
  throw_if_errors(problems, "config.invalid", summary);
}

}  // namespace

Config load_config(const CommandLineSettings& flags, const EnvLookup& env) {
  Config config;
  config.addons_path = {"addons"};
  config.core_dir = default_core_dir(env);
  config.web_root = default_web_root();

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
  if (auto v = env("KEEL_WEB_ROOT")) config.web_root = *v;
  if (auto v = env("KEEL_LOG_FORMAT")) config.log_format = *v;

  if (flags.db_url) config.db_url = *flags.db_url;
  if (flags.addons_path) config.addons_path = split_path_list(*flags.addons_path);
  if (flags.listen) config.listen = *flags.listen;
  if (flags.log_level) config.log_level = *flags.log_level;
  if (flags.embedded_user) config.embedded_user = *flags.embedded_user;
  return config;
}

}  // namespace keel
