// keel-module-host: runs the native code of isolated modules (docs/native.md "Isolation").
// Started by the server with an empty environment and one end of a socket pair as descriptor 3;
// reads which libraries to load, confines itself (resource limits, Landlock, seccomp) BEFORE it
// opens any of them, so even their static initialisers run confined, then answers calls until
// the channel closes. Protocol: native/wire.hpp.

#include <fcntl.h>
#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "app/error.hpp"
#include "native/errors.hpp"
#include "native/host.hpp"
#include "native/library_file.hpp"
#include "native/wire.hpp"

namespace keel::native {
namespace {

namespace fs = std::filesystem;
int channel = 3;
std::string inbox;  // bytes of the channel read past the last frame

[[noreturn]] void quit(int status) {
  ::_exit(status);
}

void send(wire::Writer& w) {
  if (!wire::send_frame(channel, w.frame())) quit(0);  // the server is gone
}

void send_failure(const std::string& code, const std::string& message, const std::string& hint) {
  wire::Writer w(wire::Message::kError);
  wire::write_error(w, -1, static_cast<std::uint8_t>(sdk::ErrorKind::kInternal), code, message,
                    hint, {}, {});
  send(w);
}

// --- the sandbox -----------------------------------------------------------------------------

// Landlock: reading (and mapping for execution) only under `dirs`; no writes anywhere. Returns
// what it did, for the host's answer; a kernel without Landlock leaves the file system visible
// (the other layers still hold: no writes, no sockets, no processes).
std::string restrict_files(const std::set<fs::path>& dirs) {
  long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 1) return "no Landlock";
  std::uint64_t handled = (1ULL << 13) - 1;  // ABI 1: EXECUTE .. MAKE_SYM
  if (abi >= 2) handled |= 1ULL << 13;       // REFER
  if (abi >= 3) handled |= 1ULL << 14;       // TRUNCATE
  landlock_ruleset_attr attr{};
  attr.handled_access_fs = handled;
  int ruleset = static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0));
  if (ruleset < 0) return "no Landlock";
  const std::uint64_t read_dir =
      LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
  const std::uint64_t read_file = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE;
  for (const auto& dir : dirs) {
    int fd = ::open(dir.c_str(), O_PATH | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st {};
    ::fstat(fd, &st);
    landlock_path_beneath_attr rule{};
    rule.allowed_access = S_ISDIR(st.st_mode) ? read_dir : read_file;
    rule.parent_fd = fd;
    ::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    ::close(fd);
  }
  long rc = ::syscall(SYS_landlock_restrict_self, ruleset, 0);
  ::close(ruleset);
  return rc == 0 ? "Landlock ABI " + std::to_string(abi) : "no Landlock";
}

// seccomp-bpf: an allow list of what computation, the dynamic loader and the channel need.
// Anything else fails with EPERM: no sockets, no connect, no fork or exec (clone only for
// threads), no ptrace, no open for writing.
bool restrict_syscalls() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (!ctx) return false;
  const int allowed[] = {
      SCMP_SYS(read),           SCMP_SYS(write),
      SCMP_SYS(readv),          SCMP_SYS(writev),
      SCMP_SYS(pread64),        SCMP_SYS(close),
      SCMP_SYS(fstat),          SCMP_SYS(newfstatat),
      SCMP_SYS(statx),          SCMP_SYS(lseek),
      SCMP_SYS(mmap),           SCMP_SYS(munmap),
      SCMP_SYS(mprotect),       SCMP_SYS(mremap),
      SCMP_SYS(madvise),        SCMP_SYS(brk),
      SCMP_SYS(futex),          SCMP_SYS(rt_sigaction),
      SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
      SCMP_SYS(sigaltstack),    SCMP_SYS(exit),
      SCMP_SYS(exit_group),     SCMP_SYS(getpid),
      SCMP_SYS(gettid),         SCMP_SYS(getuid),
      SCMP_SYS(geteuid),        SCMP_SYS(getgid),
      SCMP_SYS(getegid),        SCMP_SYS(clock_gettime),
      SCMP_SYS(clock_getres),   SCMP_SYS(clock_nanosleep),
      SCMP_SYS(nanosleep),      SCMP_SYS(gettimeofday),
      SCMP_SYS(time),           SCMP_SYS(getrandom),
      SCMP_SYS(sched_yield),    SCMP_SYS(sched_getaffinity),
      SCMP_SYS(poll),           SCMP_SYS(ppoll),
      SCMP_SYS(recvfrom),       SCMP_SYS(sendto),
      SCMP_SYS(recvmsg),        SCMP_SYS(sendmsg),
      SCMP_SYS(fcntl),          SCMP_SYS(access),
      SCMP_SYS(faccessat),      SCMP_SYS(faccessat2),
      SCMP_SYS(readlink),       SCMP_SYS(readlinkat),
      SCMP_SYS(getcwd),         SCMP_SYS(uname),
      SCMP_SYS(getrlimit),      SCMP_SYS(set_robust_list),
      SCMP_SYS(rseq),           SCMP_SYS(set_tid_address),
      SCMP_SYS(membarrier),     SCMP_SYS(getdents64),
      SCMP_SYS(arch_prctl),     SCMP_SYS(restart_syscall),
  };
  bool ok = true;
  for (int sys : allowed)
    ok = ok && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sys, 0) == 0;
  // Files: read-only opens only.
  const scmp_datum_t writing = O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND;
  ok = ok && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, writing, 0)) == 0;
  ok = ok && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, writing, 0)) == 0;
  // Threads, not processes; clone3 hides its flags, so glibc falls back to clone.
  ok = ok && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)) == 0;
  ok = ok && seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) == 0;
  // Signals to itself only (abort, raise).
  ok = ok && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                              SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(::getpid()))) == 0;
  // Reading its limits, not raising them.
  ok = ok &&
       seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1, SCMP_A2(SCMP_CMP_EQ, 0)) == 0;
  ok = ok && seccomp_load(ctx) == 0;
  seccomp_release(ctx);
  return ok;
}

