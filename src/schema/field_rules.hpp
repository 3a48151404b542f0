#pragma once

// The rules of field attributes by type (schema/field_rules.cpp): which attributes a type
// takes, and whether a default is a value of the field.

#include <string>
#include <string_view>

#include "schema/entity.hpp"

namespace keel::schema::detail {

// many2one, one2many or many2many: a field with a target.
bool is_relational(FieldType t);

// Which attributes make sense for which types.
bool attribute_allowed(std::string_view attr, FieldType t);

// Checks a default against the field's type; returns the problem, or "" when it is fine.
std::string check_default(const Field& f, const std::string& v);

}  // namespace keel::schema::detail
