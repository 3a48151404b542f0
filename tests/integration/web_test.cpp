// `keel serve` serving the web client's build (server.web_root) over real HTTP: the SPA
// fallback, caching headers, content types, refused traversal, and /api/v1 left as it was.
#include <gtest/gtest.h>

#include <filesystem>

#include "app/config.hpp"
#include "support/addon_tree.hpp"
#include "support/auth.hpp"
#include "support/fixture.hpp"
#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/test_server.hpp"

namespace keel::http {
namespace {

using testing::http_raw;
using testing::http_request;

class Web : public ::testing::Test, protected testing::AddonsFixture {
 protected:
  void SetUp() override {
    files.write("dist/index.html", "<!doctype html><title>Keel</title>");
    files.write("dist/assets/index-3f2a1b.js", "console.log('keel')");
    files.write("dist/assets/index-3f2a1b.css", "body{}");
    files.write("dist/favicon.svg", "<svg/>");
    files.write("secret.txt", "outside the web root");
    std::filesystem::create_symlink(files.path() / "secret.txt",
                                    files.path() / "dist" / "leak.txt");
    config.addons_path = {};
    config.web_root = files.path() / "dist";
    install({"base"});
  }
  testing::AddonTree files;
};

TEST_F(Web, ServesTheClientWithFallbackAndCaching) {
  testing::TestServer server(config, database.conninfo());
  auto index = http_request(server.port(), "GET", "/");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.body, "<!doctype html><title>Keel</title>");
  EXPECT_EQ(index.header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(index.header("cache-control"), "no-cache");
  EXPECT_NE(index.header("content-security-policy").find("default-src 'self'"), std::string::npos);

  // A route of the client (a deep link) loads index.html.
  auto deep = http_request(server.port(), "GET", "/a/sales.orders/12?page=2");
  EXPECT_EQ(deep.status, 200);
  EXPECT_EQ(deep.body, index.body);
  EXPECT_EQ(deep.header("cache-control"), "no-cache");

  auto js = http_request(server.port(), "GET", "/assets/index-3f2a1b.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.body, "console.log('keel')");
  EXPECT_EQ(js.header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(js.header("cache-control"), "public, max-age=31536000, immutable");
  auto css = http_request(server.port(), "GET", "/assets/index-3f2a1b.css");
  EXPECT_EQ(css.header("content-type"), "text/css; charset=utf-8");
  auto svg = http_request(server.port(), "GET", "/favicon.svg");
  EXPECT_EQ(svg.header("content-type"), "image/svg+xml");
  EXPECT_EQ(svg.header("cache-control"), "no-cache");

  auto head = http_request(server.port(), "HEAD", "/assets/index-3f2a1b.js");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());

  // A missing file of the build is 404, not the application.
  EXPECT_EQ(http_request(server.port(), "GET", "/assets/gone-123.js").status, 404);
  EXPECT_EQ(http_request(server.port(), "POST", "/").status, 405);
}

TEST_F(Web, RefusesPathsOutsideTheRoot) {
  testing::TestServer server(config, database.conninfo());
  for (const char* target : {"/../secret.txt", "/%2e%2e/secret.txt", "/assets/%2E%2E/../secret.txt",
                             "/assets/..%2f..%2fsecret.txt", "/leak.txt"}) {
    auto reply = http_raw(server.port(), std::string("GET ") + target +
                                             " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_NE(reply.status, 200) << target;
    EXPECT_EQ(reply.body.find("outside the web root"), std::string::npos) << target;
  }
}

TEST_F(Web, ApiIsUnaffected) {
  testing::TestServer server(config, database.conninfo());
  auto health = http_request(server.port(), "GET", "/api/v1/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.header("content-type"), "application/json");
  auto missing = http_request(server.port(), "GET", "/api/v1/nope/deeper");
  EXPECT_EQ(missing.status, 401);  // needs a token, as before: never index.html
  auto conn = database.connect();
  auto token = testing::token_for(testing::create_user(conn, "admin", {"base.admin"}));
  auto unknown = http_request(server.port(), "GET", "/api/v1/nope", "",
                              {{"Authorization", "Bearer " + token}});
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.header("content-type"), "application/problem+json");
}

TEST_F(Web, WithoutAWebRootOnlyTheApiAnswers) {
  config.web_root.clear();
  testing::TestServer server(config, database.conninfo());
  EXPECT_EQ(http_request(server.port(), "GET", "/").status, 404);
  EXPECT_EQ(http_request(server.port(), "GET", "/api/v1/healthz").status, 200);
}

}  // namespace
}  // namespace keel::http
