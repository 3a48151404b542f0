#include "schema/registry_cache.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>

#include "modules/manifest.hpp"
#include "schema/registry.hpp"

namespace keel::schema {
namespace fs = std::filesystem;

namespace {

// Bump when the serialised form changes. The sizes below also change the key when a member is
// added to Field or Entity; the static_asserts make whoever adds one update write()/read().
constexpr std::uint32_t kFormat = 1;
constexpr char kMagic[8] = {'K', 'E', 'E', 'L', 'R', 'E', 'G', '1'};
static_assert(sizeof(SourceLocation) == 48, "SourceLocation changed: update registry_cache.cpp");
static_assert(sizeof(Field) == 488, "Field changed: update write()/read() in registry_cache.cpp");
static_assert(sizeof(Entity) == 288, "Entity changed: update write()/read() in registry_cache.cpp");

class Writer {
 public:
  void u32(std::uint32_t v) { out_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void i32(int v) { u32(static_cast<std::uint32_t>(v)); }
  void boolean(bool v) { out_.push_back(v ? 1 : 0); }
  void str(const std::string& s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
  }
  void strings(const std::vector<std::string>& list) {
    u32(static_cast<std::uint32_t>(list.size()));
    for (const auto& s : list)
      str(s);
  }
  void opt(const std::optional<std::string>& s) {
    boolean(s.has_value());
    if (s) str(*s);
  }
  // Locations name their file by its index in a table written once, after the body.
  void location(const SourceLocation& l) {
    auto [it, fresh] = files_.emplace(l.file.native(), static_cast<std::uint32_t>(files_.size()));
    u32(it->second);
    i32(l.line);
    i32(l.column);
  }
  // The file table, then the body.
  std::string take() {
    std::vector<const std::string*> by_index(files_.size());
    for (const auto& [file, index] : files_)
      by_index[index] = &file;
    std::string body = std::move(out_);
    out_.clear();
    u32(static_cast<std::uint32_t>(by_index.size()));
    for (const auto* file : by_index)
      str(*file);
    return out_ + body;
  }

 private:
  std::string out_;
  std::map<std::string, std::uint32_t> files_;
};

// Every read is bounds-checked: a short or damaged entry sets `ok` false and reads zeros.
class Reader {
 public:
  explicit Reader(const std::string& in) : in_(in) {}
  bool ok() const { return ok_; }
  void fail() { ok_ = false; }
  bool at_end() const { return pos_ == in_.size(); }

  std::uint32_t u32() {
    std::uint32_t v = 0;
    if (!take(sizeof v)) return 0;
    std::memcpy(&v, in_.data() + pos_ - sizeof v, sizeof v);
    return v;
  }
  int i32() { return static_cast<int>(u32()); }
  bool boolean() {
    if (!take(1)) return false;
    return in_[pos_ - 1] != 0;
  }
  std::string str() {
    std::uint32_t n = u32();
    if (!take(n)) return {};
    return in_.substr(pos_ - n, n);
  }
  // A count of items, each at least one byte: larger than what is left means damage.
  std::uint32_t count() {
    std::uint32_t n = u32();
    if (n > in_.size() - pos_) ok_ = false;
    return ok_ ? n : 0;
  }
  std::vector<std::string> strings() {
    std::vector<std::string> out(count());
    for (auto& s : out)
      s = str();
    return out;
  }
  std::optional<std::string> opt() {
    if (!boolean()) return std::nullopt;
    return str();
  }
  void read_files() {
    files_.resize(count());
    for (auto& f : files_)
      f = str();
  }
  SourceLocation location() {
    SourceLocation l;
    auto index = u32();
    if (index < files_.size())
      l.file = files_[index];
    else
      ok_ = false;
    l.line = i32();
    l.column = i32();
    return l;
  }

