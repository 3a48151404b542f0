// Authentication end to end: tokens, login, refresh, logout, throttling, API keys, the cache of
// callers and its invalidation, security headers and CORS, secrets in the database and the log,
// and `keel user` on the command line.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <future>
#include <iostream>
#include <latch>
#include <sstream>
#include <thread>

#include "db/pool.hpp"
#include "schema/registry.hpp"
#include "security/authenticator.hpp"
#include "security/crypto.hpp"
#include "security/jwt.hpp"
#include "security/users.hpp"
#include "support/addon_tree.hpp"
#include "support/auth.hpp"
#include "support/fixture.hpp"
#include "support/http_client.hpp"
#include "support/json.hpp"
#include "support/pg.hpp"
#include "support/run.hpp"
#include "support/test_server.hpp"

namespace keel::security {
namespace {

using testing::bearer;
using testing::http_request;
using testing::HttpReply;
using testing::TestServer;

constexpr auto parse = testing::parse_json;

std::string credentials(const std::string& login, const std::string& password) {
  return R"({"login": ")" + login + R"(", "password": ")" + password + R"("})";
}

class Auth : public ::testing::Test, protected testing::AddonsFixture {
 protected:
  void SetUp() override {
    use_fixture("shop_basic");
    install({"shop"});
    admin = testing::create_user(*conn, "admin", {"base.admin"});
    alice = testing::create_user(*conn, "alice", {"base.user"});
  }