void limit(int resource, rlim_t value) {
  rlimit r{value, value};
  ::setrlimit(resource, &r);
}

// --- module code's view of Keel ---------------------------------------------------------------

// A records failure in the server, carried back so that the server rethrows its own error when
// the module lets it through.
class RemoteError : public sdk::Error {
 public:
  RemoteError(std::int64_t token, sdk::Error e) : sdk::Error(std::move(e)), token_(token) {}
  std::int64_t token() const { return token_; }

 private:
  std::int64_t token_;
};

void dispatch(wire::Reader& r);

// Waits for the answer of a records call, serving calls the server makes meanwhile (a hook of
// a record the module writes).
wire::Reader await_answer() {
  std::string body;
  for (;;) {
    if (wire::receive_frame(channel, body, -1, inbox) != 1) quit(0);
    wire::Reader r(std::move(body));
    if (r.type() == wire::Message::kRecordsResult) return r;
    if (r.type() == wire::Message::kRecordsError) {
      auto e = wire::read_error(r);
      throw RemoteError(e.token, sdk::Error(sdk_kind_of(kind_of_raw(e.kind)), std::move(e.code),
                                            std::move(e.message), std::move(e.hint),
                                            std::move(e.errors), std::move(e.detail)));
    }
    if (r.type() == wire::Message::kCall)
      dispatch(r);
    else
      quit(4);
  }
}

class RemoteRecords final : public sdk::Records {
 public:
  explicit RemoteRecords(bool elevated, std::string reason = {})
      : elevated_(elevated), reason_(std::move(reason)) {}

  sdk::Page list(std::string_view entity, const sdk::Query& q) override {
    auto w = start(wire::RecordsOp::kList, entity);
    w.str(q.filter).str(q.sort).str(q.fields).i64(q.limit).i64(q.offset);
    auto r = exchange(w);
    sdk::Page page;
    page.records.resize(r.u32());
    for (auto& rec : page.records)
      rec = r.record();
    page.total = r.i64();
    return page;
  }
  sdk::Record read(std::string_view entity, std::int64_t id, std::string_view fields) override {
    auto w = start(wire::RecordsOp::kRead, entity);
    w.i64(id).str(fields);
    return exchange(w).record();
  }
  sdk::Record create(std::string_view entity, const sdk::Record& values) override {
    auto w = start(wire::RecordsOp::kCreate, entity);
    w.record(values);
    return exchange(w).record();
  }
  sdk::Record update(std::string_view entity, std::int64_t id, const sdk::Record& values) override {
    auto w = start(wire::RecordsOp::kUpdate, entity);
    w.i64(id).record(values);
    return exchange(w).record();
  }
  void remove(std::string_view entity, std::int64_t id) override {
    auto w = start(wire::RecordsOp::kRemove, entity);
    w.i64(id);
    exchange(w);
  }

