#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace keel {

// Settings given on the command line; unset ones fall back to the environment, then the
// config file, then defaults (contract §4 rule 1).
struct CommandLineSettings {
  std::optional<std::filesystem::path> config_file;
  std::optional<std::string> addons_path;  // DIR[:DIR...]
  std::optional<std::string> db_url;
  std::optional<std::string> log_level;
  std::optional<std::string> listen;
  std::optional<std::string> embedded_user;
};

// Where the data files shipped with Keel live (openapi/: the static parts of the OpenAPI
// document): KEEL_SHARE_PATH when set, next to an installed binary (<prefix>/share/keel), else
// share/ of the source tree this binary was built from.
std::filesystem::path default_share_dir();

struct Config {
  std::filesystem::path config_file;  // the file that was read; empty when none
  std::string db_url;                 // empty: the embedded PostgreSQL
  std::string embedded_user = "postgres";
  std::vector<std::filesystem::path> addons_path;         // custom directories, in order
  std::filesystem::path core_dir;                         // the core modules shipped with Keel
  std::filesystem::path share_dir = default_share_dir();  // data files shipped with Keel
  std::filesystem::path var_dir = "var";                  // embedded cluster, secrets, sockets
  std::string listen = "127.0.0.1:8080";
  std::string secret;
  // Module signatures (docs/modules.md "Signing"): keys written "ed25519:..." or paths of .pub
  // files (relative ones resolved like other paths of the file), and whether install and
  // loading refuse custom modules that do not verify against them.
  std::vector<std::string> trusted_keys;
  bool require_signed_modules = false;
  // Where native module code runs (docs/native.md "Isolation"): "none" in the server, "process"
  // in a sandboxed module host; overrides name modules that run otherwise; a call into an
  // isolated module that takes longer than module_call_timeout_ms fails, and its host may use at
  // most module_memory_limit_mb of address space.
  std::string module_isolation = "none";
  std::map<std::string, std::string> module_isolation_overrides;
  std::int64_t module_call_timeout_ms = 2000;
  std::int64_t module_memory_limit_mb = 1024;
  // Whether `module` runs in a module host.
  bool isolated(const std::string& module) const;
  std::string log_level = "info";
  std::string log_format = "text";  // or "json"
  // Authentication (docs/configuration.md): token lifetimes in seconds.
  std::int64_t access_token_lifetime = 15 * 60;
  std::int64_t refresh_token_lifetime = 30 * 24 * 3600;
  // Browser origins allowed to call the API (CORS; empty: none) and HSTS max-age (0: off).
  std::vector<std::string> cors_origins;
  // Addresses of reverse proxies whose X-Forwarded-For is believed (exact IP addresses).
  std::vector<std::string> trusted_proxies;
  std::int64_t hsts_max_age = 0;
  // Slow and idle clients (docs/configuration.md): open connections at most, how long one may
  // wait idle for a request, and how long a request may take to arrive once it began.
  std::int64_t max_connections = 10000;
  std::int64_t idle_timeout = 30;
  std::int64_t request_timeout = 30;
  // The web client's files (docs/web.md), served at `/`; empty: none (only /api/v1 answers).
  std::filesystem::path web_root;
  // How much of the machine and of the database one server takes (docs/configuration.md):
  // threads for work that blocks (transactions, module administration, native routes), and the
  // pipeline connections of all I/O threads for one-statement reads and for creates; 0: the
  // default (32; four per core; eight per core).
  unsigned io_workers = 0;
  unsigned read_connections = 0;
  unsigned write_connections = 0;
  // Streaming replicas that one-statement reads of records may go to (docs/scaling.md "Read
  // replicas"): skipped when down or when they lag more than replica_max_lag_ms behind the
  // primary, which is checked every replica_check_ms.
  std::vector<std::string> replica_urls;
  std::int64_t replica_max_lag_ms = 1000;
  std::int64_t replica_check_ms = 100;
  // How deep client JSON may nest (docs/configuration.md "[limits]"): a request's structure,
  // and the value of a json field.
  int json_depth = 64;
  int json_value_depth = 256;

  // The directories searched for modules: the core directory first, then addons_path.
  std::vector<std::filesystem::path> module_path() const;
};

using EnvLookup = std::function<std::optional<std::string>(const char* name)>;

// The process environment.
std::optional<std::string> process_env(const char* name);

// Builds the effective configuration: flag > environment (KEEL_DB_URL, KEEL_ADDONS_PATH,
// KEEL_LISTEN, KEEL_SECRET) > config file (`--config`, else ./keel.toml when present) > default.
// Throws keel::Error for an unreadable or invalid config file (with file:line:col).
Config load_config(const CommandLineSettings& flags, const EnvLookup& env = process_env);

// The web client's build when none is configured: ./web/dist when present, else web/dist of the
// source tree this binary was built from when present, else empty.
std::filesystem::path default_web_root();

// Splits "a:b:c" into paths, dropping empty parts.
std::vector<std::filesystem::path> split_path_list(const std::string& text);

// Where the core modules live: KEEL_CORE_PATH when set, next to an installed binary
// (<prefix>/share/keel/core), else the source tree this binary was built from.
std::filesystem::path default_core_dir(const EnvLookup& env = process_env);

}  // namespace keel