  HttpReply get(std::uint16_t port, const std::string& target, const std::string& token) {
    return http_request(port, "GET", target, "", bearer(token));
  }
  HttpReply post(std::uint16_t port, const std::string& target, const std::string& body,
                 const std::map<std::string, std::string>& headers = {}) {
    return http_request(port, "POST", target, body, headers);
  }
  // Waits up to 2 s for `condition` (a NOTIFY reaching the server).
  template <typename F>
  bool eventually(F condition) {
    // Up to 10 s: a NOTIFY is heard at once, but CI runs tests in parallel on a loaded machine.
    for (int i = 0; i < 200; ++i) {
      if (condition()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  std::int64_t admin = 0, alice = 0;
};

TEST_F(Auth, OnlyValidHs256TokensPass) {
  TestServer server(config, database.conninfo());
  const std::string records = "/api/v1/records/partner";
  TokenSigner signer(testing::kTestSecret);
  std::string payload =
      R"({"sub":")" + std::to_string(admin) + R"(","iat":1700000000,"exp":4100000000,"jti":"x"})";

  auto ok = get(server.port(), records, signer.sign(R"({"alg":"HS256","typ":"JWT"})", payload));
  EXPECT_EQ(ok.status, 200) << ok.body;

  auto expect_401 = [&](const std::string& token, const char* what) {
    auto reply = get(server.port(), records, token);
    EXPECT_EQ(reply.status, 401) << what << ": " << reply.body;
    EXPECT_EQ(reply.header("content-type"), "application/problem+json") << what;
    EXPECT_EQ(reply.header("www-authenticate").rfind("Bearer", 0), 0u) << what;
  };
  auto good = signer.issue(admin);
  std::string tampered = good;
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  expect_401(tampered, "tampered signature");
  // A payload swapped for another user's, the signature kept.
  auto other = signer.issue(alice);
  expect_401(good.substr(0, good.find('.')) +
                 other.substr(other.find('.'), other.rfind('.') - other.find('.')) +
                 good.substr(good.rfind('.')),
             "swapped payload");
  expect_401(TokenSigner("another secret").issue(admin), "another secret");
  TokenSigner short_lived(testing::kTestSecret, std::chrono::seconds(60));
  expect_401(short_lived.issue(admin, std::chrono::system_clock::now() - std::chrono::hours(1)),
             "expired");
  expect_401(signer.sign(R"({"alg":"none","typ":"JWT"})", payload), "alg none, signed");
  auto unsigned_token = signer.sign(R"({"alg":"none","typ":"JWT"})", payload);
  expect_401(unsigned_token.substr(0, unsigned_token.rfind('.') + 1), "alg none, no signature");
  expect_401(signer.sign(R"({"alg":"HS512","typ":"JWT"})", payload), "HS512");
  expect_401(signer.sign(R"({"alg":"RS256","typ":"JWT"})", payload), "RS256");
  expect_401(signer.sign(R"({"alg":"HS256","alg":"HS256","typ":"JWT"})", payload), "duplicate alg");
  expect_401(signer.sign(R"({"alg":"HS256","typ":"JWT"})",
                         R"({"sub":"999999","iat":1,"exp":4100000000,"jti":"x"})"),
             "no such user");
  expect_401("garbage", "garbage");
  expect_401("a.b.c", "three garbage parts");
  expect_401("", "empty");
  auto none = http_request(server.port(), "GET", records);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.header("www-authenticate"), "Bearer");
  auto basic = http_request(server.port(), "GET", records, "", {{"Authorization", "Basic YTpi"}});
  EXPECT_EQ(basic.status, 401);

  // Routes without a token, and the ones that need one.
  EXPECT_EQ(http_request(server.port(), "GET", "/api/v1/healthz").status, 200);
  EXPECT_EQ(http_request(server.port(), "GET", "/api/v1/metrics").status, 200);
  EXPECT_EQ(http_request(server.port(), "GET", "/api/v1/openapi.json").status, 401);
  EXPECT_EQ(http_request(server.port(), "GET", "/api/v1/meta/entities").status, 401);
  EXPECT_EQ(http_request(server.port(), "GET", "/api/v1/modules").status, 401);
  EXPECT_EQ(http_request(server.port(), "GET", "/api/v1/nope").status, 401);
}

TEST_F(Auth, LoginRefreshRotationReuseAndLogout) {
  TestServer server(config, database.conninfo());
  auto login =
      post(server.port(), "/api/v1/auth/login", credentials("alice", testing::kTestPassword));
  ASSERT_EQ(login.status, 200) << login.body;
  EXPECT_EQ(login.header("cache-control"), "no-store");
  auto tokens = parse(login.body);
  EXPECT_EQ(std::string(tokens["token_type"].GetString()), "Bearer");
  EXPECT_EQ(tokens["expires_in"].GetInt(), 900);
  std::string access = tokens["access_token"].GetString();
  std::string refresh1 = tokens["refresh_token"].GetString();
  EXPECT_EQ(get(server.port(), "/api/v1/meta/entities", access).status, 200);

  // Wrong password, unknown user, inactive user: one answer for all.
  auto wrong = post(server.port(), "/api/v1/auth/login", credentials("alice", "nope nope"));
  auto unknown = post(server.port(), "/api/v1/auth/login", credentials("nobody", "nope nope"));
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(wrong.body, unknown.body);
  EXPECT_EQ(post(server.port(), "/api/v1/auth/login", R"({"login": "alice"})").status, 422);
  EXPECT_EQ(post(server.port(), "/api/v1/auth/login", "not json").status, 400);

  // Each refresh rotates; the retired token comes back: the whole chain is revoked.
  auto r2 =
      post(server.port(), "/api/v1/auth/refresh", R"({"refresh_token": ")" + refresh1 + "\"}");
  ASSERT_EQ(r2.status, 200) << r2.body;
  std::string refresh2 = parse(r2.body)["refresh_token"].GetString();
  EXPECT_NE(refresh2, refresh1);
  EXPECT_EQ(get(server.port(), "/api/v1/meta/entities", parse(r2.body)["access_token"].GetString())
                .status,
            200);
  auto r3 =
      post(server.port(), "/api/v1/auth/refresh", R"({"refresh_token": ")" + refresh2 + "\"}");
  ASSERT_EQ(r3.status, 200) << r3.body;
  std::string refresh3 = parse(r3.body)["refresh_token"].GetString();
  auto reuse =
      post(server.port(), "/api/v1/auth/refresh", R"({"refresh_token": ")" + refresh1 + "\"}");
  EXPECT_EQ(reuse.status, 401);
  auto after_reuse =
      post(server.port(), "/api/v1/auth/refresh", R"({"refresh_token": ")" + refresh3 + "\"}");
  EXPECT_EQ(after_reuse.status, 401) << "the chain must be revoked";
  EXPECT_EQ(post(server.port(), "/api/v1/auth/refresh", R"({"refresh_token": "made up"})").status,
            401);

  // Logout revokes the session's refresh token.
  auto second = parse(
      post(server.port(), "/api/v1/auth/login", credentials("alice", testing::kTestPassword)).body);
  std::string refresh = second["refresh_token"].GetString();
  std::string body = R"({"refresh_token": ")" + refresh + "\"}";
  EXPECT_EQ(post(server.port(), "/api/v1/auth/logout", body).status, 401) << "needs a token";
  EXPECT_EQ(
      post(server.port(), "/api/v1/auth/logout", body, bearer(second["access_token"].GetString()))
          .status,
      204);
  EXPECT_EQ(post(server.port(), "/api/v1/auth/refresh", body).status, 401);

  // A deactivated user is out at once: its tokens (through the NOTIFY that drops the cache)
  // and its logins.
  conn->exec("UPDATE base_user SET active = false WHERE login = 'alice'");
  EXPECT_TRUE(eventually(
      [&] { return get(server.port(), "/api/v1/meta/entities", access).status == 401; }));
  EXPECT_EQ(
      post(server.port(), "/api/v1/auth/login", credentials("alice", testing::kTestPassword)).body,
      unknown.body);
}

