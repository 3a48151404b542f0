#include "native/isolation.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "app/config.hpp"
#include "app/error.hpp"
#include "modules/manifest.hpp"
#include "modules/signing.hpp"
#include "native/errors.hpp"
#include "native/wire.hpp"

#ifndef KEEL_MODULE_HOST_BUILD_PATH
#define KEEL_MODULE_HOST_BUILD_PATH ""
#endif

namespace keel::native {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace wire {

bool send_frame(int fd, const std::string& frame) {
  size_t done = 0;
  while (done < frame.size()) {
    ssize_t n = ::send(fd, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

int receive_frame(int fd, std::string& body, int deadline_ms, std::string& pending) {
  bool timed = deadline_ms >= 0;
  auto deadline = Clock::now() + std::chrono::milliseconds(timed ? deadline_ms : 0);
  size_t need = 4;
  char chunk[16 * 1024];
  for (;;) {
    if (pending.size() >= 4) {
      auto* len = reinterpret_cast<const unsigned char*>(pending.data());
      std::uint32_t n =
          len[0] | (len[1] << 8) | (len[2] << 16) | (static_cast<std::uint32_t>(len[3]) << 24);
      if (n == 0 || n > (1u << 30)) return 0;
      need = 4 + static_cast<size_t>(n);
      if (pending.size() >= need) {
        body.assign(pending, 4, n);
        pending.erase(0, need);
        return 1;
      }
    }
    if (timed) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left < 0) left = 0;
      pollfd p{fd, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(left));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return 0;
      if (r == 0) return -1;
    }
    // Small frames (nearly all) in one read through `chunk`; a large one straight into place.
    size_t old = pending.size();
    ssize_t got;
    if (need - old > sizeof chunk) {
      pending.resize(need);
      got = ::read(fd, pending.data() + old, need - old);
      pending.resize(old + static_cast<size_t>(std::max<ssize_t>(got, 0)));
    } else {
      got = ::read(fd, chunk, sizeof chunk);
      if (got > 0) pending.append(chunk, static_cast<size_t>(got));
    }
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return 0;
  }
}

}  // namespace wire

namespace {
std::atomic<std::int64_t> crashed_calls{0}, timed_out_calls{0};
}  // namespace

IsolationSettings isolation_of(const Config& config) {
  IsolationSettings s;
  if (config.module_isolation == "process" || !config.module_isolation_overrides.empty())
    s.isolated = [config_copy = config](const std::string& m) { return config_copy.isolated(m); };
  s.timeout_ms = config.module_call_timeout_ms;
  s.memory_mb = config.module_memory_limit_mb;
  if (config.require_signed_modules) {
    auto policy = std::make_shared<const modules::TrustPolicy>(modules::trust_policy(config));
    s.signed_library = [policy](const modules::Manifest& m,
                                const std::string& file) -> std::optional<std::string> {
      if (m.core) return std::nullopt;  // core modules ship with Keel
      return modules::signed_library_digest(m.dir, policy->trusted, m.name, file);
    };
  }
  return s;
}

HostFailures host_failures() {
  return {crashed_calls.load(), timed_out_calls.load()};
}

fs::path module_host_path() {
  if (const char* env = std::getenv("KEEL_MODULE_HOST"); env && *env) return env;
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto next = self.parent_path() / "keel-module-host";
    if (fs::is_regular_file(next, ec)) return next;
  }
  return KEEL_MODULE_HOST_BUILD_PATH;
}

namespace {

// A keel::Error to hand back unchanged when module code rethrows what its records call got.
struct Rethrow {
  std::vector<std::exception_ptr> failures;
};

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

}  // namespace

ModuleProcess::ModuleProcess(std::vector<Spec> modules, IsolationSettings settings)
    : specs_(std::move(modules)), settings_(std::move(settings)) {
  std::lock_guard lock(mutex_);
  start();
}

ModuleProcess::~ModuleProcess() {
  std::lock_guard lock(mutex_);
  stop();
}

std::int64_t ModuleProcess::failures() const {
  std::lock_guard lock(mutex_);
  return failures_;
}

pid_t ModuleProcess::pid() const {
  std::lock_guard lock(mutex_);
  return pid_;
}

void ModuleProcess::stop() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  pid_ = -1;
}

