#pragma once

// What each field type is, in one table (field_traits.cpp): its name in entities files, its
// column and cast in SQL, how its values look in JSON and in OpenAPI, its limits, the filter
// operators it takes and where the default views show it. Code that does something per type
// reads these properties here instead of switching over the types; what genuinely differs per
// type (parsing a value, a default's check) stays a switch at its place. Lean on purpose:
// FieldType is declared, not defined, so including this pulls in nothing heavy.

#include <optional>
#include <span>
#include <string_view>

namespace keel::schema {

enum class FieldType;  // schema/entity.hpp
struct Field;

// How a value is written in a JSON answer (and read from a data file).
enum class JsonShape : unsigned char {
  kString,    // a JSON string (decimals too: exact, contract §4 rule 9)
  kInteger,   // a JSON number without fraction (ids as well)
  kNumber,    // a JSON number; NaN and ±Infinity as strings
  kBoolean,   // true or false
  kAny,       // any JSON value, as stored
  kDatetime,  // a string, RFC 3339
  kIdList,    // an array of ids (one2many, many2many)
};

// The operators a filter may apply to a field (contract §3), besides `null`.
enum class FilterOperators : unsigned char {
  kNone,      // not filterable (one2many, many2many: filter the target's many2one)
  kNullOnly,  // null only (binary)
  kEquality,  // eq, ne (json)
  kOrdered,   // eq, ne, lt, lte, gt, gte, in, nin
  kText,      // kOrdered and like, ilike
};

struct FieldTraits {
  FieldType type;
  std::string_view name;  // as written in entities files
  bool column;            // whether a stored field has a column (not one2many, many2many)
  // The column's SQL type ("" without a column); a string with max_length and a decimal with
  // precision have parameters besides (schema::sql_type).
  std::string_view sql_type;
  std::string_view sql_cast;  // the type a bound parameter is cast to ($1::text)
  JsonShape json;
  std::string_view openapi_type;      // "" when any JSON value
  std::string_view openapi_format;    // "" when none
  std::string_view openapi_encoding;  // contentEncoding, "" when none
  int max_length;                     // a limit of every field of the type, 0 when none
  FilterOperators filter;
  bool textual;       // a JSON string of text (string, text, selection, email, url)
  bool integral;      // an integer (ids included)
  bool temporal;      // a date or a datetime
  bool list_column;   // a column of the default list view
  bool search_field;  // a field of the default search view
};

// The entry of `type`.
const FieldTraits& traits(FieldType type);
// Every type, in contract order (that of FieldType).
std::span<const FieldTraits> all_field_traits();
// The longest value `f` takes, in characters: its max_length, or its type's limit (email 254).
std::optional<int> max_length(const Field& f);

}  // namespace keel::schema