TEST_F(Auth, FailedLoginsAreThrottledPerLoginAndPerAddress) {
  TestServer server(config, database.conninfo());
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(post(server.port(), "/api/v1/auth/login", credentials("alice", "wrong")).status, 401);
  // The sixth attempt is refused, even with the right password, with a Retry-After.
  auto throttled =
      post(server.port(), "/api/v1/auth/login", credentials("alice", testing::kTestPassword));
  EXPECT_EQ(throttled.status, 429) << throttled.body;
  int retry = std::atoi(throttled.header("retry-after").c_str());
  EXPECT_GT(retry, 800);
  EXPECT_LE(retry, 900);
  // Another login is not affected...
  EXPECT_EQ(post(server.port(), "/api/v1/auth/login", credentials("admin", testing::kTestPassword))
                .status,
            200);
  // ...until 20 failures came from its address (recorded by any server of the database).
  for (int i = 0; i < 20; ++i)
    conn->exec(
        "INSERT INTO base_login_failure (login, address, at) VALUES ($1, '127.0.0.1', now())",
        db::Params().add("user" + std::to_string(i)));
  auto by_address =
      post(server.port(), "/api/v1/auth/login", credentials("admin", testing::kTestPassword));
  EXPECT_EQ(by_address.status, 429);
  EXPECT_FALSE(by_address.header("retry-after").empty());
  // Failures older than the window do not count, and are purged.
  conn->exec("UPDATE base_login_failure SET at = now() - interval '16 minutes'");
  EXPECT_EQ(post(server.port(), "/api/v1/auth/login", credentials("alice", testing::kTestPassword))
                .status,
            200);
  EXPECT_EQ(conn->exec("SELECT count(*) FROM base_login_failure").get_int(0, 0), 0);
}

TEST_F(Auth, ApiKeysAndRoles) {
  TestServer server(config, database.conninfo());
  auto key = testing::create_api_key(*conn, "alice", "robot");
  auto parts = split_api_key(key.key);
  ASSERT_TRUE(parts);
  EXPECT_EQ(get(server.port(), "/api/v1/healthz", key.key).status, 200);
  auto ok = get(server.port(), "/api/v1/meta/entities", key.key);
  EXPECT_EQ(ok.status, 200) << ok.body;
  // The right prefix with a wrong secret, of the same length or not.
  std::string wrong = key.key;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  EXPECT_EQ(get(server.port(), "/api/v1/meta/entities", wrong).status, 401);
  EXPECT_EQ(get(server.port(), "/api/v1/meta/entities", std::string(parts->first) + ".x").status,
            401);
  EXPECT_EQ(get(server.port(), "/api/v1/meta/entities", "000000000000.secret").status, 401);
  // Stored as prefix and hash only.
  auto row = conn->exec("SELECT prefix, secret_hash FROM base_api_key");
  EXPECT_EQ(row.get(0, 0), parts->first);
  EXPECT_EQ(row.get(0, 1).find(parts->second), std::string_view::npos);

  // Module administration is for base.admin.
  EXPECT_EQ(get(server.port(), "/api/v1/modules", key.key).status, 403);
  EXPECT_EQ(http_request(server.port(), "POST", "/api/v1/modules/shop/upgrade", "", bearer(key.key))
                .status,
            403);
  EXPECT_EQ(get(server.port(), "/api/v1/modules", testing::token_for(admin)).status, 200);

  // A user cannot make itself an administrator through its own user record.
  auto admin_role = conn->exec("SELECT id FROM base_role WHERE name = 'base.admin'").get_int(0, 0);
  auto escalate =
      http_request(server.port(), "PATCH", "/api/v1/records/base_user/" + std::to_string(alice),
                   R"({"roles": [)" + std::to_string(admin_role) + "]}", bearer(key.key));
  EXPECT_GE(escalate.status, 400) << escalate.body;
  EXPECT_EQ(get(server.port(), "/api/v1/modules", key.key).status, 403);

  // A revoked key stops working as soon as the server hears of it.
  conn->exec("UPDATE base_api_key SET active = false");
  EXPECT_TRUE(eventually(
      [&] { return get(server.port(), "/api/v1/meta/entities", key.key).status == 401; }));
}

