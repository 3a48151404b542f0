#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/error.hpp"

namespace keel {

// Reading user YAML into typed structs with every problem reported as a diagnostic with
// file:line:col (yaml-cpp marks are 0-based; these are 1-based). yaml-cpp accepts duplicate
// keys silently, so every map read through here is checked for them.
class YamlReader {
 public:
  YamlReader(std::filesystem::path file, Diagnostics& diagnostics)
      : file_(std::move(file)), diagnostics_(diagnostics) {}

  // Parses one document; a syntax error becomes a diagnostic and nullopt.
  std::optional<YAML::Node> parse(std::string_view text);

  SourceLocation at(const YAML::Node& node) const;
  const std::filesystem::path& file() const { return file_; }
  Diagnostics& diagnostics() { return diagnostics_; }

  void error(const YAML::Node& node, std::string message, std::string hint = {}) {
    diagnostics_.error(at(node), std::move(message), std::move(hint));
  }

  // `node` must be a map: reports duplicate keys, non-string keys and keys not in `allowed`
  // (with a "did you mean" hint). `what` names the map in messages ("manifest", "field").
  // Returns false when `node` is not a map at all.
  bool check_map(const YAML::Node& node, const std::vector<std::string_view>& allowed,
                 std::string_view what);

  // Typed accessors for a key of a map. A missing key gives nullopt without a diagnostic
  // (unless `required`); a value of the wrong type gives nullopt and a diagnostic. When `map`
  // is not a map, every key is missing (check_map reports the shape), and a `required` one
  // is reported as "expected a map".
  std::optional<LocatedString> string(const YAML::Node& map, std::string_view key,
                                      bool required = false);
  std::optional<bool> boolean(const YAML::Node& map, std::string_view key);
  std::optional<long long> integer(const YAML::Node& map, std::string_view key);
  // A list of strings; a single string is accepted as a list of one when `allow_scalar`.
  std::optional<std::vector<LocatedString>> string_list(const YAML::Node& map, std::string_view key,
                                                        bool allow_scalar = false);

  // Scalar helpers on a value node.
  bool is_string(const YAML::Node& node) const;
  std::optional<bool> as_boolean(const YAML::Node& node) const;

 private:
  std::filesystem::path file_;
  Diagnostics& diagnostics_;
};

// A YAML value as JSON text: maps, lists, and scalars read as YAML 1.2's core schema does when
// plain (null, booleans, numbers), strings when quoted. Filters and UI attributes are written
// in YAML and kept as JSON.
std::string yaml_to_json(const YAML::Node& node);

// A YAML-friendly description of a node's kind for "expected X, got Y" messages.
std::string_view yaml_kind(const YAML::Node& node);

}  // namespace keel
