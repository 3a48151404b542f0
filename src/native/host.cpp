#include "native/host.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "app/error.hpp"
#include "keel/layout.hpp"  // Keel's side of the locked layouts
#include "modules/manifest.hpp"
#include "native/abi.hpp"
#include "schema/registry.hpp"

#ifndef KEEL_ADDON_LIBRARY_DIR
#define KEEL_ADDON_LIBRARY_DIR ""
#endif

namespace keel::native {

namespace fs = std::filesystem;

using ServiceFactory = Host::Module::ServiceFactory;

namespace {

// The Loader handed to keel_module_init: records what the module registers.
class RecordingLoader final : public sdk::Loader {
 public:
  explicit RecordingLoader(Host::Module& module) : module_(module) {}

  const std::string& module() const override { return module_.name; }
  void hook(std::string entity, sdk::Event event, sdk::Hook fn) override {
    require(fn != nullptr, "a hook without a function");
    module_.hooks.push_back({std::move(entity), event, std::move(fn)});
  }
  void compute(std::string entity, std::string field, sdk::Compute fn,
               sdk::Policy policy) override {
    require(fn != nullptr, "a computed field without a function");
    require(policy != sdk::Policy::kExtend, "computed fields are new or overridden, not extended");
    module_.computes.push_back({std::move(entity), std::move(field), policy, std::move(fn)});
  }
  void route(std::string method, std::string path, sdk::RouteDoc doc,
             sdk::RouteHandler fn) override {
    require(fn != nullptr, "a route without a handler");
    require(!path.empty() && path[0] == '/', "route path \"" + path + "\" must start with /");
    module_.routes.push_back({std::move(method), std::move(path), std::move(fn), std::move(doc)});
  }
  void on_loaded(sdk::Callback fn) override { module_.on_loaded.push_back(std::move(fn)); }
  void on_stopping(sdk::Callback fn) override { module_.on_stopping.push_back(std::move(fn)); }
  void fail(std::string message) override { failure_ = std::move(message); }

  const std::string& failure() const { return failure_; }

 protected:
  void add_service(std::string name, std::string signature, sdk::Policy policy, ServiceFactory make,
                   std::shared_ptr<const sdk::ServiceBridge> bridge) override {
    require(!name.empty(), "a service without a name");
    module_.services.push_back(
        {std::move(name), std::move(signature), policy, std::move(make), std::move(bridge)});
  }

 private:
  void require(bool ok, const std::string& what) const {
    if (!ok)
      throw sdk::Error(sdk::ErrorKind::kInternal, "native.registration",
                       "invalid registration: " + what);
  }
  Host::Module& module_;
  std::string failure_;
};

std::string demangle(const std::string& name) {
  int status = 0;
  char* out = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
  if (status != 0 || !out) return name;
  std::string text(out);
  std::free(out);
  return text;
}

// Appends the directories of a ':'-separated list.
void append_path(std::vector<fs::path>& dirs, std::string_view list) {
  while (!list.empty()) {
    size_t colon = list.find(':');
    auto part = list.substr(0, colon);
    if (!part.empty()) dirs.emplace_back(part);
    list = colon == std::string_view::npos ? std::string_view() : list.substr(colon + 1);
  }
}

[[noreturn]] void conflict(std::string message, std::string hint) {
  throw Error("native.conflict", std::move(message), std::move(hint));
}

}  // namespace

Host& Host::instance() {
  static Host host;  // never destroyed before the libraries' code stops running
  return host;
}

Host::Host() = default;
Host::~Host() = default;

void Host::add_library_dir(fs::path dir) {
  std::lock_guard lock(mutex_);
  extra_dirs_.push_back(std::move(dir));
}

void Host::add_static(std::string library, const sdk::AbiBlock* abi, InitFunction init) {
  std::lock_guard lock(mutex_);
  static_[std::move(library)] = Static{abi, init};
}

std::vector<fs::path> Host::library_dirs(const modules::Manifest& manifest) const {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("KEEL_LIBRARY_PATH")) append_path(dirs, env);
  {
    std::lock_guard lock(mutex_);
    dirs.insert(dirs.end(), extra_dirs_.begin(), extra_dirs_.end());
  }
  append_path(dirs, KEEL_ADDON_LIBRARY_DIR);
  dirs.push_back(manifest.dir / "lib");
  dirs.push_back(manifest.dir);
  dirs.push_back(manifest.dir / "build");
  return dirs;
}

bool Host::loaded(std::string_view module) const {
  std::lock_guard lock(mutex_);
  return modules_.find(module) != modules_.end();
}

