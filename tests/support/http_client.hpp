#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace keel::testing {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// A minimal blocking HTTP/1.1 client over a loopback socket (one request per connection), so
// that tests speak real HTTP to the server. `raw` sends bytes as they are.
HttpReply http_request(std::uint16_t port, const std::string& method, const std::string& target,
                       const std::string& body = {},
                       const std::map<std::string, std::string>& headers = {});
HttpReply http_raw(std::uint16_t port, const std::string& bytes);
// Sends bytes as they are and returns every byte the server sent until it closed.
std::string http_exchange(std::uint16_t port, const std::string& bytes);

// A TCP connection to 127.0.0.1:`port` (a socket the caller closes), or -1 when refused.
int connect_loopback(std::uint16_t port);

// Percent-encodes a query-string value.
std::string url_encode(const std::string& text);

}  // namespace keel::testing
