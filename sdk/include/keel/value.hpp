#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "keel/decimal.hpp"

namespace keel::sdk {

// JSON text kept as it is (a `json` field, an expanded many2one).
struct RawJson {
  std::string text;
  bool operator==(const RawJson&) const = default;
};

// A field value as module code sees it: the shapes of the REST API. Decimals are strings
// ("12.50") as read (as_decimal() reads them exactly) or a Decimal as module code sets them
// (written as the same exact string), dates "2024-05-01", many2one an id, one2many/many2many a
// list of ids.
class Value {
 public:
  using Ids = std::vector<std::int64_t>;

  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool b) : v_(b) {}
  template <typename T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) Value(T i)
      : v_(static_cast<std::int64_t>(i)) {}
  Value(double d) : v_(d) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(std::string_view s) : v_(std::string(s)) {}
  Value(Ids ids) : v_(std::move(ids)) {}
  Value(RawJson json) : v_(std::move(json)) {}
  Value(Decimal d) : v_(d) {}

  bool is_null() const { return std::holds_alternative<std::monostate>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_int() const { return std::holds_alternative<std::int64_t>(v_); }
  bool is_float() const { return std::holds_alternative<double>(v_); }
  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_ids() const { return std::holds_alternative<Ids>(v_); }
  bool is_json() const { return std::holds_alternative<RawJson>(v_); }
  bool is_decimal() const { return std::holds_alternative<Decimal>(v_); }

  bool as_bool() const { return get<bool>("a boolean"); }
  std::int64_t as_int() const { return get<std::int64_t>("an integer"); }
  const std::string& as_string() const { return get<std::string>("a string"); }
  const Ids& as_ids() const { return get<Ids>("a list of ids"); }
  const RawJson& as_json() const { return get<RawJson>("JSON"); }
  // The exact value of a decimal field (a decimal string as the API answers it, a Decimal, an
  // integer); `fallback` for null. Throws DecimalError for anything else (a float included:
  // money never goes through a double).
  Decimal as_decimal(Decimal fallback = {}) const {
    if (is_null()) return fallback;
    if (const auto* d = std::get_if<Decimal>(&v_)) return *d;
    if (is_int()) return Decimal(as_int());
    if (is_string()) return Decimal::parse(as_string());
    throw DecimalError("the value is not a decimal");
  }
  // A number from an integer, a float or a decimal string; `fallback` for null. Approximate:
  // never for money or quantities (use as_decimal()).
  double as_number(double fallback = 0) const {
    if (is_null()) return fallback;
    if (is_int()) return static_cast<double>(as_int());
    if (is_float()) return std::get<double>(v_);
    if (is_decimal()) throw std::invalid_argument("a Decimal is read with as_decimal()");
    const std::string& s = as_string();
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') throw std::invalid_argument("not a number: \"" + s + "\"");
    return d;
  }

  const auto& variant() const { return v_; }
  bool operator==(const Value&) const = default;

 private:
  template <typename T>
  const T& get(const char* what) const {
    if (const T* p = std::get_if<T>(&v_)) return *p;
    throw std::invalid_argument(std::string("the value is not ") + what);
  }

  std::variant<std::monostate, bool, std::int64_t, double, std::string, Ids, RawJson, Decimal> v_;
};

// A record, or the values of a write: field name -> value, in name order.
class Record {
 public:
  Record() = default;
  Record(std::initializer_list<std::pair<const std::string, Value>> values) : values_(values) {}

  // The record's id; 0 when it has none (the values of a create).
  std::int64_t id() const {
    auto it = values_.find("id");
    return it == values_.end() || !it->second.is_int() ? 0 : it->second.as_int();
  }
  bool has(std::string_view field) const { return values_.find(field) != values_.end(); }
  // The value of `field`; null when it is absent.
  const Value& get(std::string_view field) const {
    static const Value null;
    auto it = values_.find(field);
    return it == values_.end() ? null : it->second;
  }
  void set(std::string field, Value value) { values_[std::move(field)] = std::move(value); }
  void erase(std::string_view field) {
    auto it = values_.find(field);
    if (it != values_.end()) values_.erase(it);
  }
  const std::map<std::string, Value, std::less<>>& fields() const { return values_; }
  bool operator==(const Record&) const = default;

 private:
  std::map<std::string, Value, std::less<>> values_;
};

// JSON text of a value or a record (for filters, route answers and logs).
inline void append_json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  out += '"';
}

inline std::string to_json(const Value& value) {
  std::string out;
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          out = "null";
        } else if constexpr (std::is_same_v<T, bool>) {
          out = v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          out = std::to_string(v);
        } else if constexpr (std::is_same_v<T, double>) {
          // The shortest text that reads back as the same double; JSON has no NaN/Infinity.
          char buf[32];
          auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
          out = std::isfinite(v) ? std::string(buf, end) : "null";
        } else if constexpr (std::is_same_v<T, std::string>) {
          append_json_string(out, v);
        } else if constexpr (std::is_same_v<T, Value::Ids>) {
          out = "[";
          for (size_t i = 0; i < v.size(); ++i)
            out += (i ? "," : "") + std::to_string(v[i]);
          out += "]";
        } else if constexpr (std::is_same_v<T, Decimal>) {
          out = '"' + v.to_string() + '"';  // the API's form of a decimal: exact text
        } else {
          out = v.text;
        }
      },
      value.variant());
  return out;
}

inline std::string to_json(const Record& record) {
  std::string out = "{";
  for (const auto& [name, value] : record.fields()) {
    if (out.size() > 1) out += ',';
    append_json_string(out, name);
    out += ':';
    out += to_json(value);
  }
  return out + "}";
}

}  // namespace keel::sdk
