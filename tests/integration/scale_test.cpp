// Several `keel serve` processes on one database (issue 18, part 4, first bullet): a module
// installed through one server, or by the CLI, is served by every server within a second
// (LISTEN/NOTIFY); an access token issued by one is accepted by the others (they share
// KEEL_SECRET); failed logins are counted in the database, so throttling counts across servers.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "modules/discovery.hpp"
#include "security/crypto.hpp"
#include "support/addon_tree.hpp"
#include "support/auth.hpp"
#include "support/fixture.hpp"
#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/run.hpp"
#include "support/serve_process.hpp"

extern char** environ;

namespace keel {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using testing::bearer;
using testing::http_request;
using testing::ServeProcess;

std::string credentials(const std::string& login, const std::string& password) {
  return R"({"login": ")" + login + R"(", "password": ")" + password + R"("})";
}

class Scale : public ::testing::Test, protected testing::AddonsFixture {
 protected:
  void SetUp() override {
    use_fixture("shop_basic");
    use_fixture("shop_extra");
    tree.write("more/manifest.yaml",
               "name: more\nversion: 1.0.0\ndepends: [shop]\nentities: [e.yaml]\n");
    tree.write("more/e.yaml", "entities:\n  bonus:\n    fields:\n      name: {type: string}\n");
    install({"shop"});
    testing::create_user(*conn, "alice", {"base.user"});
    testing::create_user(*conn, "boss", {"base.admin"});
  }

