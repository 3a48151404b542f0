// The rules of field attributes by type (schema/field_rules.hpp).

#include "schema/field_rules.hpp"

#include <algorithm>
#include <charconv>
#include <regex>

namespace keel::schema::detail {

bool is_relational(FieldType t) {
  return t == FieldType::kMany2one || t == FieldType::kOne2many || t == FieldType::kMany2many;
}

bool attribute_allowed(std::string_view attr, FieldType t) {
  bool x2many = t == FieldType::kOne2many || t == FieldType::kMany2many;
  if (attr == "max_length") return t == FieldType::kString;
  if (attr == "precision" || attr == "scale") return t == FieldType::kDecimal;
  if (attr == "options") return t == FieldType::kSelection;
  if (attr == "target") return is_relational(t);
  if (attr == "inverse") return t == FieldType::kOne2many;
  if (attr == "on_delete") return t == FieldType::kMany2one;
  // one2many and many2many have no column to constrain, default or index.
  if (attr == "unique" || attr == "default" || attr == "index") return !x2many;
  return true;
}

namespace {

bool is_integer_text(const std::string& s, bool wide) {
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return false;
  return wide || (v >= -2147483648LL && v <= 2147483647LL);
}

// Characters of UTF-8 text: varchar(n) counts characters, not bytes.
size_t utf8_length(const std::string& s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

bool is_calendar_date(const std::string& y, const std::string& m, const std::string& d) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int year = std::stoi(y), month = std::stoi(m), day = std::stoi(d);
  if (month < 1 || month > 12 || day < 1) return false;
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= kDays[month - 1] + (month == 2 && leap ? 1 : 0);
}

}  // namespace

std::string check_default(const Field& f, const std::string& v) {
  static const std::regex kDecimal(R"(^[-+]?(\d+(\.\d*)?|\.\d+)$)");
  static const std::regex kFloat(R"(^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$)");
  static const std::regex kDate(R"(^(\d{4})-(\d{2})-(\d{2})$)");
  static const std::regex kDatetime(
      R"(^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(:(\d{2})(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?$)");
  static const std::regex kEmail(R"(^[^@\s]+@[^@\s]+\.[^@\s]+$)");
  std::smatch m;
  switch (f.type) {
    case FieldType::kString:
      if (f.max_length && utf8_length(v) > static_cast<size_t>(*f.max_length))
        return "is longer than max_length " + std::to_string(*f.max_length);
      return "";
    case FieldType::kInteger:
    case FieldType::kMany2one:
      return is_integer_text(v, f.type == FieldType::kMany2one) ? "" : "is not an integer";
    case FieldType::kBigint:
      return is_integer_text(v, true) ? "" : "is not an integer";
    case FieldType::kDecimal: {
      if (!std::regex_match(v, kDecimal)) return "is not a decimal number";
      if (f.precision == 0) return "";  // numeric without limits
      std::string digits = v[0] == '-' || v[0] == '+' ? v.substr(1) : v;
      auto dot = digits.find('.');
      std::string whole = digits.substr(0, dot);
      std::string fraction = dot == std::string::npos ? "" : digits.substr(dot + 1);
      whole.erase(0, std::min(whole.find_first_not_of('0'), whole.size()));
      fraction.erase(fraction.find_last_not_of('0') + 1);  // trailing zeros lose nothing
      if (static_cast<int>(fraction.size()) > f.scale)
        return "has more than " + std::to_string(f.scale) + " decimals (scale)";
      if (static_cast<int>(whole.size()) > f.precision - f.scale)
        return "does not fit numeric(" + std::to_string(f.precision) + "," +
               std::to_string(f.scale) + ")";
      return "";
    }
    case FieldType::kFloat:
      return std::regex_match(v, kFloat) ? "" : "is not a number";
    case FieldType::kBoolean:
      return (v == "true" || v == "True" || v == "TRUE" || v == "false" || v == "False" ||
              v == "FALSE")
                 ? ""
                 : "is not true or false";
    case FieldType::kDate:
      if (v == "today") return "";
      return std::regex_match(v, m, kDate) && is_calendar_date(m[1], m[2], m[3])
                 ? ""
                 : "is not today or a date YYYY-MM-DD";
    case FieldType::kDatetime:
      if (v == "now") return "";
      return std::regex_match(v, m, kDatetime) && is_calendar_date(m[1], m[2], m[3]) &&
                     std::stoi(m[4]) <= 23 && std::stoi(m[5]) <= 59 &&
                     (!m[7].matched || std::stoi(m[7]) <= 59)
                 ? ""
                 : "is not now or an ISO 8601 time";
    case FieldType::kSelection:
      return std::find(f.options.begin(), f.options.end(), v) != f.options.end()
                 ? ""
                 : "is not one of the options";
    case FieldType::kEmail:
      return std::regex_match(v, kEmail) ? "" : "is not an email address";
    case FieldType::kBinary:
      return "binary fields take no default";
    case FieldType::kJson:
    case FieldType::kText:
    case FieldType::kUrl:
    case FieldType::kOne2many:
    case FieldType::kMany2many:
      return "";
  }
  return "";
}

}  // namespace keel::schema::detail
