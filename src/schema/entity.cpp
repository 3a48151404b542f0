#include "schema/entity.hpp"

#include "schema/field_traits.hpp"

namespace keel::schema {

std::optional<FieldType> parse_field_type(std::string_view name) {
  for (const auto& t : all_field_traits())
    if (t.name == name) return t.type;
  return std::nullopt;
}

std::string_view to_string(FieldType type) {
  return traits(type).name;
}

const std::vector<std::string_view>& field_type_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> out;
    for (const auto& t : all_field_traits())
      out.push_back(t.name);
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
  return traits(type).column && (!computed || store);
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