TEST_F(Auth, CallersAreCachedUntilNotified) {
  TestServer server(config, database.conninfo());
  auto& authenticator = server.api().authenticator();
  const auto& policy = *server.api().snapshot()->policy;
  std::string header = "Bearer " + testing::token_for(alice);
  // From memory alone (what an I/O thread asks), nothing is known yet: the database must be
  // asked, elsewhere.
  authenticator.invalidate();
  EXPECT_FALSE(authenticator.authenticate_cached(header, policy).has_value());
  auto context = authenticator.authenticate(header, policy);
  ASSERT_TRUE(context);
  auto cached = authenticator.authenticate_cached(header, policy);
  ASSERT_TRUE(cached.has_value());
  ASSERT_TRUE(cached->has_value());
  EXPECT_EQ((*cached)->login, "alice");
  // A token that fails verification needs no query to be refused.
  auto refused = authenticator.authenticate_cached("Bearer not.a.token", policy);
  ASSERT_TRUE(refused.has_value());
  EXPECT_FALSE(refused->has_value());
  EXPECT_EQ(context->login, "alice");
  EXPECT_FALSE(context->admin);
  EXPECT_TRUE(context->has_role("base.user"));
  // No query per request: one miss, then hits. What a request pays, cached and not (printed
  // for docs/security.md; a debug build).
  auto before = authenticator.stats();
  constexpr int kCalls = 2000;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCalls; ++i)
    ASSERT_TRUE(authenticator.authenticate(header, policy));
  auto hit = (std::chrono::steady_clock::now() - start) / kCalls;
  auto after = authenticator.stats();
  EXPECT_EQ(after.misses, before.misses);
  EXPECT_EQ(after.hits - before.hits, static_cast<std::uint64_t>(kCalls));
  start = std::chrono::steady_clock::now();
  for (int i = 0; i < 200; ++i) {
    authenticator.invalidate();
    ASSERT_TRUE(authenticator.authenticate(header, policy));
  }
  auto miss = (std::chrono::steady_clock::now() - start) / 200;
  std::cout << "authenticate: cached "
            << std::chrono::duration_cast<std::chrono::nanoseconds>(hit).count() / 1000.0
            << " us, uncached "
            << std::chrono::duration_cast<std::chrono::nanoseconds>(miss).count() / 1000.0
            << " us\n";
  // A grant changes the database: the trigger's NOTIFY drops the cache.
  conn->exec(
      "INSERT INTO base_user_roles_rel (source_id, target_id) SELECT $1, id FROM base_role WHERE "
      "name = 'base.admin'",
      db::Params().add(alice));
  EXPECT_TRUE(eventually([&] {
    auto c = authenticator.authenticate(header, policy);
    return c && c->admin;
  }));
}

// Many clients of one user: a cold cache costs one read, not one per client, and an entry past
// half its life is read again by one request while the others keep using it (no moment when
// every client misses at once).
TEST_F(Auth, ClientsOfOneUserShareOneReadAndRefreshAhead) {
  TestServer server(config, database.conninfo());
  const auto& policy = *server.api().snapshot()->policy;
  db::Pool pool(database.conninfo());
  TokenSigner signer(testing::kTestSecret);
  constexpr auto kTtl = std::chrono::milliseconds(2000);
  Authenticator authenticator(pool, signer, kTtl);
  std::string header = "Bearer " + testing::token_for(alice);

  // 8 clients with one credential, let go at once: each must be answered as alice.
  auto clients_at_once = [&](const std::string& credential) {
    constexpr int kClients = 8;
    std::latch start(kClients);
    std::vector<std::future<bool>> clients;
    for (int i = 0; i < kClients; ++i)
      clients.push_back(std::async(std::launch::async, [&] {
        start.arrive_and_wait();
        auto context = authenticator.authenticate(credential, policy);
        return context && context->login == "alice";
      }));
    for (auto& c : clients)
      EXPECT_TRUE(c.get());
  };
  clients_at_once(header);
  EXPECT_EQ(authenticator.stats().misses, 1u);
  // The same for the clients of one API key: one read of the key (then the user is cached).
  {
    clients_at_once("Bearer " + testing::create_api_key(*conn, "alice", "robot").key);
    EXPECT_EQ(authenticator.stats().misses, 2u);
    authenticator.invalidate();  // what creating the key notified; the user is read again below
    ASSERT_TRUE(authenticator.authenticate(header, policy));
    EXPECT_EQ(authenticator.stats().misses, 3u);
  }

  // Past half its life: the first request that must not wait is sent to read it again; the
  // next ones still use it.
  auto loaded = std::chrono::steady_clock::now();
  std::this_thread::sleep_until(loaded + kTtl / 2 + std::chrono::milliseconds(50));
  auto claimed = authenticator.authenticate_cached(header, policy);
  EXPECT_FALSE(claimed.has_value());
  for (int i = 0; i < 3; ++i) {
    auto cached = authenticator.authenticate_cached(header, policy);
    ASSERT_TRUE(cached.has_value());
    ASSERT_TRUE(cached->has_value());
  }
  // The claimed request, on a thread that may wait, reads it again.
  ASSERT_TRUE(authenticator.authenticate(header, policy));
  EXPECT_EQ(authenticator.stats().misses, 4u);
  auto fresh = authenticator.authenticate_cached(header, policy);
  ASSERT_TRUE(fresh.has_value());
  EXPECT_TRUE(fresh->has_value());
  // A grant after the read is seen at once (the NOTIFY path of the server's own authenticator
  // is tested above; here invalidate() is called as the listener would).
  conn->exec("UPDATE base_user SET active = false WHERE id = $1", db::Params().add(alice));
  authenticator.invalidate();
  EXPECT_FALSE(authenticator.authenticate(header, policy));
}

