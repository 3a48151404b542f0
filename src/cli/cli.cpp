#include "cli/cli.hpp"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "app/error.hpp"
#include "app/json.hpp"
#include "app/logging.hpp"
#include "cli/context.hpp"
#include "cli/distribution_commands.hpp"
#include "cli/lifecycle_commands.hpp"
#include "cli/module_commands.hpp"
#include "cli/serve_command.hpp"
#include "cli/user_commands.hpp"

namespace keel::cli {

namespace {

void print_error(const Error& e) {
  if (auto* v = dynamic_cast<const ValidationError*>(&e)) {
    for (const auto& d : v->diagnostics())
      std::cerr << d.to_string() << '\n';
  }
  std::cerr << "error: " << e.what() << '\n';
  for (const auto& f : e.field_errors())
    std::cerr << "  " << f.field << ": " << f.message << '\n';
  if (!e.detail().empty()) std::cerr << "  detail: " << e.detail() << '\n';
  if (!e.hint().empty()) std::cerr << "  hint: " << e.hint() << '\n';
}

}  // namespace

int exit_code_of(ErrorKind kind) {
  return kind == ErrorKind::kUsage ? 2 : 1;
}

int run(int argc, char** argv) {
  CLI::App app{"Keel: modular business applications over PostgreSQL", "keel"};
  app.set_version_flag("--version", KEEL_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options may also stand after the subcommand

  CommandLineSettings flags;
  std::string config_file, addons_path, db_url, log_level, embedded_user;
  app.add_option("--config", config_file, "configuration file (default: ./keel.toml if present)");
  app.add_option("--addons-path", addons_path,
                 "module directories, DIR[:DIR...] (default: addons)");
  app.add_option("--db", db_url, "PostgreSQL connection string or postgresql:// URL");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off");
  app.add_option("--embedded-user", embedded_user,
                 "system user that runs the embedded PostgreSQL when keel runs as root");

  Runner selected;
  add_module_commands(app, selected);
  add_lifecycle_commands(*app.get_subcommand("module"), selected);
  add_distribution_commands(app, *app.get_subcommand("module"), selected);
  add_serve_command(app, selected);
  add_user_commands(app, selected);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  auto set = [&](const char* name, const std::string& value, auto& target) {
    if (app.count(name) > 0) target = value;
  };
  set("--config", config_file, flags.config_file);
  set("--addons-path", addons_path, flags.addons_path);
  set("--db", db_url, flags.db_url);
  set("--log-level", log_level, flags.log_level);
  set("--embedded-user", embedded_user, flags.embedded_user);

  try {
    Context context;
    context.config = load_config(flags);
    init_logging(context.config.log_level, context.config.log_format);
    json::set_limits({context.config.json_depth, context.config.json_value_depth});
    if (!selected) throw UsageError("no command given", "run `keel --help`");
    return selected(context);
  } catch (const Error& e) {
    print_error(e);
    return exit_code_of(e.kind());
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  }
}

}  // namespace keel::cli
