// End-to-end tests of the `keel` binary against a real PostgreSQL: the module lifecycle over
// `--db` (a fresh database per test, the demo addons of the source tree), and the embedded
// cluster under var/ of the working directory when there is no `--db` (contract §1, §4 rules
// 1-4; docs/lifecycle.md).

#include <gtest/gtest.h>
#include <pwd.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "db/cluster.hpp"
#include "db/connection.hpp"
#include "support/addon_tree.hpp"
#include "support/auth.hpp"
#include "support/pg.hpp"
#include "support/run.hpp"
#include "support/serve_process.hpp"

namespace keel {
namespace {
namespace fs = std::filesystem;
using testing::run_keel;
using testing::RunResult;

const std::string kDemoAddons = KEEL_SOURCE_DIR "/addons";

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const fs::path& file, const std::string& text) {
  std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
}

// Replaces the one occurrence of `from` in `file`.
void edit(const fs::path& file, const std::string& from, const std::string& to) {
  std::string text = read_text(file);
  auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << file << " lacks: " << from;
  write_text(file, text.replace(at, from.size(), to));
}

// For failure messages: the command and what it printed.
std::string shown(const std::vector<std::string>& args, const RunResult& r) {
  std::string text = "keel";
  for (const auto& a : args)
    text += " " + a;
  return text + "\nexit " + std::to_string(r.status) + "\n--- stdout:\n" + r.out + "--- stderr:\n" +
         r.err + "---";
}

struct ModuleState {
  std::string state;
  std::string installed_version;  // "" for null
  std::string version;
};

// `module list --json`, by module name.
std::map<std::string, ModuleState> states_of(const RunResult& r) {
  std::map<std::string, ModuleState> out;
  rapidjson::Document doc;
  doc.Parse(r.out.c_str());
  EXPECT_FALSE(doc.HasParseError()) << r.out;
  if (doc.HasParseError() || !doc.IsArray()) return out;
  for (const auto& m : doc.GetArray()) {
    ModuleState s;
    s.state = m["state"].GetString();
    s.version = m["version"].GetString();
    if (m["installed_version"].IsString()) s.installed_version = m["installed_version"].GetString();
    out[m["name"].GetString()] = s;
  }
  return out;
}

std::vector<std::string> words_after(const std::string& out, const std::string& prefix) {
  std::vector<std::string> words;
  if (out.rfind(prefix, 0) != 0) return words;
  std::istringstream in(out.substr(prefix.size()));
  for (std::string w; in >> w;)
    words.push_back(w);
  return words;
}

// ---------------------------------------------------------------------------------------------
// With --db: a fresh database per test.

class CliLifecycle : public ::testing::Test {
 protected:
  // Runs keel on this test's database and addons path.
  RunResult keel(std::vector<std::string> args) {
    std::vector<std::string> all = args;
    all.insert(all.end(), {"--db", database.conninfo(), "--addons-path", addons_});
    RunResult r = run_keel(all, {}, tree.path());
    last_ = shown(args, r);
    return r;
  }
  std::map<std::string, ModuleState> states() {
    RunResult r = keel({"module", "list", "--json"});
    EXPECT_EQ(r.status, 0) << last_;
    return states_of(r);
  }
  // Copies the demo addons into `tree` and uses that copy, so that the test can edit it.
  void use_copy_of_demo_addons() {
    fs::copy(kDemoAddons, tree.path(), fs::copy_options::recursive);
    addons_ = tree.path().string();
  }
  std::string one(const std::string& sql) { return std::string(conn.exec(sql).get(0, 0)); }
  // The tables of schema public, from the catalog.
  std::set<std::string> tables() {
    std::set<std::string> out;
    auto rows = conn.exec(
        "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'");
    for (int i = 0; i < rows.rows(); ++i)
      out.insert(std::string(rows.get(i, 0)));
    return out;
  }
  bool has_column(const std::string& table, const std::string& column) {
    return one("SELECT count(*) FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass('" +
               table + "') AND attname = '" + column + "' AND NOT attisdropped") == "1";
  }