std::string ModuleProcess::reap(bool killed) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  std::string why = "it ended";
  if (pid_ > 0) {
    if (killed) ::kill(pid_, SIGKILL);
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
    }
    if (r == pid_ && WIFSIGNALED(status))
      why = "it was killed by " + signal_name(WTERMSIG(status));
    else if (r == pid_ && WIFEXITED(status) && WEXITSTATUS(status) == 3)
      why =
          "it ran out of memory (module_memory_limit_mb = " + std::to_string(settings_.memory_mb) +
          ")";
    else if (r == pid_ && WIFEXITED(status))
      why = "it exited with status " + std::to_string(WEXITSTATUS(status));
  }
  pid_ = -1;
  return why;
}

void ModuleProcess::start() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    throw Error("native.host",
                std::string("cannot create the module host's channel: ") + std::strerror(errno));
  fs::path program = module_host_path();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // The child end becomes descriptor 3 (dup2 clears close-on-exec); stdin and stdout are
  // /dev/null; stderr stays for the host's own last words. Everything else is close-on-exec or
  // closed by the host before it loads anything.
  posix_spawn_file_actions_adddup2(&actions, fds[1], 3);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  std::string path = program.string();
  char arg1[] = "--fd";
  char arg2[] = "3";
  char* argv[] = {path.data(), arg1, arg2, nullptr};
  char* envp[] = {nullptr};  // a fresh, empty environment
  pid_t pid = -1;
  int rc = posix_spawn(&pid, path.c_str(), &actions, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw Error("native.host", "cannot start the module host " + path + ": " + std::strerror(rc),
                "build keel-module-host next to keel, or set KEEL_MODULE_HOST");
  }
  pid_ = pid;
  fd_ = fds[0];
  inbox_.clear();
  ++generation_;

  // What it may read: the modules' folders and the system's libraries.
  wire::Writer load(wire::Message::kLoad);
  load.i64(settings_.memory_mb);
  load.u32(static_cast<std::uint32_t>(specs_.size()));
  for (const auto& s : specs_)
    load.str(s.name).str(s.file.string()).str(s.digest);
  std::string body;
  int got = 0;
  // Loading runs static initialisers: bounded like a call, with room for the dynamic loader.
  int deadline = static_cast<int>(std::max<std::int64_t>(settings_.timeout_ms, 10000));
  if (wire::send_frame(fd_, load.frame())) got = wire::receive_frame(fd_, body, deadline, inbox_);
  if (got != 1) {
    std::string why = reap(got == -1);
    throw Error("native.crashed",
                "the module host loading " + specs_.front().name +
                    (specs_.size() > 1 ? " and others" : "") + " failed: " + why,
                "see the server log; the module's static initialisers run in the sandbox");
  }
  wire::Reader r(std::move(body));
  if (r.type() == wire::Message::kError) {
    r.i64();
    r.i64();
    std::string code = r.str(), message = r.str(), hint = r.str();
    reap(true);
    throw Error(code.empty() ? "native.load" : code, message, hint);
  }
  if (r.type() != wire::Message::kLoaded) {
    reap(true);
    throw Error("native.host", "the module host answered its load with something else");
  }
  std::vector<Registered> registered(r.u32());
  for (auto& m : registered) {
    m.module = r.str();
    for (auto n = r.u32(); n > 0; --n) {
      auto entity = r.str();
      m.hooks.emplace_back(std::move(entity), static_cast<sdk::Event>(r.u8()));
    }
    for (auto n = r.u32(); n > 0; --n) {
      auto entity = r.str();
      auto field = r.str();
      m.computes.emplace_back(std::move(entity), std::move(field),
                              static_cast<sdk::Policy>(r.u8()));
    }
    for (auto n = r.u32(); n > 0; --n) {
      auto& route = m.routes.emplace_back();
      route.method = r.str();
      route.path = r.str();
      route.doc = wire::read_route_doc(r);
    }
    for (auto n = r.u32(); n > 0; --n) {
      auto name = r.str();
      auto signature = r.str();
      auto policy = static_cast<sdk::Policy>(r.u8());
      m.services.emplace_back(std::move(name), std::move(signature), policy, r.u8() != 0);
    }
  }
  send_cross_services();
  if (registered_.empty()) {
    registered_ = std::move(registered);
    spdlog::info("native: module host {} loaded {} module(s), first {}", pid_, specs_.size(),
                 specs_.front().name);
  } else if (registered.size() != registered_.size()) {
    reap(true);
    throw Error("native.host", "the restarted module host registered other things");
  }
}

