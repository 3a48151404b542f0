// Getting modules, end to end with the `keel` binary and PostgreSQL: `keel module fetch` from a
// local bare git repository then `keel module install`; `security.require_signed_modules`
// refusing unsigned and tampered modules before anything is written; `keel module new`, then
// one install, then CRUD over HTTP as the roles the scaffold declares (docs/modules.md).

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "db/connection.hpp"
#include "support/addon_tree.hpp"
#include "support/auth.hpp"
#include "support/git_repo.hpp"
#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/run.hpp"
#include "support/test_server.hpp"

namespace keel {
namespace {
namespace fs = std::filesystem;
using testing::run_keel;
using testing::RunResult;

std::string shown(const std::vector<std::string>& args, const RunResult& r) {
  std::string text = "keel";
  for (const auto& a : args)
    text += " " + a;
  return text + "\nexit " + std::to_string(r.status) + "\n--- stdout:\n" + r.out + "--- stderr:\n" +
         r.err + "---";
}

class Distribution : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directories(tree.path() / "addons"); }

  // keel in the tree's root (where addons.lock and keel.toml live), on this test's database.
  RunResult keel(std::vector<std::string> args) {
    std::vector<std::string> all = args;
    all.insert(all.end(), {"--db", database.conninfo(), "--addons-path", "addons"});
    RunResult r = run_keel(all, {}, tree.path());
    last = shown(args, r);
    return r;
  }
  // A module `shop` with one entity, and a key pair keys/signer(.pub).
  void write_shop_and_key() {
    tree.write("addons/shop/manifest.yaml",
               "name: shop\nversion: 1.0.0\ndepends: [base]\nentities: [entities/*.yaml]\n");
    tree.write("addons/shop/entities/shop.yaml",
               "entities:\n  shop_item:\n    fields:\n      name: {type: string}\n");
    fs::create_directories(tree.path() / "keys");
    ASSERT_EQ(keel({"key", "generate", "--out", "keys/signer"}).status, 0) << last;
  }
  bool has_table(const std::string& table) {
    auto conn = database.connect();
    return !conn.exec("SELECT to_regclass($1) IS NULL", db::Params().add(table)).get_bool(0, 0);
  }

  testing::TestDatabase database;
  testing::AddonTree tree;
  std::string last;
};

TEST_F(Distribution, FetchThenInstallFromAnEmptyAddonsDirectory) {
  testing::GitRepo lib(tree.path(), "lib");
  lib.write("manifest.yaml",
            "name: lib\nversion: 1.2.0\ndepends: [base]\nentities: [entities/*.yaml]\n");
  lib.write("entities/lib.yaml",
            "entities:\n  lib_item:\n    fields:\n      name: {type: string, required: true}\n");
  std::string commit = lib.commit("lib 1.2.0");
  lib.tag("v1.2.0");
  tree.write("addons/app/manifest.yaml",
             "name: app\nversion: 1.0.0\ndepends:\n  - name: lib\n    version: ^1.2\n    git: " +
                 lib.url() + "\n    ref: v1.2.0\n");

  auto before = keel({"module", "install", "app"});
  EXPECT_EQ(before.status, 1) << last;
  EXPECT_NE(before.err.find("keel module fetch"), std::string::npos) << last;

  auto fetched = keel({"module", "fetch"});
  ASSERT_EQ(fetched.status, 0) << last;
  EXPECT_NE(fetched.out.find("fetched lib 1.2.0 from " + lib.url() + " (ref v1.2.0), commit " +
                             commit.substr(0, 12)),
            std::string::npos)
      << last;
  std::ifstream lock(tree.path() / "addons.lock");
  std::ostringstream text;
  text << lock.rdbuf();
  EXPECT_NE(text.str().find(commit), std::string::npos) << text.str();

  auto installed = keel({"module", "install", "app"});
  ASSERT_EQ(installed.status, 0) << last;
  EXPECT_NE(installed.out.find("installed: base lib app"), std::string::npos) << last;
  EXPECT_TRUE(has_table("lib_item"));
}

TEST_F(Distribution, FetchReportsACycleIntroducedByAFetchedModule) {
  testing::GitRepo lib(tree.path(), "lib");
  lib.write("manifest.yaml", "name: lib\nversion: 1.0.0\ndepends: [app]\n");
  lib.commit("lib needs app");
  tree.write("addons/app/manifest.yaml",
             "name: app\nversion: 1.0.0\ndepends:\n  - name: lib\n    git: " + lib.url() + "\n");
  auto r = keel({"module", "fetch"});
  EXPECT_EQ(r.status, 1) << last;
  EXPECT_NE(r.out.find("fetched lib 1.0.0"), std::string::npos) << last;
  EXPECT_NE(r.err.find("dependency cycle"), std::string::npos) << last;
  EXPECT_TRUE(fs::exists(tree.path() / "addons.lock"));
}

