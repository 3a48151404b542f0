#include "cli/distribution_commands.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <memory>

#include "app/error.hpp"
#include "cli/context.hpp"
#include "modules/fetch.hpp"
#include "modules/graph.hpp"
#include "modules/manifest.hpp"
#include "modules/scaffold.hpp"
#include "modules/signing.hpp"
#include "native/host.hpp"

namespace keel::cli {
namespace fs = std::filesystem;

namespace {

struct Args {
  std::string name;
  std::string key;
  std::vector<std::string> trusted;
  std::string out;
  std::string entity;
  bool update = false;
  bool native = false;
};

// The folder of module `name`: the first directory of the module path that holds
// `name/manifest.yaml` (the rule discovery follows), without reading any other module.
fs::path find_module_dir(const Config& config, const std::string& name) {
  if (!modules::is_valid_name(name))
    throw UsageError("bad module name \"" + name + "\"",
                     "module names are lowercase letters, digits and _, starting with a letter");
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& dir : config.module_path()) {
    if (fs::is_regular_file(dir / name / "manifest.yaml", ec)) return dir / name;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (fs::is_regular_file(entry.path() / "manifest.yaml", ec))
        names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string_view> views(names.begin(), names.end());
  auto near = closest_match(name, views);
  throw Error(
      "module.unknown", "no module named \"" + name + "\" on the addons path",
      near ? "did you mean \"" + std::string(*near) + "\"?" : "check the name and the addons path");
}

modules::Manifest module_manifest(const fs::path& dir) {
  Diagnostics diagnostics;
  auto manifest = modules::load_manifest(dir, diagnostics);
  throw_if_errors(diagnostics, "module.invalid", "invalid manifest");
  return *manifest;
}

int fetch(Context& c, bool update) {
  if (c.config.addons_path.empty())
    throw Error("fetch.no_directory", "there is no addons directory to fetch into",
                "give one with --addons-path, KEEL_ADDONS_PATH or addons.path in keel.toml");
  modules::FetchOptions options;
  options.module_path = c.config.module_path();
  options.core_dir = c.config.core_dir;
  options.target_dir = c.config.addons_path.front();
  options.update = update;
  options.report = [](const std::string& line) { std::cout << line << '\n'; };
  auto result = modules::fetch_modules(options);
  for (const auto& d : result.warnings.items())
    std::cerr << d.to_string() << '\n';
  if (result.fetched.empty()) std::cout << "nothing to fetch\n";
  std::cout << options.lock_file.string() << ": " << result.lock.entries.size()
            << (result.lock.entries.size() == 1 ? " module\n" : " modules\n");
  // The graph with what was fetched: a cycle or an unmet constraint is reported as usual.
  auto graph = load_graph(c);
  throw_if_errors(graph.diagnostics(), "module.unresolvable",
                  "the module graph cannot be resolved");
  return 0;
}

int sign(Context& c, const Args& args) {
  if (args.key.empty())
    throw UsageError("--key FILE is required", "the secret key file to sign with");
  fs::path dir = find_module_dir(c.config, args.name);
  // A native module's built library is signed too (the code that runs): it must be built first.
  fs::path library;
  if (auto manifest = module_manifest(dir); !manifest.library.empty())
    library = native::Host::instance().locate(manifest);
  auto key = modules::sign_module(dir, args.key, library);
  std::cout << "signed " << args.name << " (" << (dir / "SIGNATURE").string() << ") with key "
            << key.text() << '\n';
  if (!library.empty()) std::cout << "  and its library " << library.string() << '\n';
  return 0;
}

int verify(Context& c, const Args& args) {
  fs::path dir = find_module_dir(c.config, args.name);
  auto policy = modules::trust_policy(c.config);
  for (const auto& k : args.trusted)
    policy.trusted.push_back(modules::load_trusted_key(k));
  modules::verify_module(dir, policy.trusted, args.name);
  std::string library;
  if (auto manifest = module_manifest(dir); !manifest.library.empty()) {
    auto file = native::Host::instance().locate(manifest);
    if (!file.empty()) {
      auto digest =
          modules::signed_library_digest(dir, policy.trusted, args.name, file.filename().string());
      native::Host::open_checked(args.name, file, digest);
      library = ", and its library " + file.string();
    }
  }
  std::cout << args.name << ": signature OK, every file as signed" << library
            << ", by trusted key\n";
  return 0;
}

int new_module(Context& c, const Args& args) {
  if (c.config.addons_path.empty())
    throw Error("module.no_directory", "there is no addons directory to create the module in",
                "give one with --addons-path, KEEL_ADDONS_PATH or addons.path in keel.toml");
  const fs::path dir = c.config.addons_path.front();
  auto files = modules::scaffold_module(dir, {args.name, args.entity, args.native});
  std::cout << "created " << (dir / args.name).string() << ":\n";
  for (const auto& f : files)
    std::cout << "  " << f << '\n';
  if (args.native)
    std::cout << "build its library with Keel's build (addons/ of the source tree) or on its own "
                 "(see CMakeLists.txt), then\n";
  std::cout << "next: keel module install " << args.name << '\n';
  return 0;
}

int generate_key(const Args& args) {
  if (args.out.empty()) throw UsageError("--out FILE is required");
  auto key = modules::write_key_pair(args.out);
  std::cout << "wrote " << args.out << " (secret key, mode 0600) and " << args.out << ".pub\n"
            << "public key: " << key.text() << '\n';
  return 0;
}

}  // namespace

void add_distribution_commands(CLI::App& app, CLI::App& module, Runner& selected) {
  auto args = std::make_shared<Args>();

  auto* fetch_cmd = module.add_subcommand(
      "fetch", "clone missing git dependencies into the first addons directory; write addons.lock");
  fetch_cmd->add_flag("--update", args->update,
                      "move fetched modules to what their refs name now, ignoring addons.lock");
  fetch_cmd->fallthrough();
  fetch_cmd->callback(
      [&selected, args] { selected = [args](Context& c) { return fetch(c, args->update); }; });

  auto* new_cmd = module.add_subcommand(
      "new", "scaffold a module: manifest, an entity, access rules, views and a data file");
  new_cmd->add_option("name", args->name, "the new module")->required();
  new_cmd->add_option("--entity", args->entity, "its first entity (default: the module's name)");
  new_cmd->add_flag("--native", args->native, "also a C++ skeleton and its CMakeLists.txt");
  new_cmd->fallthrough();
  new_cmd->callback(
      [&selected, args] { selected = [args](Context& c) { return new_module(c, *args); }; });

  auto* sign_cmd = module.add_subcommand("sign", "write SIGNATURE into a module folder");
  sign_cmd->add_option("name", args->name, "the module")->required();
  sign_cmd->add_option("--key", args->key, "secret key file (from `keel key generate`)")
      ->required();
  sign_cmd->fallthrough();
  sign_cmd->callback(
      [&selected, args] { selected = [args](Context& c) { return sign(c, *args); }; });

  auto* verify_cmd =
      module.add_subcommand("verify", "check a module's SIGNATURE against the trusted keys");
  verify_cmd->add_option("name", args->name, "the module")->required();
  verify_cmd->add_option("--key", args->trusted,
                         "a trusted public key (FILE.pub or \"ed25519:...\"), in addition to "
                         "security.trusted_keys; may be repeated");
  verify_cmd->fallthrough();
  verify_cmd->callback(
      [&selected, args] { selected = [args](Context& c) { return verify(c, *args); }; });

  auto* key = app.add_subcommand("key", "signing keys");
  key->require_subcommand(1);
  key->fallthrough();
  auto* generate = key->add_subcommand("generate", "write an Ed25519 key pair: FILE and FILE.pub");
  generate->add_option("--out", args->out, "the secret key file; the public key goes to FILE.pub")
      ->required();
  generate->fallthrough();
  generate->callback(
      [&selected, args] { selected = [args](Context&) { return generate_key(*args); }; });
}

}  // namespace keel::cli
