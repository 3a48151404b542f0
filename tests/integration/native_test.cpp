// Native modules with real shared libraries, built by this build from tests/fixtures/native
// (into KEEL_TEST_ADDON_DIR) and addons/ (sales, sales_discount).

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "install/lifecycle.hpp"
#include "modules/discovery.hpp"
#include "modules/signing.hpp"
#include "native/abi.hpp"
#include "native/host.hpp"
#include "native/library_file.hpp"
#include "schema/registry.hpp"
#include "support/auth.hpp"
#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/run.hpp"
#include "support/test_server.hpp"

namespace keel::native {
namespace {

namespace fs = std::filesystem;

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  EXPECT_FALSE(d.HasParseError()) << text;
  return d;
}

class Native : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { Host::instance().add_library_dir(KEEL_TEST_ADDON_DIR); }

  void SetUp() override {
    config.addons_path = {KEEL_FIXTURES_DIR "/native"};
    config.core_dir = KEEL_SOURCE_DIR "/core";
    config.secret = testing::kTestSecret;
  }

  modules::ModuleGraph graph() const {
    return modules::ModuleGraph(modules::discover(config.module_path()).modules);
  }

  void install(const std::vector<std::string>& names) {
    auto g = graph();
    install::Lifecycle lifecycle(conn, g);
    lifecycle.set_isolation(isolation_of(config));
    lifecycle.install(names);
  }

  // The error an install fails with.
  Error install_error(const std::vector<std::string>& names) {
    try {
      install(names);
    } catch (const Error& e) {
      return e;
    }
    ADD_FAILURE() << "the install did not fail";
    return Error("none", "");
  }

  std::string one(const std::string& sql) { return std::string(conn.exec(sql).get(0, 0)); }

  void login_admin() {
    token = testing::token_for(testing::create_user(conn, "admin", {"base.admin"}));
  }
  testing::HttpReply call(std::uint16_t port, const std::string& method, const std::string& target,
                          const std::string& body = {}) {
    return testing::http_request(port, method, target, body, testing::bearer(token));
  }

  // The counters of native_good (its own route).
  int counter(std::uint16_t port, const char* name) {
    auto r = call(port, "GET", "/api/v1/x/native_good/calls");
    EXPECT_EQ(r.status, 200) << r.body;
    return parse(r.body)[name].GetInt();
  }

  testing::TestDatabase database;
  db::Connection conn = database.connect();
  Config config;
  std::string token;
};

// The tests of what module code does run with the module in the server and in a module host
// (security.module_isolation), with the same expectations.
class NativeModes : public Native, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    Native::SetUp();
    config.module_isolation = GetParam();
  }
};

INSTANTIATE_TEST_SUITE_P(Isolation, NativeModes, ::testing::Values("none", "process"),
                         [](const auto& info) { return std::string(info.param); });

TEST_F(Native, GoodModuleLoadsAndEveryRegistrationIsStamped) {
  install({"native_override_b"});  // with native_override_a and native_good
  EXPECT_TRUE(Host::instance().loaded("native_good"));
  auto g = graph();
  std::vector<const modules::Manifest*> order;
  for (const auto* m : g.order())
    if (m->name == "base" || m->name.rfind("native_good", 0) == 0 ||
        m->name.rfind("native_override", 0) == 0)
      order.push_back(m);
  Diagnostics diagnostics;
  auto registry = schema::Registry::build(order, diagnostics);
  auto lines = Host::instance().extensions(order, *registry)->describe();
  for (const char* expected :
       {"hook validate ng_item: native_good (new)", "hook before_create ng_item: native_good (new)",
        "compute ng_item.total: native_good (new)",
        "route GET /api/v1/x/native_good/calls: native_good (new)",
        "service native_good.greet: native_good (new) <- native_override_a (override) <- "
        "native_override_b (override)"})
    EXPECT_NE(std::find(lines.begin(), lines.end(), expected), lines.end()) << expected;
}

TEST_F(Native, WrongAbiFailsTheInstallAndRollsItBack) {
  Error e = install_error({"native_bad_abi"});
  EXPECT_EQ(e.code(), "native.abi");
  std::string message = e.what();
  EXPECT_NE(message.find("module \"native_bad_abi\""), std::string::npos) << message;
  EXPECT_NE(message.find("built for SDK ABI 999, this Keel has SDK ABI " +
                         std::to_string(KEEL_SDK_ABI_VERSION)),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("libnative_bad_abi.so"), std::string::npos) << message;
  // Nothing of the install is left, not even base, which it would have installed first.
  EXPECT_EQ(one("SELECT to_regclass('bad_abi_thing') IS NULL"), "t");
  EXPECT_EQ(one("SELECT to_regclass('base_module') IS NULL"), "t");
  EXPECT_FALSE(Host::instance().loaded("native_bad_abi"));
  // Refused from the file's ABI note: its static initialiser never ran in this process.
  EXPECT_EQ(std::getenv("KEEL_NATIVE_BAD_ABI_RAN"), nullptr);
}

// The ABI note is read from the file before anything of the library runs, in both modes (in
// process isolation the server refuses it before it starts a host).
TEST_P(NativeModes, AWrongAbiIsRefusedBeforeAnyOfItsCodeRuns) {
  Error e = install_error({"native_bad_abi"});
  EXPECT_EQ(e.code(), "native.abi");
  EXPECT_NE(std::string(e.what()).find("built for SDK ABI 999"), std::string::npos) << e.what();
  EXPECT_EQ(std::getenv("KEEL_NATIVE_BAD_ABI_RAN"), nullptr) << "its static initialiser ran";
  // What the server read: the note KEEL_MODULE writes, as in the built library.
  LibraryFile good(fs::path(KEEL_TEST_ADDON_DIR) / "libnative_good.so");
  ASSERT_TRUE(good.abi());
  EXPECT_STREQ(good.abi()->module, "native_good");
  EXPECT_EQ(abi_mismatch(*good.abi(), host_abi()), std::nullopt);
  EXPECT_EQ(good.digest().rfind("sha256:", 0), 0u);
}

