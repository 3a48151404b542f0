#pragma once

#include <rapidjson/document.h>

#include <optional>
#include <string>
#include <string_view>

#include "schema/entity.hpp"

namespace keel::query {

// How much of a field's definition a value is checked against.
enum class ValueCheck {
  kType,  // filters: type and format only (a longer string simply matches nothing)
  kFull,  // writes: also max_length, selection options, email/url format, decimal digits
};

// The text PostgreSQL reads for the JSON `value` (not null) of a stored `field`, or nullopt
// with `error` set to a message for the user ("must be an integer", ...). Integers are range
// checked (integer: 32 bits, bigint and ids: 64 bits), dates and datetimes checked for
// validity (a datetime without an offset is UTC, a date alone midnight UTC), decimals accepted as
// strings or numbers, json as any JSON value, binary as base64. Strings holding NUL are refused
// (PostgreSQL text cannot hold it). A many2one takes an id or an object {"id": N}.
// `source`, when known, is the value's own JSON text (json::try_parse's members): a decimal given
// as a number and a json value are then taken from it with every digit, never through a double.
// A json value is refused when nested deeper than json::limits().value_depth or when a string in
// it holds NUL (\u0000, which PostgreSQL's jsonb cannot hold).
std::optional<std::string> to_sql_text(const schema::Field& field, const rapidjson::Value& value,
                                       ValueCheck check, std::string& error,
                                       std::string_view source = {});

// The type a parameter for `field` is cast to: sql_type() without length or precision
// (character varying(n) -> text, numeric(p,s) -> numeric), because an explicit cast to them
// would truncate or round silently; writes are checked by the column's own type.
std::string param_type(const schema::Field& field);

// The SQL expression of parameter `index` ($index) for `field`: "$3::bigint", and
// "decode($3::text, 'base64')" for binary.
std::string param_expr(const schema::Field& field, size_t index);

// The JSON text of a number as written by RapidJSON (the shortest exact form of a double).
std::string number_text(const rapidjson::Value& number);

// Whether `field` holds text that like/ilike can match.
bool is_textual(const schema::Field& field);

}  // namespace keel::query
