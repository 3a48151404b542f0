// Faults (issue 16 §1), against a real `keel` and a real PostgreSQL: PostgreSQL restarted (fast
// and immediate) under load; every backend of the server terminated (pg_terminate_backend)
// while idle and under load, with creates retried
// under an Idempotency-Key (none lost, none doubled); a registry reload that fails is visible
// and retried; `kill -9` of `keel module install` at
// many moments leaves the database exactly as before (or, once it committed, as after), no
// advisory lock behind, and the next install succeeds.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/addon_tree.hpp"
#include "support/auth.hpp"
#include "support/fixture.hpp"
#include "support/http_client.hpp"
#include "support/json.hpp"
#include "support/pg.hpp"
#include "support/run.hpp"
#include "support/test_server.hpp"

extern char** environ;

namespace keel {
namespace {

using testing::HttpReply;
using testing::TestServer;

constexpr auto parse = testing::parse_json;

std::int64_t scalar(db::Connection& conn, const std::string& sql) {
  return conn.exec(sql).get_int(0, 0);
}

// Terminates every backend of the test database but the caller's: the server's pool, its
// pipelines and its listeners. Returns how many.
std::int64_t terminate_backends(db::Connection& conn) {
  return scalar(conn,
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()");
}

class Faults : public ::testing::Test, protected testing::AddonsFixture {
 protected:
  void SetUp() override {
    tree.write("shop/manifest.yaml",
               "name: shop\nversion: 1.0.0\ndepends: [base]\nentities: [e.yaml]\n");
    tree.write("shop/e.yaml",
               "entities:\n  partner:\n    fields:\n"
               "      name: {type: string, max_length: 64, required: true, unique: true}\n");
    install({"shop"});
    admin =
        testing::bearer(testing::token_for(testing::create_user(*conn, "admin", {"base.admin"})));
  }

  HttpReply get(std::uint16_t port, const std::string& target) {
    return testing::http_request(port, "GET", target, "", admin);
  }

  std::map<std::string, std::string> admin;
};

// All of Keel's backends terminated: once while idle (the next requests find their dead
// connections before use and reconnect), then five times under a load of reads and creates.
// Never a 500; a create whose outcome the server cannot know answers 503, and the client's retry
// with the same Idempotency-Key gets the first answer: every name is in the table exactly once.
TEST_F(Faults, TerminatedBackendsAreReplacedAndRetriedCreatesWriteOnce) {
  // Acknowledged commits must be durable, as on a real server.
  conn->exec("ALTER DATABASE " + db::quote_ident(database.name()) + " SET synchronous_commit = on");
  TestServer server(config, database.conninfo());
  auto port = server.port();
  ASSERT_EQ(get(port, "/api/v1/records/partner?limit=1").status, 200);
  ASSERT_EQ(get(port, "/api/v1/records/partner/1").status, 404);

  // Idle.
  EXPECT_GT(terminate_backends(*conn), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto idle_start = std::chrono::steady_clock::now();
  int idle_failures = 0;
  for (int i = 0; i < 20; ++i) {
    auto r = i % 2 ? get(port, "/api/v1/records/partner?limit=1")
                   : testing::http_request(port, "GET", "/api/v1/healthz");
    EXPECT_NE(r.status, 500) << r.body;
    if (r.status != 200) {
      ++idle_failures;
      std::cout << "after an idle termination, request " << i << ": " << r.status << " " << r.body
                << "\n";
    }
  }
  std::cout << "terminated while idle: " << idle_failures << " of 20 requests not 200 ("
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - idle_start).count()
            << " s)\n";
  EXPECT_EQ(idle_failures, 0);

  // Under load: 4 clients, reads and creates; creates retried with their key until answered.
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::map<int, int> statuses;
  std::vector<std::string> names;
  int replays = 0;
  auto client = [&](int c) {
    for (int i = 0; !stop; ++i) {
      if (i % 2) {
        auto r = get(port, "/api/v1/records/partner?limit=5");
        std::lock_guard lock(mutex);
        ++statuses[r.status];
        if (r.status == 500) ADD_FAILURE() << r.body;
        continue;
      }
      std::string name = "c" + std::to_string(c) + "-" + std::to_string(i);
      auto headers = admin;
      headers["Idempotency-Key"] = "key-" + name;
      HttpReply r;
      for (int attempt = 0; attempt < 100; ++attempt) {
        r = testing::http_request(port, "POST", "/api/v1/records/partner",
                                  R"({"name": ")" + name + "\"}", headers);
        std::lock_guard lock(mutex);
        ++statuses[r.status];
        if (r.status == 500) ADD_FAILURE() << r.body;
        if (r.status != 503) break;
        EXPECT_FALSE(r.header("retry-after").empty());
      }
      EXPECT_EQ(r.status, 201) << name << ": " << r.body;
      std::lock_guard lock(mutex);
      names.push_back(name);
      replays += r.header("idempotent-replayed") == "true";
    }
  };
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c)
    clients.emplace_back(client, c);
  double worst = 0;
  for (int round = 0; round < 5; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    terminate_backends(*conn);
    auto t0 = std::chrono::steady_clock::now();
    while (get(port, "/api/v1/records/partner?limit=1").status != 200 &&
           std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10))
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    worst = std::max(worst,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  for (auto& t : clients)
    t.join();
  for (auto [status, n] : statuses)
    std::cout << "load: " << n << " answers of " << status << "\n";
  std::cout << "creates: " << names.size() << ", replayed answers: " << replays
            << "; reads back to 200 within " << worst << " s of a termination\n";
  EXPECT_EQ(statuses[500], 0);
  EXPECT_LT(worst, 2.0);
  EXPECT_GT(names.size(), 10u);
  for (const auto& name : names)
    EXPECT_EQ(scalar(*conn, "SELECT count(*) FROM partner WHERE name = '" + name + "'"), 1) << name;
  EXPECT_EQ(scalar(*conn, "SELECT count(*) FROM partner"), static_cast<std::int64_t>(names.size()));
}

// PostgreSQL stopped (`pg_ctl stop -m fast`, then `-m immediate`: a crash, and recovery at the
// next start) under a load of reads and creates from six clients. While it is down every answer
// is 503 with Retry-After (never 500, never a hang), /healthz says the database is down and
// shows nothing of libpq's text to an anonymous caller; once PostgreSQL accepts connections
// again, service resumes within 2 s by itself (dead pooled and pipeline connections are noticed
// and replaced), and every create answered 201 is in the table.
TEST_F(Faults, PostgreSQLRestartsUnderLoadAnswer503AndServiceComesBack) {
  // The test cluster commits asynchronously (fast, not durable); a real one does not, and
  // acknowledged commits must survive an immediate stop.
  conn->exec("ALTER DATABASE " + db::quote_ident(database.name()) + " SET synchronous_commit = on");
  TestServer server(config, database.conninfo());
  auto port = server.port();
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::vector<std::string> created;  // ids answered 201
  std::map<int, int> statuses;
  double slowest = 0;
  // Three clients read (a page, one record), three create.
  auto client = [&](int c) {
    for (int i = 0; !stop; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      HttpReply r;
      if (c < 3)
        r = get(port, i % 2 ? "/api/v1/records/partner?limit=5" : "/api/v1/records/partner/1");
      else
        r = testing::http_request(
            port, "POST", "/api/v1/records/partner",
            R"({"name": "load )" + std::to_string(c) + "-" + std::to_string(i) + "\"}", admin);
      double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::lock_guard lock(mutex);
      slowest = std::max(slowest, took);
      ++statuses[r.status];
      if (r.status == 500 || r.status == 0) ADD_FAILURE() << r.status << " " << r.body;
      if (r.status == 503) {
        EXPECT_FALSE(r.header("retry-after").empty()) << r.body;
        EXPECT_EQ(r.body.find("/tmp"), std::string::npos) << r.body;
      }
      if (r.status == 201) created.push_back(std::to_string(parse(r.body)["id"].GetInt64()));
      if (r.status != 200 && r.status != 201)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  };
  // A read, the health check and a create, all answered: service is back. Returns the three
  // statuses.
  int probes = 0;
  auto probe = [&] {
    return std::to_string(get(port, "/api/v1/records/partner?limit=1").status) + " " +
           std::to_string(testing::http_request(port, "GET", "/api/v1/healthz").status) + " " +
           std::to_string(testing::http_request(
                              port, "POST", "/api/v1/records/partner",
                              R"({"name": "probe )" + std::to_string(++probes) + "\"}", admin)
                              .status);
  };
  std::vector<std::thread> clients;
  for (int c = 0; c < 6; ++c)
    clients.emplace_back(client, c);
  for (std::string mode : {"fast", "immediate"}) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    testing::stop_cluster(mode);
    for (int i = 0; i < 5; ++i) {
      auto health = testing::http_request(port, "GET", "/api/v1/healthz");
      EXPECT_EQ(health.status, 503) << mode;
      EXPECT_EQ(health.body, R"({"status":"unavailable","database":"down"})") << health.body;
      EXPECT_FALSE(health.header("retry-after").empty());
      EXPECT_EQ(get(port, "/api/v1/records/partner").status, 503) << mode;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    testing::start_cluster();  // returns once PostgreSQL accepts connections
    auto back = std::chrono::steady_clock::now();
    bool recovered = false;
    std::string seen, last;
    while (!recovered && std::chrono::steady_clock::now() - back < std::chrono::seconds(10)) {
      auto p0 = std::chrono::steady_clock::now();
      auto statuses = probe();
      double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - p0).count();
      if (took > 0.2) seen += " (a probe took " + std::to_string(took) + " s)";
      recovered = statuses == "200 200 201";
      if (statuses != last)
        seen +=
            " " + statuses + " at " +
            std::to_string(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - back).count()) +
            " s;";
      last = statuses;
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - back).count();
    std::cout << "pg_ctl stop -m " << mode << " under load: service back " << seconds
              << " s after PostgreSQL accepted connections (read, health, create:" << seen << ")\n";
    EXPECT_TRUE(recovered) << mode;
    EXPECT_LT(seconds, 2.0) << mode;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  for (auto& t : clients)
    t.join();
  for (auto [status, n] : statuses)
    std::cout << "load: " << n << " answers of " << status << "\n";
  std::cout << "slowest answer: " << slowest << " s\n";
  EXPECT_EQ(statuses[500], 0);
  EXPECT_GT(statuses[201], 20);
  EXPECT_GT(statuses[503], 0);
  // Never a hang: well within the 30 s request timeout.
  EXPECT_LT(slowest, 5.0);
  // Every acknowledged create is there (the fixture's connection died with the cluster).
  conn = std::make_unique<db::Connection>(database.connect());
  for (const auto& id : created)
    EXPECT_EQ(scalar(*conn, "SELECT count(*) FROM partner WHERE id = " + id), 1) << id;
}

