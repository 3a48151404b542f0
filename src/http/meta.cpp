#include "http/meta.hpp"

#include "app/json.hpp"
#include "query/filter.hpp"
#include "schema/field_traits.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace keel::http {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void string(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void key(Writer& w, std::string_view s) {
  w.Key(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

std::optional<std::int64_t> parse_integer(std::string_view text) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::optional<double> parse_double(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

void write_default(Writer& w, const schema::Field& f) {
  using schema::FieldType;
  if (!f.default_value) {
    w.Null();
    return;
  }
  const std::string& v = *f.default_value;
  switch (schema::traits(f.type).json) {
    case schema::JsonShape::kInteger:
      if (auto n = parse_integer(v)) {
        w.Int64(*n);
        return;
      }
      break;
    case schema::JsonShape::kNumber:
      if (auto d = parse_double(v)) {
        w.Double(*d);
        return;
      }
      break;
    case schema::JsonShape::kBoolean:
      if (v == "true" || v == "True" || v == "TRUE") {
        w.Bool(true);
        return;
      }
      if (v == "false" || v == "False" || v == "FALSE") {
        w.Bool(false);
        return;
      }
      break;
    case schema::JsonShape::kAny: {
      rapidjson::Document doc;
      if (json::try_parse(doc, v, json::limits().value_depth).ok) {
        doc.Accept(w);
        return;
      }
      break;
    }
    default:
      break;
  }
  string(w, v);
}

void write_entity(Writer& w, const security::Policy& policy, const security::Context& ctx,
                  const schema::Entity& e) {
  using schema::FieldType;
  w.StartObject();
  key(w, "name");
  string(w, e.name);
  key(w, "label");
  string(w, e.label);
  key(w, "table");
  string(w, e.table);
  key(w, "title");
  if (e.title.empty())
    w.Null();
  else
    string(w, e.title);
  key(w, "order");
  if (e.order.empty())
    w.Null();
  else
    string(w, e.order);
  key(w, "module");
  string(w, e.module);
  key(w, "fields");
  w.StartArray();
  for (const auto& f : e.fields) {
    if (!query::field_visible(f, ctx)) continue;
    bool relational = f.type == FieldType::kMany2one || f.type == FieldType::kOne2many ||
                      f.type == FieldType::kMany2many;
    w.StartObject();
    key(w, "name");
    string(w, f.name);
    key(w, "type");
    string(w, schema::to_string(f.type));
    key(w, "label");
    string(w, f.label);
    key(w, "help");
    if (f.help.empty())
      w.Null();
    else
      string(w, f.help);
    key(w, "required");
    w.Bool(f.required);
    key(w, "readonly");
    w.Bool(f.readonly || f.computed);
    key(w, "unique");
    w.Bool(f.unique);
    key(w, "computed");
    w.Bool(f.computed);
    key(w, "target");
    if (relational && !f.target.empty())
      string(w, f.target);
    else
      w.Null();
    key(w, "inverse");
    if (f.type == FieldType::kOne2many && !f.inverse.empty())
      string(w, f.inverse);
    else
      w.Null();
    key(w, "options");
    if (f.type == FieldType::kSelection) {
      w.StartArray();
      for (const auto& o : f.options)
        string(w, o);
      w.EndArray();
    } else {
      w.Null();
    }
    key(w, "max_length");
    if (auto max = schema::max_length(f))
      w.Int(*max);  // email: varchar(254), contract §4 rule 7
    else
      w.Null();
    bool sized = f.type == FieldType::kDecimal && f.precision > 0;
    key(w, "precision");
    if (sized)
      w.Int(f.precision);
    else
      w.Null();
    key(w, "scale");
    if (sized)
      w.Int(f.scale);
    else
      w.Null();
    key(w, "default");
    write_default(w, f);
    w.EndObject();
  }
  w.EndArray();
  key(w, "rights");
  w.StartObject();
  for (size_t i = 0; i < security::kOperationCount; ++i) {
    auto op = static_cast<security::Operation>(i);
    key(w, security::to_string(op));
    w.Bool(policy.allowed(ctx, e.name, op));
  }
  w.EndObject();
  w.EndObject();
}

std::string text_of(const rapidjson::StringBuffer& buffer) {
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace

std::string meta_entities(const schema::Registry& registry, const security::Policy& policy,
                          const security::Context& ctx) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  key(w, "data");
  w.StartArray();
  for (const auto& e : registry.entities())
    if (policy.allowed(ctx, e.name, security::Operation::kRead)) write_entity(w, policy, ctx, e);
  w.EndArray();
  w.EndObject();
  return text_of(buffer);
}

std::optional<std::string> meta_entity(const schema::Registry& registry,
                                       const security::Policy& policy, const security::Context& ctx,
                                       std::string_view name) {
  const schema::Entity* e = registry.entity(name);
  if (!e || !policy.allowed(ctx, e->name, security::Operation::kRead)) return std::nullopt;
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  write_entity(w, policy, ctx, *e);
  return text_of(buffer);
}

std::string default_json(const schema::Field& field) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  write_default(w, field);
  return text_of(buffer);
}

bool is_dynamic_default(const schema::Field& field) {
  if (!field.default_value) return false;
  return (field.type == schema::FieldType::kDate && *field.default_value == "today") ||
         (field.type == schema::FieldType::kDatetime && *field.default_value == "now");
}

}  // namespace keel::http