 private:
  wire::Writer start(wire::RecordsOp op, std::string_view entity) {
    wire::Writer w(wire::Message::kRecords);
    w.u8(elevated_ ? 1 : 0).str(reason_).u8(static_cast<std::uint8_t>(op)).str(entity);
    return w;
  }
  wire::Reader exchange(wire::Writer& w) {
    send(w);
    return await_answer();
  }
  bool elevated_;
  std::string reason_;
};

struct Service {
  std::string signature;
  std::string provider;
  std::shared_ptr<const void> top;
};
std::map<std::string, Service, std::less<>> services;
std::vector<const Host::Module*> modules;

// The service chains that cross between this host and the server (wire kServices): this host's
// levels, built on the level below them, here or (through a proxy) in the server.
struct CrossService {
  std::vector<std::shared_ptr<const void>> fns;  // per level; null for the server's
  std::shared_ptr<const sdk::ServiceBridge> bridge;
};
std::vector<CrossService> cross;

// Calls level `level` of crossing service `service` in the server.
sdk::Record call_server_service(std::uint32_t service, std::uint32_t level,
                                const std::vector<sdk::Record>& args);

class HostEnv final : public sdk::Env {
 public:
  HostEnv(const std::string& module, sdk::Caller caller)
      : module_(module), caller_(std::move(caller)) {}
  const std::string& module() const override { return module_; }
  const sdk::Caller& caller() const override { return caller_; }
  sdk::Records& records() override { return records_; }
  sdk::Records& elevated(std::string_view reason) override {
    // The server logs the elevation when the call arrives (ModuleEnv::elevated).
    if (!elevated_ || elevated_reason_ != reason) {
      elevated_.emplace(true, std::string(reason));
      elevated_reason_ = reason;
    }
    return *elevated_;
  }
  void log(sdk::LogLevel level, std::string_view message) override {
    wire::Writer w(wire::Message::kLog);
    w.u8(static_cast<std::uint8_t>(level)).str(message);
    send(w);
  }

 protected:
  const void* find_service(std::string_view name, std::string_view signature) override {
    auto it = services.find(name);
    if (it == services.end())
      throw sdk::Error(sdk::ErrorKind::kInternal, "native.no_service",
                       "module \"" + module_ + "\" calls service \"" + std::string(name) +
                           "\", which no module of its host provides",
                       "services are called between modules of the same isolation mode");
    if (it->second.signature != signature)
      throw sdk::Error(sdk::ErrorKind::kInternal, "native.no_service",
                       "module \"" + module_ + "\" calls service \"" + std::string(name) +
                           "\" with another signature than \"" + it->second.provider +
                           "\" provides");
    return it->second.top.get();
  }

 private:
  const std::string& module_;
  sdk::Caller caller_;
  RemoteRecords records_{false};
  std::optional<RemoteRecords> elevated_;
  std::string elevated_reason_;
};

sdk::Record call_server_service(std::uint32_t service, std::uint32_t level,
                                const std::vector<sdk::Record>& args) {
  wire::Writer w(wire::Message::kServiceCall);
  w.u32(service).u32(level).u32(static_cast<std::uint32_t>(args.size()));
  for (const auto& a : args)
    w.record(a);
  send(w);
  return await_answer().record();
}

void set_cross_services(wire::Reader& r) {
  cross.clear();
  for (auto n = r.u32(); n > 0; --n) {
    std::string name = r.str();
    struct Level {
      bool in_host;
      std::uint32_t module, index;
    };
    std::vector<Level> levels(r.u32());
    for (auto& l : levels) {
      l.in_host = r.u8() != 0;
      l.module = r.u32();
      l.index = r.u32();
      if (l.in_host &&
          (l.module >= modules.size() || l.index >= modules[l.module]->services.size()))
        quit(4);
    }
    auto si = static_cast<std::uint32_t>(cross.size());
    CrossService c;
    c.fns.resize(levels.size());
    for (const auto& l : levels)
      if (l.in_host && !c.bridge) c.bridge = modules[l.module]->services[l.index].bridge;
    if (!c.bridge || levels.empty()) quit(4);
    auto across = [si](std::uint32_t level) {
      return [si, level](sdk::Env&, const std::vector<sdk::Record>& args) {
        return call_server_service(si, level, args);
      };
    };
    for (size_t i = 0; i < levels.size(); ++i) {
      if (!levels[i].in_host) continue;
      std::shared_ptr<const void> next;
      if (i > 0)
        next = levels[i - 1].in_host ? c.fns[i - 1]
                                     : c.bridge->proxy(across(static_cast<std::uint32_t>(i - 1)));
      c.fns[i] = modules[levels[i].module]->services[levels[i].index].make(next);
    }
    const auto& last = levels.back();
    auto top = last.in_host
                   ? c.fns.back()
                   : c.bridge->proxy(across(static_cast<std::uint32_t>(levels.size() - 1)));
    const auto& first = levels.front();
    const auto& reg = modules[last.in_host ? last.module : first.module]
                          ->services[last.in_host ? last.index : first.index];
    services[name] = {reg.signature, first.in_host ? modules[first.module]->name : "the server",
                      top};
    cross.push_back(std::move(c));
  }
}

