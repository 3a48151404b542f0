#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/error.hpp"

namespace keel::schema {

enum class FieldType {
  kString,
  kText,
  kInteger,
  kBigint,
  kDecimal,
  kFloat,
  kBoolean,
  kDate,
  kDatetime,
  kJson,
  kSelection,
  kEmail,
  kUrl,
  kBinary,
  kMany2one,
  kOne2many,
  kMany2many
};

std::optional<FieldType> parse_field_type(std::string_view name);
std::string_view to_string(FieldType type);
// All type names, in contract order (for messages and the JSON Schema).
const std::vector<std::string_view>& field_type_names();

enum class OnDelete { kRestrict, kCascade, kSetNull };
std::string_view to_string(OnDelete on_delete);

struct Field {
  std::string name;
  FieldType type = FieldType::kString;
  std::string label;
  std::string help;
  bool required = false;
  bool unique = false;
  bool index = false;
  bool readonly = false;
  bool secret = false;    // never leaves the server (password and token hashes)
  bool computed = false;  // computed by the module's native code; no column unless stored
  bool store = false;     // a computed field kept in a column
  // A stored computed field: the paths whose changes recompute it ("quantity", "partner.name",
  // "lines.unit_price"), and where each was written.
  std::vector<std::string> depends;
  std::vector<SourceLocation> depends_at;
  std::optional<int> max_length;     // string
  int precision = 0, scale = 0;      // decimal (0: numeric without limits)
  std::vector<std::string> options;  // selection
  std::string target;                // many2one, one2many, many2many
  std::string inverse;               // one2many: the many2one on the target
  OnDelete on_delete = OnDelete::kRestrict;
  std::optional<std::string> default_value;  // as written; "today"/"now" for date/datetime
  std::vector<std::string> roles;            // field-level rights; empty = everyone
  std::string module;                        // module that declared the field
  std::vector<std::string> changed_by;       // modules whose `extend:` changed its attributes
  // Attribute as written ("unique", "options", "index", ...) -> the module that wrote its
  // current value: the declaring module, or the last extension that changed it. Tells who
  // owns the constraint or index an attribute asks for.
  std::map<std::string, std::string, std::less<>> set_by;
  SourceLocation location;

  // Whether the field has a column in its entity's table.
  bool has_column() const;
  // The module that wrote `attribute` (see set_by); the declaring module when none did.
  const std::string& module_of(std::string_view attribute) const;
};

struct Entity {
  std::string name;
  std::string table;
  std::string label;
  std::string title;          // the field that names a record
  std::string order;          // default sort ("date desc, id desc")
  std::vector<Field> fields;  // in declaration order (extensions appended)
  std::string module;         // module that declared it
  std::vector<std::string> extended_by;
  SourceLocation location;

  const Field* field(std::string_view name) const;
  Field* field(std::string_view name);
};

// Columns every table gets without declaring them.
const std::vector<std::string_view>& reserved_field_names();

}  // namespace keel::schema