  testing::TestDatabase database;
  testing::AddonTree tree;  // also the working directory: no keel.toml there
  db::Connection conn = database.connect();
  std::string addons_ = kDemoAddons;
  std::string last_;  // the last command and its output, for failure messages
};

TEST_F(CliLifecycle, PlanPrintsModulesInOrderAndStatementsAndChangesNothing) {
  RunResult r = keel({"module", "plan", "sales"});
  ASSERT_EQ(r.status, 0) << last_;
  EXPECT_NE(r.out.find("-- modules to install, in order: base@0.1.0 contacts@1.2.0 "
                       "products@1.1.0 sales@1.2.0\n"),
            std::string::npos)
      << last_;
  for (const char* create : {"CREATE TABLE \"base_module\" (", "CREATE TABLE \"contact\" (",
                             "CREATE TABLE \"contact_tags_rel\" (", "CREATE TABLE \"product\" (",
                             "CREATE TABLE \"sale_order\" (", "CREATE TABLE \"sale_order_line\" ("})
    EXPECT_NE(r.out.find(create), std::string::npos) << create << "\n" << last_;
  // Statements grouped by module, in install order.
  size_t base = r.out.find("\n-- module base\n"), contacts = r.out.find("\n-- module contacts\n"),
         products = r.out.find("\n-- module products\n"), sales = r.out.find("\n-- module sales\n");
  ASSERT_NE(sales, std::string::npos) << last_;
  EXPECT_LT(base, contacts);
  EXPECT_LT(contacts, products);
  EXPECT_LT(products, sales);
  EXPECT_LT(base, r.out.find("CREATE TABLE \"base_module\""));
  EXPECT_LT(sales, r.out.find("CREATE TABLE \"sale_order\""));
  // Nothing written, not even the bookkeeping tables.
  EXPECT_EQ(tables(), std::set<std::string>{});
  EXPECT_EQ(one("SELECT to_regclass('base_module') IS NULL"), "t");
}

TEST_F(CliLifecycle, InstallWithDemoCreatesTheSchemaAndRowsAndListShowsStates) {
  RunResult r = keel({"module", "install", "sales", "--demo"});
  ASSERT_EQ(r.status, 0) << last_;
  EXPECT_EQ(r.out, "installed: base contacts products sales\n") << last_;
  auto live = tables();
  for (const char* table : {"base_module", "country", "contact", "contact_tag", "contact_tags_rel",
                            "product", "uom", "sale_order", "sale_order_line"})
    EXPECT_TRUE(live.count(table)) << table;
  EXPECT_FALSE(live.count("warehouse"));
  // The many2many link table: both sides, a composite primary key, cascading foreign keys.
  EXPECT_TRUE(has_column("contact_tags_rel", "source_id"));
  EXPECT_TRUE(has_column("contact_tags_rel", "target_id"));
  EXPECT_EQ(one("SELECT string_agg(contype::text || confdeltype::text, ',' ORDER BY contype, "
                "conname) FROM pg_catalog.pg_constraint WHERE conrelid = "
                "to_regclass('contact_tags_rel')"),
            "fc,fc,p ");
  // Data files and demo files, references resolved.
  EXPECT_EQ(one("SELECT count(*) FROM country"), "10");
  EXPECT_EQ(one("SELECT count(*) FROM uom"), "3");
  EXPECT_EQ(one("SELECT string_agg(c.name || '/' || coalesce(p.name, '-') || '/' || k.code, ',' "
                "ORDER BY c.name) FROM contact c LEFT JOIN contact p ON p.id = c.company "
                "JOIN country k ON k.id = c.country WHERE c.name IN ('ACME', 'Jane Doe')"),
            "ACME/-/FR,Jane Doe/ACME/FR");
  EXPECT_EQ(one("SELECT count(*) FROM contact"), "42");
  EXPECT_EQ(one("SELECT count(DISTINCT country) FROM contact"), "10");
  EXPECT_EQ(one("SELECT count(*) FROM product"), "32");
  // Orders in every state, through the state machine, their amounts stored.
  EXPECT_EQ(one("SELECT string_agg(state || ':' || n, ',' ORDER BY state) FROM (SELECT state, "
                "count(*) AS n FROM sale_order GROUP BY state) s"),
            "cancelled:3,confirmed:3,done:3,draft:3");
  EXPECT_EQ(one("SELECT count(*) FROM sale_order WHERE amount IS NULL"), "0");
  EXPECT_EQ(one("SELECT t.name FROM contact_tags_rel r JOIN contact c ON c.id = r.source_id "
                "JOIN contact_tag t ON t.id = r.target_id WHERE c.name = 'ACME'"),
            "Customer");

  auto s = states();
  for (const char* name : {"base", "contacts", "products", "sales"}) {
    EXPECT_EQ(s[name].state, "installed") << name;
    EXPECT_EQ(s[name].installed_version, s[name].version) << name;
  }
  EXPECT_EQ(s["contacts"].installed_version, "1.2.0");
  for (const char* name : {"inventory", "sale_stock"}) {
    EXPECT_EQ(s[name].state, "uninstalled") << name;
    EXPECT_EQ(s[name].installed_version, "") << name;
  }

  // Installed modules are skipped.
  r = keel({"module", "install", "sales", "--demo"});
  EXPECT_EQ(r.status, 0) << last_;
  EXPECT_EQ(r.out, "nothing to install\n") << last_;
  EXPECT_EQ(one("SELECT count(*) FROM contact"), "42");
}

TEST_F(CliLifecycle, InstallingInventoryAlsoInstallsTheAutoInstallGlue) {
  ASSERT_EQ(keel({"module", "install", "sales"}).status, 0) << last_;
  EXPECT_EQ(one("SELECT count(*) FROM contact"), "0");  // no --demo, no demo rows
  EXPECT_EQ(states()["sale_stock"].state, "uninstalled");
  RunResult r = keel({"module", "install", "inventory"});
  ASSERT_EQ(r.status, 0) << last_;
  EXPECT_EQ(r.out, "installed: inventory sale_stock\n") << last_;
  EXPECT_TRUE(tables().count("stock_move"));
  EXPECT_TRUE(has_column("stock_move", "sale_line"));  // sale_stock's extensions
  EXPECT_TRUE(has_column("sale_order", "warehouse"));
  auto s = states();
  EXPECT_EQ(s["inventory"].state, "installed");
  EXPECT_EQ(s["sale_stock"].state, "installed");
}

TEST_F(CliLifecycle, NewVersionIsListedToUpgradeAndUpgradeAllAppliesIt) {
  use_copy_of_demo_addons();
  ASSERT_EQ(keel({"module", "install", "sales", "--demo"}).status, 0) << last_;
  const fs::path contacts = tree.path() / "contacts";
  edit(contacts / "manifest.yaml", "version: 1.2.0", "version: 1.3.0");
  edit(contacts / "entities" / "contacts.yaml", "      notes:      {type: text}\n",
       "      notes:      {type: text}\n      mobile:     {type: string, max_length: 32}\n");

  auto s = states();
  EXPECT_EQ(s["contacts"].state, "to upgrade");
  EXPECT_EQ(s["contacts"].version, "1.3.0");
  EXPECT_EQ(s["contacts"].installed_version, "1.2.0");
  EXPECT_EQ(s["sales"].state, "installed");
  RunResult text = keel({"module", "list"});
  // The row of contacts, whatever the column widths (they follow the longest module name).
  size_t at = text.out.find("\ncontacts ");
  ASSERT_NE(at, std::string::npos) << last_;
  auto cells =
      words_after(text.out.substr(at + 1, text.out.find('\n', at + 1) - at - 1), "contacts");
  ASSERT_GE(cells.size(), 3u) << last_;
  EXPECT_EQ(cells[0] + " " + cells[1] + " " + cells[2], "1.3.0 to upgrade") << last_;
  EXPECT_FALSE(has_column("contact", "mobile"));

  RunResult r = keel({"module", "upgrade", "--all"});
  ASSERT_EQ(r.status, 0) << last_;
  auto upgraded = words_after(r.out, "upgraded:");
  EXPECT_NE(std::find(upgraded.begin(), upgraded.end(), "contacts"), upgraded.end()) << last_;
  EXPECT_TRUE(has_column("contact", "mobile"));
  s = states();
  EXPECT_EQ(s["contacts"].state, "installed");
  EXPECT_EQ(s["contacts"].installed_version, "1.3.0");
  // Rows survive the upgrade, demo rows included (the module was installed with --demo).
  EXPECT_EQ(one("SELECT count(*) FROM contact"), "42");
  EXPECT_EQ(one("SELECT count(*) FROM contact_tags_rel"), "23");
  EXPECT_EQ(one("SELECT count(*) FROM country"), "10");
  EXPECT_EQ(one("SELECT count(*) FROM sale_order"), "12");
}

TEST_F(CliLifecycle, UpgradeWithNothingInstalledDoesNothing) {
  RunResult r = keel({"module", "upgrade", "--all"});
  EXPECT_EQ(r.status, 0) << last_;
  EXPECT_EQ(r.out, "nothing to upgrade\n") << last_;
  EXPECT_EQ(tables(), std::set<std::string>{});
  r = keel({"module", "upgrade", "contcts"});
  EXPECT_EQ(r.status, 1) << last_;
  EXPECT_NE(r.err.find("did you mean \"contacts\"?"), std::string::npos) << last_;
}

TEST_F(CliLifecycle, UninstallAsksKeepsDataOrPurgesAndNeverTakesBase) {
  ASSERT_EQ(keel({"module", "install", "sale_stock", "--demo"}).status, 0) << last_;
  auto before = states();
  for (const char* name : {"base", "contacts", "products", "inventory", "sales", "sale_stock"})
    ASSERT_EQ(before[name].state, "installed") << name;

  // No --yes and no terminal (stdin is /dev/null): refused, nothing changes.
  RunResult r = keel({"module", "uninstall", "contacts"});
  EXPECT_EQ(r.status, 1) << last_;
  EXPECT_NE(r.err.find("--yes"), std::string::npos) << last_;
  EXPECT_EQ(r.out, "") << last_;
  auto after = states();
  for (const auto& [name, state] : before)
    EXPECT_EQ(after[name].state, state.state) << name;

  // --yes: contacts and everything that depends on it, dependents first; the data stays.
  r = keel({"module", "uninstall", "contacts", "--yes"});
  ASSERT_EQ(r.status, 0) << last_;
  auto removed = words_after(r.out, "uninstalled:");
  EXPECT_EQ(std::set<std::string>(removed.begin(), removed.end()),
            (std::set<std::string>{"contacts", "inventory", "sales", "sale_stock"}))
      << last_;
  ASSERT_FALSE(removed.empty());
  EXPECT_EQ(removed.back(), "contacts");
  auto position = [&](const std::string& n) {
    return std::find(removed.begin(), removed.end(), n) - removed.begin();
  };
  EXPECT_LT(position("sale_stock"), position("sales"));
  EXPECT_LT(position("sale_stock"), position("inventory"));
  auto s = states();
  for (const char* name : {"contacts", "inventory", "sales", "sale_stock"})
    EXPECT_EQ(s[name].state, "uninstalled") << name;
  EXPECT_EQ(s["base"].state, "installed");
  EXPECT_EQ(s["products"].state, "installed");
  auto live = tables();
  for (const char* table : {"contact", "contact_tags_rel", "country", "sale_order",
                            "sale_order_line", "warehouse", "stock_move"})
    EXPECT_TRUE(live.count(table)) << table;
  EXPECT_EQ(one("SELECT count(*) FROM contact"), "42");

  // Installed again over the kept data, then purged: their tables go, the others stay.
  r = keel({"module", "install", "sale_stock"});
  ASSERT_EQ(r.status, 0) << last_;
  EXPECT_EQ(one("SELECT count(*) FROM country"), "10");  // data records matched by external id
  r = keel({"module", "uninstall", "contacts", "--purge", "--yes"});
  ASSERT_EQ(r.status, 0) << last_;
  live = tables();
  for (const char* table : {"contact", "contact_tag", "contact_tags_rel", "country", "sale_order",
                            "sale_order_line", "warehouse", "stock_location", "stock_move"})
    EXPECT_FALSE(live.count(table)) << table;
  for (const char* table : {"base_module", "product", "product_category", "uom"})
    EXPECT_TRUE(live.count(table)) << table;
  EXPECT_EQ(one("SELECT count(*) FROM uom"), "3");
  EXPECT_EQ(one("SELECT count(*) FROM base_ownership WHERE module IN ('contacts', 'sales', "
                "'inventory', 'sale_stock')"),
            "0");

  // base is never uninstalled.
  r = keel({"module", "uninstall", "base", "--yes"});
  EXPECT_EQ(r.status, 1) << last_;
  EXPECT_NE(r.err.find("core module"), std::string::npos) << last_;
  EXPECT_EQ(states()["base"].state, "installed");
}

TEST_F(CliLifecycle, UnknownModuleSuggestsTheClosestName) {
  RunResult r = keel({"module", "install", "contcts"});
  EXPECT_EQ(r.status, 1) << last_;
  EXPECT_NE(r.err.find("no module named \"contcts\""), std::string::npos) << last_;
  EXPECT_NE(r.err.find("did you mean \"contacts\"?"), std::string::npos) << last_;
  r = keel({"module", "plan", "slaes"});
  EXPECT_EQ(r.status, 1) << last_;
  EXPECT_NE(r.err.find("did you mean \"sales\"?"), std::string::npos) << last_;
  EXPECT_EQ(tables(), std::set<std::string>{});
}

TEST_F(CliLifecycle, BrokenEntityFileNamesFileLineAndColumn) {
  use_copy_of_demo_addons();
  const fs::path broken = tree.path() / "contacts" / "entities" / "broken.yaml";
  write_text(broken,
             "entities:\n"
             "  thing:\n"
             "    fields:\n"
             "      name: {type: strng}\n");
  RunResult r = keel({"module", "install", "sales"});
  EXPECT_EQ(r.status, 1) << last_;
  EXPECT_NE(r.err.find(broken.string() + ":4:20: error: unknown field type \"strng\""),
            std::string::npos)
      << last_;
  EXPECT_NE(r.err.find("did you mean \"string\"?"), std::string::npos) << last_;
  EXPECT_EQ(tables(), std::set<std::string>{});  // one transaction: nothing kept

  // Invalid YAML: the place where the parser gave up.
  write_text(broken, "entities:\n  thing:\n    fields: {name: {type: string}\n");
  r = keel({"module", "install", "contacts"});
  EXPECT_EQ(r.status, 1) << last_;
  EXPECT_NE(r.err.find(broken.string() + ":4:1: error: invalid YAML"), std::string::npos) << last_;
  EXPECT_EQ(tables(), std::set<std::string>{});
}

// ---------------------------------------------------------------------------------------------
// Without --db: the embedded PostgreSQL under var/ of the working directory. Slower (initdb).

// Whether `pid` has ended: gone, or a zombie that nobody reaped.
bool has_ended(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  auto name_end = stat.rfind(')');
  return name_end != std::string::npos && name_end + 2 < stat.size() &&
         (stat[name_end + 2] == 'Z' || stat[name_end + 2] == 'X');
}

// The processes whose parent is `pid`.
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::string stat = read_text(entry.path() / "stat");
    auto name_end = stat.rfind(')');
    if (name_end == std::string::npos) continue;
    std::istringstream rest(stat.substr(name_end + 2));
    char state = 0;
    long parent = 0;
    if (rest >> state >> parent && parent == pid) out.push_back(std::stoi(name));
  }
  return out;
}

