#include "http/server.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <list>
#include <mutex>
#include <thread>

#include "app/error.hpp"

namespace keel::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string new_request_id() {
  static std::atomic<std::uint64_t> counter{0};
  static const std::uint64_t seed =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  char buf[24];
  std::snprintf(buf, sizeof buf, "%08llx-%06llx",
                static_cast<unsigned long long>(seed & 0xffffffffu),
                static_cast<unsigned long long>(counter.fetch_add(1) & 0xffffffu));
  return buf;
}

}  // namespace

struct Server::Impl {
  // A connection, known to the server so that shutdown can close it when it is idle.
  struct Session {
    asio::strand<asio::io_context::executor_type> strand;
    beast::tcp_stream* stream = nullptr;
    bool busy = false;  // a request is being handled or answered
  };

  ServerOptions options;
  Dispatch dispatch;
  Observer observer;
  asio::io_context ioc;
  asio::strand<asio::io_context::executor_type> accept_strand{asio::make_strand(ioc)};
  tcp::acceptor acceptor{accept_strand};
  asio::signal_set signals{ioc};
  std::atomic<bool> draining{false};
  std::atomic<std::size_t> active{0};
  std::mutex mutex;
  std::list<std::shared_ptr<Session>> sessions;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::uint16_t bound_port = 0;

  Impl(ServerOptions o, Dispatch d, Observer obs)
      : options(std::move(o)), dispatch(std::move(d)), observer(std::move(obs)) {}

  Response handle(bhttp::request<bhttp::string_body>& raw, const std::string& remote) {
    auto start = std::chrono::steady_clock::now();
    Request req;
    req.request_id = new_request_id();
    req.method = std::string(raw.method_string());
    req.target = std::string(raw.target());
    for (const auto& field : raw) {
      std::string name(field.name_string());
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers[name] = std::string(field.value());
    }
    req.headers["x-remote-address"] = remote;
    req.body = std::move(raw.body());
    Response res;
    std::string_view target = req.target;
    size_t q = target.find('?');
    auto path = url_decode(target.substr(0, q), false);
    auto query = q == std::string_view::npos
                     ? std::optional(std::map<std::string, std::string, std::less<>>{})
                     : parse_query(target.substr(q + 1));
    if (!path || !query || path->empty() || path->front() != '/') {
      req.route = "(bad request)";
      res = Response::problem(400, "http.bad_request", "Bad Request",
                              "the request target is not a valid URL path");
    } else {
      req.path = std::move(*path);
      req.query = std::move(*query);
      try {
        res = dispatch(req);
      } catch (const ApiError& e) {
        std::vector<std::pair<std::string, std::string>> errors;
        for (const auto& fe : e.field_errors())
          errors.emplace_back(fe.field, fe.message);
        res = Response::problem(e.status(), e.code(), status_title(e.status()), e.what(), errors);
      } catch (const std::exception& e) {
        spdlog::error("{} {} {}: {}", req.request_id, req.method, req.target, e.what());
        res = Response::problem(500, "http.internal", "Internal Server Error",
                                "the server failed; see its log for request " + req.request_id);
      }
    }
    res.headers.emplace_back("X-Request-Id", req.request_id);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (observer) observer(req, res, seconds);
    return res;
  }