 private:
  bool take(size_t n) {
    if (!ok_ || n > in_.size() - pos_) {
      ok_ = false;
      return false;
    }
    pos_ += n;
    return true;
  }
  const std::string& in_;
  size_t pos_ = 0;
  bool ok_ = true;
  std::vector<std::filesystem::path> files_;
};

void write(Writer& w, const Field& f) {
  w.str(f.name);
  w.u32(static_cast<std::uint32_t>(f.type));
  w.str(f.label);
  w.str(f.help);
  for (bool b : {f.required, f.unique, f.index, f.readonly, f.secret, f.computed, f.store})
    w.boolean(b);
  w.strings(f.depends);
  w.u32(static_cast<std::uint32_t>(f.depends_at.size()));
  for (const auto& l : f.depends_at)
    w.location(l);
  w.boolean(f.max_length.has_value());
  if (f.max_length) w.i32(*f.max_length);
  w.i32(f.precision);
  w.i32(f.scale);
  w.strings(f.options);
  w.str(f.target);
  w.str(f.inverse);
  w.u32(static_cast<std::uint32_t>(f.on_delete));
  w.opt(f.default_value);
  w.strings(f.roles);
  w.str(f.module);
  w.strings(f.changed_by);
  w.u32(static_cast<std::uint32_t>(f.set_by.size()));
  for (const auto& [attr, module] : f.set_by) {
    w.str(attr);
    w.str(module);
  }
  w.location(f.location);
}

Field read_field(Reader& r) {
  Field f;
  f.name = r.str();
  auto type = r.u32();
  if (type > static_cast<std::uint32_t>(FieldType::kMany2many)) r.fail();
  f.type = static_cast<FieldType>(type);
  f.label = r.str();
  f.help = r.str();
  for (bool* b : {&f.required, &f.unique, &f.index, &f.readonly, &f.secret, &f.computed, &f.store})
    *b = r.boolean();
  f.depends = r.strings();
  f.depends_at.resize(r.count());
  for (auto& l : f.depends_at)
    l = r.location();
  if (r.boolean()) f.max_length = r.i32();
  f.precision = r.i32();
  f.scale = r.i32();
  f.options = r.strings();
  f.target = r.str();
  f.inverse = r.str();
  auto on_delete = r.u32();
  if (on_delete > static_cast<std::uint32_t>(OnDelete::kSetNull)) r.fail();
  f.on_delete = static_cast<OnDelete>(on_delete);
  f.default_value = r.opt();
  f.roles = r.strings();
  f.module = r.str();
  f.changed_by = r.strings();
  for (auto n = r.count(); n > 0 && r.ok(); --n) {
    std::string attr = r.str();
    f.set_by[attr] = r.str();
  }
  f.location = r.location();
  return f;
}

std::string hex(const unsigned char* bytes, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(digits[bytes[i] >> 4]);
    out.push_back(digits[bytes[i] & 15]);
  }
  return out;
}

std::optional<std::string> read_all(const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<size_t>(st.st_size));
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// The key of `modules`' registry, or nullopt when an entity file cannot be listed or read
// (Registry::build then reports it).
std::optional<std::string> cache_key(const std::vector<const modules::Manifest*>& modules) {
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, 32);
  auto feed = [&](std::string_view s) {
    std::uint64_t n = s.size();
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(&n), sizeof n);
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(s.data()), s.size());
  };
  feed(KEEL_VERSION);
  feed(std::to_string(kFormat) + "/" + std::to_string(sizeof(Field)) + "/" +
       std::to_string(sizeof(Entity)));
  for (const auto* m : modules) {
    feed(m->name);
    feed(m->version.to_string());
    Diagnostics quiet;
    auto files = modules::expand_patterns(*m, m->entities, quiet);
    if (quiet.has_errors()) return std::nullopt;
    feed(std::to_string(files.size()));
    for (const auto& file : files) {
      auto text = read_all(file);
      if (!text) return std::nullopt;
      feed(file.native());
      feed(*text);
    }
  }
  unsigned char out[32];
  crypto_generichash_final(&state, out, sizeof out);
  return hex(out, sizeof out);
}

void store(const fs::path& dir, const std::string& key, const std::string& data) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  fs::path final = dir / ("registry-" + key + ".bin");
  fs::path temp = dir / ("registry-" + key + ".tmp" + std::to_string(::getpid()));
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out) {
      spdlog::debug("registry cache: cannot write {}", temp.string());
      fs::remove(temp, ec);
      return;
    }
  }
  fs::rename(temp, final, ec);
  if (ec) {
    spdlog::debug("registry cache: cannot write {}: {}", final.string(), ec.message());
    fs::remove(temp, ec);
    return;
  }
  // Entries of other module sets are stale once this one is written.
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (name.rfind("registry-", 0) == 0 && it->path() != final &&
        it->path().extension() == ".bin") {
      std::error_code ignored;
      fs::remove(it->path(), ignored);
    }
  }
}

}  // namespace

std::string serialize_registry(const Registry& registry) {
  Writer body;
  body.strings(registry.modules());
  body.u32(static_cast<std::uint32_t>(registry.entities().size()));
  for (const auto& e : registry.entities()) {
    body.str(e.name);
    body.str(e.table);
    body.str(e.label);
    body.str(e.title);
    body.str(e.order);
    body.u32(static_cast<std::uint32_t>(e.fields.size()));
    for (const auto& f : e.fields)
      write(body, f);
    body.str(e.module);
    body.strings(e.extended_by);
    body.location(e.location);
  }
  return std::string(kMagic, sizeof kMagic) + body.take();
}

std::shared_ptr<const Registry> deserialize_registry(const std::string& data) {
  if (data.size() < sizeof kMagic || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0)
    return nullptr;
  std::string body = data.substr(sizeof kMagic);
  Reader r(body);
  r.read_files();
  auto modules = r.strings();
  std::vector<Entity> entities(r.count());
  for (auto& e : entities) {
    e.name = r.str();
    e.table = r.str();
    e.label = r.str();
    e.title = r.str();
    e.order = r.str();
    e.fields.resize(r.count());
    for (auto& f : e.fields)
      if (r.ok()) f = read_field(r);
    e.module = r.str();
    e.extended_by = r.strings();
    e.location = r.location();
    if (!r.ok()) return nullptr;
  }
  if (!r.ok() || !r.at_end()) return nullptr;
  return Registry::assemble(std::move(entities), std::move(modules));
}

std::shared_ptr<const Registry> build_registry_cached(
    const std::vector<const modules::Manifest*>& modules, Diagnostics& diagnostics,
    const fs::path& cache_dir) {
  std::optional<std::string> key;
  if (!cache_dir.empty()) key = cache_key(modules);
  if (key) {
    fs::path file = cache_dir / ("registry-" + *key + ".bin");
    if (auto data = read_all(file)) {
      if (auto registry = deserialize_registry(*data)) {
        spdlog::debug("registry cache: {} entities from {}", registry->entities().size(),
                      file.string());
        return registry;
      }
      spdlog::warn("registry cache: {} is damaged; building the registry from the module files",
                   file.string());
    }
  }
  Diagnostics mine;
  auto registry = Registry::build(modules, mine);
  if (key && mine.empty()) store(cache_dir, *key, serialize_registry(*registry));
  diagnostics.append(mine);
  return registry;
}

}  // namespace keel::schema
