#include "http/server.hpp"

#include <sys/resource.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <list>
#include <mutex>
#include <thread>

#include "app/error.hpp"
#include "db/connection.hpp"

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
    asio::io_context* loop = nullptr;  // the thread it lives on
    tcp::socket* socket = nullptr;
    bool busy = false;  // a request is being handled or answered
    // When the read or write in progress must end (steady_clock ticks; 0: none): the sweep
    // cancels it then. One coarse timer for all connections instead of a timer armed and
    // cancelled around every read and write (a timerfd_settime each).
    std::atomic<std::chrono::steady_clock::rep> deadline{0};
    void expire_after(std::chrono::steady_clock::duration d) {
      deadline.store((std::chrono::steady_clock::now() + d).time_since_epoch().count(),
                     std::memory_order_relaxed);
    }
    void no_expiry() { deadline.store(0, std::memory_order_relaxed); }
  };
  // How often the sweep looks for connections past their deadline (the timeouts' precision).
  static constexpr auto kSweep = std::chrono::milliseconds(250);

  ServerOptions options;
  Dispatch dispatch;
  Observer observer;
  // One event loop per I/O thread; the first also accepts and watches for signals.
  std::vector<std::unique_ptr<asio::io_context>> loops;
  size_t next_loop = 0;  // round robin of accepted connections (the accept loop's alone)
  tcp::acceptor acceptor;
  asio::signal_set signals;
  std::atomic<bool> draining{false};
  std::atomic<std::size_t> active{0};
  asio::thread_pool workers{std::max(1u, options.workers)};  // deferred work (Response::defer)
  std::atomic<std::size_t> deferred_count{0};
  asio::thread_pool io_workers{std::max(1u, options.io_workers)};  // Response::block
  std::mutex mutex;
  std::list<std::shared_ptr<Session>> sessions;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::uint16_t bound_port = 0;
  std::uint64_t refused = 0;  // connections refused over the limit (the accept loop's alone)
  std::chrono::steady_clock::time_point last_refusal_warning;

  static std::vector<std::unique_ptr<asio::io_context>> make_loops(unsigned threads) {
    unsigned n = threads ? threads : std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::unique_ptr<asio::io_context>> loops;
    for (unsigned k = 0; k < n; ++k)
      loops.push_back(std::make_unique<asio::io_context>(1));
    return loops;
  }

  Impl(ServerOptions o, Dispatch d, Observer obs)
      : options(std::move(o)),
        dispatch(std::move(d)),
        observer(std::move(obs)),
        loops(make_loops(options.threads)),
        acceptor(*loops.front()),
        signals(*loops.front()) {}

  // Lets every loop return from run() (after the sessions ended, or at the drain timeout).
  void stop_loops() {
    work.clear();
    for (auto& loop : loops)
      loop->stop();
  }

  bool trusted_proxy(std::string_view address) const {
    for (const auto& p : options.trusted_proxies)
      if (p == address) return true;
    return false;
  }

  // The client: `remote`, or when it is a trusted proxy, the rightmost address of
  // X-Forwarded-For that is not a trusted proxy.
  std::string client_address(const std::string& remote, std::string_view forwarded) const {
    if (forwarded.empty() || !trusted_proxy(remote)) return remote;
    std::string client = remote;
    while (!forwarded.empty()) {
      size_t comma = forwarded.rfind(',');
      std::string_view hop =
          comma == std::string_view::npos ? forwarded : forwarded.substr(comma + 1);
      forwarded = comma == std::string_view::npos ? std::string_view() : forwarded.substr(0, comma);
      while (!hop.empty() && hop.front() == ' ')
        hop.remove_prefix(1);
      while (!hop.empty() && hop.back() == ' ')
        hop.remove_suffix(1);
      if (hop.empty() || hop.size() > 64) break;
      client = std::string(hop);
      if (!trusted_proxy(hop)) break;
    }
    return client;
  }

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
    req.headers["x-remote-address"] = client_address(remote, req.header("x-forwarded-for"));
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
        r.headers.emplace_back("Access-Control-Allow-Headers",
                               "Authorization, Content-Type, Idempotency-Key, Keel-LSN");
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
      return problem_of(e);
    } catch (const db::DbError& e) {
      // PostgreSQL cannot be reached, is starting up or shutting down, or has no connection to
      // spare (a restart, a failover): the client may retry shortly. Never 500, and nothing of
      // libpq's text (addresses) in the answer.
      if (db::unavailable(e)) {
        spdlog::warn("{} {} {}: the database is not available: {}", req.request_id, req.method,
                     req.target, e.what());
        auto r = Response::problem(503, "db.unavailable", "Service Unavailable",
                                   "the database is not available; retry shortly");
        r.headers.emplace_back("Retry-After", "1");
        return r;
      }
      spdlog::error("{} {} {}: {}", req.request_id, req.method, req.target, e.what());
      return Response::problem(500, "http.internal", "Internal Server Error",
                               "the server failed; see its log for request " + req.request_id);
    } catch (const std::exception& e) {
      spdlog::error("{} {} {}: {}", req.request_id, req.method, req.target, e.what());
      return Response::problem(500, "http.internal", "Internal Server Error",
                               "the server failed; see its log for request " + req.request_id);
    }
  }

  // Runs deferred work on the worker pool; the calling coroutine resumes on its own loop
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

  // Starts pending work (Response::pending) and resumes, on the session's loop, with the
  // function that makes the answer once the work calls back. `start` is taken by reference
  // and moved from (see run_deferred).
  asio::awaitable<std::function<Response()>> run_pending(
      std::function<void(Response::Resume)>& start) {
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::function<Response()>)>(
        [](auto handler, std::function<void(Response::Resume)> start) {
          // A Resume is copyable; the handler is not: share it, and call it at most once.
          using Handler = decltype(handler);
          struct State {
            Handler handler;
            std::atomic<bool> started{false};
          };
          auto shared = std::make_shared<State>(std::move(handler));
          // Called on the session's own loop once `start` has returned (a statement's result
          // read by the loop's pipeline), the request resumes at once instead of in a later
          // turn of the loop; from another thread, or from within `start`, it is posted.
          auto resume = [shared](std::function<Response()> finish) {
            auto ex = asio::get_associated_executor(shared->handler);
            auto go = [shared, finish = std::move(finish)]() mutable {
              std::move(shared->handler)(std::move(finish));
            };
            if (shared->started.load(std::memory_order_acquire))
              asio::dispatch(ex, std::move(go));
            else
              asio::post(ex, std::move(go));
          };
          try {
            start(resume);
          } catch (...) {
            resume([error = std::current_exception()]() -> Response {
              std::rethrow_exception(error);
            });
          }
          shared->started.store(true, std::memory_order_release);
        },
        asio::use_awaitable, std::move(start));
  }

  asio::awaitable<Response> handle(bhttp::request<bhttp::string_body>& raw,
                                   const std::string& remote) {
    auto start = std::chrono::steady_clock::now();
    std::optional<Response> early;
    Request req = prepare(raw, remote, early);
    Response res = early ? std::move(*early) : guarded(req, [&] { return dispatch(req); });
    // Work that waits or blocks may answer with more such work (a handler of Router::add, run
    // on an io_worker, that returns Response::await): run it until there is an answer.
    while (res.pending || res.blocking) {
      if (res.pending) {
        auto start = std::move(res.pending);
        res.pending = nullptr;
        auto finish = co_await run_pending(start);
        res = guarded(req, finish);
      } else {
        std::function<Response()> job = [&req, work = std::move(res.blocking)] {
          return guarded(req, work);
        };
        res.blocking = nullptr;
        res = co_await run_deferred(io_workers, job);
      }
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

  // CORS headers for an allowed origin, and HSTS when configured (the security headers every
  // answer carries are written by head_of).
  void add_common_headers(Response& res, std::string_view origin) const {
    if (options.hsts_max_age > 0)
      res.headers.emplace_back("Strict-Transport-Security",
                               "max-age=" + std::to_string(options.hsts_max_age));
    if (!origin.empty() && cors_allowed(origin)) {
      res.headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
      res.headers.emplace_back(
          "Access-Control-Expose-Headers",
          "Idempotent-Replayed, Keel-LSN, Location, Retry-After, WWW-Authenticate, X-Request-Id");
      res.headers.emplace_back("Vary", "Origin");
    }
  }

  // Whether an answer of this status has no body and no Content-Length (RFC 9110: 1xx, 204,
  // 304).
  static bool bodiless(int status) { return status < 200 || status == 204 || status == 304; }

  // The status line and headers of an answer, written by hand: one buffer, no field map. The
  // framing headers are the server's alone (a handler's Content-Length, Transfer-Encoding or
  // Connection is dropped); a handler's Content-Type, security or caching header replaces the
  // default; a header given twice keeps its last value; names and values with control
  // characters are dropped (no response splitting whatever a handler returns).
  static std::string head_of(const Response& r, unsigned version, bool keep_alive) {
    std::string out;
    out.reserve(320 + 48 * r.headers.size());
    out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    out += std::to_string(r.status);
    out += ' ';
    out += status_title(r.status);
    out += "\r\nServer: keel\r\n";
    auto header = [&out](std::string_view name, std::string_view value) {
      auto control = [](std::string_view text) {
        for (unsigned char c : text)
          if (c < 0x20 && c != '\t') return true;
        return false;
      };
      if (name.empty() || control(name) || control(value) ||
          name.find_first_of(": ") != std::string_view::npos)
        return;
      out += name;
      out += ": ";
      out += value;
      out += "\r\n";
    };
    auto given = [&r](std::string_view name) {
      for (const auto& h : r.headers)
        if (beast::iequals(h.first, name)) return true;
      return false;
    };
    constexpr std::string_view kFraming[] = {"Content-Length", "Transfer-Encoding", "Connection",
                                             "Server"};
    for (size_t i = 0; i < r.headers.size(); ++i) {
      const auto& name = r.headers[i].first;
      bool skip = false;
      for (auto framing : kFraming)
        skip = skip || beast::iequals(name, framing);
      for (size_t j = i + 1; j < r.headers.size() && !skip; ++j)
        skip = beast::iequals(name, r.headers[j].first);
      if (!skip) header(name, r.headers[i].second);
    }
    if (!bodiless(r.status) && !given("Content-Type")) header("Content-Type", r.content_type);
    if (!given("X-Content-Type-Options")) out += "X-Content-Type-Options: nosniff\r\n";
    if (!given("X-Frame-Options")) out += "X-Frame-Options: DENY\r\n";
    if (!given("Referrer-Policy")) out += "Referrer-Policy: no-referrer\r\n";
    if (!given("Content-Security-Policy") && r.content_type.find("html") == std::string::npos)
      out += "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n";
    if (!given("Cache-Control")) out += "Cache-Control: no-store\r\n";
    if (!bodiless(r.status)) header("Content-Length", std::to_string(r.body.size()));
    if (version == 10 && keep_alive) header("Connection", "keep-alive");
    if (version != 10 && !keep_alive) header("Connection", "close");
    out += "\r\n";
    return out;
  }

  // Writes an answer (no body for HEAD, 1xx, 204 and 304): at once when the socket's send
  // buffer takes it (one sendmsg, no turn of the loop for its completion), else the rest
  // asynchronously within the session's deadline.
  static asio::awaitable<beast::error_code> write(tcp::socket& socket, const Response& r,
                                                  unsigned version, bool keep_alive, bool head) {
    std::string top = head_of(r, version, keep_alive);
    std::array<asio::const_buffer, 2> buffers{asio::buffer(top), asio::buffer(r.body)};
    if (head || bodiless(r.status)) buffers[1] = asio::const_buffer();
    beast::error_code ec;
    if (!socket.non_blocking()) socket.non_blocking(true, ec);
    std::size_t sent = ec ? 0 : socket.write_some(buffers, ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) co_return ec;
    if (sent == buffers[0].size() + buffers[1].size()) co_return beast::error_code{};
    if (sent < buffers[0].size()) {
      buffers[0] += sent;
    } else {
      buffers[1] += sent - buffers[0].size();
      buffers[0] = asio::const_buffer();
    }
    auto [wec, n] =
        co_await asio::async_write(socket, buffers, asio::as_tuple(asio::use_awaitable));
    co_return wec;
  }

  asio::awaitable<void> session(tcp::socket socket, std::shared_ptr<Session> self) {
    self->socket = &socket;
    std::string remote;
    {
      beast::error_code ec;
      auto ep = socket.remote_endpoint(ec);
      if (!ec) remote = ep.address().to_string();
    }
    beast::flat_buffer buffer;
    while (!draining) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.body_limit(options.body_limit);
      parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
      if (buffer.size() == 0) {
        // Idle: the first byte of the next request, within idle_timeout.
        self->expire_after(options.idle_timeout);
        auto [ec, n] = co_await socket.async_read_some(buffer.prepare(4096),
                                                       asio::as_tuple(asio::use_awaitable));
        self->no_expiry();
        if (ec) break;
        buffer.commit(n);
      }
      // A request that came whole with its first bytes (the usual case) is parsed here:
      // Beast's async_read would post its completion when it needs no read, a turn of the
      // loop (and often an epoll_wait) per request. The rest is read as before.
      parser.eager(true);
      beast::error_code ec;
      buffer.consume(parser.put(buffer.data(), ec));
      if (!parser.is_done() && (!ec || ec == bhttp::error::need_more)) {
        self->expire_after(options.read_timeout);
        auto [rec, n] =
            co_await bhttp::async_read(socket, buffer, parser, asio::as_tuple(asio::use_awaitable));
        self->no_expiry();
        ec = rec;
      }
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
          self->expire_after(std::chrono::seconds(5));
          co_await write(socket, problem, 11, false, false);
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
      self->expire_after(options.read_timeout);
      auto wec = co_await write(socket, response, version, keep_alive, head);
      self->no_expiry();
      self->busy = false;
      if (wec || !keep_alive) break;
    }
    beast::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    self->socket = nullptr;
  }

  // Every kSweep, cancels the read or write of each connection past its deadline (the session
  // then ends, as at a timeout of its own).
  asio::awaitable<void> sweep_loop() {
    asio::steady_timer timer(*loops.front());
    while (true) {
      timer.expires_after(kSweep);
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) break;
      auto now = std::chrono::steady_clock::now().time_since_epoch().count();
      std::lock_guard lock(mutex);
      for (const auto& s : sessions) {
        auto deadline = s->deadline.load(std::memory_order_relaxed);
        if (deadline == 0 || deadline > now) continue;
        asio::post(*s->loop, [s, deadline] {
          // Still the same read or write: it had not finished when the sweep looked.
          if (s->socket && s->deadline.load(std::memory_order_relaxed) == deadline) {
            beast::error_code ignored;
            s->socket->cancel(ignored);
          }
        });
      }
    }
  }

  void finished(const std::shared_ptr<Session>& self) {
    {
      std::lock_guard lock(mutex);
      sessions.remove(self);
    }
    if (--active == 0 && draining) asio::post(*loops.front(), [this] { stop_loops(); });
  }

  asio::awaitable<void> accept_loop() {
    while (!draining) {
      asio::io_context& loop = *loops[next_loop++ % loops.size()];
      auto [ec, socket] = co_await acceptor.async_accept(loop, asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (draining || ec == asio::error::operation_aborted) break;
        // E.g. too many open files: keep serving the others, and retry shortly rather than
        // spinning on an accept that fails at once.
        spdlog::warn("accept: {}", ec.message());
        asio::steady_timer pause(*loops.front(), std::chrono::milliseconds(100));
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      if (active >= options.max_connections) {
        refuse(socket);
        continue;
      }
      auto self = std::make_shared<Session>();
      self->loop = &loop;
      {
        std::lock_guard lock(mutex);
        sessions.push_back(self);
      }
      ++active;
      asio::co_spawn(loop, session(std::move(socket), self),
                     [this, self](std::exception_ptr) { finished(self); });
    }
  }

  // Over the connection limit: a 503 written without waiting (into the socket's empty send
  // buffer), then closed. Counted, and warned about at most once a minute.
  template <class Socket>
  void refuse(Socket& socket) {
    static const std::string kBusy = [] {
      auto r = Response::problem(503, "http.busy", "Service Unavailable",
                                 "too many connections are open; retry shortly");
      r.headers.emplace_back("Retry-After", "1");
      return head_of(r, 11, false) + r.body;
    }();
    beast::error_code ec;
    socket.non_blocking(true, ec);
    socket.write_some(asio::buffer(kBusy.data(), kBusy.size()), ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
    auto now = std::chrono::steady_clock::now();
    if (refused++ == 0 || now - last_refusal_warning > std::chrono::minutes(1)) {
      last_refusal_warning = now;
      spdlog::warn("{} connections open, the limit (server.max_connections): refusing new ones",
                   options.max_connections);
    }
  }

  void begin_drain() {
    if (draining.exchange(true)) return;
    spdlog::info("shutting down: finishing in-flight requests");
    asio::post(*loops.front(), [this] {
      beast::error_code ec;
      acceptor.close(ec);
      signals.cancel(ec);
      std::lock_guard lock(mutex);
      for (const auto& s : sessions)
        asio::post(*s->loop, [s] {
          if (!s->busy && s->socket) {
            beast::error_code ignored;
            s->socket->cancel(ignored);
          }
        });
      if (active == 0) stop_loops();
    });
    // Requests that never finish do not keep the process alive forever.
    auto timer = std::make_shared<asio::steady_timer>(*loops.front(), options.drain_timeout);
    timer->async_wait([this, timer](beast::error_code ec) {
      if (!ec) {
        spdlog::warn("shutdown: requests still running after the drain timeout");
        stop_loops();
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
  // Each connection holds a file descriptor; keep 256 for the database, logs and libraries.
  constexpr rlim_t kReserve = 256;
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    rlim_t wanted = static_cast<rlim_t>(i.options.max_connections) + kReserve;
    if (files.rlim_cur < wanted) {
      files.rlim_cur = files.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, files.rlim_max);
      ::setrlimit(RLIMIT_NOFILE, &files);
      ::getrlimit(RLIMIT_NOFILE, &files);
    }
    if (files.rlim_cur < wanted) {
      auto allowed =
          static_cast<std::size_t>(files.rlim_cur > kReserve + 16 ? files.rlim_cur - kReserve : 16);
      spdlog::warn(
          "the open-file limit ({}) allows {} connections, not {} (server.max_connections)",
          files.rlim_cur, allowed, i.options.max_connections);
      i.options.max_connections = allowed;
    }
  }
  return i.bound_port;
}

std::uint16_t Server::port() const {
  return impl_->bound_port;
}

void Server::run() {
  auto& i = *impl_;
  if (!i.acceptor.is_open()) listen();
  for (auto& loop : i.loops)
    i.work.push_back(asio::make_work_guard(*loop));
  if (i.options.handle_signals) {
    i.signals.add(SIGINT);
    i.signals.add(SIGTERM);
    i.signals.async_wait([this](beast::error_code ec, int) {
      if (!ec) impl_->begin_drain();
    });
  }
  asio::co_spawn(*i.loops.front(), i.accept_loop(), asio::detached);
  asio::co_spawn(*i.loops.front(), i.sweep_loop(), asio::detached);
  auto serve = [&i](asio::io_context& loop) {
    std::shared_ptr<void> resources;
    try {
      if (i.options.on_thread)
        resources = i.options.on_thread(loop, static_cast<unsigned>(i.loops.size()));
    } catch (const std::exception& e) {
      spdlog::error("an I/O thread starts without its own resources: {}", e.what());
    }
    loop.run();
    resources.reset();
  };
  std::vector<std::thread> threads;
  for (size_t k = 1; k < i.loops.size(); ++k)
    threads.emplace_back([&serve, &loop = *i.loops[k]] { serve(loop); });
  serve(*i.loops.front());
  for (auto& t : threads)
    t.join();
}

void Server::stop() {
  impl_->begin_drain();
}

}  // namespace keel::http
