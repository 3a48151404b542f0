#pragma once

// Native modules in a sandboxed module host process (docs/native.md "Isolation"): the server
// side. A ModuleProcess starts `keel-module-host` with a fresh environment and one end of a
// socket pair, has it load the isolated modules of a registry snapshot, and turns calls of their
// hooks, computed fields and routes into messages (native/wire.hpp). Records calls the module
// makes while it runs come back over the same channel and run here, in the caller's transaction
// with the caller's rights. A host that crashes, runs out of memory or misses the call's deadline
// fails the call (native.crashed / native.timeout) and is started again for the next one.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "keel/env.hpp"
#include "keel/http.hpp"
#include "keel/loader.hpp"

namespace keel {
struct Config;
}
namespace keel::modules {
struct Manifest;
}

namespace keel::native {

struct IsolationSettings {
  std::function<bool(const std::string& module)> isolated;  // empty: every module in-process
  std::int64_t timeout_ms = 2000;                           // one call's time in the host
  std::int64_t memory_mb = 1024;                            // the host's address space
  // With security.require_signed_modules: the SHA-256 ("sha256:<hex>") the module's signature
  // records for its library `file` ("libsales.so"), checked against the library's bytes before
  // it is opened, in both modes; throws module.signature when it is not signed. nullopt: no
  // check (a core module, or signatures not required). Empty: no check at all.
  std::function<std::optional<std::string>(const modules::Manifest& module,
                                           const std::string& file)>
      signed_library;

  bool isolates(const std::string& module) const { return isolated && isolated(module); }
};
IsolationSettings isolation_of(const Config& config);

// Where keel-module-host is: KEEL_MODULE_HOST, next to the running executable, else the one of
// this build.
std::filesystem::path module_host_path();

// Calls into module hosts that failed since the process started, for /metrics.
struct HostFailures {
  std::int64_t crashed = 0;
  std::int64_t timeout = 0;
};
HostFailures host_failures();

class ModuleProcess {
 public:
  struct Spec {
    std::string name;
    std::filesystem::path file;  // lib<library>.so
    std::string digest;          // its SHA-256 as the server checked it: the host loads only that
  };
  // What one module registered in the host, in registration order (calls name them by index).
  struct Registered {
    std::string module;
    std::vector<std::pair<std::string, sdk::Event>> hooks;
    std::vector<std::tuple<std::string, std::string, sdk::Policy>> computes;
    struct Route {
      std::string method, path;
      sdk::RouteDoc doc;
    };
    std::vector<Route> routes;
    // name, signature, policy, and whether it can cross between processes (a ServiceBridge)
    std::vector<std::tuple<std::string, std::string, sdk::Policy, bool>> services;
  };

  // A service chain whose levels are partly in this host, partly in the server (a provider and
  // its overrides in two isolation modes). Each side builds its own levels; a level whose
  // `next` lies on the other side gets a proxy (sdk::ServiceBridge) that calls across.
  struct CrossService {
    using Factory = std::function<std::shared_ptr<const void>(std::shared_ptr<const void>)>;
    struct Level {
      bool in_host = false;
      size_t module = 0, index = 0;    // in_host: the module and service of registered()
      std::string server_module;       // !in_host: the in-process module
      Factory make;                    // !in_host: its factory
      std::shared_ptr<const void> fn;  // !in_host: its function, built by set_cross_services
    };
    std::string name;
    std::vector<Level> levels;                         // provider first
    std::shared_ptr<const sdk::ServiceBridge> bridge;  // of a server level: makes its proxies
    std::shared_ptr<const void> server_top;            // what callers in the server get
  };

  // Starts the host and loads `modules` (dependency order) in it; throws keel::Error as an
  // in-process load would (native.load, native.abi, native.init, ...).
  ModuleProcess(std::vector<Spec> modules, IsolationSettings settings);
  ~ModuleProcess();
  ModuleProcess(const ModuleProcess&) = delete;
  ModuleProcess& operator=(const ModuleProcess&) = delete;

  const std::vector<Registered>& registered() const { return registered_; }

  // The calls (proxies of the module's functions); module and index as in registered().
  void hook(size_t module, size_t index, sdk::Env& env, sdk::Change& change);
  std::vector<sdk::Value> compute(size_t module, size_t index, sdk::Env& env,
                                  std::span<const std::int64_t> ids);
  sdk::HttpResponse route(size_t module, size_t index, sdk::Env& env,
                          const sdk::HttpRequest& request);

  // The chains that cross between this host and the server: builds their server levels, sends
  // the layout to the host (and again to every restarted host). Set once per process.
  void set_cross_services(std::vector<CrossService> services);
  const std::vector<CrossService>& cross_services() const { return cross_; }
  // "name:h0.1,s(sales_discount);...": two processes with the same layout answer alike.
  static std::string layout(const std::vector<CrossService>& services);

  // How many times a host of this process died or was killed (crash, memory, deadline).
  std::int64_t failures() const;
  pid_t pid() const;

 private:
  class Call;
  sdk::Record call_service(size_t service, size_t level, sdk::Env& env,
                           const std::vector<sdk::Record>& args);
  void send_cross_services();     // under mutex_
  void start();                   // under mutex_
  void stop();                    // kills and reaps the host, under mutex_
  std::string reap(bool killed);  // why the host ended, for the error
  [[noreturn]] void died(size_t module, const std::string& why, bool timeout);

  std::vector<Spec> specs_;
  IsolationSettings settings_;
  std::vector<Registered> registered_;
  std::vector<CrossService> cross_;
  mutable std::recursive_mutex mutex_;
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string inbox_;             // bytes of the channel read past the last frame
  std::uint64_t generation_ = 0;  // +1 per host started
  std::int64_t failures_ = 0;
  std::deque<std::chrono::steady_clock::time_point> recent_failures_;
  bool disabled_ = false;
};

}  // namespace keel::native
