#include "app/yaml_reader.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <regex>

#include <algorithm>
#include <charconv>
#include <set>

namespace keel {

std::optional<YAML::Node> YamlReader::parse(std::string_view text) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    SourceLocation loc{file_, e.mark.line >= 0 ? e.mark.line + 1 : 0,
                       e.mark.column >= 0 ? e.mark.column + 1 : 0};
    diagnostics_.error(loc, "invalid YAML: " + e.msg,
                       "check indentation, colons and quotes around this place");
    return std::nullopt;
  }
}

namespace {

// The value of `key` in `map`; an undefined node when `map` is not a map or lacks the key
// (yaml-cpp throws when a scalar is indexed).
YAML::Node lookup(const YAML::Node& map, std::string_view key) {
  if (!map.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  return map[std::string(key)];
}

}  // namespace

SourceLocation YamlReader::at(const YAML::Node& node) const {
  if (!node.IsDefined()) return {file_, 0, 0};  // a missing key: yaml-cpp would throw
  auto mark = node.Mark();
  if (mark.is_null()) return {file_, 0, 0};
  return {file_, mark.line + 1, mark.column + 1};
}

std::string_view yaml_kind(const YAML::Node& node) {
  if (!node.IsDefined()) return "nothing";
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

bool YamlReader::check_map(const YAML::Node& node, const std::vector<std::string_view>& allowed,
                           std::string_view what) {
  if (!node.IsMap()) {
    error(node, std::string(what) + " must be a map, got " + std::string(yaml_kind(node)));
    return false;
  }
  std::set<std::string, std::less<>> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: `it->first` lives in a temporary proxy
    if (!key.IsScalar()) {
      error(key, "keys of " + std::string(what) + " must be plain names");
      continue;
    }
    const std::string& name = key.Scalar();
    if (!seen.insert(name).second) {
      error(key, "duplicate key \"" + name + "\" in " + std::string(what),
            "keep one \"" + name + "\"; YAML would silently use only one of them");
      continue;
    }
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string hint;
      if (auto near = closest_match(name, allowed))
        hint = "did you mean \"" + std::string(*near) + "\"?";
      else {
        hint = "allowed keys:";
        for (auto a : allowed)
          hint += " " + std::string(a);
      }
      error(key, "unknown key \"" + name + "\" in " + std::string(what), hint);
    }
  }
  return true;
}

bool YamlReader::is_string(const YAML::Node& node) const {
  return node.IsDefined() && node.IsScalar();
}

std::optional<bool> YamlReader::as_boolean(const YAML::Node& node) const {
  if (!node.IsDefined() || !node.IsScalar() || node.Tag() == "!")
    return std::nullopt;  // quoted: a string
  const std::string& s = node.Scalar();
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

std::optional<LocatedString> YamlReader::string(const YAML::Node& map, std::string_view key,
                                                bool required) {
  YAML::Node value = lookup(map, key);
  if (!value.IsDefined() || value.IsNull()) {
    if (required && (map.IsMap() || !map.IsDefined() || map.IsNull()))
      diagnostics_.error(at(map), "missing required key \"" + std::string(key) + "\"",
                         "add `" + std::string(key) + ": ...`");
    else if (required)
      error(map,
            "expected a map with \"" + std::string(key) + "\", got " + std::string(yaml_kind(map)));
    return std::nullopt;
  }
  if (!value.IsScalar()) {
    error(value,
          "\"" + std::string(key) + "\" must be a string, got " + std::string(yaml_kind(value)));
    return std::nullopt;
  }
  return LocatedString{value.Scalar(), at(value)};
}

std::optional<bool> YamlReader::boolean(const YAML::Node& map, std::string_view key) {
  YAML::Node value = lookup(map, key);
  if (!value.IsDefined() || value.IsNull()) return std::nullopt;
  auto b = as_boolean(value);
  if (!b) {
    std::string got =
        value.IsScalar() ? "\"" + value.Scalar() + "\"" : std::string(yaml_kind(value));
    error(value, "\"" + std::string(key) + "\" must be true or false, got " + got);
  }
  return b;
}

std::optional<long long> YamlReader::integer(const YAML::Node& map, std::string_view key) {
  YAML::Node value = lookup(map, key);
  if (!value.IsDefined() || value.IsNull()) return std::nullopt;
  if (value.IsScalar() && value.Tag() != "!") {
    const std::string& s = value.Scalar();
    long long out = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc() && ptr == s.data() + s.size()) return out;
  }
  std::string got = value.IsScalar() ? "\"" + value.Scalar() + "\"" : std::string(yaml_kind(value));
  error(value, "\"" + std::string(key) + "\" must be an integer, got " + got);
  return std::nullopt;
}

std::optional<std::vector<LocatedString>> YamlReader::string_list(const YAML::Node& map,
                                                                  std::string_view key,
                                                                  bool allow_scalar) {
  YAML::Node value = lookup(map, key);
  if (!value.IsDefined() || value.IsNull()) return std::nullopt;
  std::vector<LocatedString> out;
  if (value.IsScalar() && allow_scalar) {
    out.push_back({value.Scalar(), at(value)});
    return out;
  }
  if (!value.IsSequence()) {
    error(value, "\"" + std::string(key) + "\" must be a list of strings, got " +
                     std::string(yaml_kind(value)));
    return std::nullopt;
  }
  bool ok = true;
  for (const auto& item : value) {
    if (!item.IsScalar()) {
      error(item, "items of \"" + std::string(key) + "\" must be strings, got " +
                      std::string(yaml_kind(item)));
      ok = false;
      continue;
    }
    out.push_back({item.Scalar(), at(item)});
  }
  if (!ok) return std::nullopt;
  return out;
}

namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void write_yaml(JsonWriter& w, const YAML::Node& node) {
  static const std::regex kNumber(R"(^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$)");
  switch (node.Type()) {
    case YAML::NodeType::Map:
      w.StartObject();
      for (auto it = node.begin(); it != node.end(); ++it) {
        const YAML::Node key = it->first;
        const YAML::Node value = it->second;
        // A plain `null` key (the filter operator) is a Null node to yaml-cpp.
        std::string name = key.IsScalar() ? key.Scalar()
                           : key.IsNull() ? (key.Scalar().empty() ? "null" : key.Scalar())
                                          : std::string("?");
        w.Key(name.c_str(), static_cast<rapidjson::SizeType>(name.size()));
        write_yaml(w, value);
      }
      w.EndObject();
      return;
    case YAML::NodeType::Sequence:
      w.StartArray();
      for (const auto& item : node)
        write_yaml(w, item);
      w.EndArray();
      return;
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() != "!") {  // plain, not quoted
        if (s == "true" || s == "True" || s == "TRUE") return void(w.Bool(true));
        if (s == "false" || s == "False" || s == "FALSE") return void(w.Bool(false));
        if (s == "null" || s == "~") return void(w.Null());
        if (std::regex_match(s, kNumber))
          return void(w.RawValue(s.c_str(), s.size(), rapidjson::kNumberType));
      }
      w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
      return;
    }
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      w.Null();
      return;
  }
}

}  // namespace

std::string yaml_to_json(const YAML::Node& node) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  write_yaml(w, node);
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace keel
