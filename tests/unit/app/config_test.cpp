#include "app/config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "app/error.hpp"
#include "cli/cli.hpp"
#include "modules/manifest.hpp"

namespace keel {
namespace {
namespace fs = std::filesystem;

using Paths = std::vector<fs::path>;

// Each test runs in a fresh temporary working directory (load_config reads ./keel.toml).
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "keel-config-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    old_cwd_ = fs::current_path();
    fs::current_path(dir_);
  }
  void TearDown() override {
    fs::current_path(old_cwd_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path write(const fs::path& relative, const std::string& text) {
    fs::path file = dir_ / relative;
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
    return file;
  }

  // An environment holding exactly `vars`.
  static EnvLookup env(std::map<std::string, std::string> vars = {}) {
    return [vars](const char* name) -> std::optional<std::string> {
      auto it = vars.find(name);
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
  }

  // The single diagnostic of the ValidationError that loading `text` as a config file throws.
  Diagnostic invalid(const std::string& text) {
    CommandLineSettings flags;
    flags.config_file = write("bad.toml", text);
    try {
      load_config(flags, env());
    } catch (const ValidationError& e) {
      EXPECT_EQ(e.code(), "config.invalid");
      EXPECT_NE(std::string(e.what()).find((dir_ / "bad.toml").string()), std::string::npos)
          << e.what();
      EXPECT_EQ(e.diagnostics().size(), 1u);
      if (!e.diagnostics().empty()) return e.diagnostics()[0];
      return {};
    }
    ADD_FAILURE() << "no ValidationError for:\n" << text;
    return {};
  }

  fs::path dir_;
  fs::path old_cwd_;
};

TEST_F(ConfigTest, DefaultsWithoutFileEnvOrFlags) {
  Config c = load_config({}, env());
  EXPECT_TRUE(c.config_file.empty());
  EXPECT_EQ(c.db_url, "");
  EXPECT_EQ(c.embedded_user, "postgres");
  EXPECT_EQ(c.addons_path, (Paths{"addons"}));
  EXPECT_EQ(c.var_dir, "var");
  EXPECT_EQ(c.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.secret, "");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.core_dir, fs::path(KEEL_SOURCE_DIR "/core"));
}

TEST_F(ConfigTest, CoreDirectoryComesFromKeelCorePath) {
  EXPECT_EQ(load_config({}, env({{"KEEL_CORE_PATH", "/opt/keel/core"}})).core_dir,
            "/opt/keel/core");
  EXPECT_EQ(default_core_dir(env({{"KEEL_CORE_PATH", "/x"}})), "/x");
  EXPECT_EQ(default_core_dir(env()), fs::path(KEEL_SOURCE_DIR "/core"));
}

// The web client's build: ./web/dist when it holds an index.html, a path of the file relative to
// the file, KEEL_WEB_ROOT over both.
TEST_F(ConfigTest, WebRootFromWorkingDirectoryFileAndEnvironment) {
  write("web/dist/index.html", "<!doctype html>");
  EXPECT_EQ(load_config({}, env()).web_root, fs::absolute(dir_ / "web/dist"));
  CommandLineSettings flags;
  flags.config_file = write("etc/keel.toml", "[server]\nweb_root = \"../client\"\n");
  EXPECT_EQ(load_config(flags, env()).web_root, (dir_ / "client").lexically_normal());
  EXPECT_EQ(load_config(flags, env({{"KEEL_WEB_ROOT", "/srv/web"}})).web_root, "/srv/web");
  EXPECT_EQ(invalid("[server]\nweb_root = 1\n").message, "server.web_root must be a string");
}

TEST_F(ConfigTest, ModulePathPutsCoreFirstAndOnlyOnce) {
  Config c;
  c.core_dir = "/core";
  c.addons_path = {"/a", "/core", "/b"};
  EXPECT_EQ(c.module_path(), (Paths{"/core", "/a", "/b"}));
  c.core_dir.clear();
  EXPECT_EQ(c.module_path(), (Paths{"/a", "/core", "/b"}));
}

TEST_F(ConfigTest, SplitPathListDropsEmptyParts) {
  EXPECT_EQ(split_path_list("a:b/c:/d"), (Paths{"a", "b/c", "/d"}));
  EXPECT_EQ(split_path_list(":a::b:"), (Paths{"a", "b"}));
  EXPECT_EQ(split_path_list(""), Paths{});
}

TEST_F(ConfigTest, ReadsEveryKeyOfTheFile) {
  fs::path file = write("etc/keel.toml", R"(
[database]
url = "postgresql://db/keel"
embedded_user = "keel"
read_connections = 6
write_connections = 24
replica_urls = ["postgresql://replica1/keel", "host=replica2 dbname=keel"]
replica_max_lag_ms = 250
replica_check_ms = 20

[addons]
path = ["/srv/addons", "more"]

[server]
listen = "0.0.0.0:9000"
io_workers = 12
max_connections = 500
idle_timeout = 5
request_timeout = 7

[security]
secret = "s3cret"

[log]
level = "debug"

[paths]
var = "state"
)");
  CommandLineSettings flags;
  flags.config_file = file;
  Config c = load_config(flags, env());
  EXPECT_EQ(c.config_file, file);
  EXPECT_EQ(c.db_url, "postgresql://db/keel");
  EXPECT_EQ(c.embedded_user, "keel");
  EXPECT_EQ(c.addons_path, (Paths{"/srv/addons", dir_ / "etc" / "more"}));
  EXPECT_EQ(c.listen, "0.0.0.0:9000");
  EXPECT_EQ(c.io_workers, 12u);
  EXPECT_EQ(c.max_connections, 500);
  EXPECT_EQ(c.idle_timeout, 5);
  EXPECT_EQ(c.request_timeout, 7);
  EXPECT_EQ(c.read_connections, 6u);
  EXPECT_EQ(c.write_connections, 24u);
  EXPECT_EQ(c.replica_urls,
            (std::vector<std::string>{"postgresql://replica1/keel", "host=replica2 dbname=keel"}));
  EXPECT_EQ(c.replica_max_lag_ms, 250);
  EXPECT_EQ(c.replica_check_ms, 20);
  EXPECT_EQ(c.secret, "s3cret");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.var_dir, dir_ / "etc" / "state");
}

TEST_F(ConfigTest, AddonsPathAsColonSeparatedString) {
  CommandLineSettings flags;
  flags.config_file = write("conf/keel.toml", "[addons]\npath = \"a:/abs/b::../c/./d\"\n");
  EXPECT_EQ(load_config(flags, env()).addons_path,
            (Paths{dir_ / "conf" / "a", "/abs/b", dir_ / "c" / "d"}));
}

TEST_F(ConfigTest, AbsoluteVarDirectoryIsKept) {
  CommandLineSettings flags;
  flags.config_file = write("keel.toml", "[paths]\nvar = \"/var/lib/keel\"\n");
  EXPECT_EQ(load_config(flags, env()).var_dir, "/var/lib/keel");
}

TEST_F(ConfigTest, ReadsKeelTomlInTheWorkingDirectoryByDefault) {
  write("keel.toml", "[server]\nlisten = \"1.2.3.4:5\"\n[addons]\npath = [\"mods\"]\n");
  Config c = load_config({}, env());
  EXPECT_EQ(c.config_file, "keel.toml");
  EXPECT_EQ(c.listen, "1.2.3.4:5");
  EXPECT_EQ(c.addons_path, (Paths{"mods"}));  // relative to the file, which is here
}

TEST_F(ConfigTest, ExplicitConfigReplacesTheDefaultFile) {
  write("keel.toml", "[server]\nlisten = \"default:1\"\n");
  CommandLineSettings flags;
  flags.config_file = write("other.toml", "[log]\nlevel = \"warn\"\n");
  Config c = load_config(flags, env());
  EXPECT_EQ(c.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.log_level, "warn");
}

TEST_F(ConfigTest, PrecedenceIsFlagThenEnvironmentThenFileThenDefault) {
  fs::path file = write("keel.toml", R"([database]
url = "file-db"
embedded_user = "file-user"
[addons]
path = "/file/addons"
[server]
listen = "file:1"
[security]
secret = "file-secret"
[log]
level = "error"
)");
  const std::map<std::string, std::string> vars = {
      {"KEEL_DB_URL", "env-db"},  {"KEEL_ADDONS_PATH", "/env/a:/env/b"},
      {"KEEL_LISTEN", "env:2"},   {"KEEL_SECRET", "env-secret"},
      {"KEEL_LOG_LEVEL", "warn"},
  };
  CommandLineSettings flags;
  flags.db_url = "flag-db";
  flags.addons_path = "/flag/addons";
  flags.listen = "flag:3";
  flags.log_level = "trace";
  flags.embedded_user = "flag-user";

  // Flags beat everything.
  CommandLineSettings with_file = flags;
  with_file.config_file = file;
  Config c = load_config(with_file, env(vars));
  EXPECT_EQ(c.db_url, "flag-db");
  EXPECT_EQ(c.addons_path, (Paths{"/flag/addons"}));
  EXPECT_EQ(c.listen, "flag:3");
  EXPECT_EQ(c.log_level, "trace");
  EXPECT_EQ(c.embedded_user, "flag-user");
  EXPECT_EQ(c.secret, "env-secret");  // no flag for the secret

  // Environment beats the file.
  c = load_config({}, env(vars));
  EXPECT_EQ(c.db_url, "env-db");
  EXPECT_EQ(c.addons_path, (Paths{"/env/a", "/env/b"}));
  EXPECT_EQ(c.listen, "env:2");
  EXPECT_EQ(c.secret, "env-secret");
  EXPECT_EQ(c.log_level, "warn");
  EXPECT_EQ(c.embedded_user, "file-user");  // no variable for it

  // The file beats the defaults.
  c = load_config({}, env());
  EXPECT_EQ(c.db_url, "file-db");
  EXPECT_EQ(c.addons_path, (Paths{"/file/addons"}));
  EXPECT_EQ(c.listen, "file:1");
  EXPECT_EQ(c.secret, "file-secret");
  EXPECT_EQ(c.log_level, "error");

  // Each level alone, one setting at a time.
  c = load_config({}, env({{"KEEL_LISTEN", "only-env:4"}}));
  EXPECT_EQ(c.listen, "only-env:4");
  EXPECT_EQ(c.db_url, "file-db");
  CommandLineSettings only_flag;
  only_flag.db_url = "only-flag";
  c = load_config(only_flag, env());
  EXPECT_EQ(c.db_url, "only-flag");
  EXPECT_EQ(c.listen, "file:1");
}

TEST_F(ConfigTest, MissingConfigFileIsAnError) {
  CommandLineSettings flags;
  flags.config_file = dir_ / "nope.toml";
  try {
    load_config(flags, env());
    FAIL() << "no exception";
  } catch (const ValidationError& e) {
    FAIL() << "a missing file is not a validation error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "config.missing");
    EXPECT_EQ(cli::exit_code_of(e.kind()), 1);
    EXPECT_NE(std::string(e.what()).find("nope.toml"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("--config"), std::string::npos) << e.hint();
  }
  flags.config_file = dir_;  // a directory is not a config file either
  EXPECT_THROW(load_config(flags, env()), Error);
}

TEST_F(ConfigTest, ModuleIsolationWithOverrides) {
  Config defaults = load_config({}, env());
  EXPECT_EQ(defaults.module_isolation, "none");
  EXPECT_FALSE(defaults.isolated("sales"));
  EXPECT_EQ(defaults.module_call_timeout_ms, 2000);
  CommandLineSettings flags;
  flags.config_file = write("keel.toml",
                            "[security]\nmodule_isolation = \"process\"\n"
                            "module_isolation_overrides = { sales = \"none\" }\n"
                            "module_call_timeout_ms = 500\nmodule_memory_limit_mb = 256\n");
  Config c = load_config(flags, env());
  EXPECT_TRUE(c.isolated("vendor"));
  EXPECT_FALSE(c.isolated("sales"));
  EXPECT_EQ(c.module_call_timeout_ms, 500);
  EXPECT_EQ(c.module_memory_limit_mb, 256);
  Diagnostic d = invalid("[security]\nmodule_isolation = \"thread\"\n");
  EXPECT_EQ(d.message, "security.module_isolation must be \"none\" or \"process\"");
  EXPECT_EQ(d.location.line, 2);
  Diagnostic o = invalid("[security]\nmodule_isolation_overrides = { sales = \"jail\" }\n");
  EXPECT_EQ(o.message, "security.module_isolation_overrides.sales must be \"none\" or \"process\"");
  // Module names as modules::is_valid_name takes them (config.cpp repeats the rule: app/ is
  // below modules/).
  for (std::string_view name : {"a", "sales", "sale_stock", "x2", "a_1_b"})
    EXPECT_TRUE(modules::is_valid_name(name)) << name;
  for (std::string name : {"Sales", "9lives", "_sales", "sale-stock", "sALES"}) {
    EXPECT_FALSE(modules::is_valid_name(name)) << name;
    Diagnostic n =
        invalid("[security]\nmodule_isolation_overrides = { \"" + name + "\" = \"none\" }\n");
    EXPECT_EQ(n.message, "\"" + name + "\" is no module name");
  }
  CommandLineSettings named;
  named.config_file = write("names.toml",
                            "[security]\nmodule_isolation_overrides = { a = \"process\", "
                            "sale_stock = \"process\", x2 = \"process\", a_1_b = \"process\" }\n");
  Config n = load_config(named, env());
  EXPECT_TRUE(n.isolated("a_1_b"));
}

TEST_F(ConfigTest, UnknownSectionIsLocated) {
  Diagnostic d = invalid("[server]\nlisten = \"x:1\"\n\n[sever]\nlisten = \"y:2\"\n");
  EXPECT_EQ(d.message, "unknown section \"sever\"");
  EXPECT_EQ(d.hint, "did you mean [server]?");
  EXPECT_EQ(d.location.file, dir_ / "bad.toml");
  EXPECT_EQ(d.location.line, 4);
  EXPECT_EQ(d.location.column, 2);
  EXPECT_EQ(d.to_string().rfind((dir_ / "bad.toml").string() + ":4:2: error: ", 0), 0u)
      << d.to_string();
}

TEST_F(ConfigTest, UnknownKeyIsLocated) {
  Diagnostic d = invalid("[database]\nurl = \"x\"\n  urll = \"y\"\n");
  EXPECT_EQ(d.message, "unknown key \"urll\" in [database]");
  EXPECT_EQ(d.hint, "did you mean \"url\"?");
  EXPECT_EQ(d.location.line, 3);
  EXPECT_EQ(d.location.column, 3);
  Diagnostic far = invalid("[log]\nvolume = 11\n");
  EXPECT_EQ(far.message, "unknown key \"volume\" in [log]");
  EXPECT_EQ(far.hint, "known keys of [log]: level format");
}

TEST_F(ConfigTest, AKnownSectionThatIsNotATableIsLocated) {
  Diagnostic d = invalid("log = \"debug\"\n");
  EXPECT_EQ(d.message, "\"log\" must be a section ([log]), not a value");
  EXPECT_EQ(d.location.line, 1);
  EXPECT_EQ(d.location.column, 1);
}

TEST_F(ConfigTest, WrongTypesAreLocated) {
  Diagnostic d = invalid("[server]\nlisten = 8080\n");
  EXPECT_EQ(d.message, "server.listen must be a string");
  EXPECT_EQ(d.location.line, 2);
  EXPECT_EQ(d.location.column, 10);

  d = invalid("[addons]\npath = 3\n");
  EXPECT_EQ(d.message, "addons.path must be a list of directories or a \"a:b\" string");
  EXPECT_EQ(d.location.line, 2);
  EXPECT_EQ(d.location.column, 8);

  d = invalid("[addons]\npath = [\"ok\",\n  true]\n");
  EXPECT_EQ(d.message, "addons.path entries must be strings");
  EXPECT_EQ(d.location.line, 3);
  EXPECT_EQ(d.location.column, 3);

  d = invalid("[database]\nembedded_user = [\"a\"]\n");
  EXPECT_EQ(d.message, "database.embedded_user must be a string");
  d = invalid("[paths]\nvar = 1.5\n");
  EXPECT_EQ(d.message, "paths.var must be a string");
  d = invalid("[security]\nsecret = 42\n");
  EXPECT_EQ(d.message, "security.secret must be a string");
  d = invalid("[log]\nlevel = false\n");
  EXPECT_EQ(d.message, "log.level must be a string");
  d = invalid("[database]\nurl = {host = \"x\"}\n");
  EXPECT_EQ(d.message, "database.url must be a string");
  d = invalid("[server]\nio_workers = 0\n");
  EXPECT_EQ(d.message, "server.io_workers must be a whole number from 1 to 1024");
  EXPECT_EQ(d.location.line, 2);
  d = invalid("[server]\nmax_connections = 8\n");
  EXPECT_EQ(d.message, "server.max_connections must be a whole number from 16 to 1000000");
  d = invalid("[server]\nidle_timeout = 0\n");
  EXPECT_EQ(d.message, "server.idle_timeout must be a whole number of seconds from 1 to 3600");
  d = invalid("[database]\nwrite_connections = \"many\"\n");
  EXPECT_EQ(d.message, "database.write_connections must be a whole number from 1 to 1024");
  d = invalid("[database]\nreplica_urls = \"postgresql://replica1/keel\"\n");
  EXPECT_EQ(d.message, "database.replica_urls must be a list of connection strings");
  d = invalid("[database]\nreplica_urls = [\"\"]\n");
  EXPECT_EQ(d.message,
            "database.replica_urls entries must be connection strings such as "
            "\"postgresql://replica1/keel\"");
  d = invalid("[database]\nreplica_check_ms = 5\n");
  EXPECT_EQ(d.message,
            "database.replica_check_ms must be a whole number of milliseconds from 10 "
            "to 60000");
}

TEST_F(ConfigTest, ReplicasDefaultToNone) {
  CommandLineSettings flags;
  Config c = load_config(flags, env());
  EXPECT_TRUE(c.replica_urls.empty());
  EXPECT_EQ(c.replica_max_lag_ms, 1000);
  EXPECT_EQ(c.replica_check_ms, 100);
}

TEST_F(ConfigTest, SyntaxErrorIsLocated) {
  Diagnostic d = invalid("[server]\nlisten = \"unterminated\n");
  EXPECT_EQ(d.location.file, dir_ / "bad.toml");
  EXPECT_EQ(d.location.line, 2);
  EXPECT_GT(d.location.column, 0);
  // toml++ rejects duplicate keys.
  d = invalid("[server]\nlisten = \"a:1\"\nlisten = \"b:2\"\n");
  EXPECT_EQ(d.location.line, 3);
}

TEST_F(ConfigTest, EveryProblemOfTheFileIsReportedAtOnce) {
  CommandLineSettings flags;
  flags.config_file = write("bad.toml", R"([server]
listen = 1
[nope]
x = 1
[log]
lvl = "x"
)");
  try {
    load_config(flags, env());
    FAIL() << "no exception";
  } catch (const ValidationError& e) {
    ASSERT_EQ(e.diagnostics().size(), 3u);
    std::vector<int> lines;
    for (const auto& d : e.diagnostics())
      lines.push_back(d.location.line);
    std::sort(lines.begin(), lines.end());
    EXPECT_EQ(lines, (std::vector<int>{2, 3, 6}));
    EXPECT_NE(std::string(e.what()).find("3 errors"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace keel