const Host::Module* Host::module(std::string_view name) const {
  std::lock_guard lock(mutex_);
  auto it = modules_.find(name);
  return it == modules_.end() ? nullptr : it->second.get();
}

fs::path Host::locate(const modules::Manifest& manifest) const {
  {
    std::lock_guard lock(mutex_);
    if (static_.count(manifest.library)) return {};
  }
  std::string file_name = "lib" + manifest.library + ".so";
  std::string searched;
  for (const auto& dir : library_dirs(manifest)) {
    std::error_code ec;
    if (fs::is_regular_file(dir / file_name, ec)) return dir / file_name;
    searched += (searched.empty() ? "" : ", ") + dir.string();
  }
  throw Error("native.not_found", "module \"" + manifest.name + "\": " + file_name + " not found",
              "build the module (keel_add_addon in its CMakeLists.txt) or add the folder "
              "holding it to KEEL_LIBRARY_PATH",
              "searched: " + searched);
}

std::unique_ptr<LibraryFile> Host::open_checked(const std::string& name, const fs::path& file,
                                                const std::optional<std::string>& digest) {
  auto library = std::make_unique<LibraryFile>(file);
  const std::string where = file.string();
  if (digest && library->digest() != *digest)
    throw Error("module.signature",
                "module \"" + name + "\": " + where +
                    " is not the library that was signed (signed " + *digest + ", the file is " +
                    library->digest() + ")",
                "rebuild the signed sources, or if the change is wanted, sign the module again "
                "with `keel module sign " +
                    name + " --key FILE`");
  if (!library->abi())
    throw Error("native.abi", "module \"" + name + "\": " + where + " has no Keel ABI note",
                "define the module with KEEL_MODULE(" + name +
                    ") from <keel/module.hpp> and rebuild it against the SDK of this Keel");
  if (auto why = abi_mismatch(*library->abi(), host_abi()))
    throw Error("native.abi", "module \"" + name + "\": cannot use " + where + ": " + *why,
                "rebuild the module against the SDK of this Keel");
  const sdk::AbiBlock& abi = *library->abi();
  std::string_view declared(abi.module, strnlen(abi.module, sizeof abi.module));
  if (declared != name)
    throw Error("native.abi",
                "module \"" + name + "\": " + where + " was built for module \"" +
                    std::string(declared) + "\"",
                "write KEEL_MODULE(" + name + ") or fix `library:` in the manifest");
  return library;
}

void Host::load(const modules::Manifest& manifest, const IsolationSettings& settings) {
  if (manifest.library.empty()) return;
  if (loaded(manifest.name)) return;
  auto module = std::make_unique<Module>();
  module->name = manifest.name;
  module->file = locate(manifest);
  std::unique_ptr<LibraryFile> file;
  if (!module->file.empty()) {
    std::optional<std::string> digest;
    if (settings.signed_library)
      digest = settings.signed_library(manifest, module->file.filename().string());
    file = open_checked(manifest.name, module->file, digest);
  }
  std::lock_guard lock(mutex_);
  if (modules_.count(manifest.name)) return;
  load_locked(std::move(module), manifest.library, file.get());
}

void Host::load_file(const std::string& name, const LibraryFile& file) {
  auto module = std::make_unique<Module>();
  module->name = name;
  module->file = file.path();
  std::lock_guard lock(mutex_);
  if (modules_.count(name)) return;
  load_locked(std::move(module), name, &file);
}

