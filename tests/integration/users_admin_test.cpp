// User administration over real HTTP (docs/api.md, "Users and API keys"): a user created with a
// password and roles, a password set or reset (argon2id, sessions ended), an API key answered
// once; administrators only, problem+json otherwise.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>

#include "install/lifecycle.hpp"
#include "modules/discovery.hpp"
#include "native/host.hpp"
#include "security/crypto.hpp"
#include "support/addon_tree.hpp"
#include "support/auth.hpp"
#include "support/fixture.hpp"
#include "support/http_client.hpp"
#include "support/json.hpp"
#include "support/pg.hpp"
#include "support/run.hpp"
#include "support/test_server.hpp"

namespace keel {
namespace {

using testing::bearer;
using testing::http_request;
using testing::HttpReply;

constexpr auto parse = testing::parse_json;

class UsersAdmin : public ::testing::Test, protected testing::AddonsFixture {
 protected:
  void SetUp() override {
    tree.write("shop/manifest.yaml",
               "name: shop\nversion: 1.0.0\ndepends: [base]\nentities: [e.yaml]\n"
               "security: [s.yaml]\n");
    tree.write("shop/e.yaml", "entities:\n  partner:\n    fields:\n      name: {type: string}\n");
    tree.write("shop/s.yaml",
               "roles:\n  clerk: {label: Clerk, implies: [base.user]}\n"
               "access:\n  - {entity: partner, role: clerk, read: true}\n");
    install({"shop"});
    admin = testing::token_for(testing::create_user(*conn, "admin", {"base.admin"}));
    alice_id = testing::create_user(*conn, "alice", {"base.user"});
    alice = testing::token_for(alice_id);
    clerk_role = conn->exec("SELECT id FROM base_role WHERE name = 'shop.clerk'").get_int(0, 0);
    server = std::make_unique<testing::TestServer>(config, database.conninfo());
  }

  HttpReply call(const std::string& token, const std::string& method, const std::string& path,
                 const std::string& body = {}) {
    auto headers = token.empty() ? std::map<std::string, std::string>{} : bearer(token);
    if (!body.empty()) headers["Content-Type"] = "application/json";
    return http_request(server->port(), method, "/api/v1" + path, body, headers);
  }
  int login_status(const std::string& login, const std::string& password) {
    return call("", "POST", "/auth/login",
                R"({"login": ")" + login + R"(", "password": ")" + password + R"("})")
        .status;
  }
  // A problem+json answer with this status and code.
  static void expect_problem(const HttpReply& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.header("content-type"), "application/problem+json") << r.body;
    EXPECT_NE(r.body.find("\"type\":\"urn:keel:problem:" + code + "\""), std::string::npos)
        << r.body;
  }