// A registry reload after a NOTIFY that fails (a module file broken on disk): the previous
// registry keeps serving, /healthz says "degraded" (the reason, with the file's name, to an
// administrator only), /metrics counts it, and the reload is retried until it succeeds.
TEST_F(Faults, AFailedRegistryReloadIsVisibleAndRetried) {
  TestServer server(config, database.conninfo());
  auto port = server.port();
  const std::string good =
      "entities:\n  partner:\n    fields:\n"
      "      name: {type: string, max_length: 64, required: true, unique: true}\n";
  tree.write("shop/e.yaml", "entities:\n  partner:\n    fields:\n      name: {type: nonsense}\n");
  conn->exec("NOTIFY keel_modules");
  auto metrics = [&] { return testing::http_request(port, "GET", "/api/v1/metrics").body; };
  for (int i = 0; i < 250 && metrics().find("\nkeel_registry_stale 1") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto m = metrics();
  EXPECT_NE(m.find("\nkeel_registry_stale 1"), std::string::npos) << m;
  EXPECT_EQ(m.find("keel_registry_reload_failures_total 0"), std::string::npos) << m;

  auto anonymous = testing::http_request(port, "GET", "/api/v1/healthz");
  EXPECT_EQ(anonymous.status, 200);
  EXPECT_EQ(anonymous.body, R"({"status":"degraded","database":"ok","registry":"stale"})");
  auto as_admin = testing::http_request(port, "GET", "/api/v1/healthz", "", admin);
  EXPECT_EQ(as_admin.status, 200);
  EXPECT_NE(as_admin.body.find("\"registry_error\""), std::string::npos) << as_admin.body;
  EXPECT_NE(as_admin.body.find("e.yaml:4:"), std::string::npos) << as_admin.body;
  // The previous registry serves.
  EXPECT_EQ(get(port, "/api/v1/records/partner").status, 200);

  // Repaired: the retry (1 s, then 2 s) picks it up without another NOTIFY.
  tree.write("shop/e.yaml", good);
  auto t0 = std::chrono::steady_clock::now();
  while (metrics().find("\nkeel_registry_stale 0") == std::string::npos &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_NE(metrics().find("\nkeel_registry_stale 0"), std::string::npos);
  EXPECT_EQ(testing::http_request(port, "GET", "/api/v1/healthz").body,
            R"({"status":"ok","database":"ok"})");
}

// ---------------------------------------------------------------------------------------
// kill -9 of `keel module install`.

// What an install changes, as text: the tables and columns of `public`, the modules and their
// states, the external ids and the ownership ledger.
std::string database_state(db::Connection& conn) {
  auto text = [&](const std::string& sql) {
    auto r = conn.exec(sql);
    return r.rows() ? std::string(r.get(0, 0)) : std::string();
  };
  return text(
             "SELECT string_agg(table_name || '.' || column_name, ',' ORDER BY table_name, "
             "column_name) FROM information_schema.columns WHERE table_schema = 'public'") +
         "\n" +
         text(
             "SELECT string_agg(name || '@' || version || ':' || state, ',' ORDER BY name) "
             "FROM base_module") +
         "\n" + text("SELECT count(*)::text FROM base_external_id") + "\n" +
         text("SELECT count(*)::text FROM base_ownership");
}

pid_t spawn_keel(const std::vector<std::string>& args) {
  std::vector<std::string> env_items = {"KEEL_CORE_PATH=" KEEL_SOURCE_DIR "/core",
                                        "PATH=/usr/bin:/bin", "HOME=/tmp"};
  std::vector<char*> envp;
  for (auto& e : env_items)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string exe = KEEL_BINARY;
  std::vector<std::string> copies = args;
  std::vector<char*> argv = {exe.data()};
  for (auto& a : copies)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0);
  return pid;
}

// Runs `keel ARGS`, kills it with SIGKILL after `delay`, and waits until its backend has ended
// (PostgreSQL rolls its transaction back and its advisory lock goes with it); no advisory lock
// may be left.
void kill_after(db::Connection& conn, const std::vector<std::string>& args,
                std::chrono::milliseconds delay) {
  pid_t pid = spawn_keel(args);
  std::this_thread::sleep_for(delay);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  auto t0 = std::chrono::steady_clock::now();
  while (scalar(conn,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                "pid <> pg_backend_pid() AND backend_type = 'client backend'") > 0 &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(scalar(conn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"), 0);
}

// Forty modules in a chain, each with an entity, a many2one to the previous one and data: an
// install of the last one installs them all, in one transaction.
void write_chain(testing::AddonTree& tree, int modules, const std::string& version = "1.0.0") {
  const bool upgraded = version != "1.0.0";
  for (int m = 0; m < modules; ++m) {
    std::string name = "m" + std::to_string(m);
    std::string depends = m ? "m" + std::to_string(m - 1) : "base";
    tree.write(name + "/manifest.yaml", "name: " + name + "\nversion: " + version + "\ndepends: [" +
                                            depends + "]\nentities: [e.yaml]\ndata: [d.yaml]\n");
    std::string entity = "entities:\n  e" + std::to_string(m) +
                         ":\n    fields:\n      name: {type: string, required: true}\n"
                         "      qty: {type: integer}\n";
    if (m) entity += "      prev: {type: many2one, target: e" + std::to_string(m - 1) + "}\n";
    if (upgraded) {
      // 1.1.0: a new column, filled by a migration after the schema change.
      entity += "      doubled: {type: integer}\n";
      tree.write(name + "/migrations/" + version + "/post.sql",
                 "UPDATE e" + std::to_string(m) + " SET doubled = qty * 2;\n");
    }
    tree.write(name + "/e.yaml", entity);
    std::string data = "records:\n";
    for (int r = 0; r < 20; ++r)
      data += "  - {id: r" + std::to_string(r) + ", entity: e" + std::to_string(m) +
              ", values: {name: r" + std::to_string(r) + ", qty: " + std::to_string(r) + "}}\n";
    tree.write(name + "/d.yaml", data);
  }
}

TEST_F(Faults, KillDuringInstallLeavesTheDatabaseAsBeforeOrAsAfter) {
  constexpr int kModules = 40;
  write_chain(tree, kModules);
  const std::string last = "m" + std::to_string(kModules - 1);
  std::vector<std::string> args = {
      "--db", database.conninfo(), "--addons-path", tree.path(), "module", "install", last};
  const std::string before = database_state(*conn);
  // How long a full install takes here, in another database.
  auto timed = std::chrono::steady_clock::now();
  {
    testing::TestDatabase scratch;
    auto full = args;
    full[1] = scratch.conninfo();
    pid_t pid = spawn_keel(full);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto duration = std::chrono::steady_clock::now() - timed;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
  std::cout << "full install of " << kModules << " modules: " << ms << " ms\n";

  std::mt19937 random(16);
  int as_before = 0, as_after = 0;
  std::string after;
  for (int round = 0; round < 8 && after.empty(); ++round) {
    auto delay = std::uniform_int_distribution<long>(0, ms * 9 / 10)(random);
    kill_after(*conn, args, std::chrono::milliseconds(delay));
    auto state = database_state(*conn);
    if (state == before) {
      ++as_before;
    } else {
      // Committed before the kill: every module installed, nothing half done.
      EXPECT_NE(state.find(last + "@1.0.0:installed"), std::string::npos) << state;
      after = state;
      ++as_after;
    }
  }
  std::cout << "kill -9 during install: " << as_before << " times as before, " << as_after
            << " as after\n";
  EXPECT_GT(as_before, 0);
  // The next run succeeds (or finds everything installed).
  testing::RunOptions options;
  options.env["KEEL_CORE_PATH"] = KEEL_SOURCE_DIR "/core";
  auto r = testing::run_program(KEEL_BINARY, args, options);
  EXPECT_EQ(r.status, 0) << r.err;
  auto final_state = database_state(*conn);
  EXPECT_NE(final_state.find(last + "@1.0.0:installed"), std::string::npos);
  if (!after.empty()) {
    EXPECT_EQ(final_state, after);
  }
  EXPECT_EQ(scalar(*conn, "SELECT count(*) FROM e" + std::to_string(kModules - 1)), 20);
}

// The same for `keel module upgrade --all` of the forty modules to 1.1.0 (a new column and a
// migration each), killed at random moments: as before (1.0.0, no column, no migration
// recorded) or as after, never in between.
TEST_F(Faults, KillDuringUpgradeWithMigrationsLeavesTheDatabaseAsBeforeOrAsAfter) {
  constexpr int kModules = 40;
  write_chain(tree, kModules);
  const std::string last = "m" + std::to_string(kModules - 1);
  testing::RunOptions options;
  options.env["KEEL_CORE_PATH"] = KEEL_SOURCE_DIR "/core";
  auto install = testing::run_program(
      KEEL_BINARY,
      {"--db", database.conninfo(), "--addons-path", tree.path(), "module", "install", last},
      options);
  ASSERT_EQ(install.status, 0) << install.err;
  write_chain(tree, kModules, "1.1.0");
  std::vector<std::string> args = {"--db",   database.conninfo(), "--addons-path", tree.path(),
                                   "module", "upgrade",           "--all"};
  auto migrations = [&] { return scalar(*conn, "SELECT count(*) FROM base_migration"); };
  const std::string before = database_state(*conn);
  const auto migrations_before = migrations();
  int as_before = 0, as_after = 0;
  // From early (before the transaction began) to late (after it committed).
  for (long delay : {100, 250, 400, 600, 800, 1100, 1500, 2000, 3000}) {
    kill_after(*conn, args, std::chrono::milliseconds(delay));
    auto state = database_state(*conn);
    if (state == before) {
      EXPECT_EQ(migrations(), migrations_before);
      ++as_before;
      continue;
    }
    // Committed before the kill: every module at 1.1.0, every migration run once.
    EXPECT_NE(state.find(last + "@1.1.0:installed"), std::string::npos) << state;
    EXPECT_EQ(state.find("m0@1.0.0"), std::string::npos) << state;
    EXPECT_EQ(migrations(), migrations_before + kModules);
    ++as_after;
    break;
  }
  std::cout << "kill -9 during upgrade: " << as_before << " times as before, " << as_after
            << " as after\n";
  EXPECT_GT(as_before, 0);
  auto r = testing::run_program(KEEL_BINARY, args, options);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(database_state(*conn).find(last + "@1.1.0:installed"), std::string::npos);
  EXPECT_EQ(migrations(), migrations_before + kModules);
  EXPECT_EQ(scalar(*conn, "SELECT count(*) FROM " + ("e" + std::to_string(kModules - 1)) +
                              " WHERE doubled = qty * 2"),
            20);
}

}  // namespace
}  // namespace keel
