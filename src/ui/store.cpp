#include "ui/store.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "app/json.hpp"
#include "db/connection.hpp"
#include "records/service.hpp"
#include "ui/catalog.hpp"

namespace keel::ui {
namespace fs = std::filesystem;
using db::Params;

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put(Writer& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
}

void put_or_null(Writer& w, const char* key, const std::string& value) {
  w.Key(key);
  if (value.empty())
    w.Null();
  else
    w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
}

void put_json(Writer& w, const char* key, const std::string& json) {
  w.Key(key);
  if (json.empty())
    w.Null();
  else
    w.RawValue(json.c_str(), json.size(), rapidjson::kObjectType);
}

// Rows of one table as a JSON array, inserted with one statement (jsonb_to_recordset).
template <typename T, typename F>
void insert(db::Connection& conn, const std::vector<T>& items, const std::string& module,
            const char* table, const char* columns, const char* types, F write) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartArray();
  size_t count = 0;
  for (const auto& item : items) {
    if (item.module != module) continue;
    w.StartObject();
    write(w, item);
    w.EndObject();
    ++count;
  }
  w.EndArray();
  if (count == 0) return;
  conn.exec(std::string("INSERT INTO ") + table + " (" + columns + ") SELECT " + columns +
                " FROM jsonb_to_recordset($1::jsonb) AS x(" + types + ")",
            Params().add(std::string(buffer.GetString())));
}

constexpr const char* kTables[] = {"base_view",    "base_view_patch",   "base_menu",
                                   "base_action",  "base_ui_component", "base_view_default",
                                   "base_ui_asset"};

// A file of a module's static/ folder, its content in bytea's hex input form.
struct AssetFile {
  std::string module, path, content;
};

// The files /ui/assets may serve: regular files below static/ (links that stay inside
// included), no hidden file or folder.
std::vector<AssetFile> asset_files(const std::string& module, const fs::path& dir) {
  std::vector<AssetFile> out;
  std::error_code ec;
  fs::path root = fs::canonical(dir / "static", ec);
  if (ec) return out;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.filename().string().starts_with(".")) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    std::error_code e;
    fs::path real = fs::canonical(p, e);
    if (e || !fs::is_regular_file(real, e)) continue;
    auto rel = real.lexically_relative(root);
    if (rel.empty() || *rel.begin() == "..") continue;  // a link out of static/
    std::ifstream in(real, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    std::string text = bytes.str(), hex = "\\x";
    static const char* kDigits = "0123456789abcdef";
    for (unsigned char c : text) {
      hex += kDigits[c >> 4];
      hex += kDigits[c & 15];
    }
    out.push_back({module, p.lexically_relative(root).generic_string(), std::move(hex)});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  return out;
}

constexpr const char* kCustomizations = "base_view_customization";

// The ids of the customisations whose `field` equals `value`, as `ctx` may read them.
std::vector<std::int64_t> customization_ids(db::Connection& conn,
                                            const records::RecordService& records,
                                            const security::Context& ctx, const char* field,
                                            const std::string& value) {
  rapidjson::StringBuffer filter;
  Writer w(filter);
  w.StartObject();
  w.Key(field);
  w.StartObject();
  put(w, "eq", value);
  w.EndObject();
  w.EndObject();
  records::ListRequest request;
  request.filter = filter.GetString();
  request.fields = "id";
  request.limit = "1000";
  rapidjson::Document page;
  json::parse(page, records.list(conn, ctx, kCustomizations, request).json, "a list",
              "http.internal", json::kEnvelopeDepth);
  std::vector<std::int64_t> out;
  for (const auto& row : page["data"].GetArray())
    out.push_back(row["id"].GetInt64());
  return out;
}

}  // namespace