// A read ahead of the expiry that fails (here: no pooled connection free) leaves the cached
// caller serving until the entry expires; then the failure shows.
TEST_F(Auth, AFailedEarlyReadKeepsTheCachedCallerUntilItExpires) {
  TestServer server(config, database.conninfo());
  const auto& policy = *server.api().snapshot()->policy;
  db::Pool::Options options;
  options.max_size = 1;
  options.acquire_timeout = std::chrono::milliseconds(100);
  db::Pool pool(database.conninfo(), options);
  TokenSigner signer(testing::kTestSecret);
  constexpr auto kTtl = std::chrono::milliseconds(2000);
  Authenticator authenticator(pool, signer, kTtl);
  std::string header = "Bearer " + testing::token_for(alice);
  ASSERT_TRUE(authenticator.authenticate(header, policy));
  auto loaded = std::chrono::steady_clock::now();
  auto held = pool.acquire();  // the only connection: every read fails
  std::this_thread::sleep_until(loaded + kTtl / 2 + std::chrono::milliseconds(50));
  auto context = authenticator.authenticate(header, policy);
  ASSERT_TRUE(context);
  EXPECT_EQ(context->login, "alice");
  std::this_thread::sleep_until(loaded + kTtl + std::chrono::milliseconds(50));
  EXPECT_THROW(authenticator.authenticate(header, policy), db::DbError);
}

