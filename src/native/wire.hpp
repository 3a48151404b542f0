#pragma once

// The binary protocol between the server and a module host (docs/native.md "Isolation"):
// frames of a 4-byte little-endian length and a body whose first byte is the message type.
// Integers are 8 bytes little-endian, strings a 4-byte length and the bytes, values a tag byte
// and their payload. Each SDK Value alternative has a fixed tag (encode() refuses to compile
// for an alternative without one), so a new one is a new tag: old hosts refuse it by name.

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "keel/env.hpp"
#include "keel/errors.hpp"
#include "keel/http.hpp"
#include "keel/records.hpp"
#include "keel/value.hpp"

namespace keel::native::wire {

enum class Message : std::uint8_t {
  kLoad = 1,           // server -> host: limits, then the modules to load, in dependency order
  kLoaded = 2,         // host -> server: what every module registered
  kCall = 3,           // server -> host: run a hook, a computed page or a route
  kResult = 4,         // host -> server: the call's answer
  kError = 5,          // host -> server: the call (or the load) failed
  kRecords = 6,        // host -> server: module code calls env.records()/elevated()
  kRecordsResult = 7,  // server -> host
  kRecordsError = 8,   // server -> host
  kLog = 9,            // host -> server: env.log(), no answer
  kServices = 10,      // server -> host: the service chains that cross between them, no answer
  kServiceCall = 11,   // host -> server: call a server level of such a chain (answered as kRecords)
};

// kService: a host level of a service chain that crosses (its arguments, one record each).
enum class Call : std::uint8_t { kHook = 1, kCompute = 2, kRoute = 3, kService = 4 };
enum class RecordsOp : std::uint8_t { kList = 1, kRead = 2, kCreate = 3, kUpdate = 4, kRemove = 5 };

// Value tags: never reuse a number.
enum class Tag : std::uint8_t {
  kNull = 0,
  kBool = 1,
  kInt = 2,
  kFloat = 3,
  kString = 4,
  kIds = 5,
  kJson = 6,
  kDecimal = 7,  // exact text ("12.50"): never a double
};

struct ProtocolError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Writer {
 public:
  explicit Writer(Message type) { out_.resize(4), out_.push_back(static_cast<char>(type)); }

  Writer& u8(std::uint8_t v) {
    out_.push_back(static_cast<char>(v));
    return *this;
  }
  Writer& i64(std::int64_t v) {
    auto u = static_cast<std::uint64_t>(v);
    for (int i = 0; i < 8; ++i)
      out_.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
    return *this;
  }
  Writer& str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
    return *this;
  }
  Writer& value(const sdk::Value& value) {
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::monostate>) {
            tag(Tag::kNull);
          } else if constexpr (std::is_same_v<T, bool>) {
            tag(Tag::kBool).u8(v ? 1 : 0);
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            tag(Tag::kInt).i64(v);
          } else if constexpr (std::is_same_v<T, double>) {
            std::int64_t bits;
            std::memcpy(&bits, &v, sizeof bits);
            tag(Tag::kFloat).i64(bits);
          } else if constexpr (std::is_same_v<T, std::string>) {
            tag(Tag::kString).str(v);
          } else if constexpr (std::is_same_v<T, sdk::Value::Ids>) {
            tag(Tag::kIds).u32(static_cast<std::uint32_t>(v.size()));
            for (auto id : v)
              i64(id);
          } else if constexpr (std::is_same_v<T, sdk::RawJson>) {
            tag(Tag::kJson).str(v.text);
          } else if constexpr (std::is_same_v<T, sdk::Decimal>) {
            tag(Tag::kDecimal).str(v.to_string());
          } else {
            static_assert(sizeof(T) == 0, "a Value alternative without a wire tag: add one");
          }
        },
        value.variant());
    return *this;
  }
  Writer& record(const sdk::Record& r) {
    u32(static_cast<std::uint32_t>(r.fields().size()));
    for (const auto& [name, v] : r.fields())
      str(name).value(v);
    return *this;
  }
  Writer& strings(const std::vector<std::string>& list) {
    u32(static_cast<std::uint32_t>(list.size()));
    for (const auto& s : list)
      str(s);
    return *this;
  }
  Writer& field_errors(const std::vector<sdk::FieldError>& errors) {
    u32(static_cast<std::uint32_t>(errors.size()));
    for (const auto& e : errors)
      str(e.field).str(e.message);
    return *this;
  }
  Writer& u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i)
      out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    return *this;
  }

  // The frame, length included.
  const std::string& frame() {
    auto n = static_cast<std::uint32_t>(out_.size() - 4);
    for (int i = 0; i < 4; ++i)
      out_[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
    return out_;
  }

 private:
  Writer& tag(Tag t) { return u8(static_cast<std::uint8_t>(t)); }
  std::string out_;
};

