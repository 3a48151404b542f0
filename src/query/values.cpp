#include "query/values.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>
#include <regex>
#include <vector>

#include "app/json.hpp"
#include "schema/diff.hpp"
#include "schema/field_traits.hpp"

namespace keel::query {

using schema::Field;
using schema::FieldType;

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Code points in a UTF-8 string (varchar(n) counts characters, not bytes).
size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

int days_in_month(int year, int month) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

int number_at(std::string_view s, size_t pos, size_t len) {
  int v = 0;
  for (size_t i = pos; i < pos + len; ++i)
    v = v * 10 + (s[i] - '0');
  return v;
}

// "YYYY-MM-DD" with a real day (1..9999).
bool valid_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (!is_digit(s[i])) return false;
  int year = number_at(s, 0, 4), month = number_at(s, 5, 2), day = number_at(s, 8, 2);
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= days_in_month(year, month);
}

// ISO 8601 date and time, "T" or a space between, seconds and fraction optional, then "Z" or
// an offset (+HH, +HHMM, +HH:MM) or nothing (UTC); a date alone is midnight UTC. Returns the
// text with an offset.
std::optional<std::string> valid_datetime(std::string_view s) {
  if (valid_date(s)) return std::string(s) + " 00:00:00+00";  // a date alone: midnight UTC
  static const std::regex kDatetime(
      R"(^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$)");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_match(s.begin(), s.end(), m, kDatetime)) return std::nullopt;
  if (!valid_date(std::string_view(&*m[1].first, 10))) return std::nullopt;
  auto num = [&](int i) { return m[i].matched ? std::stoi(m[i].str()) : 0; };
  if (num(2) > 23 || num(3) > 59 || num(4) > 59) return std::nullopt;
  if (m[5].matched) {
    std::string off = m[5].str();
    if (off.size() > 1 && (std::stoi(off.substr(1, 2)) > 15 ||
                           (off.size() > 3 && std::stoi(off.substr(off.size() - 2)) > 59)))
      return std::nullopt;
    return std::string(s);
  }
  return std::string(s) + "+00";
}

bool valid_email(std::string_view s) {
  static const std::regex kEmail(R"(^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$)");
  // The email limit of the field type (254), counted here in bytes.
  return s.size() <= static_cast<size_t>(schema::traits(FieldType::kEmail).max_length) &&
         std::regex_match(s.begin(), s.end(), kEmail);
}

bool valid_url(std::string_view s) {
  static const std::regex kUrl(R"(^[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#]+([/?#]\S*)?$)");
  return std::regex_match(s.begin(), s.end(), kUrl);
}

bool valid_base64(std::string_view s) {
  if (s.size() % 4 != 0) return false;
  size_t pad = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '=') {
      if (i < s.size() - 2) return false;
      ++pad;
    } else if (pad || !(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/')) {
      return false;
    }
  }
  return true;
}

// Digits of a decimal number in plain or exponent notation: before and after the point,
// leading and trailing zeros left out. False when `s` is not a number.
bool decimal_digits(std::string_view s, long& int_digits, long& frac_digits) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  std::string digits;
  long point = -1;
  for (; i < s.size() && (is_digit(s[i]) || s[i] == '.'); ++i) {
    if (s[i] == '.') {
      if (point >= 0) return false;
      point = static_cast<long>(digits.size());
    } else {
      digits += s[i];
    }
  }
  if (digits.empty()) return false;
  if (point < 0) point = static_cast<long>(digits.size());
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool negative = i < s.size() && s[i] == '-';
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (i == s.size()) return false;
    long exponent = 0;
    for (; i < s.size() && is_digit(s[i]); ++i) {
      exponent = exponent * 10 + (s[i] - '0');
      if (exponent > 100000) return false;
    }
    point += negative ? -exponent : exponent;
  }
  if (i != s.size()) return false;
  size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) {
    int_digits = frac_digits = 0;
    return true;
  }
  point -= static_cast<long>(first);
  digits.erase(0, first);
  long last = static_cast<long>(digits.find_last_not_of('0'));
  if (last + 1 > point) digits.erase(static_cast<size_t>(std::max(last + 1, point)));
  int_digits = std::max(point, 0L);
  frac_digits = std::max(static_cast<long>(digits.size()) - point, 0L);
  return true;
}

std::optional<std::string> integer_text(const rapidjson::Value& v, bool small, std::string& error) {
  if (!v.IsNumber() || v.IsDouble()) {
    error = "must be an integer";
    if (v.IsDouble() && std::floor(v.GetDouble()) == v.GetDouble() &&
        std::fabs(v.GetDouble()) > 9.2e18)
      error = small ? "is out of range for an integer (-2147483648 to 2147483647)"
                    : "is out of range for a bigint";
    return std::nullopt;
  }
  if (!v.IsInt64() || (small && !v.IsInt())) {
    error = small ? "is out of range for an integer (-2147483648 to 2147483647)"
                  : "is out of range for a bigint";
    return std::nullopt;
  }
  return std::to_string(v.GetInt64());
}

bool has_nul(std::string_view s) {
  return s.find('\0') != std::string_view::npos;
}

// Whether a string or a key anywhere in `v` holds NUL; walked without recursion.
bool json_has_nul(const rapidjson::Value& v) {
  std::vector<const rapidjson::Value*> stack{&v};
  while (!stack.empty()) {
    const rapidjson::Value* value = stack.back();
    stack.pop_back();
    if (value->IsString()) {
      if (has_nul({value->GetString(), value->GetStringLength()})) return true;
    } else if (value->IsArray()) {
      for (const auto& item : value->GetArray())
        stack.push_back(&item);
    } else if (value->IsObject()) {
      for (const auto& m : value->GetObject()) {
        if (has_nul({m.name.GetString(), m.name.GetStringLength()})) return true;
        stack.push_back(&m.value);
      }
    }
  }
  return false;
}

}  // namespace

