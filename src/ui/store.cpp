#include "ui/store.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <vector>

#include "app/json.hpp"
#include "db/connection.hpp"
#include "records/service.hpp"
#include "ui/catalog.hpp"

namespace keel::ui {
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

constexpr const char* kTables[] = {"base_view", "base_view_patch", "base_menu", "base_action",
                                   "base_ui_component"};

}  // namespace

void store_module(db::Connection& conn, const Catalog& catalog, const std::string& module) {
  remove_module(conn, module);
  insert(conn, catalog.views(), module, "base_view",
         "name, module, entity, type, priority, label, arch",
         "name text, module text, entity text, type text, priority integer, label text, arch jsonb",
         [](Writer& w, const View& v) {
           put(w, "name", v.id);
           put(w, "module", v.module);
           put(w, "entity", v.entity);
           put(w, "type", v.type);
           w.Key("priority");
           w.Int(v.priority);
           put(w, "label", v.label);
           put_json(w, "arch", arch_json(v.declared));
         });
  insert(conn, catalog.patches(), module, "base_view_patch", "name, module, view, priority, patch",
         "name text, module text, view text, priority integer, patch jsonb",
         [](Writer& w, const Patch& p) {
           put(w, "name", p.id);
           put(w, "module", p.module);
           put(w, "view", p.inherit);
           w.Key("priority");
           w.Int(p.priority);
           put_json(w, "patch", p.json);
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
         "name, module, entity, label, views, filter",
         "name text, module text, entity text, label text, views jsonb, filter jsonb",
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
         });
  insert(conn, catalog.components(), module, "base_ui_component", "name, module, asset",
         "name text, module text, asset text", [](Writer& w, const Component& c) {
           put(w, "name", c.name);
           put(w, "module", c.module);
           put_or_null(w, "asset", c.asset);
         });
}

void remove_module(db::Connection& conn, const std::string& module) {
  // A database whose base predates the UI tables has nothing to remove.
  if (conn.exec("SELECT to_regclass('base_view') IS NULL").get_bool(0, 0)) return;
  for (const char* table : kTables)
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
