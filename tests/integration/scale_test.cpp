// Several `keel serve` processes on one database (issue 18, part 4, first bullet): a module
// installed through one server, or by the CLI, is served by every server within a second
// (LISTEN/NOTIFY); an access token issued by one is accepted by the others (they share
// KEEL_SECRET); failed logins are counted in the database, so throttling counts across servers.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "install/lifecycle.hpp"
#include "modules/discovery.hpp"
#include "security/crypto.hpp"
#include "support/addon_tree.hpp"
#include "support/auth.hpp"
#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/run.hpp"

extern char** environ;

namespace keel {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using testing::bearer;
using testing::http_request;

// One `keel serve` process of this build, as on its own machine: its own working directory
// (so its own var/), the database, addons path and secret given through the environment, on a
// port chosen by the system (read back from its log). Stopped with SIGTERM at the end.
class ServeProcess {
 public:
  ServeProcess(const std::string& conninfo, const fs::path& addons, const std::string& secret)
      : dir_(fs::temp_directory_path() / ("keel-serve-" + security::random_token(6))) {
    fs::create_directories(dir_);
    log_ = dir_ / "serve.log";
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e)
      if (std::string_view(*e).rfind("KEEL_", 0) != 0) env.emplace_back(*e);
    env.push_back("KEEL_CORE_PATH=" KEEL_SOURCE_DIR "/core");
    env.push_back("KEEL_DB_URL=" + conninfo);
    env.push_back("KEEL_ADDONS_PATH=" + addons.string());
    env.push_back("KEEL_SECRET=" + secret);
    env.push_back("KEEL_LISTEN=127.0.0.1:0");
    env.push_back(std::string("KEEL_ADMIN_PASSWORD=") + testing::kTestPassword);
    std::vector<char*> envp;
    for (auto& e : env)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string exe = KEEL_BINARY, serve = "serve", dir = dir_.string(), log = log_.string();
    std::vector<char*> argv = {exe.data(), serve.data(), nullptr};
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int in = ::open("/dev/null", O_RDONLY);
      if (out < 0 || in < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0 ||
          ::chdir(dir.c_str()) != 0)
        ::_exit(126);
      ::execve(exe.c_str(), argv.data(), envp.data());
      ::_exit(127);
    }
    // Up to 60 s for "listening on http://127.0.0.1:PORT" (a loaded CI machine).
    const std::string marker = "listening on http://127.0.0.1:";
    for (int i = 0; i < 1200 && port_ == 0; ++i) {
      std::string text = log_text();
      if (auto at = text.find(marker); at != std::string::npos) {
        port_ = static_cast<std::uint16_t>(std::atoi(text.c_str() + at + marker.size()));
        break;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("keel serve exited at start:\n" + text);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (port_ == 0) throw std::runtime_error("keel serve did not start:\n" + log_text());
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      bool gone = false;
      for (int i = 0; i < 200 && !gone; ++i) {
        gone = ::waitpid(pid_, &status, WNOHANG) == pid_;
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (!gone) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  std::uint16_t port() const { return port_; }
  std::string log_text() const {
    std::ifstream in(log_);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  fs::path dir_, log_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

std::string credentials(const std::string& login, const std::string& password) {
  return R"({"login": ")" + login + R"(", "password": ")" + password + R"("})";
}

class Scale : public ::testing::Test {
 protected:
  void SetUp() override {
    tree.write("shop/manifest.yaml",
               "name: shop\nversion: 1.0.0\ndepends: [base]\nentities: [e.yaml]\n");
    tree.write("shop/e.yaml", "entities:\n  partner:\n    fields:\n      name: {type: string}\n");
    tree.write("extra/manifest.yaml",
               "name: extra\nversion: 1.0.0\ndepends: [shop]\nentities: [e.yaml]\n");
    tree.write("extra/e.yaml", "entities:\n  gift:\n    fields:\n      name: {type: string}\n");
    tree.write("more/manifest.yaml",
               "name: more\nversion: 1.0.0\ndepends: [shop]\nentities: [e.yaml]\n");
    tree.write("more/e.yaml", "entities:\n  bonus:\n    fields:\n      name: {type: string}\n");
    auto conn = database.connect();
    auto found = modules::discover({KEEL_SOURCE_DIR "/core", tree.path()});
    modules::ModuleGraph graph(std::move(found.modules));
    install::Lifecycle(conn, graph).install({"shop"});
    testing::create_user(conn, "alice", {"base.user"});
    testing::create_user(conn, "boss", {"base.admin"});
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

  testing::TestDatabase database;
  testing::AddonTree tree;
  // Shared by both servers, as in a deployment; not kTestSecret, so that tokens minted by the
  // test (testing::token_for) are foreign to them.
  std::string secret = "scale-test-" + security::random_token(16);
};

TEST_F(Scale, TwoServersOnOneDatabaseShareModulesTokensAndThrottling) {
  ServeProcess a(database.conninfo(), tree.path(), secret);
  ServeProcess b(database.conninfo(), tree.path(), secret);
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