std::string number_text(const rapidjson::Value& number) {
  if (number.IsInt64()) return std::to_string(number.GetInt64());
  if (number.IsUint64()) return std::to_string(number.GetUint64());
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  number.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

bool is_textual(const Field& field) {
  return schema::traits(field.type).textual;
}

std::optional<std::string> to_sql_text(const Field& field, const rapidjson::Value& v,
                                       ValueCheck check, std::string& error,
                                       std::string_view source) {
  const bool full = check == ValueCheck::kFull;
  if (is_textual(field)) {
    if (!v.IsString()) {
      error = "must be a string";
      return std::nullopt;
    }
    std::string_view s(v.GetString(), v.GetStringLength());
    if (has_nul(s)) {
      error = "must not contain NUL characters";
      return std::nullopt;
    }
    if (full) {
      if (field.type == FieldType::kString && field.max_length &&
          utf8_length(s) > static_cast<size_t>(*field.max_length)) {
        error = "is longer than " + std::to_string(*field.max_length) + " characters";
        return std::nullopt;
      }
      if (field.type == FieldType::kSelection &&
          std::find(field.options.begin(), field.options.end(), s) == field.options.end()) {
        error = "must be one of:";
        for (size_t i = 0; i < field.options.size(); ++i)
          error += (i ? ", " : " ") + field.options[i];
        return std::nullopt;
      }
      if (field.type == FieldType::kEmail && !valid_email(s)) {
        error = "is not a valid email address";
        return std::nullopt;
      }
      if (field.type == FieldType::kUrl && !valid_url(s)) {
        error = "is not a valid URL (scheme://host/...)";
        return std::nullopt;
      }
    }
    return std::string(s);
  }
  switch (field.type) {
    case FieldType::kInteger:
      return integer_text(v, true, error);
    case FieldType::kBigint:
      return integer_text(v, false, error);
    case FieldType::kMany2one: {
      if (v.IsObject()) {
        auto id = v.FindMember("id");
        if (id != v.MemberEnd() && v.MemberCount() == 1)
          return integer_text(id->value, false, error);
        error = "must be an id or {\"id\": id}";
        return std::nullopt;
      }
      auto text = integer_text(v, false, error);
      if (!text) error = "must be the id of a " + field.target + " record";
      return text;
    }
    case FieldType::kDecimal: {
      std::string text;
      if (v.IsString())
        text.assign(v.GetString(), v.GetStringLength());
      else if (v.IsNumber())
        text = source.empty() ? number_text(v) : std::string(source);
      else {
        error = "must be a decimal number (a string such as \"12.50\", or a number)";
        return std::nullopt;
      }
      long int_digits = 0, frac_digits = 0;
      if (!decimal_digits(text, int_digits, frac_digits)) {
        error = "must be a decimal number (a string such as \"12.50\", or a number)";
        return std::nullopt;
      }
      if (full && field.precision > 0) {
        if (frac_digits > field.scale) {
          error = "has more than " + std::to_string(field.scale) + " decimal places";
          return std::nullopt;
        }
        if (int_digits > field.precision - field.scale) {
          error = "is too large: at most " + std::to_string(field.precision - field.scale) +
                  " digits before the decimal point";
          return std::nullopt;
        }
      }
      return text;
    }
    case FieldType::kFloat:
      if (!v.IsNumber()) {
        error = "must be a number";
        return std::nullopt;
      }
      return number_text(v);
    case FieldType::kBoolean:
      if (!v.IsBool()) {
        error = "must be true or false";
        return std::nullopt;
      }
      return std::string(v.GetBool() ? "true" : "false");
    case FieldType::kDate:
      if (!v.IsString() || !valid_date(std::string_view(v.GetString(), v.GetStringLength()))) {
        error = "must be a date (YYYY-MM-DD)";
        return std::nullopt;
      }
      return std::string(v.GetString(), v.GetStringLength());
    case FieldType::kDatetime: {
      std::optional<std::string> text;
      if (v.IsString()) text = valid_datetime(std::string_view(v.GetString(), v.GetStringLength()));
      if (!text) error = "must be an ISO 8601 date and time (YYYY-MM-DDTHH:MM:SSZ)";
      return text;
    }
    case FieldType::kJson: {
      if (int depth = json::depth(v); depth > json::limits().value_depth) {
        error = "is nested deeper than " + std::to_string(json::limits().value_depth) +
                " levels (limits.json_value_depth)";
        return std::nullopt;
      }
      if (json_has_nul(v)) {
        error = "must not contain NUL characters (\\u0000)";
        return std::nullopt;
      }
      if (!source.empty()) return std::string(source);
      rapidjson::StringBuffer buffer;
      rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
      v.Accept(writer);
      return std::string(buffer.GetString(), buffer.GetSize());
    }
    case FieldType::kBinary:
      if (!v.IsString() || !valid_base64(std::string_view(v.GetString(), v.GetStringLength()))) {
        error = "must be base64 text";
        return std::nullopt;
      }
      return std::string(v.GetString(), v.GetStringLength());
    default:
      error = "cannot be given a single value";
      return std::nullopt;
  }
}

std::string param_type(const Field& field) {
  return std::string(schema::traits(field.type).sql_cast);
}

std::string param_expr(const Field& field, size_t index) {
  std::string p = "$" + std::to_string(index);
  if (field.type == FieldType::kBinary) return "decode(" + p + "::text, 'base64')";
  return p + "::" + param_type(field);
}

}  // namespace keel::query
