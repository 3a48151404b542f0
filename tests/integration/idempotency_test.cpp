// Idempotency-Key on creates and updates (issue 16 §1), over real HTTP against a real database:
// a retry with the same key gets the first answer and writes nothing; the same key with another
// request is refused (422); a failed write leaves its key free; concurrent duplicates write
// once; the answers expire after 24 hours.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "support/addon_tree.hpp"
#include "support/auth.hpp"
#include "support/fixture.hpp"
#include "support/http_client.hpp"
#include "support/json.hpp"
#include "support/pg.hpp"
#include "support/test_server.hpp"

namespace keel {
namespace {

using testing::http_request;
using testing::HttpReply;
using testing::TestServer;

constexpr auto parse = testing::parse_json;

class Idempotency : public ::testing::Test, protected testing::AddonsFixture {
 protected:
  void SetUp() override {
    tree.write("shop/manifest.yaml",
               "name: shop\nversion: 1.0.0\ndepends: [base]\nentities: [e.yaml]\n"
               "security: [s.yaml]\n");
    tree.write("shop/e.yaml",
               "entities:\n  item:\n    fields:\n"
               "      name:  {type: string, required: true, unique: true}\n"
               "      qty:   {type: integer}\n");
    tree.write("shop/s.yaml",
               "roles:\n  clerk: {label: Clerk, implies: [base.user]}\n"
               "access:\n  - {entity: item, role: clerk, read: true, create: true, update: "
               "true}\n");
    install({"shop"});
    clerk = testing::create_user(*conn, "clerk", {"shop.clerk"});
    other = testing::create_user(*conn, "other", {"shop.clerk"});
  }

  HttpReply send(std::uint16_t port, const std::string& method, const std::string& target,
                 const std::string& body, const std::string& key, std::int64_t user = 0) {
    auto headers = testing::bearer(testing::token_for(user ? user : clerk));
    if (!key.empty()) headers["Idempotency-Key"] = key;
    return http_request(port, method, target, body, headers);
  }

  std::int64_t count(const std::string& sql) { return conn->exec(sql).get_int(0, 0); }