TEST_F(Auth, LoginHashesOffTheIoThreads) {
  http::ServerOptions options;
  options.threads = 1;  // one I/O thread: a hash on it would hold every other request
  TestServer server(config, database.conninfo(), options);
  // The loop serves once its thread has connected its pipelines.
  EXPECT_EQ(http_request(server.port(), "GET", "/api/v1/healthz").status, 200);
  auto login = std::async(std::launch::async, [&] {
    auto start = std::chrono::steady_clock::now();
    auto status =
        post(server.port(), "/api/v1/auth/login", credentials("alice", testing::kTestPassword))
            .status;
    return std::pair(status, std::chrono::steady_clock::now() - start);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(http_request(server.port(), "GET", "/api/v1/healthz").status, 200);
  auto waited = std::chrono::steady_clock::now() - start;
  auto [status, hashing] = login.get();
  EXPECT_EQ(status, 200);
  // Had the hash run on the only I/O thread, healthz would have waited for most of it.
  EXPECT_LT(waited, hashing / 2);

  // An unknown login costs a hash too (no enumeration by timing).
  start = std::chrono::steady_clock::now();
  EXPECT_EQ(post(server.port(), "/api/v1/auth/login", credentials("ghost", "whatever")).status,
            401);
  EXPECT_GT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
}

TEST_F(Auth, SecurityHeadersAndCors) {
  {
    TestServer server(config, database.conninfo());
    auto reply = http_request(server.port(), "GET", "/api/v1/healthz", "",
                              {{"Origin", "https://app.example"}});
    EXPECT_EQ(reply.header("x-content-type-options"), "nosniff");
    EXPECT_EQ(reply.header("x-frame-options"), "DENY");
    EXPECT_EQ(reply.header("referrer-policy"), "no-referrer");
    EXPECT_EQ(reply.header("content-security-policy").rfind("default-src 'none'", 0), 0u);
    EXPECT_EQ(reply.header("strict-transport-security"), "");
    EXPECT_EQ(reply.header("access-control-allow-origin"), "") << "CORS is off by default";
    auto preflight =
        http_request(server.port(), "OPTIONS", "/api/v1/records/partner", "",
                     {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "GET"}});
    EXPECT_EQ(preflight.header("access-control-allow-origin"), "");
  }
  http::ServerOptions options;
  options.cors_origins = {"https://app.example"};
  options.hsts_max_age = 31536000;
  TestServer server(config, database.conninfo(), options);
  auto preflight =
      http_request(server.port(), "OPTIONS", "/api/v1/records/partner", "",
                   {{"Origin", "https://app.example"},
                    {"Access-Control-Request-Method", "PATCH"},
                    {"Access-Control-Request-Headers", "authorization, content-type"}});
  EXPECT_EQ(preflight.status, 204);
  EXPECT_EQ(preflight.header("access-control-allow-origin"), "https://app.example");
  EXPECT_NE(preflight.header("access-control-allow-methods").find("PATCH"), std::string::npos);
  EXPECT_NE(preflight.header("access-control-allow-headers").find("Authorization"),
            std::string::npos);
  // A browser may send and read Keel-LSN (read-your-writes behind replicas, docs/scaling.md).
  EXPECT_NE(preflight.header("access-control-allow-headers").find("Keel-LSN"), std::string::npos);
  auto reply = get(server.port(), "/api/v1/records/partner", testing::token_for(admin));
  EXPECT_EQ(reply.header("strict-transport-security"), "max-age=31536000");
  auto cross = http_request(server.port(), "GET", "/api/v1/healthz", "",
                            {{"Origin", "https://app.example"}});
  EXPECT_EQ(cross.header("access-control-allow-origin"), "https://app.example");
  EXPECT_NE(cross.header("access-control-expose-headers").find("Keel-LSN"), std::string::npos);
  auto foreign = http_request(server.port(), "GET", "/api/v1/healthz", "",
                              {{"Origin", "https://evil.example"}});
  EXPECT_EQ(foreign.header("access-control-allow-origin"), "");
}

// Every text of every table of the database, one row per line.
std::string dump(db::Connection& conn) {
  std::string out;
  auto tables = conn.exec(
      "SELECT quote_ident(table_name) FROM information_schema.tables WHERE table_schema = "
      "'public' AND table_type = 'BASE TABLE'");
  for (int i = 0; i < tables.rows(); ++i) {
    auto rows = conn.exec("SELECT t::text FROM " + std::string(tables.get(i, 0)) + " t");
    for (int r = 0; r < rows.rows(); ++r)
      out += std::string(rows.get(r, 0)) + "\n";
  }
  return out;
}

TEST_F(Auth, NoPasswordOrTokenInTheDatabaseOrTheLog) {
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  spdlog::set_level(spdlog::level::debug);
  std::vector<std::string> secrets = {testing::kTestPassword, "a wrong password"};
  {
    TestServer server(config, database.conninfo());
    auto login = parse(
        post(server.port(), "/api/v1/auth/login", credentials("alice", testing::kTestPassword))
            .body);
    secrets.push_back(login["access_token"].GetString());
    secrets.push_back(login["refresh_token"].GetString());
    auto refreshed = parse(post(server.port(), "/api/v1/auth/refresh",
                                R"({"refresh_token": ")" + secrets.back() + "\"}")
                               .body);
    secrets.push_back(refreshed["access_token"].GetString());
    secrets.push_back(refreshed["refresh_token"].GetString());
    post(server.port(), "/api/v1/auth/login", credentials("alice", "a wrong password"));
    auto key = testing::create_api_key(*conn, "alice", "robot");
    secrets.push_back(key.key);
    secrets.push_back(std::string(split_api_key(key.key)->second));
    get(server.port(), "/api/v1/records/partner", key.key);
    get(server.port(), "/api/v1/records/partner?x=1", secrets[2]);
    // The records API cannot store a password (it would be kept as sent): secret fields are
    // neither read nor written there, not even by an administrator.
    std::string plain = "set through the records API";
    secrets.push_back(plain);
    auto patch =
        http_request(server.port(), "PATCH", "/api/v1/records/base_user/" + std::to_string(alice),
                     R"({"password": ")" + plain + "\"}", bearer(testing::token_for(admin)));
    EXPECT_GE(patch.status, 400) << patch.body;
    auto create = http_request(server.port(), "POST", "/api/v1/records/base_user",
                               R"({"login": "mallory", "password": ")" + plain + "\"}",
                               bearer(testing::token_for(admin)));
    EXPECT_GE(create.status, 400) << create.body;
    auto read = get(server.port(), "/api/v1/records/base_user/" + std::to_string(alice),
                    testing::token_for(admin));
    EXPECT_EQ(read.status, 200);
    EXPECT_EQ(read.body.find("argon2"), std::string::npos) << read.body;
  }
  spdlog::set_default_logger(previous);
  std::string text = dump(*conn);
  std::string logged = log.str();
  ASSERT_NE(text.find("$argon2id$"), std::string::npos) << "the dump holds the hashes";
  ASSERT_NE(logged.find("/api/v1/auth/login"), std::string::npos) << "the log was captured";
  for (const auto& secret : secrets) {
    EXPECT_EQ(text.find(secret), std::string::npos) << "in the database: " << secret;
    EXPECT_EQ(logged.find(secret), std::string::npos) << "in the log: " << secret;
  }
}