void store_module(db::Connection& conn, const Catalog& catalog, const std::string& module) {
  remove_module(conn, module);
  // `position`: the order the module declared them in (ties of priority go to the first);
  // `*_text`: the JSON as written, which the server serves (jsonb reorders keys).
  int position = 0;
  insert(conn, catalog.views(), module, "base_view",
         "name, module, entity, type, priority, label, arch, arch_text, position",
         "name text, module text, entity text, type text, priority integer, label text, arch "
         "jsonb, arch_text text, position integer",
         [&position](Writer& w, const View& v) {
           put(w, "name", v.id);
           put(w, "module", v.module);
           put(w, "entity", v.entity);
           put(w, "type", v.type);
           w.Key("priority");
           w.Int(v.priority);
           put(w, "label", v.label);
           std::string arch = arch_json(v.declared);
           put_json(w, "arch", arch);
           put(w, "arch_text", arch);
           w.Key("position");
           w.Int(++position);
         });
  position = 0;
  insert(conn, catalog.patches(), module, "base_view_patch",
         "name, module, view, priority, patch, patch_text, position",
         "name text, module text, view text, priority integer, patch jsonb, patch_text text, "
         "position integer",
         [&position](Writer& w, const Patch& p) {
           put(w, "name", p.id);
           put(w, "module", p.module);
           put(w, "view", p.inherit);
           w.Key("priority");
           w.Int(p.priority);
           put_json(w, "patch", p.json);
           put(w, "patch_text", p.json);
           w.Key("position");
           w.Int(++position);
         });
  insert(
      conn, catalog.menus(), module, "base_menu",
      "name, module, parent, label, sequence, action, icon",
      "name text, module text, parent text, label text, sequence integer, action text, icon text",
      [](Writer& w, const Menu& m) {
        put(w, "name", m.id);
        put(w, "module", m.module);
        put_or_null(w, "parent", m.parent);
        put(w, "label", m.label);
        w.Key("sequence");
        w.Int(m.sequence);
        put_or_null(w, "action", m.action);
        put_or_null(w, "icon", m.icon);
      });
  insert(conn, catalog.actions(), module, "base_action",
         "name, module, entity, label, views, filter, filter_text, sort, \"limit\"",
         "name text, module text, entity text, label text, views jsonb, filter jsonb, filter_text "
         "text, sort text, \"limit\" integer",
         [](Writer& w, const Action& a) {
           put(w, "name", a.id);
           put(w, "module", a.module);
           put(w, "entity", a.entity);
           put(w, "label", a.label);
           w.Key("views");
           w.StartArray();
           for (const auto& v : a.views)
             w.String(v.c_str());
           w.EndArray();
           put_json(w, "filter", a.filter);
           put_or_null(w, "filter_text", a.filter);
           put_or_null(w, "sort", a.sort);
           w.Key("limit");
           if (a.limit)
             w.Int64(*a.limit);
           else
             w.Null();
         });
  insert(conn, catalog.components(), module, "base_ui_component", "name, module, asset",
         "name text, module text, asset text", [](Writer& w, const Component& c) {
           put(w, "name", c.name);
           put(w, "module", c.module);
           put_or_null(w, "asset", c.asset);
         });
  if (const fs::path* dir = catalog.module_dir(module))
    insert(conn, asset_files(module, *dir), module, "base_ui_asset", "name, module, path, content",
           "name text, module text, path text, content bytea", [](Writer& w, const AssetFile& f) {
             put(w, "name", f.module + "/" + f.path);
             put(w, "module", f.module);
             put(w, "path", f.path);
             put(w, "content", f.content);
           });
  insert(conn, catalog.declared_defaults(), module, "base_view_default",
         "name, module, entity, fields", "name text, module text, entity text, fields jsonb",
         [](Writer& w, const StoredUi::DefaultsRow& d) {
           put(w, "name", d.module + "." + d.entity);
           put(w, "module", d.module);
           put(w, "entity", d.entity);
           w.Key("fields");
           w.StartObject();
           for (const auto& [type, names] : d.fields) {
             w.Key(type.c_str());
             w.StartArray();
             for (const auto& n : names)
               w.String(n.c_str());
             w.EndArray();
           }
           w.EndObject();
         });
}

void remove_module(db::Connection& conn, const std::string& module) {
  // A database whose base predates the UI tables (or base_view_default) has nothing to remove.
  auto present = conn.exec(
      "SELECT to_regclass('base_view') IS NOT NULL, to_regclass('base_view_default') IS NOT NULL");
  if (!present.get_bool(0, 0)) return;
  for (const char* table : kTables)
    if ((std::string_view(table) != "base_view_default" &&
         std::string_view(table) != "base_ui_asset") ||
        present.get_bool(0, 1))
      conn.exec(std::string("DELETE FROM ") + table + " WHERE module = $1", Params().add(module));
}

