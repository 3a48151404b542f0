#include "install/data.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <regex>

#include "app/json.hpp"
#include "app/yaml_reader.hpp"
#include "db/connection.hpp"
#include "modules/manifest.hpp"
#include "records/service.hpp"
#include "schema/diff.hpp"
#include "schema/field_traits.hpp"

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
  std::string xml_id;   // qualified: module.id
  bool update = false;  // an `update:` entry: values for a record declared before
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
    if (!r.check_map(node, {"id", "update", "entity", "values"}, "record")) continue;
    bool update = node.IsMap() && node["update"].IsDefined();
    if (update && node["id"].IsDefined()) {
      r.error(node,
              "a record has either \"id\" (a new record) or \"update\" (values for one "
              "declared before), not both");
      continue;
    }
    auto id = r.string(node, update ? "update" : "id", true);
    auto entity_name = r.string(node, "entity", true);
    if (!id || !entity_name) continue;
    Record rec;
    rec.xml_id = qualify(module.name, id->value);
    rec.update = update;
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
      if (f->type == FieldType::kOne2many || f->computed) {
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

const std::regex& json_number() {
  static const std::regex re(R"(-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)");
  return re;
}

// One value of a data file as JSON, as a client would send it for its field.
template <typename Resolve>
void write_value(rapidjson::Writer<rapidjson::StringBuffer>& w, const Value& v,
                 const Resolve& resolve) {
  using schema::FieldType;
  auto string = [&](const std::string& s) {
    w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
  };
  auto raw = [&](const std::string& s) { w.RawValue(s.c_str(), s.size(), rapidjson::kNumberType); };
  if (v.field->type == FieldType::kMany2many) {
    w.StartArray();
    for (const auto& ref : v.refs)
      w.Int64(resolve(v, ref));
    w.EndArray();
    return;
  }
  if (v.is_ref) {
    w.Int64(resolve(v, v.refs.front()));
    return;
  }
  if (!v.scalar) {
    w.Null();
    return;
  }
  const std::string& s = *v.scalar;
  switch (schema::traits(v.field->type).json) {
    case schema::JsonShape::kInteger:
    case schema::JsonShape::kNumber:
      // A number as written; anything else goes as a string, which the service refuses.
      if (std::regex_match(s, json_number()))
        raw(s);
      else
        string(s);
      return;
    case schema::JsonShape::kBoolean: {
      bool b = false;
      if (YAML::convert<bool>::decode(YAML::Node(s), b))
        w.Bool(b);
      else
        string(s);
      return;
    }
    case schema::JsonShape::kAny: {
      rapidjson::Document doc;
      if (json::try_parse(doc, s, json::limits().value_depth).ok)
        w.RawValue(s.c_str(), s.size(), doc.GetType());
      else
        string(s);
      return;
    }
    default:
      string(s);  // text, selection, decimal (exact, as a string), date, datetime, binary
  }
}

// A refusal of RecordService for a record of a data file, as a diagnostic naming the file (at the
// field's line when the service names a field), the record's external id and the field.
[[noreturn]] void throw_record_error(const modules::Manifest& module, const Record& rec,
                                     const ApiError& e) {
  std::vector<Diagnostic> out;
  for (const auto& fe : e.field_errors()) {
    SourceLocation at = rec.location;
    for (const auto& v : rec.values)
      if (v.field->name == fe.field) at = v.location;
    out.push_back(
        Diagnostic{Severity::kError, at,
                   "record \"" + rec.xml_id + "\", field \"" + fe.field + "\": " + fe.message, ""});
  }
  if (out.empty())
    out.push_back(Diagnostic{Severity::kError, rec.location,
                             "record \"" + rec.xml_id + "\": " + e.what() +
                                 (e.detail().empty() ? std::string() : " (" + e.detail() + ")"),
                             e.hint()});
  throw ValidationError("data.invalid", "data of module \"" + module.name + "\" failed",
                        std::move(out));
}

}  // namespace

void load_data(db::Connection& conn, const records::RecordService& service,
               const modules::Manifest& module, bool demo, DataMode mode) {
  const schema::Registry& registry = service.registry();
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
    if (!rec.update && !declared.insert(rec.xml_id).second)
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

  const auto system = records::SecurityContext::system();
  std::set<std::string> written;  // records this load created or updated
  for (const auto& rec : records) {
    auto existing = known.find(rec.xml_id);
    bool exists = existing != known.end();
    if (rec.update) {
      // Values for a record declared before: applied when this load wrote that record.
      if (!written.count(rec.xml_id)) {
        if (exists || declared.count(rec.xml_id)) continue;
        throw ValidationError(
            "data.invalid", "unknown record in module \"" + module.name + "\"",
            {Diagnostic{Severity::kError, rec.location,
                        "update of \"" + rec.xml_id + "\": no record with that external id",
                        "declare it with `id:` before this entry"}});
      }
      if (existing->second.entity != rec.entity->name)
        throw ValidationError("data.invalid", "wrong entity in module \"" + module.name + "\"",
                              {Diagnostic{Severity::kError, rec.location,
                                          "\"" + rec.xml_id + "\" is a " + existing->second.entity +
                                              ", not a " + rec.entity->name,
                                          ""}});
    } else if (exists && (rec.noupdate || existing->second.noupdate)) {
      continue;
    }
    // The values as the API's JSON body: RecordService checks and writes them, running the
    // module hooks, as for any client.
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    w.StartObject();
    for (const auto& v : rec.values) {
      w.Key(v.field->name.c_str(), static_cast<rapidjson::SizeType>(v.field->name.size()));
      write_value(w, v, resolve);
    }
    w.EndObject();
    std::string_view body(buffer.GetString(), buffer.GetSize());
    try {
      if (exists) {
        if (!rec.values.empty())
          service.update(conn, system, rec.entity->name, existing->second.record_id, body);
      } else {
        std::int64_t id = service.create(conn, system, rec.entity->name, body).id;
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
      written.insert(rec.xml_id);
    } catch (const ApiError& e) {
      throw_record_error(module, rec, e);
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
      // Through RecordService too (the modules' hooks run); gone already counts as deleted.
      bool gone = true;
      try {
        service.remove(conn, system, entity->name, ext.record_id);
      } catch (const ApiError& e) {
        gone = e.kind() == ErrorKind::kNotFound;  // a conflict: referenced by others, it stays
      } catch (const db::DbError&) {
        gone = false;
      }
      if (gone) conn.exec("DELETE FROM base_external_id WHERE name = $1", Params().add(name));
    }
  }
}

}  // namespace keel::install