TEST_F(Auth, CommandLineUsers) {
  const std::string db = database.conninfo();
  // The password is one line of stdin, never an argument.
  auto add = testing::run_keel({"user", "add", "carol", "--role", "base.admin", "--db", db}, {}, {},
                               "first password\n");
  ASSERT_EQ(add.status, 0) << add.err;
  EXPECT_NE(add.out.find("carol"), std::string::npos);
  auto again = testing::run_keel({"user", "add", "carol", "--db", db}, {}, {}, "whatever 123\n");
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.err.find("exists"), std::string::npos) << again.err;
  auto bad_role = testing::run_keel({"user", "add", "dave", "--role", "sales.nope", "--db", db}, {},
                                    {}, "whatever 123\n");
  EXPECT_EQ(bad_role.status, 1);
  EXPECT_NE(bad_role.err.find("base.admin"), std::string::npos) << "lists the known roles";
  auto empty = testing::run_keel({"user", "add", "erin", "--db", db});
  EXPECT_NE(empty.status, 0);
  auto short_one = testing::run_keel({"user", "add", "erin", "--db", db}, {}, {}, "short\n");
  EXPECT_EQ(short_one.status, 2);

  TestServer server(config, database.conninfo());
  EXPECT_EQ(
      post(server.port(), "/api/v1/auth/login", credentials("carol", "first password")).status,
      200);
  auto passwd =
      testing::run_keel({"user", "passwd", "carol", "--db", db}, {}, {}, "second password\r\n");
  ASSERT_EQ(passwd.status, 0) << passwd.err;
  EXPECT_EQ(
      post(server.port(), "/api/v1/auth/login", credentials("carol", "first password")).status,
      401);
  EXPECT_EQ(
      post(server.port(), "/api/v1/auth/login", credentials("carol", "second password")).status,
      200);
  EXPECT_EQ(
      testing::run_keel({"user", "passwd", "nobody", "--db", db}, {}, {}, "whatever 123\n").status,
      1);

  auto apikey = testing::run_keel({"user", "apikey", "carol", "--name", "ci", "--db", db});
  ASSERT_EQ(apikey.status, 0) << apikey.err;
  std::string key = apikey.out.substr(0, apikey.out.find('\n'));
  EXPECT_TRUE(split_api_key(key)) << key;
  EXPECT_EQ(get(server.port(), "/api/v1/modules", key).status, 200);
}

// Issue 16: an access token stops working within seconds, on every server of the database, when
// its user logs out, gets a new password or is deactivated (not when it expires, 15 minutes
// later); a user reactivated does not get the old tokens back.
TEST_F(Auth, AccessTokensEndOnLogoutNewPasswordAndDeactivationOnEveryServer) {
  TestServer a(config, database.conninfo());
  TestServer b(config, database.conninfo());
  auto works = [&](const std::string& token) {
    return get(a.port(), "/api/v1/meta/entities", token).status == 200 &&
           get(b.port(), "/api/v1/meta/entities", token).status == 200;
  };
  auto refused = [&](const std::string& token) {
    return eventually([&] {
      return get(a.port(), "/api/v1/meta/entities", token).status == 401 &&
             get(b.port(), "/api/v1/meta/entities", token).status == 401;
    });
  };
  auto login = [&](const std::string& password) {
    auto r = post(a.port(), "/api/v1/auth/login", credentials("alice", password));
    EXPECT_EQ(r.status, 200) << r.body;
    return parse(r.body);
  };

  // Logout on one server ends the access token on both, and the tokens of other sessions (they
  // refresh); the logged-out session cannot refresh.
  auto first = login(testing::kTestPassword);
  auto other = login(testing::kTestPassword);
  std::string access = first["access_token"].GetString();
  std::string other_access = other["access_token"].GetString();
  ASSERT_TRUE(works(access));
  ASSERT_TRUE(works(other_access));
  std::string body =
      R"({"refresh_token": ")" + std::string(first["refresh_token"].GetString()) + "\"}";
  EXPECT_EQ(post(a.port(), "/api/v1/auth/logout", body, bearer(access)).status, 204);
  EXPECT_TRUE(refused(access)) << "the logged-out token still works";
  EXPECT_TRUE(refused(other_access));
  EXPECT_EQ(post(b.port(), "/api/v1/auth/refresh", body).status, 401);
  auto refreshed =
      post(b.port(), "/api/v1/auth/refresh",
           R"({"refresh_token": ")" + std::string(other["refresh_token"].GetString()) + "\"}");
  ASSERT_EQ(refreshed.status, 200) << refreshed.body;
  std::string renewed = parse(refreshed.body)["access_token"].GetString();
  EXPECT_TRUE(works(renewed));

  // A new password, however it is set (here as `keel user passwd` does).
  testing::set_password(*conn, "alice", hash_password("a new password 1"));
  EXPECT_TRUE(refused(renewed)) << "a token from before the new password still works";
  std::string after_password = login("a new password 1")["access_token"].GetString();
  EXPECT_TRUE(works(after_password));

  // Deactivated, then reactivated: the old token stays refused, a new login works.
  conn->exec("UPDATE base_user SET active = false WHERE id = $1", db::Params().add(alice));
  EXPECT_TRUE(refused(after_password));
  conn->exec("UPDATE base_user SET active = true WHERE id = $1", db::Params().add(alice));
  std::string after_reactivation = login("a new password 1")["access_token"].GetString();
  EXPECT_TRUE(eventually([&] { return works(after_reactivation); }));
  EXPECT_EQ(get(a.port(), "/api/v1/meta/entities", after_password).status, 401);
  EXPECT_EQ(get(b.port(), "/api/v1/meta/entities", after_password).status, 401);

  // Nothing else of the user's row ends its tokens (a new name, say).
  conn->exec("UPDATE base_user SET name = 'Alice' WHERE id = $1", db::Params().add(alice));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(works(after_reactivation));
  // The generation is never shown, even to an administrator.
  auto row = get(a.port(), "/api/v1/records/base_user/" + std::to_string(alice),
                 testing::token_for(admin));
  ASSERT_EQ(row.status, 200) << row.body;
  EXPECT_EQ(row.body.find("token_generation"), std::string::npos) << row.body;
}