void purge_customizations(db::Connection& conn, const records::RecordService& records,
                          const std::string& module) {
  if (!records.registry().entity(kCustomizations)) return;  // a base before the UI tables
  const auto system = security::Context::system();
  // Pages of at most the list limit, until none is left.
  for (auto ids = customization_ids(conn, records, system, "module", module); !ids.empty();
       ids = customization_ids(conn, records, system, "module", module))
    for (auto id : ids)
      records.remove(conn, system, kCustomizations, id);
}

std::optional<std::optional<std::string>> load_asset(db::Connection& conn,
                                                     const std::string& module,
                                                     const std::string& path) {
  auto rows = conn.exec(
      "SELECT encode(content, 'hex') FROM base_ui_asset WHERE module = $1 AND path = $2 "
      "UNION ALL SELECT NULL WHERE NOT EXISTS (SELECT 1 FROM base_ui_asset WHERE module = $1)",
      Params().add(module).add(path));
  if (rows.rows() == 0) return std::nullopt;
  if (rows.is_null(0, 0)) return std::optional<std::string>();
  auto hex = rows.get(0, 0);
  std::string bytes;
  bytes.reserve(hex.size() / 2);
  auto value = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    bytes += static_cast<char>(value(hex[i]) << 4 | value(hex[i + 1]));
  return std::optional<std::string>(std::move(bytes));
}

std::optional<StoredUi> load_stored(db::Connection& conn) {
  if (conn.exec("SELECT to_regclass('base_view_default') IS NULL").get_bool(0, 0))
    return std::nullopt;
  StoredUi s;
  auto text = [](const db::Result& r, int row, int col) { return std::string(r.get(row, col)); };
  auto integer = [](const db::Result& r, int row, int col) {
    return static_cast<int>(r.get_int(row, col));
  };
  auto modules = conn.exec("SELECT name, version FROM base_module WHERE state = 'installed'");
  for (int i = 0; i < modules.rows(); ++i)
    s.versions.emplace(text(modules, i, 0), text(modules, i, 1));
  // Rows written before the *_text and position columns existed: their jsonb, in id order.
  auto views = conn.exec(
      "SELECT name, module, entity, type, coalesce(label, ''), priority, "
      "coalesce(arch_text, arch::text) FROM base_view ORDER BY module, position, id");
  for (int i = 0; i < views.rows(); ++i)
    s.views.push_back({text(views, i, 0), text(views, i, 1), text(views, i, 2), text(views, i, 3),
                       text(views, i, 4), integer(views, i, 5), text(views, i, 6)});
  auto patches = conn.exec(
      "SELECT name, module, view, priority, coalesce(patch_text, patch::text) "
      "FROM base_view_patch ORDER BY module, position, id");
  for (int i = 0; i < patches.rows(); ++i)
    s.patches.push_back({text(patches, i, 0), text(patches, i, 1), text(patches, i, 2),
                         integer(patches, i, 3), text(patches, i, 4)});
  auto menus = conn.exec(
      "SELECT name, module, coalesce(parent, ''), label, sequence, coalesce(action, ''), "
      "coalesce(icon, '') FROM base_menu ORDER BY id");
  for (int i = 0; i < menus.rows(); ++i) {
    Menu m;
    m.id = text(menus, i, 0);
    m.module = text(menus, i, 1);
    m.parent = text(menus, i, 2);
    m.label = text(menus, i, 3);
    m.sequence = integer(menus, i, 4);
    m.action = text(menus, i, 5);
    m.icon = text(menus, i, 6);
    s.menus.push_back(std::move(m));
  }
  // View types are plain names: a comma-separated list needs no JSON parser.
  auto actions = conn.exec(
      "SELECT name, module, entity, coalesce(label, ''), "
      "array_to_string(ARRAY(SELECT jsonb_array_elements_text(views)), ','), "
      "coalesce(filter_text, filter::text, ''), coalesce(sort, ''), \"limit\" "
      "FROM base_action ORDER BY id");
  for (int i = 0; i < actions.rows(); ++i) {
    Action a;
    a.id = text(actions, i, 0);
    a.module = text(actions, i, 1);
    a.entity = text(actions, i, 2);
    a.label = text(actions, i, 3);
    std::string types = text(actions, i, 4);
    for (size_t at = 0; !types.empty() && at <= types.size();) {
      size_t end = std::min(types.find(',', at), types.size());
      a.views.push_back(types.substr(at, end - at));
      at = end + 1;
    }
    a.filter = text(actions, i, 5);
    a.sort = text(actions, i, 6);
    if (!actions.is_null(i, 7)) a.limit = actions.get_int(i, 7);
    s.actions.push_back(std::move(a));
  }
  auto components =
      conn.exec("SELECT name, module, coalesce(asset, '') FROM base_ui_component ORDER BY name");
  for (int i = 0; i < components.rows(); ++i) {
    Component c;
    c.name = text(components, i, 0);
    c.module = text(components, i, 1);
    c.asset = text(components, i, 2);
    s.components.push_back(std::move(c));
  }
  // One row per module, entity and view type; field names hold no newline.
  auto defaults = conn.exec(
      "SELECT d.module, d.entity, f.key, "
      "array_to_string(ARRAY(SELECT jsonb_array_elements_text(f.value)), E'\\n') "
      "FROM base_view_default d CROSS JOIN LATERAL jsonb_each(d.fields) f ORDER BY d.id, f.key");
  for (int i = 0; i < defaults.rows(); ++i) {
    std::string module = text(defaults, i, 0), entity = text(defaults, i, 1);
    if (s.defaults.empty() || s.defaults.back().module != module ||
        s.defaults.back().entity != entity)
      s.defaults.push_back({module, entity, {}});
    auto& fields = s.defaults.back().fields[text(defaults, i, 2)];
    std::string names = text(defaults, i, 3);
    for (size_t at = 0; !names.empty() && at <= names.size();) {
      size_t end = std::min(names.find('\n', at), names.size());
      fields.push_back(names.substr(at, end - at));
      at = end + 1;
    }
  }
  return s;
}

