#include "ui/service.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "app/json.hpp"
#include "query/filter.hpp"
#include "schema/registry.hpp"
#include "security/policy.hpp"

namespace keel::ui {
namespace fs = std::filesystem;

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put(Writer& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
}

bool can_read(const Catalog& catalog, const security::Context& ctx, std::string_view entity) {
  return catalog.policy().allowed(ctx, entity, security::Operation::kRead);
}

void check_readable(const Catalog& catalog, const security::Context& ctx,
                    const std::string& entity) {
  if (!can_read(catalog, ctx, entity))
    throw ApiError(ErrorKind::kForbidden, "ui.forbidden", "you may not read \"" + entity + "\"",
                   "ask an administrator for a role that may read it");
}

const std::vector<std::string_view> kViewBodyKeys = {
    "id",        "module",  "entity", "type",       "label",       "priority",
    "generated", "patches", "arch",   "customized", "base_changed"};

}  // namespace

View find_view(const Catalog& catalog, std::string_view id, const security::Context& ctx) {
  auto view = catalog.view(id);
  if (!view)
    throw ApiError(ErrorKind::kNotFound, "ui.view_not_found", "no view \"" + std::string(id) + "\"",
                   "view ids are qualified by module: sales.sale_order_form");
  check_readable(catalog, ctx, view->entity);
  return std::move(*view);
}

View find_view_for(const Catalog& catalog, std::string_view entity, std::string_view type,
                   const security::Context& ctx) {
  const auto& types = view_types();
  if (std::find(types.begin(), types.end(), type) == types.end())
    throw ApiError(ErrorKind::kNotFound, "ui.view_not_found",
                   "unknown view type \"" + std::string(type) + "\"",
                   "use list, form, search or kanban");
  auto view = catalog.view_for(entity, type);
  if (!view)
    throw ApiError(ErrorKind::kNotFound, "records.unknown_entity",
                   "no entity \"" + std::string(entity) + "\"");
  check_readable(catalog, ctx, view->entity);
  return std::move(*view);
}

std::string view_json(const Catalog& catalog, const View& view,
                      const std::optional<Customization>& customization,
                      const security::Context& ctx) {
  Arch arch = customization ? customization->arch : view.arch;
  const auto& registry = catalog.registry();
  if (const schema::Entity* e = registry.entity(view.entity))
    filter_fields(arch, *e, registry, [&](const schema::Entity& entity, std::string_view name) {
      const schema::Field* f = query::find_field(entity, name);
      return f && query::field_visible(*f, ctx);
    });
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  put(w, "id", view.id);
  put(w, "module", view.module);
  put(w, "entity", view.entity);
  put(w, "type", view.type);
  put(w, "label", view.label);
  w.Key("priority");
  w.Int(view.priority);
  w.Key("generated");
  w.Bool(view.generated);
  w.Key("patches");
  w.StartArray();
  for (const auto& p : view.patches)
    w.String(p.c_str());
  w.EndArray();
  w.Key("customized");
  w.Bool(customization.has_value());
  w.Key("base_changed");
  w.Bool(customization && customization->base_hash != view.hash);
  w.Key("arch");
  std::string json = arch_json(arch);
  w.RawValue(json.c_str(), json.size(), rapidjson::kArrayType);
  w.EndObject();
  return buffer.GetString();
}

Arch parse_customization(const Catalog& catalog, const View& view, std::string_view body) {
  rapidjson::Document doc;
  json::parse(doc, body, "the view", "ui.bad_request");
  std::vector<ApiError::FieldError> errors;
  if (!doc.IsObject())
    throw ApiError(ErrorKind::kInvalid, "ui.invalid_view",
                   "the body must be a view object as GET returns it");
  for (auto m = doc.MemberBegin(); m != doc.MemberEnd(); ++m) {
    std::string key(m->name.GetString(), m->name.GetStringLength());
    if (std::find(kViewBodyKeys.begin(), kViewBodyKeys.end(), key) == kViewBodyKeys.end())
      errors.push_back({key, "unknown key"});
  }
  for (auto [key, expected] : {std::pair<const char*, const std::string*>{"id", &view.id},
                               {"entity", &view.entity},
                               {"type", &view.type}}) {
    auto it = doc.FindMember(key);
    if (it != doc.MemberEnd() && (!it->value.IsString() || it->value.GetString() != *expected))
      errors.push_back({key, "must be \"" + *expected + "\" (it cannot change)"});
  }
  auto arch_it = doc.FindMember("arch");
  if (arch_it == doc.MemberEnd()) errors.push_back({"arch", "missing: the customised arch"});
  Arch arch;
  if (arch_it != doc.MemberEnd()) {
    Diagnostics diagnostics;
    arch = arch_from_json(arch_it->value, diagnostics);
    const auto& registry = catalog.registry();
    if (!diagnostics.has_errors()) {
      validate_arch(
          arch, *registry.entity(view.entity), registry,
          [&](const std::string& name) { return catalog.component(name) != nullptr; }, diagnostics);
      check_ids(arch, diagnostics);
    }
    for (const auto& d : diagnostics.errors())
      errors.push_back(
          {d.location.file.string(), d.message + (d.hint.empty() ? "" : " (" + d.hint + ")")});
  }
  if (!errors.empty())
    throw ApiError(ErrorKind::kInvalid, "ui.invalid_view",
                   "invalid customisation of view \"" + view.id + "\"", "", std::move(errors));
  return arch;
}

