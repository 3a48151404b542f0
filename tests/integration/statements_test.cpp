// Reads by id and creates that are one statement run on the server's pipelines with statements
// built once per entity, fields and caller: over real HTTP, each caller still gets what its
// own rules give (the user's id is part of what a reused statement depends on), a create that
// breaks a create rule keeps nothing, and answers write datetimes as RFC 3339 in UTC.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <regex>
#include <string>

#include "support/addon_tree.hpp"
#include "support/auth.hpp"
#include "support/fixture.hpp"
#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/test_server.hpp"

namespace keel {
namespace {

using testing::bearer;
using testing::http_request;
using testing::HttpReply;

// A writer reads the memos it wrote, and creates only memos whose title starts with "ok".
constexpr const char* kManifest = R"(name: memos
version: 1.0.0
depends: [base]
entities: [entities.yaml]
security: [security.yaml]
)";
constexpr const char* kEntities = R"(entities:
  memo:
    fields:
      title: {type: string, required: true}
      due:   {type: datetime}
)";
constexpr const char* kSecurity = R"(roles:
  writer: {label: Writer, implies: [base.user]}
access:
  - {entity: memo, role: writer, read: true, create: true}
rules:
  - {entity: memo, role: writer, operations: [read], filter: {created_by: $user.id}}
  - {entity: memo, role: writer, operations: [create], filter: {title: {like: "ok%"}}}
)";

class Statements : public ::testing::Test, protected testing::AddonsFixture {
 protected:
  void SetUp() override {
    tree.write("memos/manifest.yaml", kManifest);
    tree.write("memos/entities.yaml", kEntities);
    tree.write("memos/security.yaml", kSecurity);
    install({"memos"});
    alice_id = testing::create_user(*conn, "alice", {"memos.writer"});
    alice = testing::token_for(alice_id);
    bob = testing::token_for(testing::create_user(*conn, "bob", {"memos.writer"}));
    server = std::make_unique<testing::TestServer>(config, database.conninfo());
  }

  HttpReply call(const std::string& token, const std::string& method, const std::string& path,
                 const std::string& body = {}) {
    auto headers = bearer(token);
    if (!body.empty()) headers["Content-Type"] = "application/json";
    return http_request(server->port(), method, "/api/v1" + path, body, headers);
  }

  std::int64_t count(const std::string& title) {
    return conn->exec("SELECT count(*) FROM memo WHERE title = $1", db::Params().add(title))
        .get_int(0, 0);
  }

  std::unique_ptr<testing::TestServer> server;
  std::int64_t alice_id = 0;
  std::string alice, bob;
};

TEST_F(Statements, ACreateThatBreaksACreateRuleKeepsNothing) {
  auto refused = call(alice, "POST", "/records/memo", R"({"title": "no thanks"})");
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_NE(refused.body.find("security.rule"), std::string::npos) << refused.body;
  EXPECT_EQ(count("no thanks"), 0);

  auto made = call(alice, "POST", "/records/memo",
                   R"({"title": "ok then", "due": "2026-03-01T10:30:00+02:00"})");
  ASSERT_EQ(made.status, 201) << made.body;
  EXPECT_EQ(count("ok then"), 1);
  rapidjson::Document d;
  d.Parse(made.body.c_str());
  ASSERT_TRUE(d.IsObject()) << made.body;
  EXPECT_EQ(made.header("location"), "/api/v1/records/memo/" + std::to_string(d["id"].GetInt64()));
  EXPECT_EQ(d["created_by"].GetInt64(), alice_id);
  // Datetimes in UTC, RFC 3339, whatever offset they were written with.
  EXPECT_STREQ(d["due"].GetString(), "2026-03-01T08:30:00Z");
  EXPECT_TRUE(std::regex_match(d["created_at"].GetString(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z)")))
      << d["created_at"].GetString();
  // The same statement again (built once), refused again for another title.
  EXPECT_EQ(call(alice, "POST", "/records/memo", R"({"title": "nope"})").status, 403);
  EXPECT_EQ(call(alice, "POST", "/records/memo", R"({"title": "ok again"})").status, 201);
  EXPECT_EQ(count("nope"), 0);
}

TEST_F(Statements, AReusedReadStatementStillAnswersForItsOwnCaller) {
  auto a = call(alice, "POST", "/records/memo", R"({"title": "ok alice"})");
  auto b = call(bob, "POST", "/records/memo", R"({"title": "ok bob"})");
  ASSERT_EQ(a.status, 201) << a.body;
  ASSERT_EQ(b.status, 201) << b.body;
  std::string alices = a.header("location").substr(7), bobs = b.header("location").substr(7);
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(call(alice, "GET", alices).status, 200) << round;
    EXPECT_EQ(call(alice, "GET", bobs).status, 404) << round;
    EXPECT_EQ(call(bob, "GET", bobs).status, 200) << round;
    EXPECT_EQ(call(bob, "GET", alices).status, 404) << round;
    auto title = call(bob, "GET", bobs + "?fields=title");
    EXPECT_EQ(title.body, R"({"id":)" + bobs.substr(bobs.rfind('/') + 1) + R"(,"title":"ok bob"})");
  }
}

}  // namespace
}  // namespace keel
