// The schemas of an entity in the OpenAPI document (http/openapi.hpp): the record as answered,
// the bodies of a create and an update, a list page; each field's from the field-type traits
// table (schema/field_traits.hpp), decimals as exact strings.
#include <string>

#include "http/meta.hpp"
#include "http/openapi_writer.hpp"
#include "query/filter.hpp"
#include "schema/field_traits.hpp"

namespace keel::http::openapi_detail {

namespace {

// ---- decimals -------------------------------------------------------------------------------

// What answers carry: PostgreSQL's text form of a numeric.
constexpr std::string_view kDecimalAnswer = R"(^-?\d+(\.\d+)?$)";

// What a write may send as a string: an optional sign, digits with an optional fraction, and
// for numeric(p, s) at most p - s digits before the point (leading zeros aside) and s after it
// (trailing zeros aside).
std::string decimal_input_pattern(const Field& f) {
  if (f.precision <= 0) return R"(^[-+]?(\d+(\.\d*)?|\.\d+)$)";
  int whole = f.precision - f.scale;
  int scale = f.scale;
  std::string whole_part = whole > 0 ? R"(0*\d{1,)" + std::to_string(whole) + "}" : "0+";
  std::string fraction = scale > 0 ? R"(\d{0,)" + std::to_string(scale) + "}0*" : "0*";
  std::string bare_fraction = scale > 0 ? R"(\d{1,)" + std::to_string(scale) + "}0*" : "0+";
  return R"(^[-+]?()" + whole_part + R"((\.)" + fraction + R"()?|\.)" + bare_fraction + ")$";
}

std::string decimal_description(const Field& f) {
  if (f.precision <= 0) return "Decimal number, as a string in answers.";
  return "Decimal number numeric(" + std::to_string(f.precision) + "," + std::to_string(f.scale) +
         "), as a string in answers.";
}

bool is_relational_list(const Field& f) {
  return f.type == FieldType::kOne2many || f.type == FieldType::kMany2many;
}

}  // namespace

// ---- entity schemas -------------------------------------------------------------------------

void OpenApiWriter::entity_schemas(const Entity& e) {
  // The record as answered.
  key(e.name);
  w_.StartObject();
  type("object");
  member("title", e.label);
  member("description", "A " + e.label + " record (entity " + e.name + ", module " + e.module +
                            "). Only `id` is always present: `fields` selects the others.");
  key("properties");
  w_.StartObject();
  key("id");
  w_.StartObject();
  type("integer");
  member("format", "int64");
  flag("readOnly", true);
  w_.EndObject();
  for (auto name : {"created_at", "updated_at"}) {
    key(name);
    w_.StartObject();
    type("string");
    member("format", "date-time");
    flag("readOnly", true);
    w_.EndObject();
  }
  for (auto name : {"created_by", "updated_by"}) {
    key(name);
    w_.StartObject();
    type("integer", true);
    member("format", "int64");
    member("description", "Id of the user");
    flag("readOnly", true);
    w_.EndObject();
  }
  for (const auto& f : e.fields)
    if (query::field_visible(f, ctx_)) read_property(f);
  w_.EndObject();
  strings("required", {"id"});
  w_.EndObject();

  // The bodies of POST and PATCH: writable fields only.
  std::vector<const Field*> writable;
  std::vector<std::string_view> required;
  for (const auto& f : e.fields) {
    if (f.readonly || f.computed || !query::field_visible(f, ctx_)) continue;
    writable.push_back(&f);
    // As RecordService checks a create: one2many and many2many sets may always be left out.
    if (f.required && !f.default_value && f.has_column()) required.push_back(f.name);
  }
  for (bool create : {true, false}) {
    key(derived(e, create ? "input" : "patch"));
    w_.StartObject();
    type("object");
    member("title", e.label + (create ? " (create)" : " (update)"));
    member("description", create ? "Body of a create: required fields without a default must "
                                   "be given; no other property is allowed."
                                 : "Body of an update: the fields to change; no other property "
                                   "is allowed.");
    key("properties");
    w_.StartObject();
    for (const Field* f : writable)
      write_property(*f);
    w_.EndObject();
    if (create && !required.empty()) {
      key("required");
      w_.StartArray();
      for (auto name : required)
        str(name);
      w_.EndArray();
    }
    flag("additionalProperties", false);
    w_.EndObject();
  }

  // The answer of a list.
  key(derived(e, "list"));
  w_.StartObject();
  type("object");
  member("title", e.label + " list");
  key("properties");
  w_.StartObject();
  key("data");
  w_.StartObject();
  type("array");
  key("items");
  ref("schemas", e.name);
  w_.EndObject();
  key("total");
  w_.StartObject();
  type("integer");
  member("minimum", 0);
  member("description", "Records matching the filter, all pages together");
  w_.EndObject();
  w_.EndObject();
  strings("required", {"data", "total"});
  w_.EndObject();
}

// The members of a field's schema that describe its values, in a record as answered or, with
// `input`, in the body of a create or an update.
void OpenApiWriter::value_schema(const Field& f, bool input) {
  const bool nullable = !f.required && !is_relational_list(f);
  switch (f.type) {
    case FieldType::kDecimal:
      if (input) {
        // Accepted as a string or a number (contract §4 rule 9); the pattern binds strings.
        key("type");
        w_.StartArray();
        str("string");
        str("number");
        if (nullable) str("null");
        w_.EndArray();
        member("pattern", decimal_input_pattern(f));
      } else {
        type("string", nullable);
        member("pattern", kDecimalAnswer);
      }
      if (f.help.empty()) member("description", decimal_description(f));
      break;
    case FieldType::kJson:
      // Any JSON value: no type.
      if (f.help.empty()) member("description", "Any JSON value");
      break;
    case FieldType::kSelection:
      type("string", nullable);
      key("enum");
      w_.StartArray();
      for (const auto& o : f.options)
        str(o);
      if (nullable) w_.Null();
      w_.EndArray();
      break;
    case FieldType::kMany2one:
      if (input) {
        type("integer", nullable);
        member("format", "int64");
        if (f.help.empty()) member("description", "Id of the " + f.target + " record");
        break;
      }
      // The target's id, or the target record when `fields` expands it (contract §4 rule 9).
      key("oneOf");
      w_.StartArray();
      w_.StartObject();
      type("integer");
      member("format", "int64");
      w_.EndObject();
      if (readable(f.target)) {
        ref("schemas", f.target);
      } else {
        w_.StartObject();
        type("object");
        strings("required", {"id"});
        w_.EndObject();
      }
      if (nullable) {
        w_.StartObject();
        type("null");
        w_.EndObject();
      }
      w_.EndArray();
      if (f.help.empty())
        member("description", "Id of the " + f.target +
                                  " record, or that record with the fields asked for when "
                                  "`fields` names some of them (\"" +
                                  f.name + ".name\")");
      break;
    case FieldType::kOne2many:
    case FieldType::kMany2many:
      type("array");
      key("items");
      w_.StartObject();
      type("integer");
      member("format", "int64");
      w_.EndObject();
      if (f.help.empty())
        member("description",
               "Ids of the " + f.target + " records" + (input ? "; replaces the whole set" : ""));
      break;
    default: {
      // The other types: their traits' type, format, length limit and encoding.
      const schema::FieldTraits& t = schema::traits(f.type);
      type(t.openapi_type, nullable);
      if (!t.openapi_format.empty()) member("format", t.openapi_format);
      if (auto max = schema::max_length(f)) member("maxLength", *max);
      if (!t.openapi_encoding.empty()) member("contentEncoding", t.openapi_encoding);
      break;
    }
  }
  member("title", f.label);
  if (!f.help.empty()) member("description", f.help);
}

// A field in a record as answered.
void OpenApiWriter::read_property(const Field& f) {
  key(f.name);
  w_.StartObject();
  value_schema(f, false);
  if (f.readonly || f.computed) flag("readOnly", true);
  w_.EndObject();
}

// A field in the body of a create or an update.
void OpenApiWriter::write_property(const Field& f) {
  key(f.name);
  w_.StartObject();
  value_schema(f, true);
  if (f.default_value && !is_dynamic_default(f)) {
    key("default");
    std::string json = default_json(f);
    // RawValue only needs to know that a value follows; the text is a complete JSON value.
    w_.RawValue(json.c_str(), json.size(), rapidjson::kObjectType);
  }
  w_.EndObject();
}

}  // namespace keel::http::openapi_detail
