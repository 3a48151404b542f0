#include "schema/field_traits.hpp"

#include <array>

#include "schema/entity.hpp"

namespace keel::schema {

namespace {

using enum FieldType;
using J = JsonShape;
using F = FilterOperators;

// Contract §4 rule 7: an email is at most 254 characters, its column varchar(254).
constexpr int kEmailLength = 254;

// clang-format off
constexpr std::array<FieldTraits, 17> kTraits = {{
 // type        name         column sql_type                   cast                        json          openapi    format       encoding  max           filter       text   int    time   list   search
    {kString,    "string",    true,  "text",                    "text",                     J::kString,   "string",  "",          "",       0,            F::kText,    true,  false, false, true,  true},
    {kText,      "text",      true,  "text",                    "text",                     J::kString,   "string",  "",          "",       0,            F::kText,    true,  false, false, false, false},
    {kInteger,   "integer",   true,  "integer",                 "integer",                  J::kInteger,  "integer", "int32",     "",       0,            F::kOrdered, false, true,  false, true,  false},
    {kBigint,    "bigint",    true,  "bigint",                  "bigint",                   J::kInteger,  "integer", "int64",     "",       0,            F::kOrdered, false, true,  false, true,  false},
    {kDecimal,   "decimal",   true,  "numeric",                 "numeric",                  J::kString,   "string",  "",          "",       0,            F::kOrdered, false, false, false, true,  false},
    {kFloat,     "float",     true,  "double precision",        "double precision",         J::kNumber,   "number",  "double",    "",       0,            F::kOrdered, false, false, false, true,  false},
    {kBoolean,   "boolean",   true,  "boolean",                 "boolean",                  J::kBoolean,  "boolean", "",          "",       0,            F::kOrdered, false, false, false, true,  false},
    {kDate,      "date",      true,  "date",                    "date",                     J::kString,   "string",  "date",      "",       0,            F::kOrdered, false, false, true,  true,  true},
    {kDatetime,  "datetime",  true,  "timestamp with time zone", "timestamp with time zone", J::kDatetime, "string",  "date-time", "",       0,            F::kOrdered, false, false, true,  true,  true},
    {kJson,      "json",      true,  "jsonb",                   "jsonb",                    J::kAny,      "",        "",          "",       0,            F::kEquality, false, false, false, false, false},
    {kSelection, "selection", true,  "text",                    "text",                     J::kString,   "string",  "",          "",       0,            F::kText,    true,  false, false, true,  true},
    {kEmail,     "email",     true,  "character varying(254)",  "text",                     J::kString,   "string",  "email",     "",       kEmailLength, F::kText,    true,  false, false, true,  true},
    {kUrl,       "url",       true,  "text",                    "text",                     J::kString,   "string",  "uri",       "",       0,            F::kText,    true,  false, false, true,  false},
    {kBinary,    "binary",    true,  "bytea",                   "bytea",                    J::kString,   "string",  "",          "base64", 0,            F::kNullOnly, false, false, false, false, false},
    {kMany2one,  "many2one",  true,  "bigint",                  "bigint",                   J::kInteger,  "integer", "int64",     "",       0,            F::kOrdered, false, true,  false, true,  true},
    {kOne2many,  "one2many",  false, "",                        "",                         J::kIdList,   "array",   "",          "",       0,            F::kNone,    false, false, false, false, false},
    {kMany2many, "many2many", false, "",                        "",                         J::kIdList,   "array",   "",          "",       0,            F::kNone,    false, false, false, false, false},
}};
// clang-format on

// The table is in the order of FieldType, so that a type is its index.
constexpr bool in_order() {
  for (std::size_t i = 0; i < kTraits.size(); ++i)
    if (static_cast<std::size_t>(kTraits[i].type) != i) return false;
  return true;
}
static_assert(in_order(), "kTraits lists every FieldType once, in the order of the enum");
static_assert(kTraits.size() == static_cast<std::size_t>(kMany2many) + 1,
              "kTraits has an entry per FieldType");

}  // namespace

const FieldTraits& traits(FieldType type) {
  return kTraits[static_cast<std::size_t>(type)];
}

std::span<const FieldTraits> all_field_traits() {
  return kTraits;
}

std::optional<int> max_length(const Field& f) {
  if (f.type == kString && f.max_length) return f.max_length;
  if (int limit = traits(f.type).max_length; limit > 0) return limit;
  return std::nullopt;
}

}  // namespace keel::schema
