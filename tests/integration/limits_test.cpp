// Client JSON past its limits over real HTTP (docs/configuration.md "[limits]"): deep nesting
// answered 400/422 naming the limit, never a crash or a 500, and the server serving on; values
// that JSON numbers hold beyond a double kept exactly.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>

#include "app/json.hpp"
#include "support/addon_tree.hpp"
#include "support/auth.hpp"
#include "support/fixture.hpp"
#include "support/http_client.hpp"
#include "support/json.hpp"
#include "support/pg.hpp"
#include "support/test_server.hpp"

namespace keel::http {
namespace {

using testing::TestServer;

// `levels` arrays inside one another around `inner`: [[[...inner...]]].
std::string nested(int levels, const std::string& inner = "1") {
  std::string out;
  out.reserve(static_cast<size_t>(levels) * 2 + inner.size());
  out.append(static_cast<size_t>(levels), '[');
  out += inner;
  out.append(static_cast<size_t>(levels), ']');
  return out;
}

class Limits : public ::testing::Test, protected testing::AddonsFixture {
 protected:
  void SetUp() override {
    tree.write("lab/manifest.yaml",
               "name: lab\nversion: 1.0.0\ndepends: [base]\nentities: [e.yaml]\nviews: [v.yaml]\n");
    tree.write("lab/v.yaml", R"(views:
  - id: sample_form
    entity: sample
    type: form
    arch:
      - {field: name}
)");
    tree.write("lab/e.yaml", R"(entities:
  sample:
    fields:
      name:   {type: string, max_length: 32}
      data:   {type: json}
      amount: {type: decimal, precision: 30, scale: 2}
      parent: {type: many2one, target: sample}
)");
    install({"lab"});
    token = testing::token_for(testing::create_user(*conn, "admin", {"base.admin"}));
  }

  testing::HttpReply call(const TestServer& server, const std::string& method,
                          const std::string& target, const std::string& body = {}) {
    return testing::http_request(server.port(), method, target, body,
                                 {{"Authorization", "Bearer " + token}});
  }

  // The server still answers after a hostile request.
  void expect_serving(const TestServer& server) {
    EXPECT_EQ(testing::http_request(server.port(), "GET", "/api/v1/healthz").status, 200);
  }

  static std::string type_of(const testing::HttpReply& reply) {
    auto doc = testing::parse_json(reply.body);
    return doc.IsObject() && doc.HasMember("type") ? doc["type"].GetString() : "";
  }

