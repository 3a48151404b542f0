#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "app/error.hpp"

namespace keel::security {
struct Context;
}

namespace keel::http {

// An HTTP request as handlers see it: no Beast types, so that handlers compile fast.
struct Request {
  std::string method;
  std::string target;                                       // path and query, as received
  std::string path;                                         // URL-decoded path without the query
  std::map<std::string, std::string, std::less<>> query;    // URL-decoded parameters
  std::map<std::string, std::string, std::less<>> headers;  // names lowercased
  std::map<std::string, std::string, std::less<>> params;   // path parameters ({entity})
  std::string body;
  std::string request_id;
  std::string route;  // the matched route pattern, for logs and metrics
  // Who is asking: set by the API's authenticator before a route that needs a token runs.
  std::shared_ptr<const security::Context> caller;

  std::optional<std::string> query_value(std::string_view name) const;
  std::string_view header(std::string_view name) const;  // lowercase name; "" when absent
  const std::string& param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Work that must not run on an I/O thread (a password hash): the server runs it on its small
  // worker pool, lets the I/O thread serve other requests meanwhile, and answers with what it
  // returns (exceptions become problem+json as for any handler).
  std::function<Response()> deferred;
  // Work that holds a thread while it waits (a transaction on a pooled connection, whose commit
  // waits for the disk): runs on the server's pool of io_workers threads, so that the I/O
  // threads serve others meanwhile and many such waits overlap (PostgreSQL flushes the commits
  // of concurrent transactions together).
  std::function<Response()> blocking;
  // Work that waits (an asynchronous database query) without holding a thread: the server
  // calls `pending` with a Resume and serves other requests meanwhile; whoever finishes the
  // work calls the Resume once, from any thread, with the function that makes the answer,
  // which the server then runs on an I/O thread (exceptions become problem+json as for any
  // handler).
  using Resume = std::function<void(std::function<Response()>)>;
  std::function<void(Resume)> pending;

  static Response json(int status, std::string body);
  static Response defer(std::function<Response()> work);
  static Response block(std::function<Response()> work);
  static Response await(std::function<void(Resume)> start);
  // RFC 9457 problem+json. `type` is a stable code ("records.not_found").
  static Response problem(int status, std::string_view type, std::string_view title,
                          std::string_view detail,
                          const std::vector<std::pair<std::string, std::string>>& errors = {},
                          std::string_view hint = {});
};

// Decodes %XX and '+' (in query strings). Returns nullopt for a malformed escape.
std::optional<std::string> url_decode(std::string_view text, bool plus_is_space);

// Splits "a=1&b=2" into decoded pairs; a malformed escape makes the whole query invalid.
std::optional<std::map<std::string, std::string, std::less<>>> parse_query(std::string_view q);

// The reason phrase of a status ("Not Found").
std::string_view status_title(int status);

// The status of an answer to an error of `kind`: the one table of kinds to statuses (the CLI
// has its exit statuses, cli::exit_code_of).
int status_of(ErrorKind kind);
// The status of the answer to `error`: its kind's (a native module's errors too: the SDK has
// the same kinds).
int status_of(const Error& error);

// problem+json for an error that reaches a handler's boundary: status_of(error), its code,
// message (followed by its detail in parentheses when it has one), field errors and hint;
// Retry-After on 503.
Response problem_of(const Error& error);

}  // namespace keel::http