// security.require_signed_modules: the library that runs is signed too (`keel module sign`
// records its SHA-256 beside the module's), and an unsigned or changed library is refused
// before it is opened, in both modes.
TEST_P(NativeModes, AnUnsignedOrChangedLibraryIsRefusedBeforeItIsOpened) {
  auto dir =
      fs::temp_directory_path() / ("keel-signed-" + std::to_string(::getpid()) + "-" + GetParam());
  fs::remove_all(dir);
  fs::create_directories(dir / "addons");
  fs::create_directories(dir / "changed");
  const fs::path module = dir / "addons" / "native_signed";
  fs::copy(KEEL_FIXTURES_DIR "/native/native_signed", module, fs::copy_options::recursive);
  const fs::path key = dir / "signer";
  modules::write_key_pair(key);
  config.addons_path = {dir / "addons"};
  config.require_signed_modules = true;
  config.trusted_keys = {key.string() + ".pub"};
  const fs::path library = fs::path(KEEL_TEST_ADDON_DIR) / "libnative_signed.so";
  const bool in_process = std::string(GetParam()) == "none";

  auto refused = [&](const std::string& why) {
    std::string code, text;
    try {
      install({"native_signed"});
      ADD_FAILURE() << "installed";
    } catch (const ValidationError& e) {
      code = e.code();
      text = e.what();
      for (const auto& d : e.diagnostics())
        text += "\n" + d.message;
    } catch (const Error& e) {
      code = e.code();
      text = e.what();
    }
    EXPECT_EQ(code, "module.signature");
    EXPECT_NE(text.find(why), std::string::npos) << text;
    EXPECT_EQ(one("SELECT to_regclass('base_module') IS NULL"), "t");  // rolled back
    if (in_process) {  // (the process test runs after this one, when the server loaded it)
      EXPECT_EQ(std::getenv("KEEL_NATIVE_SIGNED_OPENED"), nullptr) << "the library was opened";
      EXPECT_FALSE(Host::instance().loaded("native_signed"));
    }
  };
  refused("module \"native_signed\" is not signed (no SIGNATURE file)");
  // A signature of the folder only (as before libraries were signed) does not cover the code.
  modules::sign_module(module, key);
  refused("signed without its library libnative_signed.so");
  // Signed with other bytes than the library that would run.
  fs::copy_file(library, dir / "changed" / "libnative_signed.so");
  std::ofstream(dir / "changed" / "libnative_signed.so", std::ios::app) << "changed";
  modules::sign_module(module, key, dir / "changed" / "libnative_signed.so");
  refused("is not the library that was signed");

  modules::sign_module(module, key, library);
  install({"native_signed"});
  if (in_process) {
    EXPECT_NE(std::getenv("KEEL_NATIVE_SIGNED_OPENED"), nullptr);
    EXPECT_TRUE(Host::instance().loaded("native_signed"));
  }
  login_admin();
  testing::TestServer server(config, database.conninfo());
  auto r = call(server.port(), "GET", "/api/v1/x/native_signed/hello");
  EXPECT_EQ(r.status, 200) << r.body;
  fs::remove_all(dir);
}