std::shared_ptr<const Catalog> load_catalog(db::Connection& conn,
                                            const std::vector<const modules::Manifest*>& modules,
                                            std::shared_ptr<const schema::Registry> registry,
                                            std::shared_ptr<const security::Policy> policy) {
  return load_catalog(load_stored(conn), modules, std::move(registry), std::move(policy));
}

std::shared_ptr<const Catalog> load_catalog(std::optional<StoredUi> stored,
                                            const std::vector<const modules::Manifest*>& modules,
                                            std::shared_ptr<const schema::Registry> registry,
                                            std::shared_ptr<const security::Policy> policy) {
  if (!stored) return build_catalog(modules, std::move(registry), std::move(policy));
  Diagnostics diagnostics;
  auto catalog =
      Catalog::load(*stored, modules, std::move(registry), std::move(policy), diagnostics);
  throw_if_errors(diagnostics, "view.invalid",
                  "the installed views, menus or actions do not fit the installed entities");
  return catalog;
}

std::optional<Customization> load_customization(db::Connection& conn, const std::string& view) {
  auto rows = conn.exec("SELECT arch::text, base_hash FROM base_view_customization WHERE view = $1",
                        Params().add(view));
  if (rows.rows() == 0) return std::nullopt;
  Diagnostics ignored;  // written by save_customization from a validated arch
  return Customization{arch_from_json(rows.get(0, 0), ignored), std::string(rows.get(0, 1))};
}

void save_customization(db::Connection& conn, const records::RecordService& records,
                        const security::Context& ctx, const View& view, const Arch& arch) {
  rapidjson::StringBuffer body;
  Writer w(body);
  w.StartObject();
  put(w, "module", view.module);
  put_json(w, "arch", arch_json(arch));
  put(w, "base_hash", view.hash);
  auto ids = customization_ids(conn, records, ctx, "view", view.id);
  if (!ids.empty()) {
    w.EndObject();
    records.update(conn, ctx, kCustomizations, ids.front(), body.GetString());
    return;
  }
  put(w, "view", view.id);
  w.EndObject();
  records.create(conn, ctx, kCustomizations, body.GetString());
}

bool delete_customization(db::Connection& conn, const records::RecordService& records,
                          const security::Context& ctx, const std::string& view) {
  auto ids = customization_ids(conn, records, ctx, "view", view);
  for (auto id : ids)
    records.remove(conn, ctx, kCustomizations, id);
  return !ids.empty();
}

}  // namespace keel::ui
