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
  asio::thread_pool workers{std::max(1u, options.workers)};  // deferred work (Response::defer)
  std::atomic<std::size_t> deferred_count{0};
  asio::thread_pool io_workers{std::max(1u, options.io_workers)};  // Response::block
  std::mutex mutex;
  std::list<std::shared_ptr<Session>> sessions;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::uint16_t bound_port = 0;

  Impl(ServerOptions o, Dispatch d, Observer obs)
      : options(std::move(o)), dispatch(std::move(d)), observer(std::move(obs)) {}

  // The request as handlers see it. `early` is set when it is answered without a handler: a
  // malformed target (400) or a CORS preflight.
  Request prepare(bhttp::request<bhttp::string_body>& raw, const std::string& remote,
                  std::optional<Response>& early) {
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
    std::string_view target = req.target;
    size_t q = target.find('?');
    auto path = url_decode(target.substr(0, q), false);
    auto query = q == std::string_view::npos
                     ? std::optional(std::map<std::string, std::string, std::less<>>{})
                     : parse_query(target.substr(q + 1));
    if (!path || !query || path->empty() || path->front() != '/') {
      req.route = "(bad request)";
      early = Response::problem(400, "http.bad_request", "Bad Request",
                                "the request target is not a valid URL path");
      return req;
    }
    req.path = std::move(*path);
    req.query = std::move(*query);
    if (!options.cors_origins.empty() && req.method == "OPTIONS" && !req.header("origin").empty() &&
        !req.header("access-control-request-method").empty()) {
      req.route = "(preflight)";
      Response r;
      r.status = 204;
      if (cors_allowed(req.header("origin"))) {
        r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE");
        r.headers.emplace_back("Access-Control-Allow-Headers", "Authorization, Content-Type");
        r.headers.emplace_back("Access-Control-Max-Age", "600");
      }
      early = std::move(r);
    }
    return req;
  }

  // Runs a handler's work; failures become problem+json.
  static Response guarded(const Request& req, const std::function<Response()>& work) {
    try {
      return work();
    } catch (const ApiError& e) {
      std::vector<std::pair<std::string, std::string>> errors;
      for (const auto& fe : e.field_errors())
        errors.emplace_back(fe.field, fe.message);
      return Response::problem(e.status(), e.code(), status_title(e.status()), e.what(), errors);
    } catch (const std::exception& e) {
      spdlog::error("{} {} {}: {}", req.request_id, req.method, req.target, e.what());
      return Response::problem(500, "http.internal", "Internal Server Error",
                               "the server failed; see its log for request " + req.request_id);
    }
  }

  // Runs deferred work on the worker pool; the calling coroutine resumes on its own strand
  // when it is done, and the I/O thread serves others meanwhile.
  // `work` is taken by reference and moved from: GCC 12 destroys temporaries of a co_await
  // expression twice.
  asio::awaitable<Response> run_deferred(asio::thread_pool& pool, std::function<Response()>& work) {
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(Response)>(
        [&pool](auto handler, std::function<Response()> work) {
          asio::post(pool, [handler = std::move(handler), work = std::move(work)]() mutable {
            Response r = work();
            auto ex = asio::get_associated_executor(handler);
            asio::post(ex, [handler = std::move(handler), r = std::move(r)]() mutable {
              std::move(handler)(std::move(r));
            });
          });
        },
        asio::use_awaitable, std::move(work));
  }

  // Starts pending work (Response::pending) and resumes, on the session's strand, with the
  // function that makes the answer once the work calls back. `start` is taken by reference
  // and moved from (see run_deferred).
  asio::awaitable<std::function<Response()>> run_pending(
      std::function<void(Response::Resume)>& start) {
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::function<Response()>)>(
        [](auto handler, std::function<void(Response::Resume)> start) {
          // A Resume is copyable; the handler is not: share it, and call it at most once.
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          auto resume = [shared](std::function<Response()> finish) {
            auto ex = asio::get_associated_executor(*shared);
            asio::post(ex, [shared, finish = std::move(finish)]() mutable {
              std::move (*shared)(std::move(finish));
            });
          };
          try {
            start(resume);
          } catch (...) {
            resume([error = std::current_exception()]() -> Response {
              std::rethrow_exception(error);
            });
          }
        },
        asio::use_awaitable, std::move(start));
  }

  asio::awaitable<Response> handle(bhttp::request<bhttp::string_body>& raw,
                                   const std::string& remote) {
    auto start = std::chrono::steady_clock::now();
    std::optional<Response> early;
    Request req = prepare(raw, remote, early);
    Response res = early ? std::move(*early) : guarded(req, [&] { return dispatch(req); });
    if (res.pending) {
      auto start = std::move(res.pending);
      auto finish = co_await run_pending(start);
      res = guarded(req, finish);
    }
    if (res.blocking) {
      std::function<Response()> job = [&req, work = std::move(res.blocking)] {
        return guarded(req, work);
      };
      res = co_await run_deferred(io_workers, job);
    }
    if (res.deferred) {
      auto work = std::move(res.deferred);
      if (deferred_count.fetch_add(1) >= options.max_deferred) {
        --deferred_count;
        res = Response::problem(503, "http.busy", "Service Unavailable",
                                "too many requests are waiting for a worker; retry shortly");
        res.headers.emplace_back("Retry-After", "1");
      } else {
        std::function<Response()> job = [&req, work = std::move(work)] {
          return guarded(req, work);
        };
        res = co_await run_deferred(workers, job);
        --deferred_count;
        res.deferred = nullptr;
      }
    }
    res.headers.emplace_back("X-Request-Id", req.request_id);
    add_common_headers(res, req.header("origin"));
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (observer) observer(req, res, seconds);
    co_return res;
  }

  bool cors_allowed(std::string_view origin) const {
    for (const auto& allowed : options.cors_origins)
      if (allowed == "*" || allowed == origin) return true;
    return false;
  }

  // Security headers on every answer, and CORS headers for an allowed origin.
  void add_common_headers(Response& res, std::string_view origin) const {
    auto has = [&](std::string_view name) {
      for (const auto& [n, v] : res.headers)
        if (beast::iequals(n, name)) return true;
      return false;
    };
    res.headers.emplace_back("X-Content-Type-Options", "nosniff");
    res.headers.emplace_back("X-Frame-Options", "DENY");
    res.headers.emplace_back("Referrer-Policy", "no-referrer");
    if (!has("Content-Security-Policy") && res.content_type.find("html") == std::string::npos)
      res.headers.emplace_back("Content-Security-Policy",
                               "default-src 'none'; frame-ancestors 'none'");
    if (!has("Cache-Control")) res.headers.emplace_back("Cache-Control", "no-store");
    if (options.hsts_max_age > 0)
      res.headers.emplace_back("Strict-Transport-Security",
                               "max-age=" + std::to_string(options.hsts_max_age));
    if (!origin.empty() && cors_allowed(origin)) {
      res.headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
      res.headers.emplace_back("Access-Control-Expose-Headers",
                               "Location, Retry-After, WWW-Authenticate, X-Request-Id");
      res.headers.emplace_back("Vary", "Origin");
    }
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
          auto problem = Response::problem(status, type, status_title(status), detail);
          add_common_headers(problem, {});
          auto res = to_beast(std::move(problem), 11, false, false);
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
      Response response = co_await handle(raw, remote);
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
