#include "ui/store.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "db/connection.hpp"
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

constexpr const char* kTables[] = {"base_view", "base_view_patch", "base_menu", "base_action",
                                   "base_ui_component"};

}  // namespace

void store_module(db::Connection& conn, const Catalog& catalog, const std::string& module) {
  remove_module(conn, module, false);
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

void remove_module(db::Connection& conn, const std::string& module, bool purge) {
  // A database whose base predates the UI tables has nothing to remove.
  if (conn.exec("SELECT to_regclass('base_view') IS NULL").get_bool(0, 0)) return;
  for (const char* table : kTables)
    conn.exec(std::string("DELETE FROM ") + table + " WHERE module = $1", Params().add(module));
  if (purge)
    conn.exec("DELETE FROM base_view_customization WHERE module = $1", Params().add(module));
}

std::optional<Customization> load_customization(db::Connection& conn, const std::string& view) {
  auto rows = conn.exec("SELECT arch::text, base_hash FROM base_view_customization WHERE view = $1",
                        Params().add(view));
  if (rows.rows() == 0) return std::nullopt;
  Diagnostics ignored;  // written by save_customization from a validated arch
  return Customization{arch_from_json(rows.get(0, 0), ignored), std::string(rows.get(0, 1))};
}

void save_customization(db::Connection& conn, const View& view, const Arch& arch) {
  conn.exec(
      "INSERT INTO base_view_customization (view, module, arch, base_hash) "
      "VALUES ($1, $2, $3::jsonb, $4) ON CONFLICT (view) DO UPDATE SET arch = excluded.arch, "
      "base_hash = excluded.base_hash, module = excluded.module, updated_at = now()",
      Params().add(view.id).add(view.module).add(arch_json(arch)).add(view.hash));
}

bool delete_customization(db::Connection& conn, const std::string& view) {
  auto rows = conn.exec("DELETE FROM base_view_customization WHERE view = $1 RETURNING id",
                        Params().add(view));
  return rows.rows() > 0;
}

}  // namespace keel::ui