pid_t pid_in(const fs::path& pid_file) {
  std::istringstream in(read_text(pid_file));
  long pid = 0;
  in >> pid;
  return static_cast<pid_t>(pid);
}

// A start reads the registry that `keel module install` cached (<var>/cache/registry-<key>.bin,
// schema/registry_cache.hpp): the server's debug log names the entry it used. A changed entity
// file is another key: the next start builds the registry from the files (and caches that)
// instead of serving the stale entry.
TEST_F(CliLifecycle, AServerStartsFromTheRegistryTheInstallCached) {
  tree.write("notes/manifest.yaml",
             "name: notes\nversion: 1.0.0\ndepends: [base]\nentities: [e.yaml]\n");
  const std::string entities = "entities:\n  note:\n    fields:\n      title: {type: string}\n";
  tree.write("notes/e.yaml", entities);
  addons_ = tree.path().string();
  ASSERT_EQ(keel({"module", "install", "notes"}).status, 0) << last_;
  const fs::path cache = tree.path() / "var" / "cache";
  auto entries = [&] {
    std::vector<std::string> out;
    if (fs::exists(cache))
      for (const auto& f : fs::directory_iterator(cache)) {
        std::string name = f.path().filename().string();
        if (name.rfind("registry-", 0) == 0 && name.size() > 4 &&
            name.compare(name.size() - 4, 4, ".bin") == 0)
          out.push_back(f.path().string());
      }
    std::sort(out.begin(), out.end());
    return out;
  };
  auto written = entries();
  ASSERT_EQ(written.size(), 1u) << last_;
  const std::string config = "[paths]\nvar = \"" + (tree.path() / "var").string() + "\"\n";
  const std::map<std::string, std::string> env = {{"KEEL_LOG_LEVEL", "debug"}};
  {
    testing::ServeProcess serve(database.conninfo(), tree.path(), testing::kTestSecret, env,
                                config);
    auto log = serve.log_text();
    EXPECT_NE(log.find("registry cache: "), std::string::npos) << log;
    EXPECT_NE(log.find(" from " + written[0]), std::string::npos) << log;
  }
  EXPECT_EQ(entries(), written);  // a hit writes nothing

  // Same module, same version, other bytes: a miss.
  tree.write("notes/e.yaml", "# edited by hand\n" + entities);
  {
    testing::ServeProcess serve(database.conninfo(), tree.path(), testing::kTestSecret, env,
                                config);
    auto log = serve.log_text();
    EXPECT_EQ(log.find("registry cache: "), std::string::npos) << log;
    EXPECT_EQ(log.find(written[0]), std::string::npos) << log;
  }
  auto now = entries();
  ASSERT_EQ(now.size(), 1u);  // the entry of the new files; the older key removed
  EXPECT_NE(now, written);
}

