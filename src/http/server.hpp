#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "http/message.hpp"

namespace boost::asio {
class io_context;
}

namespace keel::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: any free port (see Server::port())
  unsigned threads = 0;       // I/O threads; 0: one per core
  std::size_t body_limit = 1 << 20;
  std::size_t header_limit = 16 << 10;
  // A connection waits at most idle_timeout for the first byte of a request (between requests
  // of a keep-alive connection too), then read_timeout from that byte for the whole request,
  // headers and body: a client that sends its headers byte by byte is cut after read_timeout.
  std::chrono::seconds idle_timeout{30};
  std::chrono::seconds read_timeout{30};
  // Open connections at most; beyond, a new connection is answered 503 (Retry-After) and closed.
  // Lowered at listen() to what the process's open-file limit allows, with a warning.
  std::size_t max_connections = 10000;
  std::chrono::seconds drain_timeout{30};  // graceful shutdown: in-flight requests finish
  bool handle_signals = true;              // SIGINT/SIGTERM start a graceful shutdown
  // Deferred work (Response::defer: password hashing) runs on this many worker threads, never
  // on an I/O thread; beyond `max_deferred` waiting or running, requests get 503.
  unsigned workers = 2;
  std::size_t max_deferred = 64;
  // Blocking work (Response::block: writes in a transaction) runs on this many threads; the
  // database pool should hold as many connections.
  unsigned io_workers = 32;
  // Origins allowed to call from a browser (CORS); empty: none (no CORS headers at all).
  // "*" allows every origin.
  std::vector<std::string> cors_origins;
  // Reverse proxies (exact IP addresses) whose X-Forwarded-For names the client: the client is
  // the rightmost address of that header that is not one of them. From anyone else the header
  // is ignored. The client's address is the request's x-remote-address (access log, login
  // throttling).
  std::vector<std::string> trusted_proxies;
  // Strict-Transport-Security max-age in seconds; 0: not sent (only behind HTTPS).
  std::int64_t hsts_max_age = 0;
  // Called on each I/O thread, with the thread's own event loop and the number of loops, before
  // it serves; what it returns is released on that thread after the loop stopped (before the
  // loop is destroyed). For resources a thread's requests share without locks (pipelines).
  std::function<std::shared_ptr<void>(boost::asio::io_context&, unsigned loops)> on_thread;
};

// Called for every request (on an I/O thread) and for every answered request (access log,
// metrics): (request, response, seconds).
using Dispatch = std::function<Response(Request&)>;
using Observer = std::function<void(const Request&, const Response&, double)>;

// HTTP/1.1 server (Boost.Beast on C++20 coroutines): keep-alive, limits on body and header
// size (413, 431), read timeouts, problem+json for malformed requests, graceful shutdown (stop
// accepting, let in-flight requests finish, close idle connections). Beast stays inside
// server.cpp; this header is cheap to include.
//
// Each I/O thread runs an event loop of its own, and a connection lives on one loop from its
// accept to its close: a request is read, dispatched and answered on one thread, without locks
// or wake-ups of other threads (unless its work runs elsewhere: Response::block, ::defer).
class Server {
 public:
  Server(ServerOptions options, Dispatch dispatch, Observer observer = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens (throws keel::Error when the address is taken); returns the bound port.
  std::uint16_t listen();
  // Serves until stop() or a signal; returns after every in-flight request finished.
  void run();
  // Starts a graceful shutdown; thread-safe, callable from any thread.
  void stop();
  std::uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::http