  std::string token;
};

TEST_F(Limits, DeepLoginAndRefreshBodiesAnswer400WithoutAToken) {
  TestServer server(config, database.conninfo());
  const std::string deep = nested(200000);
  auto login = testing::http_request(server.port(), "POST", "/api/v1/auth/login",
                                     R"({"login": )" + deep + R"(, "password": "x"})");
  EXPECT_EQ(login.status, 400) << login.body.substr(0, 300);
  EXPECT_EQ(login.header("content-type"), "application/problem+json");
  EXPECT_NE(type_of(login).find("limits.json_depth"), std::string::npos) << login.body;
  // The problem says what to do about it (contract §5: problem+json carries `hint`).
  EXPECT_TRUE(testing::parse_json(login.body).HasMember("hint")) << login.body;
  auto refresh = testing::http_request(server.port(), "POST", "/api/v1/auth/refresh",
                                       R"({"refresh_token": )" + deep + "}");
  EXPECT_EQ(refresh.status, 400) << refresh.body.substr(0, 300);
  EXPECT_NE(type_of(refresh).find("limits.json_depth"), std::string::npos);
  expect_serving(server);
}

TEST_F(Limits, DeepJsonFieldValuesAnswer400Or422AndNeverReachPostgreSQL) {
  TestServer server(config, database.conninfo());
  // Far past every limit: refused while parsing.
  for (int levels : {100000, 50000, 15000}) {
    auto created =
        call(server, "POST", "/api/v1/records/sample", R"({"data": )" + nested(levels) + "}");
    EXPECT_EQ(created.status, 400) << levels << ": " << created.body.substr(0, 300);
    EXPECT_NE(type_of(created).find("limits.json_depth"), std::string::npos) << created.body;
    auto patched = call(server, "PATCH", "/api/v1/records/sample/987654",
                        R"({"data": )" + nested(levels) + "}");
    EXPECT_EQ(patched.status, 400) << levels << ": " << patched.body.substr(0, 300);
  }
  // Past the json value limit but within what a body may hold: 422 naming the field.
  const int over = json::limits().value_depth + 1;
  auto created =
      call(server, "POST", "/api/v1/records/sample", R"({"data": )" + nested(over) + "}");
  ASSERT_EQ(created.status, 422) << created.body.substr(0, 300);
  auto problem = testing::parse_json(created.body);
  EXPECT_NE(std::string(problem["type"].GetString()).find("limits.json_value_depth"),
            std::string::npos);
  ASSERT_TRUE(problem["errors"].IsArray());
  EXPECT_EQ(std::string(problem["errors"][0]["field"].GetString()), "data");
  // At the limit: stored and answered as it was sent.
  const std::string deepest = nested(json::limits().value_depth);
  auto kept = call(server, "POST", "/api/v1/records/sample", R"({"data": )" + deepest + "}");
  ASSERT_EQ(kept.status, 201) << kept.body.substr(0, 300);
  auto record = testing::parse_json(kept.body);
  auto read =
      call(server, "GET",
           "/api/v1/records/sample/" + std::to_string(record["id"].GetInt64()) + "?fields=data");
  ASSERT_EQ(read.status, 200);
  EXPECT_NE(read.body.find(deepest), std::string::npos);
  expect_serving(server);
}

TEST_F(Limits, NumbersKeepEveryDigitInJsonAndDecimalFields) {
  TestServer server(config, database.conninfo());
  auto created = call(server, "POST", "/api/v1/records/sample",
                      R"({"data": {"big": 123456789012345678901234567890, "x": 0.1},
                          "amount": 1234567890123456789012345678.91})");
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_NE(created.body.find("123456789012345678901234567890"), std::string::npos) << created.body;
  EXPECT_NE(created.body.find(R"("amount":"1234567890123456789012345678.91")"), std::string::npos)
      << created.body;
  auto conn = database.connect();
  auto r = conn.exec(
      "SELECT (data->>'big') = '123456789012345678901234567890', amount::text FROM sample");
  EXPECT_EQ(r.get(0, 0), "t");
  EXPECT_EQ(r.get(0, 1), "1234567890123456789012345678.91");
}

TEST_F(Limits, NulInsideAJsonValueIs422) {
  TestServer server(config, database.conninfo());
  auto created = call(server, "POST", "/api/v1/records/sample", R"({"data": {"a": "x\u0000y"}})");
  EXPECT_EQ(created.status, 422) << created.body;
  expect_serving(server);
}

TEST_F(Limits, FiltersRefuseDeepNestingDuplicateKeysLongPathsAndTooManyValues) {
  TestServer server(config, database.conninfo());
  auto list = [&](const std::string& filter) {
    return call(server, "GET", "/api/v1/records/sample?filter=" + testing::url_encode(filter));
  };
  // {"and": [{"and": [ ... ]}]}: two levels each, past the 64 of a request's structure.
  std::string deep;
  for (int i = 0; i < 40; ++i)
    deep += R"({"and": [)";
  deep += R"({"name": "x"})";
  for (int i = 0; i < 40; ++i)
    deep += "]}";
  auto too_deep = list(deep);
  EXPECT_EQ(too_deep.status, 400);
  EXPECT_NE(type_of(too_deep).find("limits.json_depth"), std::string::npos) << too_deep.body;

  auto twice = list(R"({"name": {"eq": "a"}, "name": {"eq": "b"}})");
  EXPECT_EQ(twice.status, 400) << twice.body;
  EXPECT_NE(twice.body.find("given twice"), std::string::npos) << twice.body;
  auto twice_op = list(R"({"name": {"eq": "a", "eq": "b"}})");
  EXPECT_EQ(twice_op.status, 400) << twice_op.body;

  std::string path = "parent";
  for (int i = 0; i < 20; ++i)
    path += ".parent";
  auto long_path = list(R"({")" + path + R"(.name": "x"})");
  EXPECT_EQ(long_path.status, 400) << long_path.body;
  EXPECT_NE(type_of(long_path).find("limits.path_depth"), std::string::npos) << long_path.body;

  // Too long for a request line: refused by the server before any parsing, never a 500.
  std::string many = R"({"or": [)";
  for (int i = 0; i < 70000; ++i)
    many += std::string(i ? "," : "") + R"({"name": "n"})";
  many += "]}";
  auto too_many = list(many);
  EXPECT_GE(too_many.status, 400) << too_many.body.substr(0, 300);
  EXPECT_LT(too_many.status, 500) << too_many.body.substr(0, 300);
  expect_serving(server);
}

TEST_F(Limits, DeepViewCustomisationIs400) {
  TestServer server(config, database.conninfo());
  std::string node;
  for (int i = 0; i < 10000; ++i)
    node += R"({"component": "group", "children": [)";
  node += R"({"field": "name"})";
  for (int i = 0; i < 10000; ++i)
    node += "]}";
  auto put = call(server, "PUT", "/api/v1/ui/views/lab.sample_form",
                  R"({"entity": "sample", "type": "form", "arch": [)" + node + "]}");
  EXPECT_EQ(put.status, 400) << put.body.substr(0, 300);
  expect_serving(server);
}

}  // namespace
}  // namespace keel::http