class CliEmbedded : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "keel-embedded-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    // When keel runs as root the cluster runs as `postgres`, which must reach var/ in here.
    fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
  }
  void TearDown() override {
    // A server a failed test left behind is stopped, so that the directory can go.
    if (server_left()) {
      testing::RunOptions options;
      options.user = "postgres";
      testing::run_program(db::find_pg_bindir() / "pg_ctl",
                           {"stop", "-m", "immediate", "-w", "-D", pg().string()}, options);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  RunResult keel(std::vector<std::string> args) {
    std::vector<std::string> all = args;
    all.insert(all.end(), {"--addons-path", kDemoAddons});
    RunResult r = run_keel(all, {}, dir_);
    last_ = shown(args, r);
    return r;
  }
  fs::path pg() const { return dir_ / "var" / "pg"; }
  fs::path pid_file() const { return pg() / "postmaster.pid"; }
  // Whether a server runs on var/pg: its pid file names a live process.
  bool server_left() const {
    if (!fs::exists(pid_file())) return false;
    pid_t pid = pid_in(pid_file());
    return pid > 0 && !has_ended(pid);
  }
  std::map<std::string, ModuleState> states() {
    RunResult r = keel({"module", "list", "--json"});
    EXPECT_EQ(r.status, 0) << last_;
    return states_of(r);
  }

  fs::path dir_;
  std::string last_;
};

TEST_F(CliEmbedded, FirstCommandCreatesTheClusterAndLeavesNoServerRunning) {
  RunResult r = keel({"module", "install", "contacts"});
  ASSERT_EQ(r.status, 0) << last_;
  EXPECT_EQ(r.out, "installed: base contacts\n") << last_;
  EXPECT_TRUE(fs::exists(pg() / "PG_VERSION"));
  EXPECT_FALSE(fs::exists(pid_file())) << read_text(dir_ / "var" / "run" / "postgres.log");
  EXPECT_FALSE(fs::exists(dir_ / "var" / "run" / ".s.PGSQL.5432"));
  if (::geteuid() == 0) {
    struct stat st {};
    ASSERT_EQ(::stat(pg().c_str(), &st), 0);
    struct passwd* pw = ::getpwnam("postgres");
    ASSERT_NE(pw, nullptr);
    EXPECT_EQ(st.st_uid, pw->pw_uid);  // PostgreSQL refuses to run as root
  }
  // The next command starts the same cluster again: what the first one did is there.
  auto s = states();
  EXPECT_EQ(s["contacts"].state, "installed");
  EXPECT_EQ(s["products"].state, "uninstalled");
  EXPECT_FALSE(server_left());
}

TEST_F(CliEmbedded, CommandsStartedTogetherShareOneServerAndInstallOnce) {
  RunResult a, b;
  std::vector<std::string> args = {"module", "install",       "contacts",
                                   "--demo", "--addons-path", kDemoAddons};
  std::thread first([&] { a = run_keel(args, {}, dir_); });
  std::thread second([&] { b = run_keel(args, {}, dir_); });
  first.join();
  second.join();
  EXPECT_EQ(a.status, 0) << shown(args, a);
  EXPECT_EQ(b.status, 0) << shown(args, b);
  // One of them installed, the other waited for the lock and found nothing left to do.
  EXPECT_EQ(std::multiset<std::string>({a.out, b.out}),
            std::multiset<std::string>({"installed: base contacts\n", "nothing to install\n"}))
      << shown(args, a) << "\n"
      << shown(args, b);
  EXPECT_FALSE(server_left());
  auto s = states();
  EXPECT_EQ(s["base"].state, "installed");
  EXPECT_EQ(s["contacts"].state, "installed");
  EXPECT_FALSE(server_left());
}

// Two commands on one cluster, in one process here to control the timing: the first started
// the server, the second found it running. When the first ends, the server stays up for the
// second until it ends too, new sessions included (a pool opens them at any time).
TEST_F(CliEmbedded, CommandThatStartedTheServerWaitsForTheOthersBeforeStoppingIt) {
  db::Cluster::Options options;
  options.data_dir = pg();
  options.socket_dir = dir_ / "var" / "run";
  db::Cluster first(options), second(options);
  first.start();
  ASSERT_TRUE(first.started_here());
  second.start();
  ASSERT_FALSE(second.started_here());
  std::atomic<bool> stopped{false};
  std::thread stopping([&] {
    first.stop();
    stopped = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  try {
    auto conn = db::Connection::open(second.conninfo());
    EXPECT_EQ(conn.exec("SELECT 1").get(0, 0), "1");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "the second command lost the server: " << e.what();
  }
  EXPECT_FALSE(stopped);
  EXPECT_TRUE(server_left());
  second.stop();
  stopping.join();
  EXPECT_TRUE(stopped);
  EXPECT_FALSE(server_left());
}

TEST_F(CliEmbedded, StalePidFileDoesNotPreventTheNextStart) {
  ASSERT_EQ(keel({"module", "install", "contacts"}).status, 0) << last_;
  // A server that crashes: started here, then killed with SIGKILL, which leaves its
  // postmaster.pid behind.
  testing::RunOptions as_owner;
  as_owner.user = "postgres";
  RunResult started = testing::run_program(
      db::find_pg_bindir() / "pg_ctl",
      {"start", "-w", "-D", pg().string(), "-l", (dir_ / "var" / "run" / "crashed.log").string()},
      as_owner);
  ASSERT_EQ(started.status, 0) << started.out << started.err;
  pid_t postmaster = pid_in(pid_file());
  ASSERT_GT(postmaster, 0);
  std::vector<pid_t> processes = children_of(postmaster);
  processes.push_back(postmaster);
  ASSERT_EQ(::kill(postmaster, SIGKILL), 0);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!std::all_of(processes.begin(), processes.end(), has_ended) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(std::all_of(processes.begin(), processes.end(), has_ended));
  ASSERT_TRUE(fs::exists(pid_file()));
  const std::string stale = read_text(pid_file());

  RunResult r = keel({"module", "install", "products"});
  EXPECT_EQ(r.status, 0) << last_ << read_text(dir_ / "var" / "run" / "postgres.log");
  EXPECT_EQ(r.out, "installed: products\n") << last_;
  EXPECT_FALSE(server_left());

  // A pid file naming a process that has ended and been reaped.
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  std::string text = stale;
  text.replace(0, text.find('\n'), std::to_string(child));
  write_text(pid_file(), text);
  if (::geteuid() == 0) {
    struct passwd* pw = ::getpwnam("postgres");
    ASSERT_NE(pw, nullptr);
    ASSERT_EQ(::chown(pid_file().c_str(), pw->pw_uid, pw->pw_gid), 0);
  }
  fs::permissions(pid_file(), fs::perms::owner_read | fs::perms::owner_write);
  auto s = states();
  EXPECT_EQ(s["contacts"].state, "installed") << last_;
  EXPECT_EQ(s["products"].state, "installed") << last_;
  EXPECT_FALSE(server_left());
}

}  // namespace
}  // namespace keel