// Issue 16: every log line carries its time (UTC) and level; log.format = "json" (here
// KEEL_LOG_FORMAT) writes one JSON object per line.
TEST(Logging, LinesCarryTimeAndLevelAsTextOrJson) {
  testing::TestDatabase text_db, json_db;
  // An addons directory that exists: otherwise the first line is the CLI's diagnostic about
  // the missing one (depending on the working directory), not a log line.
  testing::AddonTree addons;
  const std::string path = addons.path().string();
  // `keel user add` on an empty database installs base first, and says so.
  auto text =
      testing::run_keel({"user", "add", "carol", "--db", text_db.conninfo(), "--addons-path", path},
                        {}, {}, "first password\n");
  ASSERT_EQ(text.status, 0) << text.err;
  std::string line = text.err.substr(0, text.err.find('\n'));
  // 2026-12-05T17:51:51.123Z info installed base on the empty database
  ASSERT_GE(line.size(), 30u) << text.err;
  EXPECT_EQ(line[4], '-');
  EXPECT_EQ(line[10], 'T');
  EXPECT_EQ(line.substr(23, 7), "Z info ") << line;
  EXPECT_NE(line.find("installed base on the empty database"), std::string::npos) << line;

  auto json =
      testing::run_keel({"user", "add", "carol", "--db", json_db.conninfo(), "--addons-path", path},
                        {{"KEEL_LOG_FORMAT", "json"}}, {}, "first password\n");
  ASSERT_EQ(json.status, 0) << json.err;
  auto doc = parse(json.err.substr(0, json.err.find('\n')));
  ASSERT_TRUE(doc.IsObject()) << json.err;
  EXPECT_EQ(std::string(doc["level"].GetString()), "info");
  EXPECT_EQ(std::string(doc["message"].GetString()), "installed base on the empty database");
  std::string time = doc["time"].GetString();
  EXPECT_EQ(time.size(), 24u) << time;
  EXPECT_EQ(time.back(), 'Z') << time;

  auto bad = testing::run_keel({"module", "list", "--db", json_db.conninfo()},
                               {{"KEEL_LOG_FORMAT", "xml"}});
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("unknown log format"), std::string::npos) << bad.err;
}

// Issue 16: the access log names the request id, the client (X-Forwarded-For believed from
// configured proxies only), the user, the route, the status and the latency.
TEST_F(Auth, AccessLogNamesClientUserRouteStatusAndLatency) {
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  spdlog::set_level(spdlog::level::info);
  std::string token = testing::token_for(admin);
  std::map<std::string, std::string> forwarded = {{"Authorization", "Bearer " + token},
                                                  {"X-Forwarded-For", "203.0.113.7, 127.0.0.1"}};
  {
    http::ServerOptions behind_proxy;
    behind_proxy.trusted_proxies = {"127.0.0.1"};
    TestServer proxied(config, database.conninfo(), behind_proxy);
    EXPECT_EQ(
        http_request(proxied.port(), "GET", "/api/v1/records/partner/42", "", forwarded).status,
        404);
    TestServer direct(config, database.conninfo());
    EXPECT_EQ(http_request(direct.port(), "GET", "/api/v1/records/partner", "",
                           {{"X-Forwarded-For", "198.51.100.9"}})
                  .status,
              401);
  }
  spdlog::set_default_logger(previous);
  std::string text = log.str();
  EXPECT_NE(text.find(" 203.0.113.7 admin GET /api/v1/records/{entity}/{id} "
                      "/api/v1/records/partner/42 404 "),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(" 127.0.0.1 - GET - /api/v1/records/partner 401 "), std::string::npos)
      << text;
  EXPECT_EQ(text.find("198.51.100.9"), std::string::npos) << "a header anyone can send";
}

}  // namespace
}  // namespace keel::security