// `keel module sign` signs the built library with the folder, `keel module verify` checks both.
TEST_F(Native, TheCommandLineSignsAndVerifiesTheBuiltLibrary) {
  auto dir = fs::temp_directory_path() / ("keel-sign-cli-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "addons");
  fs::create_directories(dir / "lib");
  fs::copy(KEEL_FIXTURES_DIR "/native/native_signed", dir / "addons" / "native_signed",
           fs::copy_options::recursive);
  fs::copy_file(fs::path(KEEL_TEST_ADDON_DIR) / "libnative_signed.so",
                dir / "lib" / "libnative_signed.so");
  auto keel = [&](const std::vector<std::string>& args) {
    std::vector<std::string> all = args;
    for (const char* a : {"--addons-path"})
      all.push_back(a);
    all.push_back((dir / "addons").string());
    return testing::run_keel(all, {{"KEEL_LIBRARY_PATH", (dir / "lib").string()}});
  };
  auto key = (dir / "signer").string();
  ASSERT_EQ(keel({"key", "generate", "--out", key}).status, 0);
  auto sign = keel({"module", "sign", "native_signed", "--key", key});
  ASSERT_EQ(sign.status, 0) << sign.err;
  EXPECT_NE(sign.out.find("and its library " + (dir / "lib" / "libnative_signed.so").string()),
            std::string::npos)
      << sign.out;
  std::ifstream signature(dir / "addons" / "native_signed" / "SIGNATURE");
  std::string text((std::istreambuf_iterator<char>(signature)), {});
  EXPECT_NE(text.find(" libnative_signed.so\n"), std::string::npos) << text;
  auto verify = keel({"module", "verify", "native_signed", "--key", key + ".pub"});
  EXPECT_EQ(verify.status, 0) << verify.err;
  EXPECT_NE(verify.out.find("and its library"), std::string::npos) << verify.out;
  // The library rebuilt (changed) after signing: verify says so.
  std::ofstream(dir / "lib" / "libnative_signed.so", std::ios::app) << "changed";
  verify = keel({"module", "verify", "native_signed", "--key", key + ".pub"});
  EXPECT_EQ(verify.status, 1) << verify.out;
  EXPECT_NE(verify.err.find("is not the library that was signed"), std::string::npos) << verify.err;
  fs::remove_all(dir);
}

TEST_F(Native, MissingEntrySymbolFailsTheInstall) {
  Error e = install_error({"native_no_entry"});
  EXPECT_EQ(e.code(), "native.entry");
  EXPECT_NE(std::string(e.what()).find("has no keel_module_init"), std::string::npos) << e.what();
  EXPECT_NE(e.hint().find("KEEL_MODULE(native_no_entry)"), std::string::npos) << e.hint();
}

TEST_F(Native, InitThatThrowsFailsTheInstall) {
  Error e = install_error({"native_init_throws"});
  EXPECT_EQ(e.code(), "native.init");
  EXPECT_NE(std::string(e.what()).find("keel_module_init failed: the price list is missing"),
            std::string::npos)
      << e.what();
  EXPECT_EQ(one("SELECT to_regclass('base_module') IS NULL"), "t");
}

TEST_F(Native, MissingLibraryAndUnknownEntityFailTheInstall) {
  Error missing = install_error({"native_missing_lib"});
  EXPECT_EQ(missing.code(), "native.not_found");
  EXPECT_NE(std::string(missing.what()).find("libnever_built.so not found"), std::string::npos);
  Error hook = install_error({"native_bad_hook"});
  EXPECT_EQ(hook.code(), "native.conflict");
  EXPECT_NE(std::string(hook.what()).find("validate hook on \"no_such_entity\""), std::string::npos)
      << hook.what();
}

TEST_F(Native, RegistrationsThatDoNotFitFailTheInstall) {
  install({"native_good"});
  Error dup = install_error({"native_dup_provider"});
  EXPECT_EQ(dup.code(), "native.conflict");
  EXPECT_NE(std::string(dup.what())
                .find("service \"native_good.greet\" is provided by both \"native_good\" and "
                      "\"native_dup_provider\""),
            std::string::npos)
      << dup.what();
  Error signature = install_error({"native_bad_signature"});
  EXPECT_EQ(signature.code(), "native.conflict");
  EXPECT_NE(std::string(signature.what()).find("overrides service \"native_good.greet\" as int"),
            std::string::npos)
      << signature.what();
  Error compute = install_error({"native_bad_compute"});
  EXPECT_NE(std::string(compute.what()).find("computes \"ng_item.name\", which is not declared"),
            std::string::npos)
      << compute.what();
  auto installed = install::installed_modules(conn);
  EXPECT_EQ(installed.count("native_dup_provider") + installed.count("native_bad_signature") +
                installed.count("native_bad_compute"),
            0u);
}

TEST_P(NativeModes, NoModuleCodeRunsForACallerWithoutTheRight) {
  install({"native_good"});
  token = testing::token_for(testing::create_user(conn, "bob", {"base.user"}));
  testing::TestServer server(config, database.conninfo());
  // "boom" would make the before_create hook throw (500): the caller is refused first.
  auto r = call(server.port(), "POST", "/api/v1/records/ng_item", R"({"name": "boom"})");
  EXPECT_EQ(r.status, 403) << r.body;
}

TEST_F(Native, TheCommandLineNamesTheModuleTheFileAndTheFix) {
  auto keel = [&](const std::string& module) {
    return testing::run_keel({"module", "install", module, "--db", database.conninfo(),
                              "--addons-path", KEEL_FIXTURES_DIR "/native"},
                             {{"KEEL_LIBRARY_PATH", KEEL_TEST_ADDON_DIR}});
  };
  auto bad = keel("native_bad_abi");
  EXPECT_EQ(bad.status, 1) << bad.err;
  for (const char* part : {"module \"native_bad_abi\"", "libnative_bad_abi.so", "SDK ABI 999",
                           "rebuild the module against the SDK of this Keel"})
    EXPECT_NE(bad.err.find(part), std::string::npos) << part << "\n" << bad.err;
  auto good = keel("native_override_b");
  EXPECT_EQ(good.status, 0) << good.err;
  EXPECT_NE(good.out.find("native_good native_override_a native_override_b"), std::string::npos)
      << good.out;
}

TEST_P(NativeModes, HooksRunInTheWriteAndTheirFailuresRollItBack) {
  install({"native_good"});
  login_admin();
  testing::TestServer server(config, database.conninfo());
  auto port = server.port();

  auto ok = call(port, "POST", "/api/v1/records/ng_item",
                 R"({"name": "a", "quantity": 2, "price": "1.50"})");
  ASSERT_EQ(ok.status, 201) << ok.body;
  auto a = parse(ok.body);
  EXPECT_STREQ(a["label"].GetString(), "item a");  // before_create
  EXPECT_STREQ(a["total"].GetString(), "3.00");    // computed
  EXPECT_EQ(counter(port, "after_create_calls"), 1);

  // A hook that throws: 500 problem+json naming the module; nothing written.
  auto boom = call(port, "POST", "/api/v1/records/ng_item", R"({"name": "boom"})");
  EXPECT_EQ(boom.status, 500) << boom.body;
  EXPECT_EQ(boom.header("content-type"), "application/problem+json");
  auto problem = parse(boom.body);
  EXPECT_STREQ(problem["type"].GetString(), "urn:keel:problem:native.error");
  EXPECT_NE(std::string(problem["detail"].GetString()).find("module \"native_good\""),
            std::string::npos);
  EXPECT_EQ(std::string(problem["detail"].GetString()).find("boom in C++"), std::string::npos)
      << "the exception's text goes to the log only";

  // validate: every error at once, as a 422.
  auto invalid = call(port, "POST", "/api/v1/records/ng_item", R"({"name": "b", "quantity": -1})");
  EXPECT_EQ(invalid.status, 422) << invalid.body;
  auto errors = parse(invalid.body);
  ASSERT_TRUE(errors["errors"].IsArray());
  EXPECT_STREQ(errors["errors"][0]["field"].GetString(), "quantity");

  // after_create writes another record, then fails: both are rolled back.
  auto late = call(port, "POST", "/api/v1/records/ng_item", R"({"name": "late-boom"})");
  EXPECT_EQ(late.status, 422) << late.body;
  EXPECT_EQ(one("SELECT count(*) FROM ng_item"), "1");

  // An sdk::Error is answered by its kind (kConflict: 409) with the module's code, message and
  // detail, hint and field errors, whether the module runs in the server or in a module host.
  conn.exec("INSERT INTO ng_item (name) VALUES ('frozen')");
  auto frozen_id = one("SELECT id FROM ng_item WHERE name = 'frozen'");
  auto frozen = call(port, "PATCH", "/api/v1/records/ng_item/" + frozen_id, R"({"quantity": 3})");
  EXPECT_EQ(frozen.status, 409) << frozen.body;
  EXPECT_EQ(frozen.header("content-type"), "application/problem+json");
  auto problem409 = parse(frozen.body);
  EXPECT_STREQ(problem409["type"].GetString(), "urn:keel:problem:native_good.frozen");
  EXPECT_STREQ(problem409["title"].GetString(), "Conflict");
  EXPECT_EQ(problem409["status"].GetInt(), 409);
  EXPECT_EQ(std::string(problem409["detail"].GetString()),
            "frozen items do not change (item " + frozen_id + " was frozen)");
  ASSERT_TRUE(problem409.HasMember("hint")) << frozen.body;
  EXPECT_STREQ(problem409["hint"].GetString(), "copy the item and change the copy");
  ASSERT_TRUE(problem409["errors"].IsArray()) << frozen.body;
  ASSERT_EQ(problem409["errors"].Size(), 1u);
  EXPECT_STREQ(problem409["errors"][0]["field"].GetString(), "quantity");
  EXPECT_STREQ(problem409["errors"][0]["message"].GetString(), "is frozen");
  EXPECT_EQ(one("SELECT quantity FROM ng_item WHERE name = 'frozen'"), "1");
}

// Every kind is answered with its status: kUnavailable is a 503 with Retry-After, the module's
// detail after its message, its hint.
TEST_P(NativeModes, AModulesErrorIsAnsweredByItsKind) {
  install({"native_good"});
  login_admin();
  testing::TestServer server(config, database.conninfo());
  auto r = call(server.port(), "POST", "/api/v1/records/ng_item", R"({"name": "unavailable"})");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.header("retry-after"), "1");
  auto problem = parse(r.body);
  EXPECT_STREQ(problem["type"].GetString(), "urn:keel:problem:native_good.unavailable");
  EXPECT_STREQ(problem["detail"].GetString(),
               "the stock service is down (it answered 0 of 3 pings)");
  ASSERT_TRUE(problem.HasMember("hint")) << r.body;
  EXPECT_STREQ(problem["hint"].GetString(), "retry in a minute");
  EXPECT_FALSE(problem.HasMember("errors")) << r.body;
  EXPECT_EQ(one("SELECT count(*) FROM ng_item"), "0");
}