std::string ModuleProcess::layout(const std::vector<CrossService>& services) {
  std::string out;
  for (const auto& s : services) {
    out += s.name + ":";
    for (const auto& l : s.levels)
      out += l.in_host ? "h" + std::to_string(l.module) + "." + std::to_string(l.index) + ","
                       : "s(" + l.server_module + "),";
    out += ";";
  }
  return out;
}

void ModuleProcess::send_cross_services() {
  if (cross_.empty() || fd_ < 0) return;
  wire::Writer w(wire::Message::kServices);
  w.u32(static_cast<std::uint32_t>(cross_.size()));
  for (const auto& s : cross_) {
    w.str(s.name).u32(static_cast<std::uint32_t>(s.levels.size()));
    for (const auto& l : s.levels)
      w.u8(l.in_host ? 1 : 0)
          .u32(static_cast<std::uint32_t>(l.module))
          .u32(static_cast<std::uint32_t>(l.index));
  }
  wire::send_frame(fd_, w.frame());  // a host gone meanwhile fails the next call
}

void ModuleProcess::set_cross_services(std::vector<CrossService> services) {
  std::lock_guard lock(mutex_);
  // The server's levels, each on the one below it: a host level below is called through a
  // proxy (the bridge of a server level makes it).
  for (size_t si = 0; si < services.size(); ++si) {
    auto& s = services[si];
    auto across = [this, si](size_t level) {
      return [this, si, level](sdk::Env& env, const std::vector<sdk::Record>& args) {
        return call_service(si, level, env, args);
      };
    };
    for (size_t i = 0; i < s.levels.size(); ++i) {
      auto& l = s.levels[i];
      if (l.in_host) continue;
      std::shared_ptr<const void> next;
      if (i > 0)
        next = s.levels[i - 1].in_host ? s.bridge->proxy(across(i - 1)) : s.levels[i - 1].fn;
      l.fn = l.make(next);
    }
    s.server_top =
        s.levels.back().in_host ? s.bridge->proxy(across(s.levels.size() - 1)) : s.levels.back().fn;
  }
  cross_ = std::move(services);
  send_cross_services();
}

void ModuleProcess::died(size_t module, const std::string& why, bool timeout) {
  ++failures_;
  ++(timeout ? timed_out_calls : crashed_calls);
  auto now = Clock::now();
  recent_failures_.push_back(now);
  while (!recent_failures_.empty() && now - recent_failures_.front() > std::chrono::minutes(1))
    recent_failures_.pop_front();
  const std::string& name = registered_.at(module).module;
  if (recent_failures_.size() >= 5 && !disabled_) {
    disabled_ = true;
    spdlog::error(
        "native: module host of {} failed {} times in a minute: its modules are disabled until "
        "the server restarts or they are upgraded",
        name, recent_failures_.size());
  }
  spdlog::error("native: the module host of {} failed: {}", name, why);
  if (timeout)
    throw ApiError(ErrorKind::kTimeout, "native.timeout",
                   "module \"" + name + "\" did not answer within " +
                       std::to_string(settings_.timeout_ms) + " ms",
                   "its host was stopped and starts again for the next call; see "
                   "security.module_call_timeout_ms");
  throw ApiError(ErrorKind::kInternal, "native.crashed", "module \"" + name + "\" failed: " + why,
                 "its host starts again for the next call; see the server log");
}

// One call: sends it, then serves what the host asks until it answers.
class ModuleProcess::Call {
 public:
  Call(ModuleProcess& p, size_t module, sdk::Env& env) : p_(p), module_(module), env_(env) {}

