#include "support/test_server.hpp"

namespace keel::testing {

TestServer::TestServer(const Config& config, const std::string& conninfo,
                       http::ServerOptions options)
    : pool_(conninfo),
      api_(config, pool_),
      listener_(conninfo, "keel_modules", [this] { api_.reload_after_change(); }) {
  listener_.wait_ready();  // as `keel serve` does before it serves
  options.port = 0;
  options.handle_signals = false;
  if (options.threads == 0) options.threads = 4;
  options.on_thread = [this](boost::asio::io_context& loop, unsigned loops) {
    return api_.thread_resources(loop, loops);
  };
  server_ = std::make_unique<http::Server>(
      options, [this](http::Request& r) { return api_.dispatch(r); },
      [this](const http::Request& q, const http::Response& r, double s) { api_.observe(q, r, s); });
  port_ = server_->listen();
  thread_ = std::thread([this] { server_->run(); });
}

TestServer::~TestServer() {
  server_->stop();
  thread_.join();
}

}  // namespace keel::testing
