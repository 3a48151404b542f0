#pragma once

// The writer of the OpenAPI document (http/openapi.hpp), internal to http/: openapi.cpp writes
// the document (info, tags, paths and operations, components), openapi_schemas.cpp the schemas
// of each entity from the registry and the field-type traits table.

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "http/openapi.hpp"
#include "schema/entity.hpp"

namespace keel::http {

// The static parts of the document, as share/openapi/components.json holds them.
struct OpenApiBase {
  rapidjson::Document doc;
};

namespace openapi_detail {

using schema::Entity;
using schema::Field;
using schema::FieldType;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

inline constexpr std::string_view kDialect = "https://spec.openapis.org/oas/3.1/dialect/base";
inline constexpr std::string_view kEntity = "{entity}";

// A route's operation as it stands in the document: per-entity routes once per entity.
struct Operation {
  std::string method;  // lowercase
  const RouteDoc* doc;
  const Entity* entity;  // the entity its `{entity}` stands for; nullptr when none
};
struct PathItem {
  std::string path;
  std::vector<Operation> operations;
};

void replace_all(std::string& s, std::string_view from, std::string_view to);
const rapidjson::Value* member_of(const rapidjson::Value& v, const char* name);

// Writes the document; one instance per call.
class OpenApiWriter {
 public:
  OpenApiWriter(const OpenApiBase& base, const std::vector<const Router*>& routers,
                const schema::Registry& registry, const security::Policy& policy,
                const security::Context& ctx, std::string_view server_url)
      : base_(base.doc),
        routers_(routers),
        registry_(registry),
        ctx_(ctx),
        server_url_(server_url),
        w_(buffer_) {
    for (const auto& e : registry.entities())
      if (policy.allowed(ctx, e.name, security::Operation::kRead)) entities_.push_back(&e);
  }

  std::string write();

 private:
  // ---- JSON helpers ------------------------------------------------------------------------
  void key(std::string_view k) { w_.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }
  void str(std::string_view s) { w_.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }
  void member(std::string_view k, std::string_view v) {
    key(k);
    str(v);
  }
  void member(std::string_view k, int v) {
    key(k);
    w_.Int(v);
  }
  // Not an overload of member(): a string literal would convert to bool before string_view.
  void flag(std::string_view k, bool v) {
    key(k);
    w_.Bool(v);
  }
  void strings(std::string_view k, std::initializer_list<std::string_view> values) {
    key(k);
    w_.StartArray();
    for (auto v : values)
      str(v);
    w_.EndArray();
  }
  // "type": "t" or, when nullable, "type": ["t", "null"].
  void type(std::string_view t, bool nullable = false) {
    key("type");
    if (!nullable) {
      str(t);
      return;
    }
    w_.StartArray();
    str(t);
    str("null");
    w_.EndArray();
  }
  // {"$ref": "#/components/<kind>/<name>"}
  void ref(std::string_view kind, std::string_view name) {
    w_.StartObject();
    member("$ref", "#/components/" + std::string(kind) + "/" + std::string(name));
    w_.EndObject();
  }

  // ---- names -------------------------------------------------------------------------------
  // The name of a schema derived from entity `e` ("e_input"); spelled "e.input" when another
  // entity is called "e_input".
  std::string derived(const Entity& e, std::string_view suffix) const {
    std::string name = e.name + "_" + std::string(suffix);
    if (registry_.entity(name)) name = e.name + "." + std::string(suffix);
    return name;
  }
  // `text` of an operation of entity `e`: {entity} and {label} replaced.
  static std::string of_entity(std::string text, const Entity* e) {
    if (!e) return text;
    replace_all(text, kEntity, e->name);
    replace_all(text, "{label}", e->label);
    return text;
  }

  // ---- document parts ----------------------------------------------------------------------
  void info();
  void tags();
  std::vector<PathItem> path_items() const;
  void paths();
  void operation(const std::string& path, const Operation& op,
                 const std::set<std::string>& hoisted);
  void parameter(const ApiParameter& p);
  void schema_of(const std::string& text, const Entity* e);
  void response(const ApiResponse& a, const Entity* e);
  void components();
  void entity_schemas(const Entity& e);
  void value_schema(const Field& f, bool input);
  void read_property(const Field& f);
  void write_property(const Field& f);

  // Whether the caller may read entity `name` (the document shows only those).
  bool readable(std::string_view name) const {
    return std::any_of(entities_.begin(), entities_.end(),
                       [&](const Entity* e) { return e->name == name; });
  }
  // The shared parameter `name` of the base (components/parameters); nullptr when none.
  const rapidjson::Value* shared_parameter(const std::string& name) const {
    const auto* components = member_of(base_, "components");
    const auto* parameters = components ? member_of(*components, "parameters") : nullptr;
    return parameters ? member_of(*parameters, name.c_str()) : nullptr;
  }

  const rapidjson::Document& base_;
  const std::vector<const Router*>& routers_;
  const schema::Registry& registry_;
  const security::Context& ctx_;
  std::vector<const Entity*> entities_;  // the entities the caller may read
  std::string_view server_url_;
  rapidjson::StringBuffer buffer_;
  Writer w_;
};

}  // namespace openapi_detail
}  // namespace keel::http
