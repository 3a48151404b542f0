#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <thread>

#include "db/listener.hpp"
#include "db/pool.hpp"
#include "http/api.hpp"
#include "http/server.hpp"
#include "support/addon_tree.hpp"
#include "support/auth.hpp"
#include "support/fixture.hpp"
#include "support/http_client.hpp"
#include "support/json.hpp"
#include "support/pg.hpp"
#include "support/test_server.hpp"

namespace keel::http {
namespace {

using testing::http_raw;
using testing::url_encode;

constexpr auto parse = testing::parse_json;

using testing::TestServer;

// Every route but a few needs a token: requests of these tests carry the administrator's, which
// the fixture mints (testing::http_request sends none).
std::string admin_token;
testing::HttpReply http_request(std::uint16_t port, const std::string& method,
                                const std::string& target, const std::string& body = {},
                                std::map<std::string, std::string> headers = {}) {
  headers.emplace("Authorization", "Bearer " + admin_token);
  return testing::http_request(port, method, target, body, headers);
}

class Http : public ::testing::Test, protected testing::AddonsFixture {
 protected:
  void SetUp() override {
    tree.write("shop/manifest.yaml",
               "name: shop\nversion: 1.0.0\ndepends: [base]\nentities: [e.yaml]\n");
    tree.write("shop/e.yaml", R"(entities:
  partner:
    fields:
      name:  {type: string, max_length: 32, required: true, unique: true}
      city:  {type: string, max_length: 40}
  order:
    fields:
      ref:     {type: string, max_length: 16, required: true}
      partner: {type: many2one, target: partner, required: true}
)");
    use_fixture("shop_extra");  // `extra`, a module over shop, not installed here
    install({"shop"});
    admin_token = testing::token_for(testing::create_user(*conn, "admin", {"base.admin"}));
  }
};

TEST_F(Http, StatusPathsAreProblemJson) {
  TestServer server(config, database.conninfo());
  auto health = http_request(server.port(), "GET", "/api/v1/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_FALSE(health.header("x-request-id").empty());

  auto missing = http_request(server.port(), "GET", "/api/v1/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.header("content-type"), "application/problem+json");
  auto problem = parse(missing.body);
  EXPECT_EQ(problem["status"].GetInt(), 404);
  EXPECT_TRUE(problem.HasMember("type") && problem.HasMember("title") &&
              problem.HasMember("detail"));

  auto method = http_request(server.port(), "PUT", "/api/v1/healthz");
  EXPECT_EQ(method.status, 405);
  EXPECT_EQ(method.header("allow"), "GET");

  auto bad_url = http_request(server.port(), "GET", "/api/v1/records/partner?filter=%zz");
  EXPECT_EQ(bad_url.status, 400);

  auto garbage = http_raw(server.port(), "NOT HTTP AT ALL\r\n\r\n");
  EXPECT_EQ(garbage.status, 400);

  auto bad_json = http_request(server.port(), "POST", "/api/v1/records/partner", "{\"name\": ");
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_EQ(bad_json.header("content-type"), "application/problem+json");

  auto unknown_entity = http_request(server.port(), "GET", "/api/v1/records/nothing");
  EXPECT_EQ(unknown_entity.status, 404);
}

// Answers are framed by the server alone: two requests on one connection (HTTP/1.1
// keep-alive), the second a HEAD, give two answers, each with one Content-Length, the HEAD's
// without a body.
TEST_F(Http, AnswersAreFramedForKeepAlive) {
  testing::TestServer server(config, database.conninfo());
  std::string data = testing::http_exchange(
      server.port(),
      "GET /api/v1/healthz HTTP/1.1\r\nHost: x\r\n\r\n"
      "HEAD /api/v1/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  size_t first = data.find("\r\n\r\n");
  ASSERT_NE(first, std::string::npos) << data;
  std::string body = R"({"status":"ok","database":"ok"})";
  EXPECT_EQ(data.substr(first + 4, body.size()), body);
  std::string second = data.substr(first + 4 + body.size());
  EXPECT_EQ(second.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << data;
  EXPECT_NE(second.find("Content-Length: " + std::to_string(body.size()) + "\r\n"),
            std::string::npos)
      << second;
  EXPECT_NE(second.find("Connection: close\r\n"), std::string::npos) << second;
  EXPECT_EQ(second.substr(second.size() - 4), "\r\n\r\n") << "a HEAD answer has no body";
  for (const std::string& answer : {data.substr(0, first), second}) {
    size_t lengths = 0;
    for (size_t at = answer.find("Content-Length:"); at != std::string::npos;
         at = answer.find("Content-Length:", at + 1))
      ++lengths;
    EXPECT_EQ(lengths, 1u) << answer;
  }
}

// database.read_connections and database.write_connections set the pipelines' connections,
// shared out over the I/O threads and opened when a thread starts.
TEST_F(Http, PipelineConnectionsFollowTheConfiguration) {
  auto conn = database.connect();
  auto open = [&] {
    return conn.exec("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        .get_int(0, 0);
  };
  auto started = [&](unsigned reads, unsigned writes) {
    config.read_connections = reads;
    config.write_connections = writes;
    http::ServerOptions options;
    options.threads = 2;
    auto server = std::make_unique<TestServer>(config, database.conninfo(), options);
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(http_request(server->port(), "GET", "/api/v1/healthz").status, 200);
    return server;
  };
  // The pipelines open their connections in the background, after the server answers: the
  // count once it has not moved for half a second.
  auto steady = [&] {
    std::int64_t last = open();
    for (int still = 0, i = 0; still < 10 && i < 200; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      std::int64_t now = open();
      still = now == last ? still + 1 : 0;
      last = now;
    }
    return last;
  };
  const std::int64_t before = open();
  // The backends of a stopped server take a moment to end.
  auto settled = [&] {
    for (int i = 0; i < 100 && open() != before; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return open() == before;
  };
  std::int64_t small = 0, large = 0;
  {
    auto server = started(2, 2);  // one read and one write connection per thread
    small = steady();
  }
  ASSERT_TRUE(settled());
  {
    auto server = started(4, 8);  // two and four per thread
    large = steady();
  }
  EXPECT_EQ(large - small, (4 + 8) - (2 + 2));
}

TEST_F(Http, BodyAndHeaderLimits) {
  ServerOptions options;
  options.body_limit = 1024;
  options.header_limit = 2048;
  TestServer server(config, database.conninfo(), options);
  auto big = http_request(server.port(), "POST", "/api/v1/records/partner",
                          "{\"name\": \"" + std::string(4000, 'x') + "\"}");
  EXPECT_EQ(big.status, 413);
  auto headers = http_request(server.port(), "GET", "/api/v1/healthz", "",
                              {{"X-Big", std::string(4000, 'h')}});
  EXPECT_EQ(headers.status, 431);
}

TEST_F(Http, RecordsRoundTrip) {
  TestServer server(config, database.conninfo());
  auto created = http_request(server.port(), "POST", "/api/v1/records/partner",
                              R"({"name": "ACME", "city": "Paris"})");
  ASSERT_EQ(created.status, 201) << created.body;
  auto record = parse(created.body);
  std::int64_t id = record["id"].GetInt64();
  EXPECT_EQ(created.header("location"), "/api/v1/records/partner/" + std::to_string(id));

  auto dup = http_request(server.port(), "POST", "/api/v1/records/partner", R"({"name": "ACME"})");
  EXPECT_EQ(dup.status, 409) << dup.body;
  auto invalid = http_request(server.port(), "POST", "/api/v1/records/partner", R"({"city": 5})");
  EXPECT_EQ(invalid.status, 422) << invalid.body;
  EXPECT_TRUE(parse(invalid.body).HasMember("errors"));

  auto list =
      http_request(server.port(), "GET",
                   "/api/v1/records/partner?filter=" + url_encode(R"({"city": {"eq": "Paris"}})") +
                       "&sort=-name");
  ASSERT_EQ(list.status, 200) << list.body;
  auto page = parse(list.body);
  EXPECT_EQ(page["total"].GetInt(), 1);
  EXPECT_EQ(std::string(page["data"][0]["name"].GetString()), "ACME");

  auto order = http_request(server.port(), "POST", "/api/v1/records/order",
                            R"({"ref": "SO1", "partner": )" + std::to_string(id) + "}");
  ASSERT_EQ(order.status, 201) << order.body;
  auto expanded =
      http_request(server.port(), "GET", "/api/v1/records/order?fields=ref,partner.name");
  ASSERT_EQ(expanded.status, 200) << expanded.body;
  EXPECT_EQ(std::string(parse(expanded.body)["data"][0]["partner"]["name"].GetString()), "ACME");

  auto restricted =
      http_request(server.port(), "DELETE", "/api/v1/records/partner/" + std::to_string(id));
  EXPECT_EQ(restricted.status, 409) << restricted.body;

  auto patched =
      http_request(server.port(), "PATCH", "/api/v1/records/partner/" + std::to_string(id),
                   R"({"city": "Lyon"})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(std::string(parse(patched.body)["city"].GetString()), "Lyon");

  auto order_id = parse(order.body)["id"].GetInt64();
  EXPECT_EQ(
      http_request(server.port(), "DELETE", "/api/v1/records/order/" + std::to_string(order_id))
          .status,
      204);
  EXPECT_EQ(http_request(server.port(), "GET", "/api/v1/records/order/" + std::to_string(order_id))
                .status,
            404);
  // Injection through the filter key and value: bound or rejected, never executed.
  auto injection = http_request(
      server.port(), "GET",
      "/api/v1/records/partner?filter=" +
          url_encode(
              R"({"name\"; DROP TABLE partner; --": {"eq": "x'); DROP TABLE partner; --"}})"));
  EXPECT_EQ(injection.status, 400);
  auto still = http_request(server.port(), "GET", "/api/v1/records/partner");
  EXPECT_EQ(parse(still.body)["total"].GetInt(), 1);

  auto metrics = http_request(server.port(), "GET", "/api/v1/metrics");
  EXPECT_NE(metrics.body.find("keel_http_requests_total{route=\"/api/v1/records/{entity}\""),
            std::string::npos);
  EXPECT_NE(metrics.body.find("keel_http_request_duration_seconds_bucket"), std::string::npos);
}

TEST_F(Http, HotInstallSwapsRegistryAndReachesTheOtherServer) {
  TestServer a(config, database.conninfo());
  TestServer b(config, database.conninfo());
  auto before = http_request(a.port(), "GET", "/api/v1/openapi.json");
  ASSERT_EQ(before.status, 200);
  EXPECT_EQ(before.body.find("\"gift\""), std::string::npos);
  EXPECT_EQ(http_request(a.port(), "GET", "/api/v1/records/gift").status, 404);

  auto install = http_request(a.port(), "POST", "/api/v1/modules/extra/install");
  ASSERT_EQ(install.status, 200) << install.body;
  EXPECT_NE(install.body.find("extra"), std::string::npos);
  // The next request on the same server sees the new registry.
  EXPECT_EQ(http_request(a.port(), "GET", "/api/v1/records/gift").status, 200);
  EXPECT_NE(http_request(a.port(), "GET", "/api/v1/openapi.json").body.find("gift"),
            std::string::npos);
  // The other server learns it through LISTEN/NOTIFY within a second.
  bool seen = false;
  for (int i = 0; i < 20 && !seen; ++i) {
    seen = http_request(b.port(), "GET", "/api/v1/records/gift").status == 200;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(seen);
  auto unknown = http_request(a.port(), "POST", "/api/v1/modules/nope/install");
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  auto modules = http_request(a.port(), "GET", "/api/v1/modules");
  EXPECT_NE(modules.body.find("\"installed\""), std::string::npos);
}

}  // namespace
}  // namespace keel::http
