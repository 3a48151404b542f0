#include "cli/serve_command.hpp"

#include <spdlog/spdlog.h>

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "cli/context.hpp"
#include "cli/database.hpp"
#include "db/listener.hpp"
#include "db/pool.hpp"
#include "http/api.hpp"
#include "http/server.hpp"
#include "install/lifecycle.hpp"
#include "modules/graph.hpp"
#include "native/host.hpp"
#include "runtime/users.hpp"
#include "security/crypto.hpp"
#include "security/policy.hpp"
#include "security/users.hpp"

namespace keel::cli {

namespace {

// "HOST:PORT", "[::1]:PORT" or ":PORT".
std::pair<std::string, std::uint16_t> parse_listen(const std::string& text) {
  auto colon = text.rfind(':');
  std::string host = colon == std::string::npos ? "" : text.substr(0, colon);
  std::string port_text = colon == std::string::npos ? text : text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "127.0.0.1";
  unsigned port = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || p != port_text.data() + port_text.size() || port > 65535)
    throw UsageError("bad listen address \"" + text + "\"", "use HOST:PORT, e.g. 127.0.0.1:8080");
  return {host, static_cast<std::uint16_t>(port)};
}

// A start allocates the registry (5,000 fields over 500 entities: a few MiB) on fresh heap pages,
// and first touches of 4 KiB pages are what that costs most (one page fault each, dear on a
// virtual machine). Transparent huge pages, where the system offers them on request, make that
// one fault per 2 MiB: the heap grows by 16 MiB at a time and asks for them (as glibc's
// `glibc.malloc.hugetlb=1` tunable would, which only the environment of a start can set).
// Nothing changes where huge pages are off; RSS grows by at most what is touched, rounded up.
void prefer_huge_pages_for_the_heap() {
#if defined(MADV_HUGEPAGE) && defined(M_TOP_PAD) && defined(M_MMAP_THRESHOLD)
  constexpr std::uintptr_t kHuge = 2u << 20;
  mallopt(M_TOP_PAD, static_cast<int>(8 * kHuge));
  // Setting the pad fixes glibc's mmap threshold, which it would otherwise raise by itself
  // as large blocks are freed (up to 32 MiB): blocks up to 4 MiB (response bodies, result
  // sets) keep coming from the heap instead of an mmap and munmap each.
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  // Grow the heap now (below the mmap threshold, so from the heap), then hand it back to malloc.
  auto* before = static_cast<char*>(::sbrk(0));
  std::vector<void*> blocks;
  for (int i = 0; i < 8 && static_cast<char*>(::sbrk(0)) == before; ++i)
    blocks.push_back(std::malloc(64u << 10));
  for (void* b : blocks)
    std::free(b);
  auto from = (reinterpret_cast<std::uintptr_t>(before) + kHuge - 1) & ~(kHuge - 1);
  auto to = reinterpret_cast<std::uintptr_t>(::sbrk(0)) & ~(kHuge - 1);
  if (to > from) ::madvise(reinterpret_cast<void*>(from), to - from, MADV_HUGEPAGE);
#endif
}

// The first `serve` on a database without users creates `admin` (base.admin): with the password
// of KEEL_ADMIN_PASSWORD, or a generated one printed once, on the terminal and not in the log.
void create_first_admin(db::Connection& conn, const records::RecordService& records) {
  if (security::has_users(conn)) return;
  auto given = process_env("KEEL_ADMIN_PASSWORD");
  std::string password = given ? *given : security::random_token(12);
  try {
    runtime::create_user(conn, records, "admin", security::hash_password(password),
                         {std::string(security::kAdminRole)});
  } catch (const Error& e) {
    // Another server was faster (seen first, or by the unique login).
    if (e.code() == "user.exists" || e.kind() == ErrorKind::kConflict) return;
    throw;
  }
  if (given) {
    spdlog::info("created the user admin (base.admin) with the password of KEEL_ADMIN_PASSWORD");
  } else {
    std::cerr << "created the user admin (base.admin) with the password: " << password
              << "\n  it is shown only this once; change it with `keel user passwd admin`\n";
  }
}

// Where the modules listener's notifications go: the Api once it exists; one that came before
// (or while the Api was not attached) is replayed by attach().
class ModulesChanged {
 public:
  void notify() {
    std::lock_guard lock(mutex_);
    if (api_)
      api_->reload_after_change();
    else
      missed_ = true;
  }
  void attach(http::Api* api) {
    std::lock_guard lock(mutex_);
    api_ = api;
    if (api_ && missed_) api_->reload_after_change();
    missed_ = false;
  }