  static bhttp::response<bhttp::string_body> to_beast(Response&& r, unsigned version,
                                                      bool keep_alive, bool head) {
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version};
    res.set(bhttp::field::server, "keel");
    if (r.status != 204) res.set(bhttp::field::content_type, r.content_type);
    for (auto& [name, value] : r.headers)
      res.set(name, value);
    if (r.status != 204) res.body() = std::move(r.body);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    if (head) res.body().clear();
    return res;
  }

  asio::awaitable<void> session(tcp::socket socket, std::shared_ptr<Session> self) {
    beast::tcp_stream stream(std::move(socket));
    self->stream = &stream;
    std::string remote;
    {
      beast::error_code ec;
      auto ep = stream.socket().remote_endpoint(ec);
      if (!ec) remote = ep.address().to_string();
    }
    beast::flat_buffer buffer;
    while (!draining) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.body_limit(options.body_limit);
      parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
      stream.expires_after(options.read_timeout);
      auto [ec, n] =
          co_await bhttp::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      if (ec) {
        int status = 0;
        std::string type, detail;
        if (ec == bhttp::error::body_limit) {
          status = 413, type = "http.too_large";
          detail = "the body exceeds " + std::to_string(options.body_limit) + " bytes";
        } else if (ec == bhttp::error::header_limit) {
          status = 431, type = "http.headers_too_large";
          detail = "the headers exceed " + std::to_string(options.header_limit) + " bytes";
        } else if (std::string_view(ec.category().name()) == "beast.http" &&
                   ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
          status = 400, type = "http.bad_request";
          detail = "malformed HTTP request: " + ec.message();
        }
        if (status) {
          auto res = to_beast(Response::problem(status, type, status_title(status), detail), 11,
                              false, false);
          stream.expires_after(std::chrono::seconds(5));
          co_await bhttp::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
        }
        break;
      }
      self->busy = true;
      auto raw = parser.release();
      bool keep_alive = raw.keep_alive();
      unsigned version = raw.version();
      bool head = raw.method() == bhttp::verb::head;
      Response response = handle(raw, remote);
      keep_alive = keep_alive && !draining;
      auto res = to_beast(std::move(response), version, keep_alive, head);
      stream.expires_after(options.read_timeout);
      auto [wec, wn] =
          co_await bhttp::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
      self->busy = false;
      if (wec || !keep_alive) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    self->stream = nullptr;
  }

  void finished(const std::shared_ptr<Session>& self) {
    {
      std::lock_guard lock(mutex);
      sessions.remove(self);
    }
    if (--active == 0 && draining) work.reset(), ioc.stop();
  }

  asio::awaitable<void> accept_loop() {
    while (!draining) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (draining || ec == asio::error::operation_aborted) break;
        continue;  // e.g. too many open files: keep serving the others
      }
      auto self = std::make_shared<Session>(Session{asio::make_strand(ioc)});
      {
        std::lock_guard lock(mutex);
        sessions.push_back(self);
      }
      ++active;
      asio::co_spawn(self->strand, session(std::move(socket), self),
                     [this, self](std::exception_ptr) { finished(self); });
    }
  }

  void begin_drain() {
    if (draining.exchange(true)) return;
    spdlog::info("shutting down: finishing in-flight requests");
    asio::post(accept_strand, [this] {
      beast::error_code ec;
      acceptor.close(ec);
      signals.cancel(ec);
      std::lock_guard lock(mutex);
      for (const auto& s : sessions)
        asio::post(s->strand, [s] {
          if (!s->busy && s->stream) s->stream->socket().cancel();
        });
      if (active == 0) {
        work.reset();
        ioc.stop();
      }
    });
    // Requests that never finish do not keep the process alive forever.
    auto timer = std::make_shared<asio::steady_timer>(ioc, options.drain_timeout);
    timer->async_wait([this, timer](beast::error_code ec) {
      if (!ec) {
        spdlog::warn("shutdown: requests still running after the drain timeout");
        work.reset();
        ioc.stop();
      }
    });
  }
};

Server::Server(ServerOptions options, Dispatch dispatch, Observer observer)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(dispatch), std::move(observer))) {}

Server::~Server() = default;

std::uint16_t Server::listen() {
  auto& i = *impl_;
  beast::error_code ec;
  auto address = asio::ip::make_address(i.options.host, ec);
  if (ec)
    throw Error("http.listen", "bad listen address \"" + i.options.host + "\"",
                "use HOST:PORT, e.g. 127.0.0.1:8080");
  tcp::endpoint endpoint(address, i.options.port);
  i.acceptor.open(endpoint.protocol(), ec);
  if (!ec) i.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) i.acceptor.bind(endpoint, ec);
  if (!ec) i.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw Error("http.listen",
                "cannot listen on " + i.options.host + ":" + std::to_string(i.options.port) + ": " +
                    ec.message(),
                "choose another address with --listen or KEEL_LISTEN");
  i.bound_port = i.acceptor.local_endpoint().port();
  return i.bound_port;
}

std::uint16_t Server::port() const {
  return impl_->bound_port;
}

void Server::run() {
  auto& i = *impl_;
  if (!i.acceptor.is_open()) listen();
  i.work.emplace(i.ioc.get_executor());
  if (i.options.handle_signals) {
    i.signals.add(SIGINT);
    i.signals.add(SIGTERM);
    i.signals.async_wait([this](beast::error_code ec, int) {
      if (!ec) impl_->begin_drain();
    });
  }
  asio::co_spawn(i.accept_strand, i.accept_loop(), asio::detached);
  unsigned n =
      i.options.threads ? i.options.threads : std::max(2u, 2 * std::thread::hardware_concurrency());
  std::vector<std::thread> threads;
  for (unsigned k = 1; k < n; ++k)
    threads.emplace_back([&i] { i.ioc.run(); });
  i.ioc.run();
  for (auto& t : threads)
    t.join();
}

void Server::stop() {
  impl_->begin_drain();
}

}  // namespace keel::http
