#include "install/data.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "app/yaml_reader.hpp"
#include "db/connection.hpp"
#include "modules/manifest.hpp"
#include "schema/diff.hpp"

namespace keel::install {
namespace fs = std::filesystem;
using db::Params;
using db::quote_ident;

namespace {

struct Value {
  const schema::Field* field;
  std::optional<std::string> scalar;  // text form, or nullopt for NULL
  std::vector<std::string> refs;      // external ids (many2one: one; many2many: several)
  bool is_ref = false;
  SourceLocation location;
};

struct Record {
  std::string xml_id;  // qualified: module.id
  const schema::Entity* entity;
  std::vector<Value> values;
  bool noupdate = false;
  SourceLocation location;
};

std::string qualify(const std::string& module, const std::string& id) {
  return id.find('.') == std::string::npos ? module + "." + id : id;
}

void parse_file(const fs::path& file, const schema::Registry& registry,
                const modules::Manifest& module, std::vector<Record>& out,
                Diagnostics& diagnostics) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  YamlReader r(file, diagnostics);
  auto doc = r.parse(text.str());
  if (!doc || doc->IsNull()) return;
  if (!r.check_map(*doc, {"noupdate", "records"}, "data file")) return;
  bool noupdate = r.boolean(*doc, "noupdate").value_or(false);
  YAML::Node records = (*doc)["records"];
  if (!records.IsDefined() || records.IsNull()) return;
  if (!records.IsSequence()) {
    r.error(records, "\"records\" must be a list");
    return;
  }
  for (const auto& node : records) {
    if (!r.check_map(node, {"id", "entity", "values"}, "record")) continue;
    auto id = r.string(node, "id", true);
    auto entity_name = r.string(node, "entity", true);
    if (!id || !entity_name) continue;
    Record rec;
    rec.xml_id = qualify(module.name, id->value);
    rec.noupdate = noupdate;
    rec.location = r.at(node);
    if (rec.xml_id.rfind(module.name + ".", 0) != 0) {
      diagnostics.error(id->location, "record id \"" + id->value + "\" belongs to another module",
                        "a module's data files declare ids of that module only");
      continue;
    }
    rec.entity = registry.entity(entity_name->value);
    if (!rec.entity) {
      diagnostics.error(entity_name->location, "unknown entity \"" + entity_name->value + "\"");
      continue;
    }
    YAML::Node values = node["values"];
    if (values.IsDefined() && !values.IsNull() && !values.IsMap()) {
      r.error(values, "\"values\" must be a map of field: value");
      continue;
    }
    bool ok = true;
    for (auto it = values.begin(); values.IsMap() && it != values.end(); ++it) {
      std::string name = it->first.Scalar();
      const schema::Field* f = rec.entity->field(name);
      Value v{f, std::nullopt, {}, false, r.at(it->first)};
      if (!f) {
        r.error(it->first, "\"" + rec.entity->name + "\" has no field \"" + name + "\"");
        ok = false;
        continue;
      }
      const YAML::Node val = it->second;  // a copy: `it->second` lives in a temporary proxy
      using schema::FieldType;
      if (f->type == FieldType::kOne2many || (f->computed && !f->store)) {
        r.error(it->first, "\"" + name + "\" cannot be set by data files",
                f->type == FieldType::kOne2many ? "set the many2one on the other side instead"
                                                : "computed fields are computed");
        ok = false;
        continue;
      }
      auto ref_of = [&](const YAML::Node& n) -> std::optional<std::string> {
        if (n.IsMap() && n["ref"].IsDefined() && n["ref"].IsScalar() && n.size() == 1)
          return qualify(module.name, n["ref"].Scalar());
        return std::nullopt;
      };
      if (f->type == FieldType::kMany2many) {
        if (!val.IsSequence()) {
          r.error(val, "\"" + name + "\" takes a list of {ref: id}");
          ok = false;
          continue;
        }
        v.is_ref = true;
        for (const auto& item : val) {
          if (auto ref = ref_of(item))
            v.refs.push_back(*ref);
          else {
            r.error(item, "items of \"" + name + "\" must be {ref: id}");
            ok = false;
          }
        }
      } else if (auto ref = ref_of(val)) {
        if (f->type != FieldType::kMany2one) {
          r.error(val, "{ref: ...} applies only to relations; \"" + name + "\" is a " +
                           std::string(to_string(f->type)));
          ok = false;
          continue;
        }
        v.is_ref = true;
        v.refs.push_back(*ref);
      } else if (val.IsNull()) {
        v.scalar = std::nullopt;
      } else if (val.IsScalar()) {
        v.scalar = val.Scalar();
      } else {
        r.error(val, "\"" + name + "\" takes a single value, got " + std::string(yaml_kind(val)));
        ok = false;
        continue;
      }
      rec.values.push_back(std::move(v));
    }
    if (ok) out.push_back(std::move(rec));
  }
}

struct ExternalId {
  std::int64_t record_id;
  std::string entity;
  bool noupdate;
};

}  // namespace