 private:
  std::mutex mutex_;
  http::Api* api_ = nullptr;
  bool missed_ = false;
};

// The kernel's autogroup scheduling (a scheduling group per session) left PostgreSQL's
// backends runnable but unscheduled for up to 2-3 s under Keel's load on 2 cores (docs/api.md,
// "Stalls"): said once at the start, with the fix.
void warn_about_autogroup() {
  std::ifstream file("/proc/sys/kernel/sched_autogroup_enabled");
  int enabled = 0;
  if (file >> enabled && enabled == 1)
    spdlog::warn(
        "the kernel's autogroup scheduling is on (kernel.sched_autogroup_enabled = 1): under "
        "load, requests may stall for seconds while PostgreSQL waits for a core; set it to 0 "
        "(sysctl; the Debian package does) - see docs/operations.md");
}

int serve(Context& context) {
  warn_about_autogroup();
  auto [host, port] = parse_listen(context.config.listen);
  if (host == "localhost") host = "127.0.0.1";
  if (host != "127.0.0.1" && host != "::1")
    spdlog::warn("listening on {}: Keel speaks plain HTTP, put a TLS-terminating proxy in front",
                 host);

  prefer_huge_pages_for_the_heap();
  // The module files are read (and checked) while the connections below open.
  auto graph =
      std::async(std::launch::async, http::Api::discover_modules, std::cref(context.config));
  http::ServerOptions options;
  options.host = host;
  options.port = port;
  options.cors_origins = context.config.cors_origins;
  options.trusted_proxies = context.config.trusted_proxies;
  options.hsts_max_age = context.config.hsts_max_age;
  options.max_connections = static_cast<std::size_t>(context.config.max_connections);
  options.idle_timeout = std::chrono::seconds(context.config.idle_timeout);
  options.read_timeout = std::chrono::seconds(context.config.request_timeout);
  // One I/O thread per core: handlers that may block run on io_workers (Router::add).
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  options.threads = threads;
  if (context.config.io_workers) options.io_workers = context.config.io_workers;
  db::Pool::Options pool_options;
  pool_options.max_size = threads + options.io_workers + 2;
  // Another `keel` (CLI or server) changed the modules: reload within a second. Listening
  // starts before the Api reads the installed modules (a change in between would be missed
  // for good); a notification that comes before the Api exists is replayed once it does.
  ModulesChanged changed;
  // The pool's first connection and the listener's open alongside the one that checks base
  // (each is a backend starting: one after another they were most of a restart's wait).
  std::unique_ptr<Database> database;  // first: its cluster outlives the pool and the listener
  std::optional<db::Pool> pool;
  std::optional<db::Listener> listener;
  database = Database::open(context.config, [&](const std::string& conninfo) {
    pool.emplace(conninfo, pool_options);
    pool->warm(2);  // the Api loads the registry on one, checks its SQL objects on the other
    listener.emplace(conninfo, "keel_modules", [&changed] { changed.notify(); });
  });
  install_base(context, *database);
  listener->wait_ready();
  // The server's threads (its I/O workers: thirty-odd threads to start) start while the Api
  // loads; what they call reaches the Api only once run() serves, after it exists.
  http::Api* ready = nullptr;
  options.on_thread = [&ready](boost::asio::io_context& loop, unsigned loops) {
    return ready->thread_resources(loop, loops);
  };
  auto starting = std::async(std::launch::async, [&options, &ready] {
    return std::make_unique<http::Server>(
        options, [&ready](http::Request& r) { return ready->dispatch(r); },
        [&ready](const http::Request& req, const http::Response& res, double s) {
          ready->observe(req, res, s);
        });
  });
  http::Api api(context.config, *pool, std::move(graph));
  changed.attach(&api);
  struct Detach {  // before the Api goes, however serve() ends
    ModulesChanged& changed;
    ~Detach() { changed.attach(nullptr); }
  } detach{changed};
  create_first_admin(database->connection(), *api.snapshot()->records);
  ready = &api;
  auto server_owner = starting.get();  // after the Api: it goes first
  auto& server = *server_owner;
  auto bound = server.listen();
  spdlog::info("listening on http://{}:{}", host, bound);
  server.run();
  native::Host::instance().stopping();  // on_stopping callbacks, reverse load order
  spdlog::info("stopped");
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, Runner& selected) {
  auto* cmd = app.add_subcommand("serve", "run the HTTP server");
  auto listen = std::make_shared<std::string>();
  cmd->add_option("--listen", *listen, "HOST:PORT (default 127.0.0.1:8080, or KEEL_LISTEN)");
  cmd->fallthrough();
  cmd->callback([&selected, listen] {
    selected = [listen](Context& c) {
      if (!listen->empty()) c.config.listen = *listen;
      return serve(c);
    };
  });
}

}  // namespace keel::cli