// The same error from a data file's record under `keel module install`: the install fails (exit
// status 1, as for every kind but usage), names the record's file and line, and gives the
// module's message, detail and hint; nothing of the install is left.
TEST_P(NativeModes, ADataRecordThatAHookRefusesFailsTheCommand) {
  auto dir = fs::temp_directory_path() /
             ("keel-data-refused-" + std::to_string(::getpid()) + "-" + GetParam());
  fs::create_directories(dir);
  std::ofstream(dir / "keel.toml") << "[security]\nmodule_isolation = \"" << GetParam() << "\"\n";
  auto r = testing::run_keel(
      {"--config", (dir / "keel.toml").string(), "module", "install", "native_data_refused", "--db",
       database.conninfo(), "--addons-path", KEEL_FIXTURES_DIR "/native"},
      {{"KEEL_LIBRARY_PATH", KEEL_TEST_ADDON_DIR}});
  fs::remove_all(dir);
  EXPECT_EQ(r.status, 1) << r.err;
  for (const char* part :
       {"native_data_refused/data/items.yaml:3", "record \"native_data_refused.refused\"",
        "the stock service is down (it answered 0 of 3 pings)", "hint: retry in a minute"})
    EXPECT_NE(r.err.find(part), std::string::npos) << part << "\n" << r.err;
  EXPECT_EQ(one("SELECT to_regclass('ng_item') IS NULL"), "t");
}

TEST_P(NativeModes, ComputedFieldsAreComputedOncePerPage) {
  install({"native_good"});
  login_admin();
  conn.exec(
      "INSERT INTO ng_item (name, quantity, price) SELECT 'item ' || i, i, 0.5 FROM "
      "generate_series(1, 7) i");
  testing::TestServer server(config, database.conninfo());
  auto port = server.port();
  int calls = counter(port, "compute_calls"), rows = counter(port, "computed_rows");

  auto page = call(port, "GET", "/api/v1/records/ng_item?limit=5&sort=id");
  ASSERT_EQ(page.status, 200) << page.body;
  auto doc = parse(page.body);
  ASSERT_EQ(doc["data"].Size(), 5u);
  EXPECT_STREQ(doc["data"][0]["total"].GetString(), "0.50");
  EXPECT_STREQ(doc["data"][4]["total"].GetString(), "2.50");
  EXPECT_EQ(counter(port, "compute_calls"), calls + 1) << "one call for the page of 5";
  EXPECT_EQ(counter(port, "computed_rows"), rows + 5);

  auto one_record = call(port, "GET", "/api/v1/records/ng_item?limit=1&fields=name,total");
  EXPECT_EQ(one_record.status, 200) << one_record.body;
  EXPECT_EQ(counter(port, "compute_calls"), calls + 2);

  // Not asked for: not computed.
  EXPECT_EQ(call(port, "GET", "/api/v1/records/ng_item?fields=name").status, 200);
  EXPECT_EQ(counter(port, "compute_calls"), calls + 2);
}

TEST_P(NativeModes, RoutesRunInOneTransactionWithTheCallersContext) {
  install({"native_good"});
  login_admin();
  testing::TestServer server(config, database.conninfo());
  auto port = server.port();
  auto who = parse(call(port, "GET", "/api/v1/x/native_good/whoami").body);
  EXPECT_TRUE(who["admin"].GetBool());
  EXPECT_GT(who["user_id"].GetInt64(), 0);
  EXPECT_EQ(testing::http_request(port, "GET", "/api/v1/x/native_good/whoami").status, 401);

  auto fail = call(port, "POST", "/api/v1/x/native_good/items/zed/fail");
  // A route answers HTTP by nature, but its sdk::Error is mapped by kind like every error.
  EXPECT_EQ(fail.status, 403) << fail.body;
  EXPECT_EQ(fail.header("content-type"), "application/problem+json");
  auto refused = parse(fail.body);
  EXPECT_STREQ(refused["type"].GetString(), "urn:keel:problem:native_good.refused");
  EXPECT_STREQ(refused["title"].GetString(), "Forbidden");
  EXPECT_STREQ(refused["detail"].GetString(), "created, then refused");
  EXPECT_STREQ(refused["hint"].GetString(), "ask for another name");
  EXPECT_EQ(one("SELECT count(*) FROM ng_item WHERE name = 'zed'"), "0");

  // Keel's error of a records call reaches the module as an sdk::Error of its kind; let through,
  // it is answered as Keel's own.
  auto probe = call(port, "GET", "/api/v1/x/native_good/probe/999999");
  ASSERT_EQ(probe.status, 200) << probe.body;
  auto seen = parse(probe.body);
  EXPECT_TRUE(seen["not_found"].GetBool()) << probe.body;
  EXPECT_EQ(seen["kind"].GetInt64(), static_cast<std::int64_t>(sdk::ErrorKind::kNotFound));
  EXPECT_STREQ(seen["code"].GetString(), "records.not_found");
  auto through = call(port, "GET", "/api/v1/x/native_good/probe/999999?through=1");
  EXPECT_EQ(through.status, 404) << through.body;
  EXPECT_STREQ(parse(through.body)["type"].GetString(), "urn:keel:problem:records.not_found");

  EXPECT_EQ(call(port, "GET", "/api/v1/x/native_good/nothing").status, 404);
  EXPECT_EQ(call(port, "GET", "/api/v1/x/native_good/greet?name=x").body, R"({"text":"hello x"})");
}