  wire::Reader run(wire::Writer& request) {
    if (p_.disabled_)
      throw ApiError(ErrorKind::kUnavailable, "native.disabled",
                     "module \"" + p_.registered_.at(module_).module +
                         "\" is disabled after repeated failures",
                     "fix or upgrade the module, or restart the server");
    // A host that ended between calls (its creating thread ended: PR_SET_PDEATHSIG; its CPU
    // limit) failed no call: it is started again quietly.
    if (p_.pid_ > 0 && ::waitpid(p_.pid_, nullptr, WNOHANG) == p_.pid_) {
      ::close(p_.fd_);
      p_.fd_ = -1;
      p_.pid_ = -1;
    }
    if (p_.pid_ < 0) {
      try {
        p_.start();
      } catch (const Error& e) {
        p_.died(module_, std::string("it could not start again: ") + e.what(), false);
      }
    }
    auto generation = p_.generation_;
    if (!wire::send_frame(p_.fd_, request.frame())) p_.died(module_, p_.reap(false), false);
    auto budget = std::chrono::milliseconds(p_.settings_.timeout_ms);
    std::string body;
    for (;;) {
      auto start = Clock::now();
      int got = wire::receive_frame(
          p_.fd_, body, static_cast<int>(std::max<std::int64_t>(budget.count(), 0)), p_.inbox_);
      budget -= std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      if (got == -1) p_.died(module_, p_.reap(true), true);
      if (got == 0) p_.died(module_, p_.reap(false), false);
      wire::Reader r(std::move(body));
      switch (r.type()) {
        case wire::Message::kResult:
          return r;
        case wire::Message::kError:
          fail(r);
        case wire::Message::kRecords:
          records(r);
          break;
        case wire::Message::kServiceCall:
          service(r);
          break;
        case wire::Message::kLog: {
          auto level = static_cast<sdk::LogLevel>(r.u8());
          env_.log(level, r.str());
          break;
        }
        default:
          p_.died(module_, "it sent an unexpected message", false);
      }
      if (p_.generation_ != generation || p_.pid_ < 0)
        p_.died(module_, "it failed in a nested call", false);
    }
  }

 private:
  [[noreturn]] void fail(wire::Reader& r) {
    auto e = wire::read_error(r);
    if (e.token >= 0 && static_cast<size_t>(e.token) < failures_.size())
      std::rethrow_exception(failures_[static_cast<size_t>(e.token)]);
    if (e.kind == wire::kNotAnSdkError)  // not an sdk::Error: a 500, logged
      throw std::runtime_error(e.message);
    throw sdk::Error(sdk_kind_of(kind_of_raw(e.kind)), std::move(e.code), std::move(e.message),
                     std::move(e.hint), std::move(e.errors), std::move(e.detail));
  }

  // A server level of a crossing service chain, called by a level in the host.
  void service(wire::Reader& r) {
    auto si = r.u32();
    auto level = r.u32();
    std::vector<sdk::Record> args(r.u32());
    for (auto& a : args)
      a = r.record();
    answer([&](wire::Writer& out) {
      if (si >= p_.cross_.size() || level >= p_.cross_[si].levels.size() ||
          p_.cross_[si].levels[level].in_host)
        throw Error("native.host", "the module host called a service level it does not have");
      const auto& s = p_.cross_[si];
      out.record(s.bridge->invoke(s.levels[level].fn.get(), env_, args));
    });
  }

  void records(wire::Reader& r) {
    bool elevated = r.u8() != 0;
    std::string reason = r.str();
    auto op = static_cast<wire::RecordsOp>(r.u8());
    std::string entity = r.str();
    answer([&](wire::Writer& out) {
      sdk::Records& recs = elevated ? env_.elevated(reason) : env_.records();
      switch (op) {
        case wire::RecordsOp::kList: {
          sdk::Query q;
          q.filter = r.str();
          q.sort = r.str();
          q.fields = r.str();
          q.limit = r.i64();
          q.offset = r.i64();
          auto page = recs.list(entity, q);
          out.u32(static_cast<std::uint32_t>(page.records.size()));
          for (const auto& rec : page.records)
            out.record(rec);
          out.i64(page.total);
          break;
        }
        case wire::RecordsOp::kRead: {
          auto id = r.i64();
          out.record(recs.read(entity, id, r.str()));
          break;
        }
        case wire::RecordsOp::kCreate:
          out.record(recs.create(entity, r.record()));
          break;
        case wire::RecordsOp::kUpdate: {
          auto id = r.i64();
          out.record(recs.update(entity, id, r.record()));
          break;
        }
        case wire::RecordsOp::kRemove:
          recs.remove(entity, r.i64());
          break;
      }
    });
  }

