#pragma once

#include <rapidjson/fwd.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/error.hpp"

namespace YAML {
class Node;
}
namespace keel {
class YamlReader;
}
namespace keel::schema {
class Registry;
struct Entity;
}  // namespace keel::schema

namespace keel::ui {

// One node of a view's arch: a component (`{component: group, children: [...]}`) or a field
// (`{field: partner, widget: ...}`), with free attributes and an optional `id` that patches
// can address. Attribute values are kept as JSON text, so that any YAML or JSON value passes
// through unchanged.
struct Node {
  std::string component;  // empty for a field node
  std::string field;      // empty for a component node
  std::string id;
  std::map<std::string, std::string, std::less<>> attrs;  // name -> JSON text
  std::vector<Node> children;
  SourceLocation location;  // where it was written (a JSON path for API input)
};
using Arch = std::vector<Node>;

// The components every view may use; a module adds its own with `components:`.
const std::vector<std::string_view>& builtin_components();

// YAML value -> JSON text: quoted scalars are strings, plain true/false/null/numbers are typed.

// Reads a list of nodes; problems go to the reader's diagnostics (file:line:col).
Arch arch_from_yaml(YamlReader& reader, const YAML::Node& list, std::string_view what);
// Reads an arch from JSON text (API input); problems are reported with a path such as
// `arch[0].children[2]` as the location's file.
Arch arch_from_json(std::string_view json, Diagnostics& diagnostics);
Arch arch_from_json(const rapidjson::Value& list, Diagnostics& diagnostics);

// Canonical JSON text of an arch: for each node `component` or `field`, then `id`, then the
// attributes by name, then `children`.
std::string arch_json(const Arch& arch);
// A stable fingerprint of the arch (FNV-1a 64 of arch_json, hex).
std::string arch_hash(const Arch& arch);
// FNV-1a 64 of any text, 16 hex digits.
std::string fingerprint(std::string_view text);

// Checks nodes against the view's entity: fields exist (children of a relation field are
// checked against its target), components are built in or `component_known`, pages sit in
// notebooks.
void validate_arch(const Arch& arch, const schema::Entity& entity, const schema::Registry& registry,
                   const std::function<bool(const std::string&)>& component_known,
                   Diagnostics& diagnostics);
// Reports node ids used twice in `arch`.
void check_ids(const Arch& arch, Diagnostics& diagnostics);

// Removes field nodes the caller may not see (and a component left without children when it
// had some).
void filter_fields(Arch& arch, const schema::Entity& entity, const schema::Registry& registry,
                   const std::function<bool(const schema::Entity&, std::string_view)>& visible);

enum class PatchOp { kBefore, kAfter, kInside, kReplace, kRemove, kAttrs };
std::optional<PatchOp> parse_patch_op(std::string_view name);
std::string_view to_string(PatchOp op);

// A node a patch addresses: by field name or by node id (the first match, depth first).
struct Target {
  std::string field;
  std::string id;
  std::string describe() const;  // {field: partner} / {id: totals}
};

struct PatchStep {
  PatchOp op = PatchOp::kAttrs;
  Target target;
  Arch nodes;                                             // before/after/inside/replace
  std::map<std::string, std::optional<std::string>> set;  // attrs: JSON text, nullopt removes
  SourceLocation location;
};

// Applies one step to `arch`; false when its target is not there.
bool apply_patch(Arch& arch, const PatchStep& step);

}  // namespace keel::ui