// The routes of native modules are in the OpenAPI document, with the description they gave (in
// the server or sent by the module host), and the document lists exactly what is served.
TEST_P(NativeModes, RoutesOfModulesAreInTheOpenApiDocument) {
  install({"native_good"});
  login_admin();
  testing::TestServer server(config, database.conninfo());
  auto reply = call(server.port(), "GET", "/api/v1/openapi.json");
  ASSERT_EQ(reply.status, 200) << reply.body;
  auto doc = parse(reply.body);
  const auto& paths = doc["paths"];
  ASSERT_TRUE(paths.HasMember("/api/v1/x/native_good/greet")) << reply.body;
  const auto& greet = paths["/api/v1/x/native_good/greet"]["get"];
  EXPECT_STREQ(greet["operationId"].GetString(), "native_good.greet");
  EXPECT_STREQ(greet["summary"].GetString(), "A greeting from the native_good.greet service");
  EXPECT_STREQ(greet["tags"][0].GetString(), "x/native_good");
  EXPECT_STREQ(greet["parameters"][0]["name"].GetString(), "name");
  EXPECT_STREQ(greet["parameters"][0]["in"].GetString(), "query");
  EXPECT_STREQ(
      greet["responses"]["200"]["content"]["application/json"]["schema"]["required"][0].GetString(),
      "text");
  EXPECT_STREQ(greet["responses"]["401"]["$ref"].GetString(),
               "#/components/responses/Unauthorized");
  EXPECT_FALSE(greet.HasMember("security"));  // a module's route always needs a token
  // A route registered without a description, and a path parameter nothing described.
  const auto& fail = paths["/api/v1/x/native_good/items/{name}/fail"]["post"];
  EXPECT_STREQ(fail["operationId"].GetString(), "native_good.post_items_name_fail");
  EXPECT_STREQ(fail["parameters"][0]["name"].GetString(), "name");
  EXPECT_STREQ(fail["parameters"][0]["in"].GetString(), "path");
  EXPECT_TRUE(fail["responses"].HasMember("default"));

  // Both ways: every operation is served, every route (the API's, the module's) documented.
  auto snap = server.api().snapshot();
  std::vector<const http::Router*> routers{&server.api().router(), snap->native_routes.get()};
  size_t operations = 0;
  for (const auto& p : paths.GetObject())
    for (const auto& op : p.value.GetObject()) {
      std::string method = op.name.GetString();
      if (method == "parameters") continue;
      ++operations;
      for (auto& c : method)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      bool served = false;
      for (const auto* r : routers)
        served = served || r->serves(method, p.name.GetString());
      EXPECT_TRUE(served) << method << " " << p.name.GetString();
    }
  size_t native = 0;
  for (const auto* r : routers)
    for (const auto& route : r->routes()) {
      http::Router one;
      one.add(route.method, route.pattern, {}, [](http::Request&) { return http::Response(); });
      bool documented = false;
      for (const auto& p : paths.GetObject())
        for (const auto& op : p.value.GetObject()) {
          std::string method = op.name.GetString();
          for (auto& c : method)
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          documented =
              documented || (method == route.method && one.serves(method, p.name.GetString()));
        }
      EXPECT_TRUE(documented) << route.method << " " << route.pattern;
      native += route.pattern.rfind("/api/v1/x/", 0) == 0;
    }
  EXPECT_EQ(native, 6u);
  EXPECT_GT(operations, 30u);

  // Valid OpenAPI 3.1, module routes included (tests/unit/http/validate_openapi.mjs; node and
  // its packages come from scripts/bootstrap: missing, the test fails).
  auto file = std::filesystem::temp_directory_path() /
              ("keel-native-openapi-" + std::to_string(::getpid()) + ".json");
  std::ofstream(file, std::ios::binary) << reply.body;
  auto check = testing::run_program(
      "/usr/bin/node", {KEEL_SOURCE_DIR "/tests/unit/http/validate_openapi.mjs", file.string()});
  std::filesystem::remove(file);
  EXPECT_EQ(check.status, 0) << check.out << check.err;
}

// A chain of overrides that crosses between the server and a module host, twice: the provider
// and the last override in one place, the override between them in the other.
TEST_P(NativeModes, OverridesChainAcrossTheIsolationBoundary) {
  const bool isolated = std::string(GetParam()) == "process";
  config.module_isolation_overrides = {{"native_override_a", isolated ? "none" : "process"}};
  install({"native_override_b"});
  login_admin();
  testing::TestServer server(config, database.conninfo());
  auto r = call(server.port(), "GET", "/api/v1/x/native_good/greet?name=x");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"text":"[b [a hello x]]"})");
  auto listing = call(server.port(), "GET", "/api/v1/modules/native");
  EXPECT_NE(listing.body.find("service native_good.greet: native_good (new) <- native_override_a "
                              "(override) <- native_override_b (override)"),
            std::string::npos)
      << listing.body;
}

TEST_P(NativeModes, OverridesChainInDependencyOrder) {
  install({"native_override_b"});
  login_admin();
  testing::TestServer server(config, database.conninfo());
  auto r = call(server.port(), "GET", "/api/v1/x/native_good/greet?name=x");
  EXPECT_EQ(r.body, R"({"text":"[b [a hello x]]"})");
  // Who registered what, for administrators.
  auto listing = call(server.port(), "GET", "/api/v1/modules/native");
  ASSERT_EQ(listing.status, 200) << listing.body;
  EXPECT_NE(listing.body.find("service native_good.greet: native_good (new) <- native_override_a "
                              "(override) <- native_override_b (override)"),
            std::string::npos)
      << listing.body;
}