  // Runs `op` (a request of the host) and sends its answer, or its failure, which is kept to be
  // rethrown as it was if the module lets it through.
  template <typename Op>
  void answer(Op op) {
    wire::Writer out(wire::Message::kRecordsResult);
    auto error = [&](const sdk::Error& failure) {
      failures_.push_back(std::current_exception());
      wire::Writer e(wire::Message::kRecordsError);
      wire::write_error(e, failure, static_cast<std::int64_t>(failures_.size() - 1));
      return e;
    };
    std::optional<wire::Writer> reply;
    try {
      op(out);
    } catch (const sdk::Error& e) {
      reply = error(e);
    } catch (const Error& e) {  // Keel's own, of its kind
      reply = error(to_sdk(e));
    } catch (const std::exception& e) {
      reply = error(sdk::Error(sdk::ErrorKind::kInternal, "native.error", e.what()));
    }
    if (p_.pid_ < 0) {  // a nested call ended the host: its failure is this call's
      if (reply) std::rethrow_exception(failures_.back());
      return;
    }
    if (!wire::send_frame(p_.fd_, reply ? reply->frame() : out.frame()))
      p_.died(module_, p_.reap(false), false);
  }

  ModuleProcess& p_;
  size_t module_;
  sdk::Env& env_;
  std::vector<std::exception_ptr> failures_;  // of this call's records calls, by token
};

namespace {
wire::Writer call_header(wire::Call kind, size_t module, size_t index, sdk::Env& env) {
  wire::Writer w(wire::Message::kCall);
  w.u8(static_cast<std::uint8_t>(kind))
      .u32(static_cast<std::uint32_t>(module))
      .u32(static_cast<std::uint32_t>(index));
  wire::write_caller(w, env.caller());
  return w;
}
}  // namespace

void ModuleProcess::hook(size_t module, size_t index, sdk::Env& env, sdk::Change& change) {
  auto w = call_header(wire::Call::kHook, module, index, env);
  w.u8(static_cast<std::uint8_t>(change.event)).str(change.entity).i64(change.id);
  w.u8(change.old ? 1 : 0);
  if (change.old) w.record(*change.old);
  w.record(change.values);
  std::lock_guard lock(mutex_);
  Call call(*this, module, env);
  auto r = call.run(w);
  change.values = r.record();
  auto errors = r.field_errors();
  change.errors.insert(change.errors.end(), errors.begin(), errors.end());
}

std::vector<sdk::Value> ModuleProcess::compute(size_t module, size_t index, sdk::Env& env,
                                               std::span<const std::int64_t> ids) {
  auto w = call_header(wire::Call::kCompute, module, index, env);
  w.u32(static_cast<std::uint32_t>(ids.size()));
  for (auto id : ids)
    w.i64(id);
  std::lock_guard lock(mutex_);
  Call call(*this, module, env);
  auto r = call.run(w);
  std::vector<sdk::Value> out(r.u32());
  for (auto& v : out)
    v = r.value();
  return out;
}

sdk::Record ModuleProcess::call_service(size_t service, size_t level, sdk::Env& env,
                                        const std::vector<sdk::Record>& args) {
  std::lock_guard lock(mutex_);
  const auto& l = cross_.at(service).levels.at(level);
  auto w = call_header(wire::Call::kService, l.module, level, env);
  w.u32(static_cast<std::uint32_t>(service)).u32(static_cast<std::uint32_t>(args.size()));
  for (const auto& a : args)
    w.record(a);
  Call call(*this, l.module, env);
  return call.run(w).record();
}

sdk::HttpResponse ModuleProcess::route(size_t module, size_t index, sdk::Env& env,
                                       const sdk::HttpRequest& request) {
  auto w = call_header(wire::Call::kRoute, module, index, env);
  w.str(request.method).str(request.path);
  wire::write_map(w, request.params);
  wire::write_map(w, request.query);
  wire::write_map(w, request.headers);
  w.str(request.body);
  std::lock_guard lock(mutex_);
  Call call(*this, module, env);
  auto r = call.run(w);
  sdk::HttpResponse out;
  out.status = static_cast<int>(r.i64());
  out.content_type = r.str();
  out.body = r.str();
  for (auto n = r.u32(); n > 0; --n) {
    auto name = r.str();
    out.headers.emplace_back(std::move(name), r.str());
  }
  return out;
}

}  // namespace keel::native