  std::unique_ptr<testing::TestServer> server;
  std::string admin, alice;
  std::int64_t alice_id = 0, clerk_role = 0;
};

TEST_F(UsersAdmin, AnAdministratorCreatesAUserWithAPasswordAndRoles) {
  auto r = call(admin, "POST", "/users",
                R"({"login": "erin", "name": "Erin", "password": "erin-pass-1", "roles": [)" +
                    std::to_string(clerk_role) + "]}");
  ASSERT_EQ(r.status, 201) << r.body;
  auto user = parse(r.body);
  EXPECT_EQ(std::string(user["login"].GetString()), "erin");
  EXPECT_EQ(r.body.find("password"), std::string::npos) << r.body;
  EXPECT_EQ(r.header("location"),
            "/api/v1/records/base_user/" + std::to_string(user["id"].GetInt64()));
  // Hashed with argon2id, never stored as given; the role applies at once.
  auto stored = conn->exec("SELECT password FROM base_user WHERE login = 'erin'");
  EXPECT_EQ(std::string(stored.get(0, 0)).rfind("$argon2id$", 0), 0u);
  std::string erin = testing::login(server->port(), "erin", "erin-pass-1");
  EXPECT_EQ(call(erin, "GET", "/records/partner").status, 200);

  // What RecordService refuses, it refuses here too; and the route's own checks.
  expect_problem(call(admin, "POST", "/users", R"({"login": "erin", "password": "long-enough"})"),
                 409, "records.conflict");
  expect_problem(call(admin, "POST", "/users", R"({"login": "frank", "password": "short"})"), 422,
                 "records.invalid");
  expect_problem(call(admin, "POST", "/users", R"({"login": "frank"})"), 422, "records.invalid");
  expect_problem(call(admin, "POST", "/users", R"({"login": "frank", "password": 12345678})"), 422,
                 "records.invalid");
  expect_problem(call(admin, "POST", "/users", R"({"password": "long-enough"})"), 422,
                 "records.invalid");
  expect_problem(call(admin, "POST", "/users", "[1]"), 400, "http.bad_request");
  EXPECT_EQ(conn->exec("SELECT count(*) FROM base_user WHERE login = 'frank'").get_int(0, 0), 0);
  // Not an administrator, no token.
  expect_problem(call(alice, "POST", "/users", R"({"login": "g", "password": "long-enough"})"), 403,
                 "auth.forbidden");
  EXPECT_EQ(call("", "POST", "/users", R"({"login": "g", "password": "long-enough"})").status, 401);
}

TEST_F(UsersAdmin, APasswordIsSetOrResetAndTheSessionsEnd) {
  std::string path = "/users/" + std::to_string(alice_id) + "/password";
  auto session =
      call("", "POST", "/auth/login",
           R"({"login": "alice", "password": ")" + std::string(testing::kTestPassword) + R"("})");
  ASSERT_EQ(session.status, 200) << session.body;
  std::string refresh = parse(session.body)["refresh_token"].GetString();

  auto set = call(admin, "POST", path, R"({"password": "alice-new-pass"})");
  EXPECT_EQ(set.status, 204) << set.body;
  EXPECT_EQ(login_status("alice", testing::kTestPassword), 401);
  EXPECT_EQ(login_status("alice", "alice-new-pass"), 200);
  EXPECT_EQ(call("", "POST", "/auth/refresh", R"({"refresh_token": ")" + refresh + R"("})").status,
            401);

  // Without a password: a generated one, in this answer only.
  auto reset = call(admin, "POST", path);
  ASSERT_EQ(reset.status, 200) << reset.body;
  EXPECT_EQ(reset.header("cache-control"), "no-store");
  std::string generated = parse(reset.body)["password"].GetString();
  EXPECT_GE(generated.size(), 16u);
  EXPECT_EQ(login_status("alice", "alice-new-pass"), 401);
  EXPECT_EQ(login_status("alice", generated), 200);
  auto stored = conn->exec("SELECT password FROM base_user WHERE login = 'alice'");
  EXPECT_TRUE(security::verify_password(stored.get(0, 0), generated));

  expect_problem(call(admin, "POST", path, R"({"password": "short"})"), 422, "records.invalid");
  expect_problem(call(admin, "POST", path, R"({"passwd": "long-enough"})"), 422, "records.invalid");
  expect_problem(call(admin, "POST", "/users/999999/password"), 404, "records.not_found");
  expect_problem(call(admin, "POST", "/users/x/password"), 404, "records.not_found");
  // Alice's tokens ended with her old password; with a new one she still may not set passwords.
  EXPECT_EQ(call(alice, "GET", "/records/base_user/" + std::to_string(alice_id)).status, 401);
  std::string fresh = testing::login(server->port(), "alice", generated);
  expect_problem(call(fresh, "POST", path, R"({"password": "mine-own-pass"})"), 403,
                 "auth.forbidden");
  EXPECT_EQ(login_status("alice", generated), 200);
}

TEST_F(UsersAdmin, AnApiKeyIsAnsweredOnceAndWorks) {
  std::string path = "/users/" + std::to_string(alice_id) + "/api-keys";
  auto r = call(admin, "POST", path, R"({"name": "ci", "expires_at": "2099-01-01T00:00:00Z"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.header("cache-control"), "no-store");
  auto created = parse(r.body);
  std::string key = created["key"].GetString();
  EXPECT_EQ(std::string(created["name"].GetString()), "ci");
  EXPECT_EQ(created["user"].GetInt64(), alice_id);
  EXPECT_EQ(key.substr(0, key.find('.')), std::string(created["prefix"].GetString()));
  EXPECT_FALSE(created.HasMember("secret_hash"));
  // The key authenticates as alice; only its hash is kept, and a read never shows it again.
  EXPECT_EQ(call(key, "GET", "/records/base_user/" + std::to_string(alice_id)).status, 200);
  // Its use is recorded through RecordService (which also sets updated_at; SQL of its own did not).
  EXPECT_TRUE(conn->exec("SELECT last_used_at IS NOT NULL AND updated_at > created_at "
                         "FROM base_api_key WHERE id = $1",
                         db::Params().add(created["id"].GetInt64()))
                  .get_bool(0, 0));
  auto stored = conn->exec("SELECT secret_hash FROM base_api_key WHERE id = $1",
                           db::Params().add(created["id"].GetInt64()));
  EXPECT_EQ(std::string(stored.get(0, 0)), security::sha256_hex(key.substr(key.find('.') + 1)));
  auto read =
      call(admin, "GET", "/records/base_api_key/" + std::to_string(created["id"].GetInt64()));
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(read.body.find(key.substr(key.find('.') + 1)), std::string::npos);

  // Bad input is refused and nothing is kept.
  expect_problem(call(admin, "POST", path, R"({"expires_at": "soon"})"), 422, "records.invalid");
  expect_problem(call(admin, "POST", path, R"({"name": 3})"), 422, "records.invalid");
  expect_problem(call(admin, "POST", "/users/999999/api-keys"), 404, "records.not_found");
  expect_problem(call(alice, "POST", path), 403, "auth.forbidden");
  EXPECT_EQ(conn->exec("SELECT count(*) FROM base_api_key").get_int(0, 0), 1);
}

TEST_F(UsersAdmin, BaseDeclaresTheAdministrationScreens) {
  auto menus = call(admin, "GET", "/ui/menus");
  ASSERT_EQ(menus.status, 200) << menus.body;
  for (const char* id : {"base.settings", "base.users", "base.roles", "base.api_keys"})
    EXPECT_NE(menus.body.find(std::string("\"id\":\"") + id + "\""), std::string::npos) << id;
  auto form = call(admin, "GET", "/ui/views/base_user/form");
  ASSERT_EQ(form.status, 200) << form.body;
  EXPECT_NE(form.body.find(R"("route":"POST /users/{id}/password")"), std::string::npos)
      << form.body;
  // A user without administration rights sees no API keys screen.
  auto theirs = call(alice, "GET", "/ui/menus");
  EXPECT_EQ(theirs.body.find("base.api_keys"), std::string::npos) << theirs.body;
  EXPECT_EQ(call(alice, "GET", "/ui/actions/base.api_keys").status, 403);
}

// One write path (issue 15): `keel user add` writes the user through RecordService as POST
// /users does, so what a module declares on base_user (here a native validate hook of
// tests/fixtures/native/native_user_policy) holds for both, with the same message.
TEST_F(UsersAdmin, ARuleOnUsersHoldsForTheCommandLineAsForTheApi) {
  native::Host::instance().add_library_dir(KEEL_TEST_ADDON_DIR);
  config.addons_path = {tree.path(), KEEL_FIXTURES_DIR "/native"};
  modules::ModuleGraph graph(modules::discover(config.module_path()).modules);
  install::Lifecycle(*conn, graph).install({"native_user_policy"});
  server->api().reload();  // the server reads `config`: it now loads the module too

  auto refused = call(admin, "POST", "/users", R"({"login": "Bob", "password": "long enough 1"})");
  EXPECT_EQ(refused.status, 422) << refused.body;
  EXPECT_NE(refused.body.find("must be lower case (native_user_policy)"), std::string::npos)
      << refused.body;

  auto keel = [&](const std::string& login) {
    return testing::run_keel({"user", "add", login, "--db", database.conninfo(), "--addons-path",
                              tree.path().string() + ":" + KEEL_FIXTURES_DIR "/native"},
                             {{"KEEL_LIBRARY_PATH", KEEL_TEST_ADDON_DIR}}, {}, "long enough 1\n");
  };
  auto cli = keel("Carol");
  EXPECT_EQ(cli.status, 1) << cli.err;
  EXPECT_NE(cli.err.find("login: must be lower case (native_user_policy)"), std::string::npos)
      << cli.err;
  auto users = [&](const char* login) {
    return conn->exec("SELECT count(*) FROM base_user WHERE login = $1", db::Params().add(login))
        .get_int(0, 0);
  };
  EXPECT_EQ(users("Carol"), 0);
  EXPECT_EQ(users("Bob"), 0);
  auto ok = keel("carol");
  ASSERT_EQ(ok.status, 0) << ok.err;
  EXPECT_EQ(login_status("carol", "long enough 1"), 200);
}

// One write path (issue 15), sessions included: login, refresh and logout write refresh tokens
// and a user's token generation through RecordService as Keel, so native hooks on base_user and
// base_refresh_token see them. tests/fixtures/native/native_user_policy refuses a change of the
// token generation and any revocation: a logout is then refused as a whole (one transaction,
// nothing written), and so is the revocation of a chain whose retired token came back.
TEST_F(UsersAdmin, SessionWritesGoThroughRecordServiceAndItsHooks) {
  native::Host::instance().add_library_dir(KEEL_TEST_ADDON_DIR);
  config.addons_path = {tree.path(), KEEL_FIXTURES_DIR "/native"};
  modules::ModuleGraph graph(modules::discover(config.module_path()).modules);
  install::Lifecycle(*conn, graph).install({"native_user_policy"});
  server->api().reload();

  auto session =
      call("", "POST", "/auth/login",
           R"({"login": "alice", "password": ")" + std::string(testing::kTestPassword) + R"("})");
  ASSERT_EQ(session.status, 200) << session.body;
  std::string first = parse(session.body)["refresh_token"].GetString();
  auto rotated = call("", "POST", "/auth/refresh", R"({"refresh_token": ")" + first + R"("})");
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  auto tokens = parse(rotated.body);
  std::string access = tokens["access_token"].GetString();
  std::string second = tokens["refresh_token"].GetString();
  auto count = [&](const std::string& where) {
    return conn
        ->exec("SELECT count(*) FROM base_refresh_token WHERE \"user\" = $1 AND " + where,
               db::Params().add(alice_id))
        .get_int(0, 0);
  };
  EXPECT_EQ(count("retired_at IS NULL"), 1);  // the hooks let creation and retirement pass
  EXPECT_EQ(count("retired_at IS NOT NULL"), 1);
  auto generation = [&] {
    return conn
        ->exec("SELECT token_generation FROM base_user WHERE id = $1", db::Params().add(alice_id))
        .get_int(0, 0);
  };
  const auto before = generation();

  auto out = call(access, "POST", "/auth/logout", R"({"refresh_token": ")" + second + R"("})");
  EXPECT_EQ(out.status, 422) << out.body;
  EXPECT_NE(out.body.find("never changes (native_user_policy)"), std::string::npos) << out.body;
  EXPECT_EQ(generation(), before);
  EXPECT_EQ(count("revoked_at IS NOT NULL"), 0);
  EXPECT_EQ(call(access, "GET", "/ui/menus").status, 200);  // nothing ended

  // The first token comes back: revoking its chain is a write the hook refuses too.
  auto reused = call("", "POST", "/auth/refresh", R"({"refresh_token": ")" + first + R"("})");
  EXPECT_EQ(reused.status, 422) << reused.body;
  EXPECT_NE(reused.body.find("sessions are never revoked (native_user_policy)"), std::string::npos)
      << reused.body;
  EXPECT_EQ(count("revoked_at IS NOT NULL"), 0);
}

}  // namespace
}  // namespace keel
