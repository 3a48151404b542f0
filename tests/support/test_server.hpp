#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "app/config.hpp"
#include "db/listener.hpp"
#include "db/pool.hpp"
#include "http/api.hpp"
#include "http/server.hpp"

namespace keel::testing {

// One `keel serve` in the test process: an Api over a pool, a Server on a free port, the
// listener that reloads the registry on module changes. Give `config` a secret
// (kTestSecret) so that no var/secret is written.
class TestServer {
 public:
  TestServer(const Config& config, const std::string& conninfo, http::ServerOptions options = {});
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::uint16_t port() const { return port_; }
  http::Api& api() { return api_; }

 private:
  db::Pool pool_;
  http::Api api_;
  db::Listener listener_;
  std::unique_ptr<http::Server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace keel::testing
