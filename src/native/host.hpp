#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keel/abi.hpp"
#include "native/extensions.hpp"
#include "native/isolation.hpp"
#include "native/library_file.hpp"

namespace keel::modules {
struct Manifest;
}
namespace keel::schema {
class Registry;
}

namespace keel::native {

// The entry function every module exports (KEEL_MODULE).
using InitFunction = int (*)(sdk::Loader*);

// The native code of the process: libraries loaded once and never unloaded (their code may
// still run in requests that hold an older snapshot), with what each registered. One per
// process, like the dynamic loader it wraps.
class Host {
 public:
  static Host& instance();

  // Loads the library of `manifest` (`library:`) unless it has none or is loaded already:
  // finds lib<library>.so (library_dirs), opens the file and checks, before any of its code
  // runs, its signature (settings.signed_library) and its ABI note (SDK ABI, Keel version,
  // compiler, standard library, module name); then dlopen(RTLD_NOW | RTLD_LOCAL) of that open
  // file, the exported ABI block again, keel_module_init with a Loader and the module's
  // on_loaded callbacks. Throws keel::Error (`native.*`, `module.signature`) naming the module,
  // the file and the cause.
  void load(const modules::Manifest& manifest, const IsolationSettings& settings = {});

  // The extensions of `modules` (installed ones, dependency order), loading what is not loaded
  // yet, checked against `registry`: hooks and computed fields on entities and fields that
  // exist, no two providers of one service, overrides of services that exist with the same
  // signature, no route twice. Throws keel::Error (`native.conflict`) otherwise.
  // Modules that `isolation` isolates are never loaded here: a module host process loads them
  // (native/isolation.hpp) and what they registered is called through it.
  std::shared_ptr<const Extensions> extensions(const std::vector<const modules::Manifest*>& modules,
                                               const schema::Registry& registry,
                                               const IsolationSettings& isolation = {});

  // lib<library>.so of `manifest` (a library linked into keel: empty); throws native.not_found.
  std::filesystem::path locate(const modules::Manifest& manifest) const;
  // Loads `file`, opened and checked already, as module `name` (the module host: the server
  // found the file).
  void load_file(const std::string& name, const LibraryFile& file);

  // Opens lib<library>.so of module `name` and checks it before anything of it runs: its bytes
  // against `digest` (when given: a signed library, or the one the server checked), and its ABI
  // note against this Keel's. Throws keel::Error (module.signature, native.abi, native.load).
  static std::unique_ptr<LibraryFile> open_checked(const std::string& name,
                                                   const std::filesystem::path& file,
                                                   const std::optional<std::string>& digest);

  // Where lib<library>.so of `manifest` is looked for, in order: KEEL_LIBRARY_PATH (':'),
  // directories added here, the build's addon output directory, then the module folder's
  // lib/, itself and build/.
  std::vector<std::filesystem::path> library_dirs(const modules::Manifest& manifest) const;
  void add_library_dir(std::filesystem::path dir);

  // A library linked into the binary (KEEL_STATIC_ADDONS): `load` uses its `init`, after the
  // same checks of `abi`, instead of lib<library>.so.
  void add_static(std::string library, const sdk::AbiBlock* abi, InitFunction init);

  bool loaded(std::string_view module) const;
  // Calls the on_stopping callbacks, last loaded first; errors are logged.
  void stopping();

  // One loaded module and what it registered.
  struct Module {
    struct HookReg {
      std::string entity;
      sdk::Event event;
      sdk::Hook fn;
    };
    struct ComputeReg {
      std::string entity, field;
      sdk::Policy policy;
      sdk::Compute fn;
    };
    struct RouteReg {
      std::string method, path;
      sdk::RouteHandler fn;
      sdk::RouteDoc doc;
    };
    using ServiceFactory = std::function<std::shared_ptr<const void>(std::shared_ptr<const void>)>;
    struct ServiceReg {
      std::string name, signature;
      sdk::Policy policy;
      ServiceFactory make;
      std::shared_ptr<const sdk::ServiceBridge> bridge;  // how it crosses; null: it cannot
    };

    std::string name;
    std::filesystem::path file;  // empty for a module linked into the binary
    std::vector<HookReg> hooks;
    std::vector<ComputeReg> computes;
    std::vector<RouteReg> routes;
    std::vector<ServiceReg> services;
    std::vector<sdk::Callback> on_loaded, on_stopping;
  };
  // A loaded module (nullptr: none of that name).
  const Module* module(std::string_view name) const;

 private:
  Host();
  ~Host();
  void load_locked(std::unique_ptr<Module> module, const std::string& library,
                   const LibraryFile* file);
  // The extensions of `modules`, isolated ones through `process`, and the service chains that
  // cross between the server and that host (their tops still unset in the result).
  std::pair<std::shared_ptr<Extensions>, std::vector<ModuleProcess::CrossService>> assemble(
      const std::vector<const modules::Manifest*>& modules, const schema::Registry& registry,
      const IsolationSettings& isolation, const std::shared_ptr<ModuleProcess>& process);

  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Module>, std::less<>> modules_;
  std::vector<std::string> load_order_;
  std::vector<std::filesystem::path> extra_dirs_;
  struct Static {
    const sdk::AbiBlock* abi;
    InitFunction init;
  };
  std::map<std::string, Static, std::less<>> static_;
  // Module hosts, one per set of isolated modules (and their files), kept while it is in use.
  std::map<std::string, std::shared_ptr<ModuleProcess>, std::less<>> processes_;
};

// Registers the libraries linked into the keel binary with Host::add_static (none unless built
// with -DKEEL_STATIC_ADDONS=ON). Defined in the build's generated static_addons.cpp, part of
// the keel executable only; main() calls it first.
void register_static_modules();

}  // namespace keel::native
