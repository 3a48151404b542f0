#include "schema/entity.hpp"

#include <array>

namespace keel::schema {

namespace {
constexpr std::array<std::pair<FieldType, std::string_view>, 17> kTypes = {{
    {FieldType::kString, "string"},
    {FieldType::kText, "text"},
    {FieldType::kInteger, "integer"},
    {FieldType::kBigint, "bigint"},
    {FieldType::kDecimal, "decimal"},
    {FieldType::kFloat, "float"},
    {FieldType::kBoolean, "boolean"},
    {FieldType::kDate, "date"},
    {FieldType::kDatetime, "datetime"},
    {FieldType::kJson, "json"},
    {FieldType::kSelection, "selection"},
    {FieldType::kEmail, "email"},
    {FieldType::kUrl, "url"},
    {FieldType::kBinary, "binary"},
    {FieldType::kMany2one, "many2one"},
    {FieldType::kOne2many, "one2many"},
    {FieldType::kMany2many, "many2many"},
}};
}  // namespace

std::optional<FieldType> parse_field_type(std::string_view name) {
  for (auto [type, text] : kTypes)
    if (text == name) return type;
  return std::nullopt;
}

std::string_view to_string(FieldType type) {
  for (auto [t, text] : kTypes)
    if (t == type) return text;
  return "?";
}

const std::vector<std::string_view>& field_type_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> out;
    for (auto [type, text] : kTypes)
      out.push_back(text);
    return out;
  }();
  return names;
}

std::string_view to_string(OnDelete on_delete) {
  switch (on_delete) {
    case OnDelete::kRestrict:
      return "restrict";
    case OnDelete::kCascade:
      return "cascade";
    case OnDelete::kSetNull:
      return "set_null";
  }
  return "restrict";
}

bool Field::has_column() const {
  if (type == FieldType::kOne2many || type == FieldType::kMany2many) return false;
  return !computed || store;
}

const std::string& Field::module_of(std::string_view attribute) const {
  auto it = set_by.find(attribute);
  return it == set_by.end() ? module : it->second;
}

const Field* Entity::field(std::string_view name) const {
  for (const auto& f : fields)
    if (f.name == name) return &f;
  return nullptr;
}

Field* Entity::field(std::string_view name) {
  for (auto& f : fields)
    if (f.name == name) return &f;
  return nullptr;
}

const std::vector<std::string_view>& reserved_field_names() {
  static const std::vector<std::string_view> names = {"id", "created_at", "updated_at",
                                                      "created_by", "updated_by"};
  return names;
}

}  // namespace keel::schema