// Reads a frame's body (after the length); throws ProtocolError past its end.
class Reader {
 public:
  explicit Reader(std::string body) : body_(std::move(body)) {}

  Message type() const { return static_cast<Message>(body_.empty() ? 0 : body_[0]); }
  std::uint8_t u8() { return static_cast<std::uint8_t>(take(1)[0]); }
  std::uint32_t u32() {
    auto p = take(4);
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
      v |= static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
    return v;
  }
  std::int64_t i64() {
    auto p = take(8);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
      v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
    return static_cast<std::int64_t>(v);
  }
  std::string str() {
    auto n = u32();
    return std::string(take(n), n);
  }
  sdk::Value value() {
    auto t = static_cast<Tag>(u8());
    switch (t) {
      case Tag::kNull:
        return {};
      case Tag::kBool:
        return u8() != 0;
      case Tag::kInt:
        return i64();
      case Tag::kFloat: {
        std::int64_t bits = i64();
        double d;
        std::memcpy(&d, &bits, sizeof d);
        return d;
      }
      case Tag::kString:
        return str();
      case Tag::kIds: {
        sdk::Value::Ids ids(count(8));
        for (auto& id : ids)
          id = i64();
        return ids;
      }
      case Tag::kJson:
        return sdk::RawJson{str()};
      case Tag::kDecimal:
        return sdk::Decimal::parse(str());
    }
    throw ProtocolError("unknown value tag " + std::to_string(static_cast<int>(t)) +
                        " (a module host of another Keel version?)");
  }
  sdk::Record record() {
    sdk::Record r;
    for (auto n = count(5); n > 0; --n) {
      auto name = str();
      r.set(std::move(name), value());
    }
    return r;
  }
  std::vector<std::string> strings() {
    std::vector<std::string> out(count(4));
    for (auto& s : out)
      s = str();
    return out;
  }
  std::vector<sdk::FieldError> field_errors() {
    std::vector<sdk::FieldError> out(count(8));
    for (auto& e : out) {
      e.field = str();
      e.message = str();
    }
    return out;
  }