void dispatch(wire::Reader& r) {
  auto kind = static_cast<wire::Call>(r.u8());
  auto mi = r.u32();
  auto index = r.u32();
  auto caller = wire::read_caller(r);
  if (mi >= modules.size()) quit(4);
  const Host::Module& module = *modules[mi];
  HostEnv env(module.name, std::move(caller));
  wire::Writer out(wire::Message::kResult);
  try {
    switch (kind) {
      case wire::Call::kHook: {
        auto event = static_cast<sdk::Event>(r.u8());
        std::string entity = r.str();
        auto id = r.i64();
        std::optional<sdk::Record> old;
        if (r.u8()) old = r.record();
        sdk::Record values = r.record();
        std::vector<sdk::FieldError> errors;
        sdk::Change change{event, entity, id, old ? &*old : nullptr, values, errors};
        module.hooks.at(index).fn(env, change);
        out.record(values).field_errors(errors);
        break;
      }
      case wire::Call::kCompute: {
        std::vector<std::int64_t> ids(r.u32());
        for (auto& id : ids)
          id = r.i64();
        auto values = module.computes.at(index).fn(env, std::span<const std::int64_t>(ids));
        out.u32(static_cast<std::uint32_t>(values.size()));
        for (const auto& v : values)
          out.value(v);
        break;
      }
      case wire::Call::kService: {
        auto si = r.u32();
        std::vector<sdk::Record> args(r.u32());
        for (auto& a : args)
          a = r.record();
        if (si >= cross.size() || index >= cross[si].fns.size() || !cross[si].fns[index]) quit(4);
        out.record(cross[si].bridge->invoke(cross[si].fns[index].get(), env, args));
        break;
      }
      case wire::Call::kRoute: {
        sdk::HttpRequest req;
        req.method = r.str();
        req.path = r.str();
        req.params = wire::read_map(r);
        req.query = wire::read_map(r);
        req.headers = wire::read_map(r);
        req.body = r.str();
        auto resp = module.routes.at(index).fn(env, req);
        out.i64(resp.status).str(resp.content_type).str(resp.body);
        out.u32(static_cast<std::uint32_t>(resp.headers.size()));
        for (const auto& [name, value] : resp.headers)
          out.str(name).str(value);
        break;
      }
    }
  } catch (const RemoteError& e) {
    wire::Writer err(wire::Message::kError);
    wire::write_error(err, e, e.token());
    send(err);
    return;
  } catch (const sdk::Error& e) {
    wire::Writer err(wire::Message::kError);
    wire::write_error(err, e, -1);
    send(err);
    return;
  } catch (const std::exception& e) {
    wire::Writer err(wire::Message::kError);
    wire::write_error(err, -1, wire::kNotAnSdkError, "", e.what(), "", "", {});
    send(err);
    return;
  } catch (...) {
    wire::Writer err(wire::Message::kError);
    wire::write_error(err, -1, wire::kNotAnSdkError, "", "unknown exception", "", "", {});
    send(err);
    return;
  }
  send(out);
}