void Host::load_locked(std::unique_ptr<Module> module, const std::string& library,
                       const LibraryFile* file) {
  const std::string name = module->name;
  const sdk::AbiBlock* abi = nullptr;
  InitFunction init = nullptr;
  std::string where;
  if (auto it = static_.find(library); module->file.empty() && it != static_.end()) {
    abi = it->second.abi;
    init = it->second.init;
    where = "lib" + library + " (linked into keel)";
  } else {
    where = module->file.string();
    // The file checked before (open_checked), through its descriptor: the bytes checked are the
    // bytes loaded. Never closed: code of the module may run until the process ends.
    void* handle =
        dlopen(file ? file->loader_path().c_str() : module->file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle)
      throw Error("native.load", "module \"" + name + "\": cannot load " + where,
                  "check that the library was built for this machine and links", dlerror());
    if (file) file->keep_open();
    abi = static_cast<const sdk::AbiBlock*>(dlsym(handle, "keel_module_abi"));
    if (!abi)
      throw Error("native.abi", "module \"" + name + "\": " + where + " exports no keel_module_abi",
                  "define the module with KEEL_MODULE(" + name + ") from <keel/module.hpp>");
    init = reinterpret_cast<InitFunction>(dlsym(handle, "keel_module_init"));
  }
  if (auto why = abi_mismatch(*abi, host_abi()))
    throw Error("native.abi", "module \"" + name + "\": cannot use " + where + ": " + *why,
                "rebuild the module against the SDK of this Keel");
  std::string_view declared(abi->module, strnlen(abi->module, sizeof abi->module));
  if (declared != name)
    throw Error("native.abi",
                "module \"" + name + "\": " + where + " was built for module \"" +
                    std::string(declared) + "\"",
                "write KEEL_MODULE(" + name + ") or fix `library:` in the manifest");
  if (!init)
    throw Error("native.entry",
                "module \"" + name + "\": " + where + " has no keel_module_init entry function",
                "define the module with KEEL_MODULE(" + name + ") from <keel/module.hpp>");

  RecordingLoader loader(*module);
  int status = 1;
  try {
    status = init(&loader);
  } catch (const std::exception& e) {
    loader.fail(e.what());
  }
  if (status != 0 || !loader.failure().empty())
    throw Error(
        "native.init",
        "module \"" + name + "\": keel_module_init failed: " +
            (loader.failure().empty() ? "status " + std::to_string(status) : loader.failure()),
        "see the module's code; nothing of it was registered");
  for (const auto& fn : module->on_loaded) {
    try {
      fn();
    } catch (const std::exception& e) {
      throw Error("native.init", "module \"" + name +
                                     "\": its on_loaded callback failed: " + std::string(e.what()));
    }
  }
  spdlog::info(
      "native: loaded module {} from {} ({} hooks, {} computed fields, {} routes, {} "
      "services)",
      name, where, module->hooks.size(), module->computes.size(), module->routes.size(),
      module->services.size());
  load_order_.push_back(name);
  modules_.emplace(name, std::move(module));
}

namespace {

// What an isolated module registered, as a Module whose functions call its module host.
std::map<std::string, Host::Module, std::less<>> proxies_of(
    const std::shared_ptr<ModuleProcess>& process) {
  std::map<std::string, Host::Module, std::less<>> out;
  ModuleProcess* p = process.get();  // Extensions keeps the process alive
  const auto& all = process->registered();
  for (size_t mi = 0; mi < all.size(); ++mi) {
    Host::Module& m = out[all[mi].module];
    m.name = all[mi].module;
    for (size_t i = 0; i < all[mi].hooks.size(); ++i)
      m.hooks.push_back({all[mi].hooks[i].first, all[mi].hooks[i].second,
                         [p, mi, i](sdk::Env& env, sdk::Change& c) { p->hook(mi, i, env, c); }});
    for (size_t i = 0; i < all[mi].computes.size(); ++i) {
      const auto& [entity, field, policy] = all[mi].computes[i];
      m.computes.push_back(
          {entity, field, policy, [p, mi, i](sdk::Env& env, std::span<const std::int64_t> ids) {
             return p->compute(mi, i, env, ids);
           }});
    }
    for (size_t i = 0; i < all[mi].routes.size(); ++i)
      m.routes.push_back({all[mi].routes[i].method, all[mi].routes[i].path,
                          [p, mi, i](sdk::Env& env, const sdk::HttpRequest& req) {
                            return p->route(mi, i, env, req);
                          },
                          all[mi].routes[i].doc});
    // Services run in the host; the server builds proxies of those whose chain crosses into it
    // (Host::extensions), and knows the others for the checks and listings only.
    for (const auto& [name, signature, policy, bridged] : all[mi].services)
      m.services.push_back(
          {name, signature, policy, [](std::shared_ptr<const void>) { return nullptr; }, nullptr});
  }
  return out;
}

}  // namespace