std::string menus_json(const Catalog& catalog, const security::Context& ctx) {
  std::map<std::string, std::vector<const Menu*>> children;  // parent -> menus, in order
  for (const auto& m : catalog.menus())
    children[m.parent].push_back(&m);
  std::map<std::string, bool> visible;
  std::function<bool(const Menu&)> is_visible = [&](const Menu& m) {
    if (auto it = visible.find(m.id); it != visible.end()) return it->second;
    visible[m.id] = false;  // a cycle cannot make itself visible
    bool shown = false;
    if (!m.action.empty()) {
      const Action* a = catalog.action(m.action);
      shown = a && can_read(catalog, ctx, a->entity);
    } else {
      for (const Menu* c : children[m.id])
        shown = is_visible(*c) || shown;
    }
    return visible[m.id] = shown;
  };
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  std::function<void(const std::string&)> write_level = [&](const std::string& parent) {
    w.StartArray();
    for (const Menu* m : children[parent]) {
      if (!is_visible(*m)) continue;
      w.StartObject();
      put(w, "id", m->id);
      put(w, "label", m->label);
      w.Key("sequence");
      w.Int(m->sequence);
      w.Key("action");
      if (m->action.empty())
        w.Null();
      else
        w.String(m->action.c_str());
      if (!m->icon.empty()) put(w, "icon", m->icon);
      w.Key("children");
      write_level(m->id);
      w.EndObject();
    }
    w.EndArray();
  };
  w.StartObject();
  w.Key("data");
  write_level("");
  w.EndObject();
  return buffer.GetString();
}

std::string action_json(const Catalog& catalog, std::string_view id, const security::Context& ctx) {
  const Action* a = catalog.action(id);
  if (!a)
    throw ApiError(ErrorKind::kNotFound, "ui.action_not_found",
                   "no action \"" + std::string(id) + "\"",
                   "action ids are qualified by module: sales.orders");
  check_readable(catalog, ctx, a->entity);
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  put(w, "id", a->id);
  put(w, "module", a->module);
  put(w, "label", a->label);
  put(w, "entity", a->entity);
  w.Key("views");
  w.StartArray();
  for (const auto& type : a->views) {
    w.StartObject();
    put(w, "type", type);
    auto view = catalog.view_for(a->entity, type);
    put(w, "id", view ? view->id : "");
    w.EndObject();
  }
  w.EndArray();
  w.Key("filter");
  if (a->filter.empty())
    w.Null();
  else
    w.RawValue(a->filter.c_str(), a->filter.size(), rapidjson::kObjectType);
  w.Key("sort");
  if (a->sort.empty())
    w.Null();
  else
    w.String(a->sort.c_str());
  w.Key("limit");
  if (a->limit)
    w.Int64(*a->limit);
  else
    w.Null();
  w.EndObject();
  return buffer.GetString();
}

std::string components_json(const Catalog& catalog, std::string_view assets_url) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("data");
  w.StartArray();
  for (const auto& c : catalog.components()) {
    w.StartObject();
    put(w, "name", c.name);
    put(w, "module", c.module);
    w.Key("asset");
    if (c.asset.empty()) {
      w.Null();
    } else {
      // static/x.js -> <assets_url>/<module>/x.js?v=<module version>
      std::string url = std::string(assets_url) + "/" + c.module + "/" +
                        c.asset.substr(std::string("static/").size()) +
                        "?v=" + catalog.module_version(c.module);
      w.String(url.c_str(), static_cast<rapidjson::SizeType>(url.size()));
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return buffer.GetString();
}

std::string content_type_of(const std::filesystem::path& file) {
  static const std::map<std::string, std::string, std::less<>> kTypes = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".woff", "font/woff"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
      {".webmanifest", "application/manifest+json"}};
  auto type = kTypes.find(file.extension().string());
  return type == kTypes.end() ? "application/octet-stream" : type->second;
}

Asset read_asset(db::Connection& conn, const Catalog& catalog, std::string_view module,
                 std::string_view path) {
  auto not_found = [&] {
    return ApiError(
        ErrorKind::kNotFound, "ui.asset_not_found",
        "no asset \"" + std::string(path) + "\" in module \"" + std::string(module) + "\"");
  };
  const fs::path* dir = catalog.module_dir(module);
  if (!dir || path.empty()) throw not_found();
  // Segment by segment: no empty, `.`, `..` or hidden names, no backslash or NUL.
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(start, end - start);
    if (seg.empty() || seg.front() == '.' || seg.find('\\') != std::string_view::npos ||
        seg.find('\0') != std::string_view::npos)
      throw not_found();
    start = end + 1;
  }
  if (catalog.stored()) {
    auto stored = load_asset(conn, std::string(module), std::string(path));
    if (!stored) throw not_found();
    if (*stored) {
      Asset asset;
      asset.body = std::move(**stored);
      asset.content_type = content_type_of(fs::path(std::string(path)));
      asset.etag = "\"" + fingerprint(asset.body) + "\"";
      return asset;
    }
    // No file of the module stored at all: installed by an older Keel, read from its folder.
  }
  std::error_code ec;
  fs::path root = fs::canonical(*dir / "static", ec);
  if (ec) throw not_found();
  fs::path file = fs::canonical(root / fs::path(std::string(path)), ec);
  if (ec || !fs::is_regular_file(file, ec)) throw not_found();
  auto rel = file.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..") throw not_found();  // a link out of static/
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  Asset asset;
  asset.body = text.str();
  asset.content_type = content_type_of(file);
  asset.etag = "\"" + fingerprint(asset.body) + "\"";
  return asset;
}

}  // namespace keel::ui