// The demo in four set-ups: both modules in the server, both isolated, and each one isolated
// while the other runs in the server (the pricing service of sales and its override by
// sales_discount then cross between the server and the module host). Same answers in all.
class SalesModes : public Native, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    Native::SetUp();
    std::string mode = GetParam();
    if (mode == "sales_isolated") {
      config.module_isolation = "process";
      config.module_isolation_overrides = {{"sales_discount", "none"}};
    } else if (mode == "discount_isolated") {
      config.module_isolation_overrides = {{"sales_discount", "process"}};
    } else {
      config.module_isolation = mode;
    }
  }
};

INSTANTIATE_TEST_SUITE_P(Isolation, SalesModes,
                         ::testing::Values("none", "process", "sales_isolated",
                                           "discount_isolated"),
                         [](const auto& info) { return std::string(info.param); });

TEST_P(SalesModes, SalesTotalsComeFromNativeCodeAndTheDiscountOverridesThem) {
  config.addons_path = {KEEL_SOURCE_DIR "/addons"};
  install({"sales"});
  login_admin();
  testing::TestServer server(config, database.conninfo());
  auto port = server.port();
  auto id_of = [&](const testing::HttpReply& r) {
    EXPECT_EQ(r.status, 201) << r.body;
    return std::to_string(parse(r.body)["id"].GetInt64());
  };
  std::string partner = id_of(call(port, "POST", "/api/v1/records/contact", R"({"name": "ACME"})"));
  std::string uom = one("SELECT min(id) FROM uom");
  std::string product = id_of(
      call(port, "POST", "/api/v1/records/product", R"({"name": "Bolt", "uom": )" + uom + "}"));
  std::string order = id_of(call(port, "POST", "/api/v1/records/sale_order",
                                 R"({"name": "SO1", "partner": )" + partner + "}"));
  std::vector<std::string> lines;
  for (const char* line :
       {R"("quantity": 2, "unit_price": "10.00")", R"("quantity": 10, "unit_price": "5.00")"})
    lines.push_back(
        id_of(call(port, "POST", "/api/v1/records/sale_order_line",
                   R"({"order": )" + order + R"(, "product": )" + product + ", " + line + "}")));

  auto amount = [&] {
    auto r = call(port, "GET", "/api/v1/records/sale_order/" + order + "?fields=amount");
    EXPECT_EQ(r.status, 200) << r.body;
    return std::string(parse(r.body)["amount"].GetString());
  };
  EXPECT_EQ(amount(), "70.00");
  auto count = parse(call(port, "GET", "/api/v1/records/contact/" + partner).body);
  EXPECT_EQ(count["sale_count"].GetInt(), 1);

  // The state machine of sales, in C++.
  auto done = call(port, "PATCH", "/api/v1/records/sale_order/" + order, R"({"state": "done"})");
  EXPECT_EQ(done.status, 422) << done.body;
  EXPECT_NE(done.body.find("cannot go from draft to done"), std::string::npos) << done.body;
  EXPECT_EQ(call(port, "PATCH", "/api/v1/records/sale_order/" + order, R"({"state": "confirmed"})")
                .status,
            200);
  auto fresh = call(port, "POST", "/api/v1/records/sale_order",
                    R"({"name": "SO2", "state": "done", "partner": )" + partner + "}");
  EXPECT_EQ(fresh.status, 422) << fresh.body;

  // Hot install of the override: 10 % off the line of 10 units, on top of the original price.
  // Amounts are stored: an order keeps its total until one of its lines changes.
  auto installed = call(port, "POST", "/api/v1/modules/sales_discount/install");
  ASSERT_EQ(installed.status, 200) << installed.body;
  EXPECT_EQ(amount(), "70.00");
  auto repriced =
      call(port, "PATCH", "/api/v1/records/sale_order_line/" + lines[1], R"({"quantity": 10})");
  ASSERT_EQ(repriced.status, 200) << repriced.body;
  EXPECT_STREQ(parse(repriced.body)["subtotal"].GetString(), "45.00");
  EXPECT_EQ(amount(), "65.00");
  auto summary = call(port, "GET", "/api/v1/x/sales/orders/" + order + "/summary");
  ASSERT_EQ(summary.status, 200) << summary.body;
  auto s = parse(summary.body);
  EXPECT_STREQ(s["amount"].GetString(), "65.00");
  EXPECT_EQ(s["line_count"].GetInt(), 2);
  EXPECT_STREQ(s["state"].GetString(), "confirmed");
}

// The same pages in both modes, and what isolation costs (docs/native.md "Isolation"): prints
// the mean time of a route call and of a list page of 50 with a computed field, sequentially
// over HTTP. KEEL_BENCH_N sets the number of requests (default 200).
TEST_F(Native, BothModesAnswerTheSamePagesAndIsolationCostsARoundTrip) {
  install({"native_good"});
  login_admin();
  conn.exec(
      "INSERT INTO ng_item (name, quantity, price) SELECT 'item ' || i, i, 0.25 FROM "
      "generate_series(1, 50) i");
  int n = std::getenv("KEEL_BENCH_N") ? std::atoi(std::getenv("KEEL_BENCH_N")) : 200;
  const std::string page = "/api/v1/records/ng_item?limit=50&sort=id&fields=name,total";
  const std::string route = "/api/v1/x/native_good/whoami";
  std::map<std::string, std::string> bodies;
  std::map<std::string, double> route_us, page_us;
  for (const char* mode : {"none", "process", "none", "process"}) {
    config.module_isolation = mode;
    testing::TestServer server(config, database.conninfo());
    auto port = server.port();
    auto first = call(port, "GET", page);
    ASSERT_EQ(first.status, 200) << first.body;
    if (bodies.count(mode)) {
      EXPECT_EQ(first.body, bodies[mode]);
    }
    bodies[mode] = first.body;
    auto time = [&](const std::string& target) {
      auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < n; ++i)
        EXPECT_EQ(call(port, "GET", target).status, 200);
      return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                 .count() /
             n;
    };
    route_us[mode] = time(route);  // the second run of a mode is the one kept (warm caches)
    page_us[mode] = time(page);
  }
  EXPECT_EQ(bodies["none"], bodies["process"]);
  std::printf(
      "isolation cost over %d sequential requests: route %.0f us (none) vs %.0f us (process), "
      "+%.0f us; page of 50 with a computed field %.0f us vs %.0f us, x%.2f\n",
      n, route_us["none"], route_us["process"], route_us["process"] - route_us["none"],
      page_us["none"], page_us["process"], page_us["process"] / page_us["none"]);
}