std::shared_ptr<const Extensions> Host::extensions(
    const std::vector<const modules::Manifest*>& modules, const schema::Registry& registry,
    const IsolationSettings& isolation) {
  std::vector<ModuleProcess::Spec> isolated;
  std::string key =
      std::to_string(isolation.timeout_ms) + "/" + std::to_string(isolation.memory_mb);
  for (const auto* m : modules) {
    if (m->library.empty()) continue;
    if (!isolation.isolates(m->name)) {
      load(*m, isolation);
      continue;
    }
    auto file = locate(*m);
    if (file.empty())
      throw Error("native.isolation",
                  "module \"" + m->name + "\" is linked into keel and cannot run isolated",
                  "build it as lib" + m->library + ".so, or set its isolation to \"none\"");
    // Checked here as in-process (signature, ABI note), before a host is started; the host
    // loads only these bytes.
    std::optional<std::string> digest;
    if (isolation.signed_library) digest = isolation.signed_library(*m, file.filename().string());
    auto checked = open_checked(m->name, file, digest);
    key += "|" + m->name + "=" + file.string() + "@" + checked->digest();
    isolated.push_back({m->name, file, checked->digest()});
  }
  // The module host of `key` (started when there is none yet).
  auto process_of = [&](const std::string& key) {
    std::shared_ptr<ModuleProcess> process;
    {
      std::lock_guard lock(mutex_);
      if (auto it = processes_.find(key); it != processes_.end()) process = it->second;
    }
    if (!process) {
      process = std::make_shared<ModuleProcess>(isolated, isolation);
      std::lock_guard lock(mutex_);
      processes_[key] = process;
    }
    return process;
  };
  std::shared_ptr<ModuleProcess> process;
  if (!isolated.empty()) process = process_of(key);
  auto [out, cross] = assemble(modules, registry, isolation, process);
  if (!cross.empty()) {
    // Service chains that cross between the server and the host: the host builds its levels
    // once per process. A host set up for another layout (a module installed in-process since)
    // is not changed under the snapshots that use it: another host gets this layout.
    auto layout = ModuleProcess::layout(cross);
    if (!process->cross_services().empty() &&
        ModuleProcess::layout(process->cross_services()) != layout) {
      process = process_of(key + "#" + layout);
      std::tie(out, cross) = assemble(modules, registry, isolation, process);
    }
    if (process->cross_services().empty()) process->set_cross_services(std::move(cross));
    for (const auto& c : process->cross_services())
      out->services_.at(c.name).top = c.server_top;
  }
  return out;
}