TEST_F(Distribution, RequiredSignaturesBlockUnsignedAndTamperedModules) {
  tree.write("keel.toml",
             "[security]\nrequire_signed_modules = true\ntrusted_keys = [\"keys/signer.pub\"]\n");
  write_shop_and_key();

  auto unsigned_install = keel({"module", "install", "shop"});
  EXPECT_EQ(unsigned_install.status, 1) << last;
  EXPECT_NE(
      unsigned_install.err.find("addons/shop/SIGNATURE: error: module \"shop\" is not signed"),
      std::string::npos)
      << last;
  // Refused before anything was written: not even base's tables exist.
  EXPECT_FALSE(has_table("base_module"));

  ASSERT_EQ(keel({"module", "sign", "shop", "--key", "keys/signer"}).status, 0) << last;
  EXPECT_EQ(keel({"module", "verify", "shop"}).status, 0) << last;
  tree.write("addons/shop/entities/shop.yaml",
             "entities:\n  shop_item:\n    fields:\n      name: {type: text}\n");
  auto tampered = keel({"module", "install", "shop"});
  EXPECT_EQ(tampered.status, 1) << last;
  EXPECT_NE(tampered.err.find("addons/shop/entities/shop.yaml: error: file changed after signing: "
                              "entities/shop.yaml"),
            std::string::npos)
      << last;
  EXPECT_FALSE(has_table("shop_item"));
  auto verify = keel({"module", "verify", "shop"});
  EXPECT_EQ(verify.status, 1) << last;
  EXPECT_NE(verify.err.find("file changed after signing: entities/shop.yaml"), std::string::npos);

  // Signed by a key that is not trusted: refused, naming the key.
  ASSERT_EQ(keel({"key", "generate", "--out", "keys/stranger"}).status, 0) << last;
  ASSERT_EQ(keel({"module", "sign", "shop", "--key", "keys/stranger"}).status, 0) << last;
  auto untrusted = keel({"module", "install", "shop"});
  EXPECT_EQ(untrusted.status, 1) << last;
  EXPECT_NE(untrusted.err.find("signed by an untrusted key ed25519:"), std::string::npos) << last;

  ASSERT_EQ(keel({"module", "sign", "shop", "--key", "keys/signer"}).status, 0) << last;
  auto installed = keel({"module", "install", "shop"});
  EXPECT_EQ(installed.status, 0) << last;
  EXPECT_TRUE(has_table("shop_item"));
}

TEST_F(Distribution, ServerRefusesToLoadAnInstalledModuleChangedSinceSigning) {
  write_shop_and_key();
  ASSERT_EQ(keel({"module", "sign", "shop", "--key", "keys/signer"}).status, 0) << last;
  ASSERT_EQ(keel({"module", "install", "shop"}).status, 0) << last;

  Config config;
  config.addons_path = {tree.path() / "addons"};
  config.core_dir = KEEL_SOURCE_DIR "/core";
  config.secret = testing::kTestSecret;
  config.require_signed_modules = true;
  config.trusted_keys = {(tree.path() / "keys" / "signer.pub").string()};
  {
    testing::TestServer loads(config, database.conninfo());  // verifies: it starts and serves
    EXPECT_EQ(testing::http_request(loads.port(), "GET", "/api/v1/healthz").status, 200);
  }

  tree.write("addons/shop/entities/notes.yaml", "entities: {}\n");
  try {
    testing::TestServer refused(config, database.conninfo());
    FAIL() << "a server loaded a module changed since it was signed";
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.code(), "module.signature");
    ASSERT_EQ(e.diagnostics().size(), 1u);
    EXPECT_EQ(e.diagnostics()[0].message, "file added after signing: entities/notes.yaml");
  }
}

TEST_F(Distribution, NewModuleServesCrudAfterOneInstall) {
  auto created = keel({"module", "new", "library", "--entity", "book"});
  ASSERT_EQ(created.status, 0) << last;
  EXPECT_NE(created.out.find("security/library.yaml"), std::string::npos) << last;
  ASSERT_EQ(keel({"module", "install", "library"}).status, 0) << last;

  Config config;
  config.addons_path = {tree.path() / "addons"};
  config.core_dir = KEEL_SOURCE_DIR "/core";
  config.secret = testing::kTestSecret;
  std::string user_token, manager_token;
  {
    auto conn = database.connect();
    user_token = testing::token_for(testing::create_user(conn, "reader", {"library.user"}));
    manager_token = testing::token_for(testing::create_user(conn, "boss", {"library.manager"}));
  }
  testing::TestServer server(config, database.conninfo());
  auto as = [&](const std::string& token, const std::string& method, const std::string& target,
                const std::string& body = {}) {
    return testing::http_request(server.port(), method, target, body, testing::bearer(token));
  };

  // The data file's record is there.
  auto list = as(user_token, "GET", "/api/v1/records/book?fields=name,quantity,state");
  ASSERT_EQ(list.status, 200) << list.body;
  rapidjson::Document doc;
  doc.Parse(list.body.c_str());
  ASSERT_TRUE(doc.IsObject() && doc["data"].IsArray()) << list.body;
  ASSERT_EQ(doc["data"].Size(), 1u) << list.body;
  EXPECT_STREQ(doc["data"][0]["name"].GetString(), "Example book");

  auto created_book =
      as(user_token, "POST", "/api/v1/records/book", R"({"name": "Dune", "quantity": 3})");
  ASSERT_EQ(created_book.status, 201) << created_book.body;
  doc.Parse(created_book.body.c_str());
  const std::string id = std::to_string(doc["id"].GetInt64());
  EXPECT_EQ(std::string(doc["state"].GetString()), "draft");
  EXPECT_TRUE(doc["active"].GetBool());

  auto patched = as(user_token, "PATCH", "/api/v1/records/book/" + id, R"({"state": "done"})");
  EXPECT_EQ(patched.status, 200) << patched.body;
  auto invalid = as(user_token, "POST", "/api/v1/records/book", R"({"quantity": 1})");
  EXPECT_EQ(invalid.status, 422) << invalid.body;  // name is required
  // library.user may not delete; library.manager may.
  EXPECT_EQ(as(user_token, "DELETE", "/api/v1/records/book/" + id).status, 403);
  EXPECT_EQ(as(manager_token, "DELETE", "/api/v1/records/book/" + id).status, 204);
  EXPECT_EQ(as(manager_token, "GET", "/api/v1/records/book/" + id).status, 404);
}

}  // namespace
}  // namespace keel
