#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.hpp"

namespace keel::http {

using Handler = std::function<Response(Request&)>;

// Routes by method and path pattern ("/api/v1/records/{entity}/{id}"): literal segments match
// exactly, `{name}` segments match one non-empty segment and land in Request::params. Routes
// are tried in the order they were added.
//
// A handler added with add() may block (a pooled connection, a transaction, native code): it
// runs on the server's io_workers (Response::block), never on an I/O thread, which serves many
// connections. add_inline() is for handlers that never wait: they run on the I/O thread, and may
// return Response::await, Response::block or Response::defer themselves.
class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler);
  void add_inline(std::string method, std::string pattern, Handler handler);

  // Fills request.params and request.route and calls the handler; 404 when no pattern
  // matches the path, 405 (with Allow) when one matches but not with this method.
  Response dispatch(Request& request) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
    bool runs_inline = false;
  };
  void add_route(std::string method, std::string pattern, Handler handler, bool runs_inline);
  static bool match(const Route& route, const std::vector<std::string_view>& parts,
                    Request* request);
  std::vector<Route> routes_;
};

}  // namespace keel::http