std::pair<std::shared_ptr<Extensions>, std::vector<ModuleProcess::CrossService>> Host::assemble(
    const std::vector<const modules::Manifest*>& modules, const schema::Registry& registry,
    const IsolationSettings& isolation, const std::shared_ptr<ModuleProcess>& process) {
  auto out = std::make_shared<Extensions>();
  std::map<std::string, Module, std::less<>> proxies;
  if (process) {
    proxies = proxies_of(process);
    out->process_ = process;
  }
  // The levels of every service chain, provider first, in the server or in the host.
  struct Chain {
    std::vector<ModuleProcess::CrossService::Level> levels;
    std::vector<const Module::ServiceReg*> regs;  // the server's levels (null for the host's)
    std::vector<bool> bridged;
  };
  std::map<std::string, Chain, std::less<>> chains;
  std::lock_guard lock(mutex_);
  for (const auto* m : modules) {
    const Module* found = nullptr;
    if (auto p = proxies.find(m->name); p != proxies.end())
      found = &p->second;
    else if (auto it = modules_.find(m->name); it != modules_.end() && !isolation.isolates(m->name))
      found = it->second.get();
    if (m->library.empty() || !found) continue;
    const Module& module = *found;
    const std::string& name = module.name;

    for (const auto& h : module.hooks) {
      const schema::Entity* e = registry.entity(h.entity);
      if (!e)
        conflict("module \"" + name + "\" registers a " + std::string(to_string(h.event)) +
                     " hook on \"" + h.entity + "\", which is no entity",
                 "name an entity of the module or of one of its dependencies");
      auto policy = e->module == name ? sdk::Policy::kNew : sdk::Policy::kExtend;
      out->hooks_[h.entity][static_cast<size_t>(h.event)].push_back({{name, policy}, h.fn});
    }

    for (const auto& c : module.computes) {
      const schema::Entity* e = registry.entity(c.entity);
      const schema::Field* f = e ? e->field(c.field) : nullptr;
      std::string key = c.entity + "." + c.field;
      if (!f)
        conflict("module \"" + name + "\" computes \"" + key + "\", which is no field",
                 "declare it in an entity file with computed: true");
      if (!f->computed)
        conflict("module \"" + name + "\" computes \"" + key +
                     "\", which is not declared "
                     "computed: true",
                 "declare it with {computed: true} (and store: true to keep it in a column)");
      auto found = out->computes_.find(key);
      if (c.policy == sdk::Policy::kNew && found != out->computes_.end())
        conflict(
            "\"" + key + "\" is computed by both \"" + found->second.stamp.module + "\" and \"" +
                name + "\"",
            "the later module overrides it: loader.compute(..., keel::sdk::Policy::kOverride)");
      if (c.policy == sdk::Policy::kOverride && found == out->computes_.end())
        conflict("module \"" + name + "\" overrides the computation of \"" + key +
                     "\", which no installed module computes",
                 "register it with Policy::kNew");
      Extensions::Compute entry{{name, c.policy}, c.fn, {}};
      if (found != out->computes_.end()) {
        entry.overridden = found->second.overridden;
        entry.overridden.push_back(found->second.stamp.module);
      }
      out->computes_[key] = std::move(entry);
    }

    for (const auto& r : module.routes) {
      std::string pattern = "/api/v1/x/" + name + r.path;
      for (const auto& other : out->routes_)
        if (other.method == r.method && other.pattern == pattern)
          conflict("module \"" + name + "\" registers " + r.method + " " + pattern + " twice",
                   "register each method and path once");
      out->routes_.push_back({{name, sdk::Policy::kNew}, r.method, pattern, r.fn, r.doc});
    }

    const bool in_host = proxies.count(name) > 0;
    size_t host_module = 0;
    if (in_host)
      while (process->registered().at(host_module).module != name)
        ++host_module;
    for (size_t si = 0; si < module.services.size(); ++si) {
      const auto& s = module.services[si];
      ModuleProcess::CrossService::Level level;
      level.in_host = in_host;
      if (in_host) {
        level.module = host_module;
        level.index = si;
      } else {
        level.server_module = name;
        level.make = s.make;
      }
      bool bridged = in_host ? std::get<3>(process->registered()[host_module].services[si])
                             : s.bridge != nullptr;
      auto found = out->services_.find(s.name);
      if (s.policy == sdk::Policy::kNew) {
        if (found != out->services_.end())
          conflict("service \"" + s.name + "\" is provided by both \"" +
                       found->second.chain.front().module + "\" and \"" + name + "\"",
                   "the later module overrides it: loader.override_service<Sig>(...)");
        out->services_[s.name] = {s.signature, {{name, s.policy}}, nullptr};
        chains[s.name] = {{level}, {in_host ? nullptr : &s}, {bridged}};
        continue;
      }
      if (found == out->services_.end())
        conflict("module \"" + name + "\" overrides service \"" + s.name +
                     "\", which no installed module provides",
                 "depend on the module that provides it, or provide it");
      if (found->second.signature != s.signature)
        conflict("module \"" + name + "\" overrides service \"" + s.name + "\" as " +
                     demangle(s.signature) + ", but \"" + found->second.chain.front().module +
                     "\" provides it as " + demangle(found->second.signature),
                 "use the provider's signature");
      found->second.chain.push_back({name, s.policy});
      auto& chain = chains.at(s.name);
      chain.levels.push_back(level);
      chain.regs.push_back(in_host ? nullptr : &s);
      chain.bridged.push_back(bridged);
    }
  }
  // Each chain on one side is built there; one that crosses is built on both (the host's levels
  // by the host), with proxies where a level's `next` lies on the other side.
  std::vector<ModuleProcess::CrossService> cross;
  for (auto& [name, chain] : chains) {
    auto& service = out->services_.at(name);
    size_t in_host = 0;
    for (const auto& l : chain.levels)
      in_host += l.in_host ? 1 : 0;
    if (in_host == chain.levels.size()) continue;  // the host's: ModuleEnv refuses it here
    if (in_host == 0) {
      for (const auto* reg : chain.regs)
        service.top = reg->make(service.top);
      continue;
    }
    ModuleProcess::CrossService c;
    c.name = name;
    for (size_t i = 0; i < chain.levels.size(); ++i) {
      if (!chain.bridged[i])
        conflict("service \"" + name +
                     "\" is provided and overridden by modules in two isolation "
                     "modes, and the signature " +
                     demangle(service.signature) + " of \"" + service.chain[i].module +
                     "\" cannot cross between processes",
                 "give it parameters and a result of Value, Record, Decimal, std::string, bool, "
                 "integers or double after Env&, or run these modules in the same isolation "
                 "mode (security.module_isolation_overrides)");
      if (chain.regs[i] && !c.bridge) c.bridge = chain.regs[i]->bridge;
    }
    c.levels = std::move(chain.levels);
    cross.push_back(std::move(c));
  }
  return {out, std::move(cross)};
}

void Host::stopping() {
  std::vector<Module*> order;
  {
    std::lock_guard lock(mutex_);
    for (auto it = load_order_.rbegin(); it != load_order_.rend(); ++it)
      order.push_back(modules_.at(*it).get());
  }
  for (Module* m : order)
    for (const auto& fn : m->on_stopping) {
      try {
        fn();
      } catch (const std::exception& e) {
        spdlog::error("native: module {}: on_stopping failed: {}", m->name, e.what());
      }
    }
}

}  // namespace keel::native