int run(int argc, char** argv) {
  if (argc != 3 || std::string(argv[1]) != "--fd") {
    std::fprintf(stderr,
                 "keel-module-host is started by keel (security.module_isolation = \"process\")\n");
    return 2;
  }
  channel = std::atoi(argv[2]);
  // Nothing of the server but the channel: close every other descriptor above stderr.
  ::close_range(static_cast<unsigned>(channel) + 1, ~0U, 0);
  if (channel > 3) ::close_range(3, static_cast<unsigned>(channel) - 1, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() == 1) return 0;
  ::prctl(PR_SET_DUMPABLE, 0);
  if (::chdir("/") != 0) return 1;
  // Out of memory ends the host with status 3 (the server says so): never a half-built state.
  std::set_new_handler([] { quit(3); });

  std::string body;
  if (wire::receive_frame(channel, body, -1, inbox) != 1) return 0;
  wire::Reader load(std::move(body));
  if (load.type() != wire::Message::kLoad) return 4;
  auto memory_mb = load.i64();
  struct Spec {
    std::string name;
    fs::path file;
    std::string digest;
    std::unique_ptr<LibraryFile> opened;
  };
  std::vector<Spec> specs(load.u32());
  std::set<fs::path> dirs = {"/usr/lib",   "/lib",           "/lib64",
                             "/usr/lib64", "/usr/local/lib", "/etc/ld.so.cache"};
  for (auto& [name, file, digest, opened] : specs) {
    name = load.str();
    file = load.str();
    digest = load.str();
    // Opened and checked now, loaded from this descriptor once confined: the bytes the server
    // checked (signature, ABI note), not whatever the path names later.
    try {
      opened =
          Host::open_checked(name, file, digest.empty() ? std::nullopt : std::optional(digest));
    } catch (const Error& e) {
      send_failure(e.code(), e.what(), e.hint());
      return 0;
    }
    dirs.insert(file.parent_path());
    std::error_code ec;
    auto real = fs::canonical(file, ec);
    if (!ec) dirs.insert(real.parent_path());
  }

  limit(RLIMIT_AS, static_cast<rlim_t>(memory_mb) << 20);
  limit(RLIMIT_FSIZE, 0);    // no file grows
  limit(RLIMIT_CORE, 0);     // no core files
  limit(RLIMIT_NOFILE, 64);  // the libraries and the channel
  limit(RLIMIT_CPU, 3600);   // an hour of CPU in all, then the host restarts
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    send_failure("native.sandbox", "cannot set no_new_privs", "");
    return 1;
  }
  restrict_files(dirs);
  if (!restrict_syscalls()) {
    send_failure("native.sandbox", "cannot install the seccomp filter", "");
    return 1;
  }

  // Only now any module code: static initialisers run confined.
  for (const auto& spec : specs) {
    const std::string& name = spec.name;
    try {
      Host::instance().load_file(name, *spec.opened);
    } catch (const Error& e) {
      send_failure(e.code(), e.what(), e.hint());
      return 0;
    } catch (const std::exception& e) {
      send_failure("native.load", e.what(), "");
      return 0;
    }
    modules.push_back(Host::instance().module(name));
  }
  // Services chain in dependency order, like in the server.
  for (const auto* m : modules)
    for (const auto& s : m->services) {
      auto it = services.find(s.name);
      if (s.policy == sdk::Policy::kNew || it == services.end()) {
        services[s.name] = {s.signature, m->name, s.make(nullptr)};
      } else if (it->second.signature == s.signature) {
        it->second.top = s.make(it->second.top);
      }
    }

  wire::Writer loaded(wire::Message::kLoaded);
  loaded.u32(static_cast<std::uint32_t>(modules.size()));
  for (const auto* m : modules) {
    loaded.str(m->name);
    loaded.u32(static_cast<std::uint32_t>(m->hooks.size()));
    for (const auto& h : m->hooks)
      loaded.str(h.entity).u8(static_cast<std::uint8_t>(h.event));
    loaded.u32(static_cast<std::uint32_t>(m->computes.size()));
    for (const auto& c : m->computes)
      loaded.str(c.entity).str(c.field).u8(static_cast<std::uint8_t>(c.policy));
    loaded.u32(static_cast<std::uint32_t>(m->routes.size()));
    for (const auto& rt : m->routes)
      wire::write_route_doc(loaded.str(rt.method).str(rt.path), rt.doc);
    loaded.u32(static_cast<std::uint32_t>(m->services.size()));
    for (const auto& s : m->services)
      loaded.str(s.name)
          .str(s.signature)
          .u8(static_cast<std::uint8_t>(s.policy))
          .u8(s.bridge ? 1 : 0);
  }
  send(loaded);

  for (;;) {
    if (wire::receive_frame(channel, body, -1, inbox) != 1) return 0;
    wire::Reader r(std::move(body));
    if (r.type() == wire::Message::kServices) {
      set_cross_services(r);
      continue;
    }
    if (r.type() != wire::Message::kCall) return 4;
    dispatch(r);
  }
}

}  // namespace
}  // namespace keel::native

int main(int argc, char** argv) {
  return keel::native::run(argc, argv);
}