void load_data(db::Connection& conn, const schema::Registry& registry,
               const modules::Manifest& module, bool demo, DataMode mode) {
  // Existing external ids of this module and those referenced (one query).
  std::map<std::string, ExternalId> known;
  auto rows = conn.exec("SELECT name, record_id, entity, noupdate FROM base_external_id");
  for (int i = 0; i < rows.rows(); ++i)
    known[std::string(rows.get(i, 0))] = {rows.get_int(i, 1), std::string(rows.get(i, 2)),
                                          rows.get_bool(i, 3)};

  Diagnostics diagnostics;
  std::vector<Record> records;
  for (const auto& file : modules::expand_patterns(module, module.data, diagnostics))
    parse_file(file, registry, module, records, diagnostics);
  // Demo files: when asked, and on upgrade when the database holds records of them already
  // (the module was installed with --demo). Otherwise an upgrade would take them for records
  // the module no longer declares, and delete them.
  if (!module.demo.empty()) {
    Diagnostics demo_diagnostics;
    std::vector<Record> demo_records;
    for (const auto& file : modules::expand_patterns(module, module.demo, demo_diagnostics))
      parse_file(file, registry, module, demo_records, demo_diagnostics);
    bool load = demo || (mode == DataMode::kUpgrade &&
                         std::any_of(demo_records.begin(), demo_records.end(),
                                     [&](const Record& r) { return known.count(r.xml_id) > 0; }));
    if (load) {
      diagnostics.append(demo_diagnostics);
      std::move(demo_records.begin(), demo_records.end(), std::back_inserter(records));
    }
  }
  std::set<std::string> declared;
  for (const auto& rec : records)
    if (!declared.insert(rec.xml_id).second)
      diagnostics.error(rec.location, "record id \"" + rec.xml_id + "\" is declared twice");
  throw_if_errors(diagnostics, "data.invalid",
                  "invalid data files in module \"" + module.name + "\"");

  auto resolve = [&](const Value& v, const std::string& ref) -> std::int64_t {
    auto it = known.find(ref);
    if (it == known.end())
      throw ValidationError(
          "data.invalid", "unknown reference in module \"" + module.name + "\"",
          {Diagnostic{Severity::kError, v.location, "no record with external id \"" + ref + "\"",
                      "declare it earlier in the data files, or in a module "
                      "this one depends on"}});
    if (it->second.entity != v.field->target)
      throw ValidationError("data.invalid", "wrong reference in module \"" + module.name + "\"",
                            {Diagnostic{Severity::kError, v.location,
                                        "\"" + ref + "\" is a " + it->second.entity + ", \"" +
                                            v.field->name + "\" needs a " + v.field->target,
                                        ""}});
    return it->second.record_id;
  };

  for (const auto& rec : records) {
    auto existing = known.find(rec.xml_id);
    bool exists = existing != known.end();
    if (exists && (rec.noupdate || existing->second.noupdate)) continue;
    const std::string table = quote_ident(rec.entity->table);
    std::vector<std::string> columns, placeholders;
    Params params;
    std::vector<const Value*> links;
    for (const auto& v : rec.values) {
      if (v.field->type == schema::FieldType::kMany2many) {
        links.push_back(&v);
        continue;
      }
      columns.push_back(quote_ident(v.field->name));
      if (v.is_ref)
        params.add(resolve(v, v.refs.front()));
      else
        params.add(v.scalar);
      placeholders.push_back("$" + std::to_string(params.size()) +
                             "::" + schema::sql_type(*v.field));
    }
    std::int64_t id = 0;
    try {
      if (exists) {
        id = existing->second.record_id;
        if (!columns.empty()) {
          std::string sql = "UPDATE " + table + " SET ";
          for (size_t i = 0; i < columns.size(); ++i)
            sql += (i ? ", " : "") + columns[i] + " = " + placeholders[i];
          sql += ", updated_at = now() WHERE id = $" + std::to_string(params.size() + 1);
          params.add(id);
          conn.exec(sql, params);
        }
      } else {
        std::string sql = "INSERT INTO " + table;
        if (columns.empty()) {
          sql += " DEFAULT VALUES";
        } else {
          sql += " (";
          for (size_t i = 0; i < columns.size(); ++i)
            sql += (i ? ", " : "") + columns[i];
          sql += ") VALUES (";
          for (size_t i = 0; i < placeholders.size(); ++i)
            sql += (i ? ", " : "") + placeholders[i];
          sql += ")";
        }
        sql += " RETURNING id";
        id = conn.exec(sql, params).get_int(0, 0);
        conn.exec(
            "INSERT INTO base_external_id (name, module, entity, record_id, noupdate) "
            "VALUES ($1, $2, $3, $4, $5)",
            Params()
                .add(rec.xml_id)
                .add(module.name)
                .add(rec.entity->name)
                .add(id)
                .add(rec.noupdate));
        known[rec.xml_id] = {id, rec.entity->name, rec.noupdate};
      }
      for (const Value* v : links) {
        std::string link = schema::link_table(registry, *rec.entity, *v->field);
        conn.exec("DELETE FROM " + quote_ident(link) + " WHERE source_id = $1", Params().add(id));
        for (const auto& ref : v->refs)
          conn.exec("INSERT INTO " + quote_ident(link) + " (source_id, target_id) VALUES ($1, $2)",
                    Params().add(id).add(resolve(*v, ref)));
      }
    } catch (const db::DbError& e) {
      throw ValidationError("data.invalid", "data of module \"" + module.name + "\" failed",
                            {Diagnostic{Severity::kError, rec.location,
                                        "record \"" + rec.xml_id + "\": " + e.what(), e.detail()}});
    }
  }

  if (mode == DataMode::kUpgrade) {
    // Records this module declared before and no longer declares go, unless referenced.
    for (const auto& [name, ext] : known) {
      if (name.rfind(module.name + ".", 0) != 0 || declared.count(name)) continue;
      const schema::Entity* entity = registry.entity(ext.entity);
      if (!entity) continue;
      try {
        db::Savepoint sp(conn, "keel_data_delete");
        conn.exec("DELETE FROM " + quote_ident(entity->table) + " WHERE id = $1",
                  Params().add(ext.record_id));
        conn.exec("DELETE FROM base_external_id WHERE name = $1", Params().add(name));
        sp.release();
      } catch (const db::DbError&) {
        // Referenced by other records: it stays, and so does its external id.
      }
    }
  }
}

}  // namespace keel::install