  std::int64_t clerk = 0, other = 0;
};

TEST_F(Idempotency, ARetryOfACreateReplaysTheFirstAnswerAndWritesOnce) {
  TestServer server(config, database.conninfo());
  auto first = send(server.port(), "POST", "/api/v1/records/item", R"({"name": "a", "qty": 1})",
                    "create-a-1");
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(first.header("idempotent-replayed"), "");
  auto again = send(server.port(), "POST", "/api/v1/records/item", R"({"name": "a", "qty": 1})",
                    "create-a-1");
  // Without the key this would be 409 (name is unique); with it, the first answer.
  EXPECT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(again.header("location"), first.header("location"));
  EXPECT_FALSE(first.header("location").empty());
  EXPECT_EQ(again.header("idempotent-replayed"), "true");
  EXPECT_EQ(count("SELECT count(*) FROM item"), 1);
  // The quoted form of the IETF draft (a structured-field string) is the same key.
  auto quoted = send(server.port(), "POST", "/api/v1/records/item", R"({"name": "a", "qty": 1})",
                     "\"create-a-1\"");
  EXPECT_EQ(quoted.status, 201) << quoted.body;
  EXPECT_EQ(quoted.body, first.body);
  EXPECT_EQ(count("SELECT count(*) FROM item"), 1);
  // Without a key, a duplicate is what it is.
  auto plain =
      send(server.port(), "POST", "/api/v1/records/item", R"({"name": "a", "qty": 1})", "");
  EXPECT_EQ(plain.status, 409) << plain.body;
}

TEST_F(Idempotency, TheSameKeyWithAnotherRequestIsRefused) {
  TestServer server(config, database.conninfo());
  ASSERT_EQ(send(server.port(), "POST", "/api/v1/records/item", R"({"name": "a"})", "k1").status,
            201);
  auto expect_reused = [&](const HttpReply& r, const std::string& what) {
    EXPECT_EQ(r.status, 422) << what << ": " << r.body;
    EXPECT_EQ(r.header("content-type"), "application/problem+json") << what;
    auto doc = parse(r.body);
    EXPECT_STREQ(doc["type"].GetString(), "urn:keel:problem:idempotency.key_reused") << what;
    EXPECT_TRUE(doc.HasMember("hint")) << what;
  };
  expect_reused(send(server.port(), "POST", "/api/v1/records/item", R"({"name": "b"})", "k1"),
                "another body");
  std::string id(conn->exec("SELECT id FROM item").get(0, 0));
  expect_reused(send(server.port(), "PATCH", "/api/v1/records/item/" + std::string(id),
                     R"({"name": "a"})", "k1"),
                "another method and path");
  EXPECT_EQ(count("SELECT count(*) FROM item"), 1);
  // Keys belong to their user: another user's k1 is another key.
  auto theirs =
      send(server.port(), "POST", "/api/v1/records/item", R"({"name": "b"})", "k1", other);
  EXPECT_EQ(theirs.status, 201) << theirs.body;
  EXPECT_EQ(count("SELECT count(*) FROM item"), 2);
}

TEST_F(Idempotency, ARetryOfAnUpdateDoesNotApplyItAgain) {
  TestServer server(config, database.conninfo());
  std::string id(conn->exec("INSERT INTO item (name, qty) VALUES ('a', 1) RETURNING id").get(0, 0));
  std::string target = "/api/v1/records/item/" + std::string(id);
  auto first = send(server.port(), "PATCH", target, R"({"qty": 2})", "u1");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(parse(first.body)["qty"].GetInt(), 2);
  // Someone else changes it meanwhile: the retry must not undo their change.
  ASSERT_EQ(send(server.port(), "PATCH", target, R"({"qty": 7})", "", other).status, 200);
  auto again = send(server.port(), "PATCH", target, R"({"qty": 2})", "u1");
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(again.header("idempotent-replayed"), "true");
  EXPECT_EQ(conn->exec("SELECT qty FROM item WHERE id = " + std::string(id)).get(0, 0), "7");
}

TEST_F(Idempotency, AFailedWriteLeavesItsKeyFree) {
  TestServer server(config, database.conninfo());
  auto bad = send(server.port(), "POST", "/api/v1/records/item", R"({"qty": "many"})", "k2");
  EXPECT_EQ(bad.status, 422) << bad.body;
  EXPECT_EQ(count("SELECT count(*) FROM base_idempotency_key"), 0);
  // The corrected request with the same key is a first request.
  auto good = send(server.port(), "POST", "/api/v1/records/item", R"({"name": "c"})", "k2");
  EXPECT_EQ(good.status, 201) << good.body;
  EXPECT_EQ(good.header("idempotent-replayed"), "");
  EXPECT_EQ(count("SELECT count(*) FROM item"), 1);
}

TEST_F(Idempotency, MalformedKeysAreRefused) {
  TestServer server(config, database.conninfo());
  for (const std::string& key : {std::string(256, 'k'), std::string("a b"), std::string("\"\"")}) {
    auto r = send(server.port(), "POST", "/api/v1/records/item", R"({"name": "d"})", key);
    EXPECT_EQ(r.status, 400) << key << ": " << r.body;
    EXPECT_STREQ(parse(r.body)["type"].GetString(), "urn:keel:problem:idempotency.invalid_key");
  }
  EXPECT_EQ(count("SELECT count(*) FROM item"), 0);
}

TEST_F(Idempotency, ConcurrentDuplicatesWriteOnce) {
  TestServer server(config, database.conninfo());
  // Hold the table so that the first request stops inside its transaction, holding its key:
  // the duplicates arriving meanwhile must wait for it, then replay its answer.
  auto holder = database.connect();
  holder.exec("BEGIN");
  holder.exec("LOCK TABLE item IN EXCLUSIVE MODE");
  constexpr int kClients = 4;
  std::vector<std::future<HttpReply>> replies;
  for (int i = 0; i < kClients; ++i)
    replies.push_back(std::async(std::launch::async, [&] {
      return send(server.port(), "POST", "/api/v1/records/item", R"({"name": "same"})", "dup");
    }));
  // Every request is now waiting in PostgreSQL: one on the table, the others on its key.
  auto waiting = [&] {
    return count(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
        "wait_event_type = 'Lock'");
  };
  for (int i = 0; i < 200 && waiting() < kClients; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(waiting(), kClients);
  holder.exec("COMMIT");
  std::string body;
  int replayed = 0;
  for (auto& f : replies) {
    auto r = f.get();
    EXPECT_EQ(r.status, 201) << r.body;
    if (body.empty()) body = r.body;
    EXPECT_EQ(r.body, body);
    replayed += r.header("idempotent-replayed") == "true";
  }
  EXPECT_EQ(replayed, kClients - 1);
  EXPECT_EQ(count("SELECT count(*) FROM item"), 1);
}

TEST_F(Idempotency, ADuplicateWaitsAtMostTenSecondsThenGets409) {
  TestServer server(config, database.conninfo());
  // A first request with the key that never ends: its claim is held by this transaction.
  auto holder = database.connect();
  holder.exec("BEGIN");
  holder.exec(
      "INSERT INTO base_idempotency_key (key, \"user\", request_hash, status, expires_at) "
      "VALUES ('" +
      std::to_string(clerk) + ":slow', " + std::to_string(clerk) +
      ", 'x', 0, now() + interval '1 hour')");
  auto t0 = std::chrono::steady_clock::now();
  auto r = send(server.port(), "POST", "/api/v1/records/item", R"({"name": "w"})", "slow");
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_STREQ(parse(r.body)["type"].GetString(), "urn:keel:problem:idempotency.in_progress");
  EXPECT_GE(waited, 9.5);
  EXPECT_LT(waited, 20.0);
  holder.exec("ROLLBACK");
  EXPECT_EQ(count("SELECT count(*) FROM item"), 0);
  // Once the first one is gone (rolled back), the key is free.
  auto again = send(server.port(), "POST", "/api/v1/records/item", R"({"name": "w"})", "slow");
  EXPECT_EQ(again.status, 201) << again.body;
}

// The acknowledgement is lost: the client sends a create and goes away before the answer. The
// write commits anyway; the client's retry with the same key gets that answer, not a second
// record.
TEST_F(Idempotency, ARetryAfterALostAnswerGetsTheCommittedOne) {
  TestServer server(config, database.conninfo());
  std::string body = R"({"name": "lost"})";
  std::string request =
      "POST /api/v1/records/item HTTP/1.1\r\nHost: localhost\r\n"
      "Authorization: Bearer " +
      testing::token_for(clerk) +
      "\r\nIdempotency-Key: lost-1\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(server.port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  ::close(fd);  // gone before the answer
  for (int i = 0; i < 250 && count("SELECT count(*) FROM item") == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(count("SELECT count(*) FROM item"), 1);
  auto retry = send(server.port(), "POST", "/api/v1/records/item", body, "lost-1");
  EXPECT_EQ(retry.status, 201) << retry.body;
  EXPECT_EQ(retry.header("idempotent-replayed"), "true");
  EXPECT_EQ(parse(retry.body)["id"].GetInt64(), count("SELECT id FROM item"));
  EXPECT_EQ(count("SELECT count(*) FROM item"), 1);
}

TEST_F(Idempotency, AnswersExpireAfterADay) {
  TestServer server(config, database.conninfo());
  ASSERT_EQ(send(server.port(), "POST", "/api/v1/records/item", R"({"name": "e"})", "k3").status,
            201);
  EXPECT_EQ(count("SELECT count(*) FROM base_idempotency_key WHERE expires_at BETWEEN now() + "
                  "interval '23 hours 59 minutes' AND now() + interval '24 hours'"),
            1);
  // The stored answer never leaves the server, not even for an administrator.
  auto admin = testing::create_user(*conn, "admin", {"base.admin"});
  auto listed = send(server.port(), "GET", "/api/v1/records/base_idempotency_key", "", "", admin);
  EXPECT_EQ(listed.body.find("response"), std::string::npos) << listed.body;
  EXPECT_EQ(listed.body.find("\"e\""), std::string::npos) << listed.body;
  conn->exec("UPDATE base_idempotency_key SET expires_at = now() - interval '1 second'");
  conn->exec("DELETE FROM item");
  auto later = send(server.port(), "POST", "/api/v1/records/item", R"({"name": "e"})", "k3");
  EXPECT_EQ(later.status, 201) << later.body;
  EXPECT_EQ(later.header("idempotent-replayed"), "");
  EXPECT_EQ(count("SELECT count(*) FROM item"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM base_idempotency_key"), 1);
}

}  // namespace
}  // namespace keel