 private:
  // A count of items of at least `min_size` bytes each, checked against what is left.
  size_t count(size_t min_size) {
    auto n = u32();
    if (n * min_size > body_.size() - pos_) throw ProtocolError("truncated message");
    return n;
  }
  const char* take(size_t n) {
    if (n > body_.size() - pos_) throw ProtocolError("truncated message");
    const char* p = body_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::string body_;
  size_t pos_ = 1;  // after the type
};

// Caller and request shapes.
inline void write_caller(Writer& w, const sdk::Caller& c) {
  w.i64(c.user_id).str(c.login).u8(c.admin ? 1 : 0).strings(c.roles);
}
inline sdk::Caller read_caller(Reader& r) {
  sdk::Caller c;
  c.user_id = r.i64();
  c.login = r.str();
  c.admin = r.u8() != 0;
  c.roles = r.strings();
  return c;
}

inline void write_map(Writer& w, const std::map<std::string, std::string, std::less<>>& m) {
  w.u32(static_cast<std::uint32_t>(m.size()));
  for (const auto& [k, v] : m)
    w.str(k).str(v);
}
inline std::map<std::string, std::string, std::less<>> read_map(Reader& r) {
  std::map<std::string, std::string, std::less<>> m;
  for (auto n = r.u32(); n > 0; --n) {
    auto k = r.str();
    m[std::move(k)] = r.str();
  }
  return m;
}

// A route's description (sdk::RouteDoc), sent with the routes a host's modules registered.
inline void write_route_doc(Writer& w, const sdk::RouteDoc& d) {
  w.str(d.summary).str(d.description).str(d.operation_id).strings(d.tags);
  w.u32(static_cast<std::uint32_t>(d.parameters.size()));
  for (const auto& p : d.parameters)
    w.str(p.name).str(p.in).str(p.description).str(p.type).u8(p.required ? 1 : 0).str(p.ref);
  w.str(d.body);
  w.u32(static_cast<std::uint32_t>(d.responses.size()));
  for (const auto& a : d.responses)
    w.str(a.status)
        .str(a.description)
        .str(a.schema)
        .str(a.content_type)
        .strings(a.headers)
        .str(a.ref);
  w.u8(d.open ? 1 : 0);
}
inline sdk::RouteDoc read_route_doc(Reader& r) {
  sdk::RouteDoc d;
  d.summary = r.str();
  d.description = r.str();
  d.operation_id = r.str();
  d.tags = r.strings();
  // One at a time: a count that the frame does not hold fails reading, never allocates.
  for (auto n = r.u32(); n > 0; --n) {
    auto& p = d.parameters.emplace_back();
    p.name = r.str();
    p.in = r.str();
    p.description = r.str();
    p.type = r.str();
    p.required = r.u8() != 0;
    p.ref = r.str();
  }
  d.body = r.str();
  for (auto n = r.u32(); n > 0; --n) {
    auto& a = d.responses.emplace_back();
    a.status = r.str();
    a.description = r.str();
    a.schema = r.str();
    a.content_type = r.str();
    a.headers = r.strings();
    a.ref = r.str();
  }
  d.open = r.u8() != 0;
  return d;
}

// sdk::Error as it travels: the index of the server-side failure it carries on (-1: none), so
// the server rethrows its own exception; its kind (sdk::ErrorKind's value, kNotAnSdkError for
// another exception of module code, whose message goes to the log only), code, message, hint,
// detail and field errors.
inline constexpr std::uint8_t kNotAnSdkError = 0xff;
inline void write_error(Writer& w, std::int64_t token, std::uint8_t kind, std::string_view code,
                        std::string_view message, std::string_view hint, std::string_view detail,
                        const std::vector<sdk::FieldError>& errors) {
  w.i64(token).u8(kind).str(code).str(message).str(hint).str(detail).field_errors(errors);
}
inline void write_error(Writer& w, const sdk::Error& e, std::int64_t token) {
  write_error(w, token, static_cast<std::uint8_t>(e.kind()), e.code(), e.what(), e.hint(),
              e.detail(), e.errors());
}
struct ErrorFrame {
  std::int64_t token = -1;
  std::uint8_t kind = kNotAnSdkError;
  std::string code, message, hint, detail;
  std::vector<sdk::FieldError> errors;
};
inline ErrorFrame read_error(Reader& r) {
  ErrorFrame e;
  e.token = r.i64();
  e.kind = r.u8();
  e.code = r.str();
  e.message = r.str();
  e.hint = r.str();
  e.detail = r.str();
  e.errors = r.field_errors();
  return e;
}

// Sends/receives whole frames on a blocking descriptor; false on EOF or error.
bool send_frame(int fd, const std::string& frame);
// Reads one frame; deadline_ms < 0 waits forever. Returns 1 with a frame, 0 on EOF/error,
// -1 when the deadline passed first. `pending` holds the channel's bytes read past the frame (one
// per channel, empty when it opens): a frame takes one read, not one for its length and one for
// its body.
int receive_frame(int fd, std::string& body, int deadline_ms, std::string& pending);

}  // namespace keel::native::wire
