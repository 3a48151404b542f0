// What a PostgreSQL restart does to a running Keel: over real HTTP, against a private cluster
// of the test's own (the run's shared cluster keeps serving the other tests), restarted with
// pg_ctl under a light read and write load.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "db/cluster.hpp"
#include "install/lifecycle.hpp"
#include "modules/discovery.hpp"
#include "support/addon_tree.hpp"
#include "support/auth.hpp"
#include "support/http_client.hpp"
#include "support/test_server.hpp"

namespace keel {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "keel-faults-XXXXXX").string();
    ASSERT_TRUE(::mkdtemp(tmpl.data()));
    root = tmpl;
    fs::permissions(root, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    db::Cluster::Options options;
    options.data_dir = root / "pg";
    options.socket_dir = root / "run";
    options.durable = false;
    cluster = std::make_unique<db::Cluster>(options);
    cluster->start();
    conninfo = cluster->conninfo("keel");

    tree.write("shop/manifest.yaml",
               "name: shop\nversion: 1.0.0\ndepends: [base]\nentities: [e.yaml]\n");
    tree.write("shop/e.yaml",
               "entities:\n  partner:\n    fields:\n      name: {type: string, required: true}\n");
    config.addons_path = {tree.path()};
    config.core_dir = KEEL_SOURCE_DIR "/core";
    config.secret = testing::kTestSecret;
    auto conn = db::Connection::open(conninfo);
    auto found = modules::discover(config.module_path());
    modules::ModuleGraph graph(std::move(found.modules));
    install::Lifecycle(conn, graph).install({"shop"});
    token = testing::token_for(testing::create_user(conn, "admin", {"base.admin"}));
  }
  void TearDown() override {
    cluster.reset();
    std::error_code ec;
    fs::remove_all(root, ec);
  }

  fs::path root;
  std::unique_ptr<db::Cluster> cluster;
  std::string conninfo;
  testing::AddonTree tree;
  Config config;
  std::string token;
};

// A light load of reads and creates, and what it got back.
struct Load {
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::map<int, int> statuses;
  int unavailable_without_retry_after = 0;
  std::vector<std::string> created;  // names answered 201
  std::vector<std::string> failures;
  std::vector<std::thread> threads;

  Load(std::uint16_t port, const std::string& token) {
    for (int t = 0; t < 2; ++t)
      threads.emplace_back([this, port, token, t] {
        for (int i = 0; !stop; ++i) {
          std::string name = "p" + std::to_string(t) + "_" + std::to_string(i);
          auto read = testing::http_request(port, "GET", "/api/v1/records/partner?limit=5", "",
                                            testing::bearer(token));
          auto write =
              testing::http_request(port, "POST", "/api/v1/records/partner",
                                    R"({"name": ")" + name + R"("})", testing::bearer(token));
          std::lock_guard lock(mutex);
          for (const auto* r : {&read, &write}) {
            ++statuses[r->status];
            if (r->status == 503 && r->header("retry-after").empty())
              ++unavailable_without_retry_after;
            if (r->status >= 500 && r->status != 503) failures.push_back(r->body);
          }
          if (write.status == 201) created.push_back(name);
          std::this_thread::sleep_for(10ms);
        }
      });
  }
  void finish() {
    stop = true;
    for (auto& t : threads)
      t.join();
  }
};

// How long after `since` the server answered a read again (up to 10 s).
double back_after(std::uint16_t port, const std::string& token, Clock::time_point since) {
  while (Clock::now() - since < 10s) {
    auto r = testing::http_request(port, "GET", "/api/v1/records/partner?limit=1", "",
                                   testing::bearer(token));
    if (r.status == 200) return std::chrono::duration<double>(Clock::now() - since).count();
    std::this_thread::sleep_for(20ms);
  }
  return 1e9;
}

TEST_F(Faults, PostgresRestartsAnswer503WithRetryAfterAndServiceComesBack) {
  testing::TestServer server(config, conninfo);
  Load load(server.port(), token);
  std::this_thread::sleep_for(300ms);

  for (std::string mode : {"fast", "immediate"}) {
    SCOPED_TRACE(mode);
    cluster->halt(mode);
    // While it is down: the health check says so, without addresses or libpq's words.
    for (int i = 0; i < 3; ++i) {
      auto health = testing::http_request(server.port(), "GET", "/api/v1/healthz");
      EXPECT_EQ(health.status, 503);
      EXPECT_FALSE(health.header("retry-after").empty());
      EXPECT_NE(health.body.find("the database is down"), std::string::npos) << health.body;
      EXPECT_EQ(health.body.find(root.string()), std::string::npos) << health.body;
      EXPECT_EQ(health.body.find("PostgreSQL"), std::string::npos) << health.body;
      EXPECT_EQ(health.body.find("socket"), std::string::npos) << health.body;
      std::this_thread::sleep_for(150ms);
    }
    cluster->start();
    auto up = Clock::now();
    EXPECT_LT(back_after(server.port(), token, up), 2.0);
    EXPECT_EQ(testing::http_request(server.port(), "GET", "/api/v1/healthz").status, 200);
    std::this_thread::sleep_for(300ms);
  }
  load.finish();

  std::string summary;
  for (auto [status, count] : load.statuses)
    summary += std::to_string(status) + ": " + std::to_string(count) + " ";
  EXPECT_GT(load.statuses[503], 0) << summary;  // the load did meet the outages
  EXPECT_GT(load.statuses[201], 0) << summary;
  for (auto [status, count] : load.statuses)
    EXPECT_TRUE(status == 200 || status == 201 || status == 503) << summary;
  EXPECT_TRUE(load.failures.empty()) << load.failures.front();
  EXPECT_EQ(load.unavailable_without_retry_after, 0) << summary;

  // Every create answered 201 is in the table.
  auto conn = db::Connection::open(conninfo);
  std::set<std::string> stored;
  auto rows = conn.exec("SELECT name FROM partner");
  for (int r = 0; r < rows.rows(); ++r)
    stored.emplace(rows.get(r, 0));
  for (const auto& name : load.created)
    EXPECT_TRUE(stored.count(name)) << name;
}

// After a restart while Keel was idle, its pooled and pipelined connections are dead: the
// first requests find that out before sending anything and run on fresh connections.
TEST_F(Faults, ConnectionsKilledWhileIdleAreReplacedWithoutFailingRequests) {
  testing::TestServer server(config, conninfo);
  auto bearer = testing::bearer(token);
  for (int i = 0; i < 20; ++i) {  // every I/O thread's connections in use once
    ASSERT_EQ(
        testing::http_request(server.port(), "GET", "/api/v1/records/partner", "", bearer).status,
        200);
    ASSERT_EQ(testing::http_request(server.port(), "POST", "/api/v1/records/partner",
                                    R"({"name": "a)" + std::to_string(i) + R"("})", bearer)
                  .status,
              201);
  }
  cluster->halt("fast");
  cluster->start();
  std::this_thread::sleep_for(1200ms);  // the listeners reconnect meanwhile
  for (int i = 0; i < 20; ++i) {
    auto read = testing::http_request(server.port(), "GET", "/api/v1/records/partner", "", bearer);
    EXPECT_EQ(read.status, 200) << read.body;
    auto write = testing::http_request(server.port(), "POST", "/api/v1/records/partner",
                                       R"({"name": "b)" + std::to_string(i) + R"("})", bearer);
    EXPECT_EQ(write.status, 201) << write.body;
    EXPECT_EQ(testing::http_request(server.port(), "GET", "/api/v1/healthz").status, 200);
  }
}

}  // namespace
}  // namespace keel
