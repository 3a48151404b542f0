#pragma once

// An entities file as written (schema/entity_file.cpp): its entities and extensions read into
// specs whose attributes are all optional, so that `extend:` can change some of them. The
// Registry (schema/registry.cpp) merges them; nothing else uses them.

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "app/yaml_reader.hpp"
#include "schema/entity.hpp"

namespace keel::schema::detail {

// A field as written: every attribute optional, so that `extend:` can change some of them.
struct FieldSpec {
  std::string name;
  SourceLocation location;
  std::optional<FieldType> type;
  std::optional<std::string> label, help, target, inverse, default_value;
  std::optional<bool> required, unique, index, readonly, computed, store, secret;
  std::optional<int> max_length, precision, scale;
  std::optional<std::vector<std::string>> options, roles;
  std::optional<std::vector<LocatedString>> depends;
  std::optional<OnDelete> on_delete;
  std::map<std::string, SourceLocation> where;  // attribute -> where its value was written
  bool valid = true;  // false when the field is not even a map (already reported)
};

struct EntitySpec {
  std::string name;
  SourceLocation location;
  std::optional<std::string> label, title, order, table;
  std::map<std::string, SourceLocation> where;  // attribute -> where its value was written
  std::vector<FieldSpec> fields;
};

// The attributes a field may have (also: those Field::set_by records).
extern const std::vector<std::string_view> kFieldKeys;
// The keys of an entities file.
extern const std::vector<std::string_view> kFileKeys;

// Entries of a map whose keys are names (entities, fields), with duplicate keys reported.
std::vector<std::pair<YAML::Node, YAML::Node>> named_entries(YamlReader& r, const YAML::Node& map,
                                                             const std::string& what);

// An entity (or, with `extension`, an extension of one) as written; problems go to `r`.
EntitySpec parse_entity(YamlReader& r, const YAML::Node& key, const YAML::Node& node,
                        bool extension);

// The whole text of `file`; nullopt when it cannot be read.
std::optional<std::string> read_file(const std::filesystem::path& file);

}  // namespace keel::schema::detail
