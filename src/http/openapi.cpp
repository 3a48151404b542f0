// The OpenAPI document (http/openapi.hpp): info, tags, the paths and operations from the routes'
// descriptions, the components; the entity schemas are openapi_schemas.cpp's.
#include "http/openapi.hpp"

#include <fstream>
#include <sstream>

#include "app/error.hpp"
#include "app/json.hpp"
#include "http/native_routes.hpp"
#include "http/openapi_writer.hpp"

namespace keel::http {
namespace openapi_detail {

namespace {

// A route described once per entity: its operation id names `{entity}` (http/openapi.hpp).
bool per_entity(const Router::Described& r) {
  return r.doc.operation_id.find(kEntity) != std::string::npos &&
         r.pattern.find(kEntity) != std::string::npos;
}

// The `{name}` segments of a path.
std::vector<std::string> path_names(std::string_view path) {
  std::vector<std::string> out;
  for (size_t open = path.find('{'); open != std::string_view::npos;
       open = path.find('{', open + 1)) {
    size_t close = path.find('}', open);
    if (close == std::string_view::npos) break;
    out.emplace_back(path.substr(open + 1, close - open - 1));
  }
  return out;
}

}  // namespace

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

const rapidjson::Value* member_of(const rapidjson::Value& v, const char* name) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(name);
  return it == v.MemberEnd() ? nullptr : &it->value;
}

// ---- the document ---------------------------------------------------------------------------

std::string OpenApiWriter::write() {
  w_.StartObject();
  member("openapi", "3.1.0");
  info();
  member("jsonSchemaDialect", kDialect);
  key("servers");
  w_.StartArray();
  w_.StartObject();
  member("url", server_url_.empty() ? std::string_view("/") : server_url_);
  w_.EndObject();
  w_.EndArray();
  // Every route needs a bearer token unless it says otherwise (contract §4 rule 14).
  key("security");
  w_.StartArray();
  w_.StartObject();
  key("bearer");
  w_.StartArray();
  w_.EndArray();
  w_.EndObject();
  w_.EndArray();
  tags();
  paths();
  components();
  w_.EndObject();
  return std::string(buffer_.GetString(), buffer_.GetSize());
}

void OpenApiWriter::info() {
  key("info");
  w_.StartObject();
  const auto& info = base_["info"];
  for (const auto& m : info.GetObject()) {
    m.name.Accept(w_);
    m.value.Accept(w_);
  }
  member("version", KEEL_VERSION);
  w_.EndObject();
}

void OpenApiWriter::tags() {
  key("tags");
  w_.StartArray();
  std::set<std::string> named;
  for (const auto* entity : entities_) {
    const Entity& e = *entity;
    w_.StartObject();
    member("name", e.name);
    member("description", e.label + " records (module " + e.module + ")");
    w_.EndObject();
    named.insert(e.name);
  }
  for (const auto& t : base_["tags"].GetArray()) {
    t.Accept(w_);
    named.insert(t["name"].GetString());
  }
  // The tags of the native modules' routes ("x/<module>"), in the order the routes come.
  for (const auto& item : path_items())
    for (const auto& op : item.operations)
      for (const auto& t : op.doc->tags) {
        std::string name = of_entity(t, op.entity);
        if (!named.insert(name).second) continue;
        w_.StartObject();
        member("name", name);
        if (name.rfind("x/", 0) == 0) member("description", "Routes of module " + name.substr(2));
        w_.EndObject();
      }
  w_.EndArray();
}

// ---- paths ----------------------------------------------------------------------------------

// Every route of the routers in the order they were added; the routes described per entity are
// written together, entity by entity, where the first of them stands.
std::vector<PathItem> OpenApiWriter::path_items() const {
  std::vector<PathItem> items;
  auto add = [&](std::string path, std::string method, const RouteDoc& doc, const Entity* e) {
    std::transform(method.begin(), method.end(), method.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto it =
        std::find_if(items.begin(), items.end(), [&](const PathItem& i) { return i.path == path; });
    if (it == items.end()) it = items.insert(items.end(), PathItem{std::move(path), {}});
    it->operations.push_back({std::move(method), &doc, e});
  };
  for (const Router* router : routers_) {
    if (!router) continue;
    auto routes = router->routes();
    bool entities_written = false;
    for (const auto& r : routes) {
      if (!per_entity(r)) {
        add(r.pattern, r.method, r.doc, nullptr);
        continue;
      }
      if (entities_written) continue;
      entities_written = true;
      for (const Entity* e : entities_)
        for (const auto& each : routes)
          if (per_entity(each)) {
            std::string path = each.pattern;
            replace_all(path, kEntity, e->name);
            add(std::move(path), each.method, each.doc, e);
          }
    }
  }
  return items;
}

void OpenApiWriter::paths() {
  key("paths");
  w_.StartObject();
  for (const auto& item : path_items()) {
    key(item.path);
    w_.StartObject();
    // A shared path parameter that every operation of the path names is written once, for the
    // path (the records' {id}).
    std::set<std::string> hoisted;
    if (item.operations.size() > 1) {
      for (const auto& p : item.operations.front().doc->parameters) {
        const auto* shared = p.ref.empty() ? nullptr : shared_parameter(p.ref);
        if (!shared || std::string_view((*shared)["in"].GetString()) != "path") continue;
        bool everywhere =
            std::all_of(item.operations.begin(), item.operations.end(), [&](const Operation& op) {
              return std::any_of(op.doc->parameters.begin(), op.doc->parameters.end(),
                                 [&](const ApiParameter& q) { return q.ref == p.ref; });
            });
        if (everywhere) hoisted.insert(p.ref);
      }
      if (!hoisted.empty()) {
        key("parameters");
        w_.StartArray();
        for (const auto& name : hoisted)
          ref("parameters", name);
        w_.EndArray();
      }
    }
    for (const auto& op : item.operations)
      operation(item.path, op, hoisted);
    w_.EndObject();
  }
  w_.EndObject();
}

void OpenApiWriter::operation(const std::string& path, const Operation& op,
                              const std::set<std::string>& hoisted) {
  const RouteDoc& d = *op.doc;
  const Entity* e = op.entity;
  key(op.method);
  w_.StartObject();
  member("operationId", of_entity(d.operation_id, e));
  key("tags");
  w_.StartArray();
  for (const auto& t : d.tags)
    str(of_entity(t, e));
  w_.EndArray();
  member("summary", of_entity(d.summary, e));
  if (!d.description.empty()) member("description", of_entity(d.description, e));
  if (d.open) {
    key("security");
    w_.StartArray();
    w_.EndArray();
  }
  // The parameters it declares, then the path's {name} segments that none describes.
  std::vector<ApiParameter> params;
  std::set<std::string> in_path;
  for (const auto& p : d.parameters) {
    if (hoisted.count(p.ref)) {
      in_path.insert((*shared_parameter(p.ref))["name"].GetString());
      continue;
    }
    params.push_back(p);
    if (!p.ref.empty()) {
      const auto* shared = shared_parameter(p.ref);
      if (shared && std::string_view((*shared)["in"].GetString()) == "path")
        in_path.insert((*shared)["name"].GetString());
    } else if (p.in == "path") {
      in_path.insert(p.name);
    }
  }
  for (const auto& name : path_names(path))
    if (!in_path.count(name)) params.push_back(path_parameter(name, "A segment of the path"));
  if (!params.empty()) {
    key("parameters");
    w_.StartArray();
    for (const auto& p : params)
      parameter(p);
    w_.EndArray();
  }
  if (!d.body.empty()) {
    key("requestBody");
    w_.StartObject();
    flag("required", true);
    key("content");
    w_.StartObject();
    key("application/json");
    w_.StartObject();
    key("schema");
    schema_of(d.body, e);
    w_.EndObject();
    w_.EndObject();
    w_.EndObject();
  }
  key("responses");
  w_.StartObject();
  if (d.responses.empty()) {
    key("default");
    w_.StartObject();
    member("description", "The answer");
    w_.EndObject();
  }
  for (const auto& a : d.responses)
    response(a, e);
  w_.EndObject();
  w_.EndObject();
}

void OpenApiWriter::parameter(const ApiParameter& p) {
  if (!p.ref.empty()) {
    ref("parameters", p.ref);
    return;
  }
  w_.StartObject();
  member("name", p.name);
  member("in", p.in);
  if (p.required || p.in == "path") flag("required", true);
  if (!p.description.empty()) member("description", p.description);
  key("schema");
  w_.StartObject();
  type(p.type);
  w_.EndObject();
  w_.EndObject();
}

// A schema given by name (components/schemas; "{entity}_input" and the like for entity `e`) or
// as JSON Schema text.
void OpenApiWriter::schema_of(const std::string& text, const Entity* e) {
  if (!text.empty() && text.front() == '{' && text.rfind(kEntity, 0) != 0) {
    rapidjson::Document schema;
    if (json::try_parse(schema, text, json::kEnvelopeDepth * 4).ok) {
      schema.Accept(w_);
    } else {  // native_router refuses such text; Keel's own routes never give it
      w_.StartObject();
      w_.EndObject();
    }
    return;
  }
  std::string name = text;
  if (e && text.rfind(kEntity, 0) == 0) {
    std::string_view suffix = std::string_view(text).substr(kEntity.size());
    name = suffix.empty() ? e->name : derived(*e, suffix.substr(1));
  }
  ref("schemas", name);
}

void OpenApiWriter::response(const ApiResponse& a, const Entity* e) {
  key(a.status);
  if (!a.ref.empty()) {
    ref("responses", a.ref);
    return;
  }
  w_.StartObject();
  member("description", of_entity(a.description, e));
  if (!a.headers.empty()) {
    key("headers");
    w_.StartObject();
    for (const auto& h : a.headers) {
      key(h);
      ref("headers", h);
    }
    w_.EndObject();
  }
  if (!a.schema.empty()) {
    key("content");
    w_.StartObject();
    key(a.content_type);
    w_.StartObject();
    key("schema");
    schema_of(a.schema, e);
    w_.EndObject();
    w_.EndObject();
  }
  w_.EndObject();
}

// ---- components -----------------------------------------------------------------------------

void OpenApiWriter::components() {
  key("components");
  w_.StartObject();
  for (const auto& part : base_["components"].GetObject()) {
    std::string_view kind(part.name.GetString(), part.name.GetStringLength());
    part.name.Accept(w_);
    w_.StartObject();
    if (kind == "schemas")
      for (const auto* e : entities_)
        entity_schemas(*e);
    for (const auto& m : part.value.GetObject()) {
      std::string_view name(m.name.GetString(), m.name.GetStringLength());
      m.name.Accept(w_);
      if (kind == "schemas" && name == "FieldMeta") {
        // The field types are Keel's own: listed from the code, not the file.
        rapidjson::Document copy;
        copy.CopyFrom(m.value, copy.GetAllocator());
        auto& list = copy["properties"]["type"]["enum"];
        list.SetArray();
        for (auto t : schema::field_type_names())
          list.PushBack(rapidjson::Value(t.data(), static_cast<rapidjson::SizeType>(t.size()),
                                         copy.GetAllocator()),
                        copy.GetAllocator());
        copy["properties"]["type"].RemoveMember("description");
        copy.Accept(w_);
      } else if (kind == "parameters" && name == "entity" && !entities_.empty()) {
        // The entities the caller may read, by name.
        rapidjson::Document copy;
        copy.CopyFrom(m.value, copy.GetAllocator());
        auto& schema = copy["schema"];
        schema.RemoveMember("pattern");
        rapidjson::Value list(rapidjson::kArrayType);
        for (const auto* e : entities_)
          list.PushBack(rapidjson::Value(e->name.c_str(), copy.GetAllocator()),
                        copy.GetAllocator());
        schema.AddMember("enum", list, copy.GetAllocator());
        copy.Accept(w_);
      } else {
        m.value.Accept(w_);
      }
    }
    w_.EndObject();
  }
  w_.EndObject();
}
}  // namespace openapi_detail

using openapi_detail::member_of;
using openapi_detail::OpenApiWriter;

std::shared_ptr<const OpenApiBase> load_openapi_base(const std::filesystem::path& dir) {
  auto file = dir / "components.json";
  std::ifstream in(file, std::ios::binary);
  const std::string hint =
      "reinstall Keel, or point KEEL_SHARE_PATH at the share/ folder of its sources";
  if (!in) throw Error("openapi.base", "cannot read " + file.string(), hint);
  std::stringstream text;
  text << in.rdbuf();
  auto base = std::make_shared<OpenApiBase>();
  auto parsed = json::try_parse(base->doc, text.str(), 64);
  if (!parsed.ok) throw Error("openapi.base", file.string() + ": " + parsed.message, hint);
  // What the writer relies on.
  auto fail = [&](const std::string& what) {
    throw Error("openapi.base", file.string() + ": " + what, hint);
  };
  const auto& d = base->doc;
  if (!d.IsObject()) fail("the file must hold a JSON object");
  if (!member_of(d, "info") || !d["info"].IsObject()) fail("\"info\" must be an object");
  if (!member_of(d, "tags") || !d["tags"].IsArray()) fail("\"tags\" must be an array");
  for (const auto& t : d["tags"].GetArray())
    if (!member_of(t, "name") || !t["name"].IsString()) fail("every tag needs a \"name\"");
  const auto* components = member_of(d, "components");
  if (!components || !components->IsObject()) fail("\"components\" must be an object");
  for (const auto& part : components->GetObject()) {
    if (!part.value.IsObject())
      fail("components." + std::string(part.name.GetString()) + " must be an object");
    for (const auto& m : part.value.GetObject())
      if (!m.value.IsObject())
        fail("components." + std::string(part.name.GetString()) + "." + m.name.GetString() +
             " must be an object");
  }
  for (const char* kind : {"schemas", "parameters", "responses"})
    if (!member_of(*components, kind)) fail("components." + std::string(kind) + " is missing");
  for (const auto& p : (*components)["parameters"].GetObject())
    if (!member_of(p.value, "name") || !p.value["name"].IsString() || !member_of(p.value, "in") ||
        !p.value["in"].IsString())
      fail("components.parameters." + std::string(p.name.GetString()) +
           " needs a \"name\" and an \"in\"");
  const auto* schemas = member_of(*components, "schemas");
  const auto* field_meta = member_of(*schemas, "FieldMeta");
  if (!field_meta || !member_of(*field_meta, "properties") ||
      !member_of((*field_meta)["properties"], "type") ||
      !member_of((*field_meta)["properties"]["type"], "enum"))
    fail("components.schemas.FieldMeta.properties.type.enum is missing");
  const auto* entity = member_of((*components)["parameters"], "entity");
  if (!entity || !member_of(*entity, "schema") || !(*entity)["schema"].IsObject())
    fail("components.parameters.entity.schema is missing");
  return base;
}

std::string openapi_document(const OpenApiBase& base, const std::vector<const Router*>& routers,
                             const schema::Registry& registry, const security::Policy& policy,
                             const security::Context& ctx, std::string_view server_url) {
  return OpenApiWriter(base, routers, registry, policy, ctx, server_url).write();
}

}  // namespace keel::http