// The round trip of one call into a module host, without HTTP or a database: a route of
// native_good that reads only the caller. Prints the mean over KEEL_BENCH_N calls (default 2000).
TEST(NativeRoundTrip, OneCallIntoAModuleHost) {
  struct StubEnv final : sdk::Env {
    std::string name = "native_good";
    sdk::Caller who{7, "x", true, {}};
    const std::string& module() const override { return name; }
    const sdk::Caller& caller() const override { return who; }
    sdk::Records& records() override { throw std::logic_error("no records here"); }
    sdk::Records& elevated(std::string_view) override { throw std::logic_error("no records"); }
    void log(sdk::LogLevel, std::string_view) override {}
    const void* find_service(std::string_view, std::string_view) override { return nullptr; }
  } env;
  ModuleProcess process({{"native_good", fs::path(KEEL_TEST_ADDON_DIR) / "libnative_good.so", ""}},
                        IsolationSettings{});
  const auto& routes = process.registered().at(0).routes;
  size_t whoami = 0;
  while (whoami < routes.size() && routes[whoami].path != "/whoami")
    ++whoami;
  ASSERT_LT(whoami, routes.size());
  EXPECT_EQ(process.route(0, whoami, env, {}).body, R"({"admin":true,"user_id":7})");
  int n = std::getenv("KEEL_BENCH_N") ? std::atoi(std::getenv("KEEL_BENCH_N")) : 2000;
  // KEEL_BENCH_GAP_US: an idle pause between calls (as between HTTP requests), not counted.
  int gap = std::getenv("KEEL_BENCH_GAP_US") ? std::atoi(std::getenv("KEEL_BENCH_GAP_US")) : 0;
  std::chrono::steady_clock::duration spent{};
  for (int i = 0; i < n; ++i) {
    if (gap > 0) ::usleep(static_cast<useconds_t>(gap));
    auto start = std::chrono::steady_clock::now();
    process.route(0, whoami, env, {});
    spent += std::chrono::steady_clock::now() - start;
  }
  double us = std::chrono::duration<double, std::micro>(spent).count() / n;
  std::printf("one call into a module host: %.1f us (mean of %d, %d us apart)\n", us, n, gap);
  // A host that ended between calls (here: killed) is started again; no call fails.
  pid_t first = process.pid();
  ::kill(first, SIGKILL);
  ::usleep(100 * 1000);
  EXPECT_EQ(process.route(0, whoami, env, {}).body, R"({"admin":true,"user_id":7})");
  EXPECT_NE(process.pid(), first);
  EXPECT_EQ(process.failures(), 0);
}

// security.module_isolation = "process": hostile modules are contained, each attack answered by
// a clear error, and the server answers everything else throughout.
class NativeIsolation : public Native {
 protected:
  void SetUp() override {
    Native::SetUp();
    config.module_isolation = "process";
    config.module_call_timeout_ms = 1000;
    config.module_memory_limit_mb = 256;
  }
  // The server still answers: its health, and the module's harmless route in a (new) host.
  void still_serving(std::uint16_t port) {
    EXPECT_EQ(testing::http_request(port, "GET", "/api/v1/healthz").status, 200);
    auto ok = call(port, "GET", "/api/v1/x/native_hostile/ok");
    EXPECT_EQ(ok.status, 200) << ok.body;
  }
  std::string problem_type(const testing::HttpReply& r) {
    auto d = parse(r.body);
    return d.IsObject() && d.HasMember("type") ? d["type"].GetString() : "";
  }
};