  // How long until GET `target` on `port` answers 200 (up to 10 s; then 10 s is returned).
  static Clock::duration time_until_served(std::uint16_t port, const std::string& target,
                                           const std::string& token, Clock::time_point since) {
    while (Clock::now() - since < std::chrono::seconds(10)) {
      if (http_request(port, "GET", target, "", bearer(token)).status == 200)
        return Clock::now() - since;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return std::chrono::seconds(10);
  }

  // Shared by both servers, as in a deployment; not kTestSecret, so that tokens minted by the
  // test (testing::token_for) are foreign to them.
  std::string secret = "scale-test-" + security::random_token(16);
};

TEST_F(Scale, TwoServersOnOneDatabaseShareModulesTokensAndThrottling) {
  testing::ServeProcess a(database.conninfo(), tree.path(), secret);
  testing::ServeProcess b(database.conninfo(), tree.path(), secret);
  ASSERT_NE(a.port(), b.port());

  // Tokens: issued by either, accepted by both; one signed with another secret by neither.
  std::string from_a = testing::login(a.port(), "boss");
  std::string from_b = testing::login(b.port(), "alice");
  ASSERT_FALSE(from_a.empty());
  ASSERT_FALSE(from_b.empty());
  for (auto port : {a.port(), b.port()}) {
    EXPECT_EQ(http_request(port, "GET", "/api/v1/meta/entities", "", bearer(from_a)).status, 200);
    EXPECT_EQ(http_request(port, "GET", "/api/v1/meta/entities", "", bearer(from_b)).status, 200);
    auto foreign = http_request(port, "GET", "/api/v1/meta/entities", "",
                                bearer(testing::token_for(1)));  // signed with kTestSecret
    EXPECT_EQ(foreign.status, 401) << foreign.body;
  }

  // A module installed through A's REST API: B serves its entity within a second.
  EXPECT_EQ(http_request(b.port(), "GET", "/api/v1/records/gift", "", bearer(from_a)).status, 404);
  auto install =
      http_request(a.port(), "POST", "/api/v1/modules/extra/install", "", bearer(from_a));
  ASSERT_EQ(install.status, 200) << install.body;
  auto installed = Clock::now();
  EXPECT_EQ(http_request(a.port(), "GET", "/api/v1/records/gift", "", bearer(from_a)).status, 200);
  auto on_b = time_until_served(b.port(), "/api/v1/records/gift", from_a, installed);
  EXPECT_LT(on_b, std::chrono::seconds(1))
      << std::chrono::duration_cast<std::chrono::milliseconds>(on_b).count() << " ms";
  std::cout << "[ scale    ] REST install on A served by B after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(on_b).count() << " ms\n";

  // A module installed by the CLI on the same database: both servers serve it within a second.
  auto cli = testing::run_keel({"module", "install", "more", "--db", database.conninfo(),
                                "--addons-path", tree.path().string()},
                               {}, tree.path());
  ASSERT_EQ(cli.status, 0) << cli.out << cli.err;
  auto cli_done = Clock::now();
  for (auto port : {a.port(), b.port()}) {
    auto served = time_until_served(port, "/api/v1/records/bonus", from_a, cli_done);
    EXPECT_LT(served, std::chrono::seconds(1))
        << std::chrono::duration_cast<std::chrono::milliseconds>(served).count() << " ms";
    std::cout << "[ scale    ] CLI install served by :" << port << " after "
              << std::chrono::duration_cast<std::chrono::milliseconds>(served).count() << " ms\n";
  }

  // Throttling: five failed logins spread over both servers; the sixth, even with the right
  // password, is refused by either.
  for (int i = 0; i < 5; ++i) {
    auto port = i % 2 ? b.port() : a.port();
    EXPECT_EQ(
        http_request(port, "POST", "/api/v1/auth/login", credentials("alice", "wrong")).status,
        401);
  }
  for (auto port : {a.port(), b.port()}) {
    auto throttled = http_request(port, "POST", "/api/v1/auth/login",
                                  credentials("alice", testing::kTestPassword));
    EXPECT_EQ(throttled.status, 429) << throttled.body;
    EXPECT_FALSE(throttled.header("retry-after").empty());
  }
  // Another login is not affected, on either server.
  for (auto port : {a.port(), b.port()})
    EXPECT_FALSE(testing::login(port, "boss").empty());

  // The connections both servers hold now (docs/scaling.md, the connection budget).
  auto conn = database.connect();
  std::cout << "[ scale    ] connections of two servers: "
            << conn.exec(
                       "SELECT count(*) - 1 FROM pg_stat_activity "
                       "WHERE datname = current_database()")
                   .get_int(0, 0)
            << " on " << std::thread::hardware_concurrency() << " cores\n";
}

// Two servers whose disks hold different views files for one installed module (one changed
// without an upgrade) serve the same UI: the one the database holds (docs/views.md).
TEST_F(Scale, TwoServersWithDifferentFilesServeTheInstalledUi) {
  const char* manifest = "name: look\nversion: 1.0.0\ndepends: [shop]\nviews: [v.yaml]\n";
  const std::string views = R"(views:
  - {id: partner_form, entity: partner, type: form, arch: [{field: name, label: Installed}]}
menus:
  - {id: root, label: Look, action: partners}
actions:
  - {id: partners, entity: partner, views: [form]}
components:
  - {name: badge, asset: static/badge.js}
)";
  tree.write("look/manifest.yaml", manifest);
  tree.write("look/v.yaml", views);
  tree.write("look/static/badge.js", "export default 'Installed';\n");
  {
    auto conn = database.connect();
    modules::ModuleGraph graph(modules::discover({KEEL_SOURCE_DIR "/core", tree.path()}).modules);
    install::Lifecycle(conn, graph).install({"look"});
  }
  testing::AddonTree other;
  fs::copy(tree.path(), other.path(), fs::copy_options::recursive);
  std::string changed = views;
  changed.replace(changed.find("Installed"), 9, "Changed on disk");
  changed.replace(changed.find("label: Look"), 11, "label: Elsewhere");
  changed.replace(changed.find("views: [form]"), 13, "views: [list, form], limit: 5");
  other.write("look/v.yaml", changed);
  other.write("look/static/badge.js", "export default 'Changed on disk';\n");

  ServeProcess a(database.conninfo(), tree.path(), secret);
  ServeProcess b(database.conninfo(), other.path(), secret);
  std::string token = testing::login(a.port(), "boss");
  ASSERT_FALSE(token.empty());
  for (const char* target : {"/api/v1/ui/views/partner/form", "/api/v1/ui/views/look.partner_form",
                             "/api/v1/ui/menus", "/api/v1/ui/actions/look.partners",
                             "/api/v1/ui/components", "/api/v1/ui/assets/look/badge.js"}) {
    auto on_a = http_request(a.port(), "GET", target, "", bearer(token));
    auto on_b = http_request(b.port(), "GET", target, "", bearer(token));
    EXPECT_EQ(on_a.status, 200) << target << on_a.body;
    EXPECT_EQ(on_a.body, on_b.body) << target;
    EXPECT_EQ(on_b.body.find("Changed on disk"), std::string::npos) << target;
    EXPECT_EQ(on_b.body.find("Elsewhere"), std::string::npos) << target;
  }
  EXPECT_NE(http_request(b.port(), "GET", "/api/v1/ui/views/partner/form", "", bearer(token))
                .body.find(R"("label":"Installed")"),
            std::string::npos);
}

}  // namespace
}  // namespace keel