TEST_F(NativeIsolation, HostileModulesAreContainedAndTheServerKeepsServing) {
  install({"native_hostile"});
  EXPECT_FALSE(Host::instance().loaded("native_hostile")) << "never loaded into this process";
  login_admin();
  testing::TestServer server(config, database.conninfo());
  auto port = server.port();
  still_serving(port);

  // A null pointer in a hook: 500 native.crashed naming the signal; nothing written.
  auto null = call(port, "POST", "/api/v1/records/nh_item", R"({"name": "null"})");
  EXPECT_EQ(null.status, 500) << null.body;
  EXPECT_EQ(problem_type(null), "urn:keel:problem:native.crashed");
  EXPECT_NE(null.body.find("SIGSEGV"), std::string::npos) << null.body;
  EXPECT_EQ(one("SELECT count(*) FROM nh_item"), "0");
  still_serving(port);
  auto fine = call(port, "POST", "/api/v1/records/nh_item", R"({"name": "fine"})");
  EXPECT_EQ(fine.status, 201) << fine.body;

  // An endless loop in a computed field: 504 native.timeout after the deadline.
  conn.exec("INSERT INTO nh_item (name) VALUES ('spin')");
  auto spin = call(port, "GET", "/api/v1/records/nh_item?fields=name,spin");
  EXPECT_EQ(spin.status, 504) << spin.body;
  EXPECT_EQ(problem_type(spin), "urn:keel:problem:native.timeout");
  still_serving(port);
  EXPECT_EQ(call(port, "GET", "/api/v1/records/nh_item?fields=name").status, 200);

  // 10 GB at once: out of memory, contained. Blocks of 64 MB written until it dies: out of
  // memory too, or past the deadline on a machine whose page faults are slow.
  auto big = call(port, "GET", "/api/v1/x/native_hostile/alloc");
  EXPECT_EQ(big.status, 500) << big.body;
  EXPECT_EQ(problem_type(big), "urn:keel:problem:native.crashed");
  EXPECT_NE(big.body.find("out of memory"), std::string::npos) << big.body;
  still_serving(port);
  auto steps = call(port, "GET", "/api/v1/x/native_hostile/alloc?step=1");
  EXPECT_TRUE(problem_type(steps) == "urn:keel:problem:native.crashed" ||
              problem_type(steps) == "urn:keel:problem:native.timeout")
      << steps.body;
  still_serving(port);

  // The server's secret and the system's files are out of sight.
  auto secret_dir = fs::temp_directory_path() / ("keel-secret-" + std::to_string(::getpid()));
  fs::create_directories(secret_dir);
  std::ofstream(secret_dir / "secret") << "TOP-SECRET-MARKER";
  for (auto path : {(secret_dir / "secret").string(), std::string("/etc/passwd")}) {
    auto read =
        call(port, "GET", "/api/v1/x/native_hostile/read?path=" + testing::url_encode(path));
    EXPECT_EQ(read.status, 200) << read.body;
    EXPECT_NE(read.body.find("\"error\""), std::string::npos) << read.body;
    EXPECT_EQ(read.body.find("TOP-SECRET-MARKER"), std::string::npos) << read.body;
    EXPECT_EQ(read.body.find("root:"), std::string::npos) << read.body;
  }
  // No file written, no socket, no process.
  auto written = secret_dir / "written";
  auto write = call(port, "GET",
                    "/api/v1/x/native_hostile/write?path=" + testing::url_encode(written.string()));
  EXPECT_NE(write.body.find("\"error\""), std::string::npos) << write.body;
  EXPECT_FALSE(fs::exists(written));
  auto connect = call(port, "GET", "/api/v1/x/native_hostile/connect?port=" + std::to_string(port));
  EXPECT_NE(connect.body.find("\"error\":\"socket: Operation not permitted\""), std::string::npos)
      << connect.body;
  auto spawned = secret_dir / "spawned";
  auto spawn = call(port, "GET",
                    "/api/v1/x/native_hostile/spawn?path=" + testing::url_encode(spawned.string()));
  EXPECT_NE(spawn.body.find("\"error\":\"fork: Operation not permitted\""), std::string::npos)
      << spawn.body;
  EXPECT_FALSE(fs::exists(spawned));
  still_serving(port);
  fs::remove_all(secret_dir);
  // /metrics counts the failed calls.
  auto metrics = call(port, "GET", "/api/v1/metrics").body;
  EXPECT_NE(metrics.find("keel_native_host_failures_total{kind=\"timeout\"} "), std::string::npos)
      << metrics;
  EXPECT_EQ(metrics.find("keel_native_host_failures_total{kind=\"crashed\"} 0"), std::string::npos)
      << metrics;
}

TEST_F(NativeIsolation, TheCommandLineLoadsIsolatedModulesInTheModuleHostNextToKeel) {
  auto dir = fs::temp_directory_path() / ("keel-isolation-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "keel.toml") << "[security]\nmodule_isolation = \"process\"\n";
  auto keel = [&](const std::string& module) {
    return testing::run_keel(
        {"--config", (dir / "keel.toml").string(), "module", "install", module, "--db",
         database.conninfo(), "--addons-path", KEEL_FIXTURES_DIR "/native"},
        {{"KEEL_LIBRARY_PATH", KEEL_TEST_ADDON_DIR}});
  };
  auto bad = keel("native_hostile_init");
  EXPECT_EQ(bad.status, 1) << bad.err;
  EXPECT_NE(bad.err.find("SIGSEGV"), std::string::npos) << bad.err;
  auto good = keel("native_good");
  EXPECT_EQ(good.status, 0) << good.err;
  EXPECT_NE(good.err.find("module host"), std::string::npos) << good.err;
  fs::remove_all(dir);
}

TEST_F(NativeIsolation, AStaticInitialiserThatMisbehavesFailsTheInstallOnly) {
  fs::remove("/tmp/native_hostile_init_ran");
  Error e = install_error({"native_hostile_init"});
  EXPECT_EQ(e.code(), "native.crashed");
  EXPECT_NE(std::string(e.what()).find("SIGSEGV"), std::string::npos) << e.what();
  EXPECT_FALSE(fs::exists("/tmp/native_hostile_init_ran")) << "its shell never ran";
  EXPECT_EQ(one("SELECT to_regclass('base_module') IS NULL"), "t");  // rolled back
  // This process is alive and installs a good module.
  install({"native_good"});
}

// A module whose host keeps failing is disabled after five failures in a minute: 503
// native.disabled for its calls, with the server serving everything else; /metrics counts them.
TEST_F(NativeIsolation, AModuleThatKeepsCrashingIsDisabled) {
  config.module_call_timeout_ms = 999;  // a host of its own, with its own failure count
  install({"native_hostile"});
  login_admin();
  testing::TestServer server(config, database.conninfo());
  auto port = server.port();
  auto crashed = [&] {
    auto metrics = call(port, "GET", "/api/v1/metrics").body;
    const std::string name = "keel_native_host_failures_total{kind=\"crashed\"} ";
    auto at = metrics.find(name);
    EXPECT_NE(at, std::string::npos) << metrics;
    return at == std::string::npos ? -1L : std::atol(metrics.c_str() + at + name.size());
  };
  auto before = crashed();
  for (int i = 0; i < 5; ++i) {
    auto r = call(port, "POST", "/api/v1/records/nh_item", R"({"name": "null"})");
    EXPECT_EQ(r.status, 500) << r.body;
    EXPECT_EQ(problem_type(r), "urn:keel:problem:native.crashed") << r.body;
  }
  EXPECT_EQ(crashed(), before + 5);
  // Disabled now: even its harmless route, without starting a host again.
  auto ok = call(port, "GET", "/api/v1/x/native_hostile/ok");
  EXPECT_EQ(ok.status, 503) << ok.body;
  EXPECT_EQ(problem_type(ok), "urn:keel:problem:native.disabled");
  EXPECT_NE(ok.body.find("disabled after repeated failures"), std::string::npos) << ok.body;
  EXPECT_EQ(crashed(), before + 5);
  // The rest of the server serves.
  EXPECT_EQ(testing::http_request(port, "GET", "/api/v1/healthz").status, 200);
  EXPECT_EQ(call(port, "GET", "/api/v1/records/nh_item?fields=name").status, 200);
}

}  // namespace
}  // namespace keel::native
