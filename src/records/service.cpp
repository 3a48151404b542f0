#include "records/service.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <mutex>
#include <unordered_map>

#include "app/error.hpp"
#include "app/json.hpp"
#include "db/connection.hpp"
#include "query/filter.hpp"
#include "query/values.hpp"
#include "records/extensions.hpp"
#include "records/stored.hpp"
#include "records/transaction.hpp"
#include "schema/diff.hpp"

namespace keel::records {

using db::quote_ident;
using namespace query;  // QueryScope, compile_filter, field_visible, to_sql_text, ...
using schema::Entity;
using schema::Field;
using schema::FieldType;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

namespace {

constexpr std::int64_t kDefaultLimit = 50;
constexpr std::int64_t kMaxLimit = 1000;

bool is_relation(const Field& f) {
  return f.type == FieldType::kOne2many || f.type == FieldType::kMany2many;
}

std::string_view trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(trim(s.substr(start, pos == std::string_view::npos ? s.npos : pos - start)));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

bool blank(const std::optional<std::string>& s) {
  return !s || trim(*s).empty();
}

// A name from a request in an error message: printable ASCII, at most 64 characters.
std::string shown(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 64))
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (text.size() > 64) out += "...";
  return out;
}

// Runs a query of a record operation. Its text holds quoted names and $n placeholders only,
// so one shape of request is one prepared statement, cached on the connection
// (db::Connection::exec_cached). `cached` is false for reads inside a transaction the caller
// opened: there a plan made stale by a schema change could not be retried.
db::Result run(db::Connection& conn, bool cached, std::string_view sql, const db::Params& params) {
  return cached ? conn.exec_cached(sql, params) : conn.exec(sql, params);
}

// ---------------------------------------------------------------------------------------
// Rights (contract §2 Security, §4 rules 10 and 12).

using Right = security::Operation;

// The tables that mirror the files of the installed modules (written by install/ at install,
// upgrade and uninstall, from manifests, entities, security and views files). Keel acts on the
// files, so a row changed through the API would only make these tables lie (a base_module row
// set to uninstalled, an access row no policy enforces): they are read-only through the API, for
// administrators too. Users and their roles (base_user, its roles many2many), API keys and view
// customisations are data, and stay writable.
bool mirrors_module_files(const Entity& e) {
  static const std::vector<std::string_view> kMirrors = {
      "base_module",     "base_entity", "base_field",  "base_external_id", "base_ownership",
      "base_migration",  "base_role",   "base_access", "base_rule",        "base_view",
      "base_view_patch", "base_menu",   "base_action", "base_ui_component"};
  return e.module == "base" &&
         std::find(kMirrors.begin(), kMirrors.end(), e.name) != kMirrors.end();
}

// 403 unless one of the caller's roles grants `op` on `e`; a write to a table that mirrors
// module files is refused to everyone.
void require_right(const security::Policy& policy, const SecurityContext& ctx, const Entity& e,
                   Right op) {
  if (op != Right::kRead && mirrors_module_files(e))
    throw ApiError(ErrorKind::kForbidden, "records.read_only",
                   e.name +
                       " records mirror the files of the installed modules: they are read-only "
                       "through the API; change the module's files and upgrade it",
                   "keel module upgrade <module>");
  if (policy.allowed(ctx, e.name, op)) return;
  throw ApiError(ErrorKind::kForbidden, "security.forbidden",
                 "you may not " + std::string(security::to_string(op)) + " " + e.name + " records",
                 "ask an administrator for a role that grants it");
}

// The record rules of `op` on the scope's entity as one SQL predicate; empty when none
// restricts the caller. Global rules are AND-ed; then, for at least one of the caller's roles
// that grants `op`, all of that role's rules hold (a granting role without rules grants every
// row). Rules compile into the same scope as the request's filter (their values bound, their
// joins apart from the caller's), so a rule is a predicate, never a list of ids.
std::string rule_predicate(QueryScope& scope, const SecurityContext& ctx, Right op) {
  (void)ctx;  // the scope's
  return scope.rules(op);
}

// ---------------------------------------------------------------------------------------
// Reading: the fields of an answer and how each is written.

enum class Format { kNumber, kString, kBool, kRaw, kFloat, kDatetime };

Format format_of(const Field& f) {
  switch (f.type) {
    case FieldType::kInteger:
    case FieldType::kBigint:
    case FieldType::kMany2one:
      return Format::kNumber;
    case FieldType::kFloat:
      return Format::kFloat;
    case FieldType::kBoolean:
      return Format::kBool;
    case FieldType::kJson:
      return Format::kRaw;
    case FieldType::kDatetime:
      return Format::kDatetime;
    default:
      return Format::kString;
  }
}

// The SELECT expression of a column, formatted by PostgreSQL as the answer writes it. Dates
// and datetimes come as PostgreSQL writes them in Keel's sessions (ISO, UTC: see
// db::Connection::open); RecordWriter turns a datetime into RFC 3339, which costs less there
// than in SQL (to_json ... AT TIME ZONE cost PostgreSQL a tenth of a read by id).
std::string select_expr(const Field& f, const std::string& column) {
  switch (f.type) {
    case FieldType::kBinary:
      return "translate(encode(" + column + ", 'base64'), E'\\n', '')";
    default:
      return column;
  }
}

// One key of a record in an answer.
struct OutField {
  std::string name;
  const Field* field = nullptr;
  int column = -1;        // the value's column (an expanded many2one: the target's id)
  bool expanded = false;  // a many2one written as {id, ...children}
  std::vector<OutField> children;
  int relation = -1;  // one2many/many2many: index of its id-list query
};

// The fields of an answer, the SELECT list that feeds them, and the relations whose ids need
// one more query per page.
struct Selection {
  std::vector<OutField> fields;
  std::vector<std::string> columns = {"t.id"};    // the stored values, unformatted
  std::vector<const Field*> formats = {nullptr};  // per column: how it is written (select_expr)
  std::vector<const Field*> relations;

  // The SELECT list as the answer writes it; `source` names the subquery the columns come
  // from (its columns are c0, c1, ...), or is empty for the columns themselves.
  std::string select_list(std::string_view source) const {
    std::string out;
    for (size_t i = 0; i < columns.size(); ++i) {
      std::string column =
          source.empty() ? columns[i] : std::string(source) + ".c" + std::to_string(i);
      if (i) out += ", ";
      out += formats[i] ? select_expr(*formats[i], column) : column;
    }
    return out;
  }
};

class SelectionBuilder {
 public:
  SelectionBuilder(QueryScope& scope, const SecurityContext& ctx) : scope_(scope), ctx_(ctx) {}

  Selection build(const std::optional<std::string>& fields) {
    const Entity& root = scope_.root();
    if (blank(fields)) {
      for (const auto& f : root.fields)
        if (field_visible(f, ctx_) && (f.has_column() || is_relation(f)))
          add(out_.fields, root, f.name, std::string_view(), "");
      for (auto name : schema::reserved_field_names())
        if (name != "id") add(out_.fields, root, name, std::string_view(), "");
    } else {
      for (auto item : split(*fields, ',')) {
        if (item.empty())
          throw ApiError(ErrorKind::kBadInput, "records.bad_fields",
                         "empty name in fields \"" + shown(*fields) + "\"");
        scope_.resolve(item, "fields");  // checks every step, joins the many2one path
        size_t dot = item.find('.');
        add(out_.fields, root, item.substr(0, dot),
            dot == std::string_view::npos ? std::string_view() : item.substr(dot + 1), "");
      }
    }
    assign(out_.fields, "");
    return std::move(out_);
  }

 private:
  // Adds `name` (and below it `rest`, a path through it) to `list`; `prefix` is the path of
  // the entity holding it ("" for the root).
  void add(std::vector<OutField>& list, const Entity& entity, std::string_view name,
           std::string_view rest, const std::string& prefix) {
    if (name == "id" && rest.empty()) return;  // always there
    const Field* f = find_field(entity, name);
    std::string path = prefix.empty() ? std::string(name) : prefix + "." + std::string(name);
    if (!f->has_column() && !is_relation(*f))
      throw ApiError(ErrorKind::kBadInput, "records.bad_fields",
                     "\"" + path + "\" is computed and not stored: it cannot be read yet");
    if (is_relation(*f) && (!prefix.empty() || !rest.empty()))
      throw ApiError(ErrorKind::kBadInput, "records.bad_fields",
                     "\"" + path + (rest.empty() ? "" : "." + std::string(rest)) +
                         "\": one2many and many2many fields are read as id lists of the "
                         "requested entity only; they cannot be expanded yet");
    auto it =
        std::find_if(list.begin(), list.end(), [&](const OutField& o) { return o.name == name; });
    if (it == list.end()) {
      OutField o;
      o.name = std::string(name);
      o.field = f;
      list.push_back(std::move(o));
      it = list.end() - 1;
    }
    if (rest.empty()) return;
    it->expanded = true;
    size_t dot = rest.find('.');
    const Entity* target = scope_.registry().entity(f->target);
    KEEL_ASSERT(target, "the registry resolves every many2one target");
    add(it->children, *target, rest.substr(0, dot),
        dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1), path);
  }

  // Gives every field its SELECT column; `prefix` is the many2one path of the list.
  void assign(std::vector<OutField>& list, const std::string& prefix) {
    std::string alias = scope_.alias_of(prefix);
    for (auto& o : list) {
      std::string column = alias + "." + quote_ident(o.name);
      if (is_relation(*o.field)) {
        o.relation = static_cast<int>(out_.relations.size());
        out_.relations.push_back(o.field);
      } else if (o.expanded) {
        std::string path = prefix.empty() ? o.name : prefix + "." + o.name;
        o.column = static_cast<int>(out_.columns.size());
        out_.columns.push_back(scope_.alias_of(path) + ".id");
        out_.formats.push_back(nullptr);
        assign(o.children, path);
      } else {
        o.column = static_cast<int>(out_.columns.size());
        out_.columns.push_back(std::move(column));
        out_.formats.push_back(o.field);
      }
    }
  }

  QueryScope& scope_;
  const SecurityContext& ctx_;
  Selection out_;
};

// Link tables of the many2many fields: "entity.field" -> table.
using LinkTables = std::map<std::string, std::string, std::less<>>;

const std::string& link_of(const LinkTables& links, const Entity& entity, const Field& field) {
  return links.at(entity.name + "." + field.name);
}

// The ids of one one2many/many2many per record of a page: record id -> JSON array text.
struct RelationIds {
  db::Result result;
  std::unordered_map<std::string_view, int> row_of;  // record id (as PostgreSQL prints it)
};

// ONE query per relation per page: the id lists of every record of the page.
std::vector<RelationIds> load_relations(db::Connection& conn, bool cached,
                                        const schema::Registry& registry, const LinkTables& links,
                                        const Entity& entity, const Selection& selection,
                                        const db::Result& rows) {
  std::vector<RelationIds> out;
  if (selection.relations.empty() || rows.rows() == 0) return out;
  std::string ids = "{";
  for (int i = 0; i < rows.rows(); ++i) {
    if (i) ids += ',';
    ids += rows.get(i, 0);
  }
  ids += '}';
  for (const Field* f : selection.relations) {
    std::string sql;
    if (f->type == FieldType::kMany2many) {
      sql =
          "SELECT source_id, '[' || string_agg(target_id::text, ',' ORDER BY target_id) || ']' "
          "FROM " +
          quote_ident(link_of(links, entity, *f)) +
          " WHERE source_id = ANY($1::bigint[]) GROUP BY source_id";
    } else {
      const Entity* target = registry.entity(f->target);
      std::string inverse = quote_ident(f->inverse);
      sql = "SELECT " + inverse + ", '[' || string_agg(id::text, ',' ORDER BY id) || ']' FROM " +
            quote_ident(target->table) + " WHERE " + inverse + " = ANY($1::bigint[]) GROUP BY " +
            inverse;
    }
    RelationIds rel{run(conn, cached, sql, db::Params().add(ids)), {}};
    for (int i = 0; i < rel.result.rows(); ++i)
      rel.row_of.emplace(rel.result.get(i, 0), i);
    out.push_back(std::move(rel));
  }
  return out;
}

class RecordWriter {
 public:
  RecordWriter(Writer& w, const db::Result& rows, const std::vector<RelationIds>& relations)
      : w_(w), rows_(rows), relations_(relations) {}

  void record(int row, const std::vector<OutField>& fields) {
    w_.StartObject();
    w_.Key("id", 2);
    raw_number(rows_.get(row, 0));
    for (const auto& f : fields) {
      w_.Key(f.name.data(), static_cast<rapidjson::SizeType>(f.name.size()));
      value(row, f);
    }
    w_.EndObject();
  }

 private:
  void raw_number(std::string_view text) {
    w_.RawValue(text.data(), text.size(), rapidjson::kNumberType);
  }

  void value(int row, const OutField& f) {
    if (f.relation >= 0) {
      const RelationIds& rel = relations_[static_cast<size_t>(f.relation)];
      auto it = rel.row_of.find(rows_.get(row, 0));
      if (it == rel.row_of.end()) {
        w_.StartArray();
        w_.EndArray();
      } else {
        auto text = rel.result.get(it->second, 1);
        w_.RawValue(text.data(), text.size(), rapidjson::kArrayType);
      }
      return;
    }
    if (rows_.is_null(row, f.column)) {
      w_.Null();
      return;
    }
    std::string_view text = rows_.get(row, f.column);
    if (f.expanded) {
      w_.StartObject();
      w_.Key("id", 2);
      raw_number(text);
      for (const auto& child : f.children) {
        w_.Key(child.name.data(), static_cast<rapidjson::SizeType>(child.name.size()));
        value(row, child);
      }
      w_.EndObject();
      return;
    }
    switch (format_of(*f.field)) {
      case Format::kNumber:
        raw_number(text);
        break;
      case Format::kBool:
        w_.Bool(text == "t");
        break;
      case Format::kRaw:
        w_.RawValue(text.data(), text.size(), rapidjson::kObjectType);
        break;
      case Format::kFloat: {
        // NaN and ±Infinity are no JSON numbers: written as strings.
        size_t digit = !text.empty() && text[0] == '-' ? 1 : 0;
        if (text.size() > digit && text[digit] >= '0' && text[digit] <= '9')
          raw_number(text);
        else
          w_.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
        break;
      }
      case Format::kString:
        w_.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
        break;
      case Format::kDatetime:
        datetime(text);
        break;
    }
  }

  // PostgreSQL's ISO output as RFC 3339: "2026-11-26 15:48:30.134941+00" (Keel's sessions run
  // in UTC) as "2026-11-26T15:48:30.134941Z"; another offset ("+02", "+05:30", from a session
  // whose time zone was changed behind Keel's back) is kept, written "+02:00". Anything else
  // (infinity, years beyond 9999) as it is.
  void datetime(std::string_view text) {
    char out[48];
    size_t n = text.size();
    auto digit = [&](size_t i) { return i < n && text[i] >= '0' && text[i] <= '9'; };
    if (n >= 22 && n < sizeof out - 3 && text[10] == ' ') {
      size_t sign = text.find_last_of("+-");
      if (sign > 18 && digit(sign + 1) && digit(sign + 2)) {
        text.copy(out, n);
        out[10] = 'T';
        if (text.substr(sign) == "+00") {
          out[sign] = 'Z';
          n = sign + 1;
        } else if (n == sign + 3) {
          out[n++] = ':';
          out[n++] = '0';
          out[n++] = '0';
        }
        w_.String(out, static_cast<rapidjson::SizeType>(n));
        return;
      }
    }
    w_.String(text.data(), static_cast<rapidjson::SizeType>(n));
  }

  Writer& w_;
  const db::Result& rows_;
  const std::vector<RelationIds>& relations_;
};

// One key of ORDER BY.
struct SortKey {
  std::string sql;
  bool descending = false;
};

// "ORDER BY" keys: `sort` ("-date,name,partner.name") or the entity's `order`, then id.
std::vector<SortKey> order_by(QueryScope& scope, const std::optional<std::string>& sort) {
  std::vector<std::pair<std::string_view, bool>> keys;  // path, descending
  if (!blank(sort)) {
    for (auto item : split(*sort, ',')) {
      bool desc = !item.empty() && item[0] == '-';
      if (!item.empty() && (item[0] == '-' || item[0] == '+')) item.remove_prefix(1);
      if (item.empty())
        throw ApiError(ErrorKind::kBadInput, "records.bad_sort",
                       "empty name in sort \"" + shown(*sort) + "\"", "write sort=-date,name");
      keys.emplace_back(item, desc);
    }
  } else {
    for (auto item : split(scope.root().order, ',')) {
      if (item.empty()) continue;
      size_t space = item.find_first_of(" \t");
      std::string_view dir = space == std::string_view::npos ? "" : trim(item.substr(space));
      keys.emplace_back(item.substr(0, space), dir == "desc");
    }
  }
  std::vector<SortKey> out;
  bool by_id = false;
  for (auto [path, desc] : keys) {
    QueryScope::Column c = scope.resolve(path, "sort");
    if (!c.field->has_column())
      throw ApiError(ErrorKind::kBadInput, "records.bad_sort",
                     "cannot sort by \"" + std::string(path) + "\": it is a " +
                         std::string(to_string(c.field->type)) +
                         (is_relation(*c.field) ? "" : " without a column"));
    out.push_back({std::move(c.sql), desc});
    by_id = by_id || path == "id";
  }
  if (!by_id) out.push_back({"t.id", false});
  return out;
}

std::int64_t count_param(const std::optional<std::string>& text, std::string_view name,
                         std::int64_t fallback) {
  if (blank(text)) return fallback;
  std::string_view s = trim(*text);
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0 || s[0] == '+')
    throw ApiError(ErrorKind::kBadInput, "records.bad_query",
                   std::string(name) + " must be a whole number, not \"" + shown(s) + "\"");
  return v;
}

// ---------------------------------------------------------------------------------------
// Writing.

struct Assignment {
  const Field* field = nullptr;
  std::optional<std::string> text;  // nullopt: NULL
};

struct RelationWrite {
  const Field* field = nullptr;
  std::vector<std::int64_t> ids;  // sorted, unique
};

struct WritePlan {
  std::vector<Assignment> columns;
  std::vector<RelationWrite> relations;
  std::vector<ApiError::FieldError> errors;
};

std::string id_array(const std::vector<std::int64_t>& ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i)
    out += (i ? "," : "") + std::to_string(ids[i]);
  return out + "}";
}

// Checks a create or update body field by field; every problem goes to plan.errors.
WritePlan parse_body(const Entity& entity, std::string_view body, bool create,
                     const SecurityContext& ctx) {
  rapidjson::Document doc;
  // Deeper than a json field's value may be, so that a value over its limit is answered 422
  // naming the field; every other field's value is checked by its type. `source` keeps each
  // member's own text (exact numbers, json values).
  std::vector<std::string_view> source;
  json::parse(doc, body, "the request body", "records.bad_body",
              json::limits().value_depth + json::limits().depth, &source);
  if (!doc.IsObject())
    throw ApiError(ErrorKind::kBadInput, "records.bad_body",
                   "the request body must be a JSON object");
  WritePlan plan;
  auto error = [&](std::string field, std::string message) {
    plan.errors.push_back({std::move(field), std::move(message)});
  };
  std::vector<std::string_view> seen;
  std::size_t index = 0;
  for (const auto& m : doc.GetObject()) {
    std::string_view member_source = index < source.size() ? source[index] : std::string_view();
    ++index;
    std::string_view name(m.name.GetString(), m.name.GetStringLength());
    const Field* f = entity.field(name);
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      error(shown(name), "is given twice");
      continue;
    }
    seen.push_back(name);
    if (is_implicit_field(name)) {
      error(std::string(name), "is read-only");
      continue;
    }
    if (!f) {
      error(shown(name), "unknown field of " + entity.name);
      continue;
    }
    // Secret fields (hashes) are written by Keel itself only (Context::system()).
    if (f->secret ? !ctx.is_system : !field_visible(*f, ctx))
      throw ApiError(ErrorKind::kForbidden, "records.forbidden_field",
                     "field \"" + entity.name + "." + f->name + "\" is not writable by you");
    if (f->readonly || f->computed) {
      error(f->name, f->computed ? "is computed (read-only)" : "is read-only");
      continue;
    }
    const rapidjson::Value& v = m.value;
    if (is_relation(*f)) {
      RelationWrite rel{f, {}};
      bool ok = v.IsArray();
      if (ok)
        for (const auto& item : v.GetArray()) {
          if (!item.IsInt64()) {
            ok = false;
            break;
          }
          rel.ids.push_back(item.GetInt64());
        }
      if (!ok) {
        error(f->name, "must be an array of " + f->target + " ids");
        continue;
      }
      std::sort(rel.ids.begin(), rel.ids.end());
      rel.ids.erase(std::unique(rel.ids.begin(), rel.ids.end()), rel.ids.end());
      plan.relations.push_back(std::move(rel));
      continue;
    }
    if (v.IsNull()) {
      if (f->required)
        error(f->name, "is required");
      else
        plan.columns.push_back({f, std::nullopt});
      continue;
    }
    if (f->type == FieldType::kJson && json::depth(v) > json::limits().value_depth)
      throw ApiError(
          ErrorKind::kInvalid, "limits.json_value_depth",
          "the value of \"" + f->name + "\" is nested deeper than " +
              std::to_string(json::limits().value_depth) + " levels",
          "store flatter JSON; the limit is limits.json_value_depth in the configuration",
          {{f->name,
            "is nested deeper than " + std::to_string(json::limits().value_depth) + " levels"}});
    std::string message;
    auto text = to_sql_text(*f, v, ValueCheck::kFull, message, member_source);
    if (!text)
      error(f->name, message);
    else
      plan.columns.push_back({f, std::move(text)});
  }
  if (create)
    for (const auto& f : entity.fields)
      if (f.required && f.has_column() && !f.computed && !f.default_value &&
          std::find(seen.begin(), seen.end(), f.name) == seen.end())
        error(f.name, "is required");
  return plan;
}

// Records that many2one values and relation ids name and that do not exist: ONE query for
// the whole body. Adds an error per field.
void check_references(db::Connection& conn, const schema::Registry& registry, WritePlan& plan) {
  struct Ref {
    const Field* field;
    std::string ids;
  };
  std::vector<Ref> refs;
  for (const auto& a : plan.columns)
    if (a.field->type == FieldType::kMany2one && a.text)
      refs.push_back({a.field, "{" + *a.text + "}"});
  for (const auto& r : plan.relations)
    if (!r.ids.empty()) refs.push_back({r.field, id_array(r.ids)});
  if (refs.empty()) return;
  std::string sql;
  db::Params params;
  for (size_t i = 0; i < refs.size(); ++i) {
    const Entity* target = registry.entity(refs[i].field->target);
    params.add(refs[i].ids);
    sql += (i ? " UNION ALL " : "") + std::string("SELECT ") + std::to_string(i) +
           ", x FROM unnest($" + std::to_string(i + 1) +
           "::bigint[]) x WHERE NOT EXISTS (SELECT 1 FROM " + quote_ident(target->table) +
           " r WHERE r.id = x)";
  }
  auto rows = conn.exec_cached("SELECT n, string_agg(x::text, ', ' ORDER BY x), count(*) FROM (" +
                                   sql + ") missing(n, x) GROUP BY n ORDER BY n",
                               params);
  for (int i = 0; i < rows.rows(); ++i) {
    const Field* f = refs[static_cast<size_t>(rows.get_int(i, 0))].field;
    bool many = rows.get_int(i, 2) > 1;
    plan.errors.push_back({f->name, "no " + f->target + " record" + (many ? "s" : "") + " with id" +
                                        (many ? "s " : " ") + std::string(rows.get(i, 1))});
  }
}

void throw_if_invalid(const Entity& entity, WritePlan& plan) {
  if (plan.errors.empty()) return;
  std::string message = "invalid " + entity.name + " record: ";
  for (size_t i = 0; i < plan.errors.size(); ++i)
    message += (i ? "; " : "") + plan.errors[i].field + " " + plan.errors[i].message;
  throw ApiError(ErrorKind::kInvalid, "records.invalid", message, "fix the fields listed in errors",
                 std::move(plan.errors));
}

// Replaces the set of one one2many or many2many of record `id`.
void write_relation(db::Connection& conn, const schema::Registry& registry, const LinkTables& links,
                    const Entity& entity, std::int64_t id, const RelationWrite& rel, bool fresh,
                    const SecurityContext& ctx) {
  const Field& f = *rel.field;
  std::string ids = id_array(rel.ids);
  if (f.type == FieldType::kMany2many) {
    std::string link = quote_ident(link_of(links, entity, f));
    if (!fresh)
      conn.exec_cached("DELETE FROM " + link +
                           " WHERE source_id = $1::bigint AND NOT (target_id = ANY($2::bigint[]))",
                       db::Params().add(id).add(ids));
    if (!rel.ids.empty())
      conn.exec_cached("INSERT INTO " + link +
                           " (source_id, target_id) SELECT $1::bigint, unnest($2::bigint[]) "
                           "ON CONFLICT DO NOTHING",
                       db::Params().add(id).add(ids));
    return;
  }
  const Entity* found = registry.entity(f.target);
  KEEL_ASSERT(found, "the registry resolves the target of every relation");
  const Entity& target = *found;
  const Field& inverse = *target.field(f.inverse);
  std::string table = quote_ident(target.table), column = quote_ident(inverse.name);
  std::optional<std::int64_t> user;
  if (ctx.user_id > 0) user = ctx.user_id;
  if (!fresh) {
    // Records taken out of the set: deleted when they cannot exist without this one
    // (on_delete: cascade, like Odoo), detached otherwise.
    std::string others = " WHERE " + column + " = $1::bigint AND NOT (id = ANY($2::bigint[]))";
    if (inverse.on_delete == schema::OnDelete::kCascade) {
      conn.exec_cached("DELETE FROM " + table + others, db::Params().add(id).add(ids));
    } else if (inverse.required) {
      auto left =
          conn.exec_cached("SELECT count(*) FROM " + table + others, db::Params().add(id).add(ids));
      if (left.get_int(0, 0) > 0)
        throw ApiError(ErrorKind::kInvalid, "records.invalid",
                       "cannot take " + target.name + " records out of " + entity.name + "." +
                           f.name + ": " + target.name + "." + inverse.name + " is required",
                       "delete those " + target.name + " records instead",
                       {{f.name, "cannot remove records: " + target.name + "." + inverse.name +
                                     " is required"}});
    } else {
      conn.exec_cached("UPDATE " + table + " SET " + column +
                           " = NULL, updated_at = now(), updated_by = $3::bigint" + others,
                       db::Params().add(id).add(ids).add(user));
    }
  }
  if (!rel.ids.empty())
    conn.exec_cached("UPDATE " + table + " SET " + column +
                         " = $1::bigint, updated_at = now(), updated_by = $3::bigint WHERE id = "
                         "ANY($2::bigint[]) AND " +
                         column + " IS DISTINCT FROM $1::bigint",
                     db::Params().add(id).add(ids).add(user));
}

// ---------------------------------------------------------------------------------------
// Database errors -> API errors. Only names and PostgreSQL's primary message reach the
// answer, never SQL text.

enum class Operation { kRead, kWrite, kDelete };

// The text between the first pair of double quotes after `marker` (empty when absent).
std::string quoted_after(const std::string& text, std::string_view marker, bool last = false) {
  size_t at = last ? text.rfind(marker) : text.find(marker);
  if (at == std::string::npos) return {};
  size_t open = text.find('"', at + marker.size());
  size_t close = open == std::string::npos ? open : text.find('"', open + 1);
  if (close == std::string::npos) return {};
  return text.substr(open + 1, close - open - 1);
}

// "Key (partner)=(99) ..." -> "partner".
std::string key_column(const std::string& detail) {
  size_t open = detail.find("Key (");
  size_t close = open == std::string::npos ? open : detail.find(")=", open);
  if (close == std::string::npos) return {};
  return detail.substr(open + 5, close - open - 5);
}

// The SQLSTATE of keel_refuse() (sql_objects).
constexpr std::string_view kRefused = "KR403";

// A new record the caller's create rules do not allow: nothing was kept.
[[noreturn]] void refused(const Entity& e) {
  throw ApiError(ErrorKind::kForbidden, "security.rule",
                 "the record rules of " + e.name + " do not let you create this record",
                 "change the values so that the record is one you may create");
}

[[noreturn]] void raise(const db::DbError& e, const schema::Registry& registry,
                        const Entity& entity, Operation op, std::int64_t id = 0) {
  const std::string& state = e.sqlstate();
  const std::string message = e.what();
  if (state == kRefused) refused(entity);
  if (state == "23505") {
    std::string column = key_column(e.detail());
    throw ApiError(ErrorKind::kConflict, "records.conflict",
                   "another " + entity.name + " record already has this " +
                       (column.empty() ? "value" : column),
                   "unique fields take a value no other record has", {{column, "must be unique"}});
  }
  if (state == "23503") {
    if (op == Operation::kDelete) {
      std::string constraint = quoted_after(message, "constraint ");
      std::string table = quoted_after(message, "on table ", true);
      std::string by = table;
      for (const auto& other : registry.entities())
        if (other.table == table) {
          by = other.name;
          for (const auto& f : other.fields)
            if (f.type == FieldType::kMany2one &&
                schema::object_name(other.table, f.name, "fkey") == constraint)
              by = other.name + "." + f.name;
        }
      throw ApiError(ErrorKind::kConflict, "records.referenced",
                     entity.name + " " + std::to_string(id) + " is still referenced by " + by,
                     "delete or change the " + table + " records that refer to it first");
    }
    std::string column = key_column(e.detail());
    throw ApiError(ErrorKind::kInvalid, "records.invalid", "a referenced record does not exist",
                   "refer to records that exist", {{column, "no such record"}});
  }
  if (state == "23502") {
    std::string column = quoted_after(message, "column ");
    throw ApiError(ErrorKind::kInvalid, "records.invalid",
                   "invalid " + entity.name + " record: " + column + " is required", {},
                   {{column, "is required"}});
  }
  if (state == "23514") {
    std::string constraint = quoted_after(message, "constraint ");
    std::string column;
    for (const auto& f : entity.fields)
      if (constraint.rfind(entity.table + "_" + f.name + "_check", 0) == 0) column = f.name;
    throw ApiError(ErrorKind::kInvalid, "records.invalid",
                   "invalid " + entity.name + " record: " + message, {},
                   {{column, "is not allowed"}});
  }
  if (state.rfind("22", 0) == 0) {
    if (op == Operation::kRead)
      throw ApiError(ErrorKind::kBadInput, "records.bad_filter",
                     "invalid value in the query: " + message);
    throw ApiError(ErrorKind::kInvalid, "records.invalid",
                   "invalid " + entity.name + " record: " + message);
  }
  if (state.rfind("54", 0) == 0)  // program limit exceeded: stack depth, too complex, too many
    throw ApiError(op == Operation::kRead ? ErrorKind::kLimits : ErrorKind::kInvalid,
                   "limits.database",
                   "the request is too large or too deeply nested for the database: " + message,
                   "send a smaller or flatter request");
  if (state == "40001" || state == "40P01")
    throw ApiError(ErrorKind::kConflict, "records.retry",
                   "the record changed concurrently; try again");
  if (state.empty() || state.rfind("08", 0) == 0 || state.rfind("57", 0) == 0 ||
      state.rfind("53", 0) == 0)
    throw ApiError(ErrorKind::kUnavailable, "records.unavailable", "the database is not available",
                   "try again later");
  spdlog::error("records: {} ({}): {}", message, state, e.detail());
  throw ApiError(ErrorKind::kInternal, "records.internal",
                 "internal error while accessing " + entity.name, "see the server log");
}

// Whether record `id` exists and the caller's rules for `op` let it touch it; the row is
// locked until the transaction ends (an invisible row is then a 404, contract §4 rule 10).
bool find_locked(db::Connection& conn, const schema::Registry& registry,
                 const security::Policy& policy, const SecurityContext& ctx, const Entity& e,
                 std::int64_t id, Right op) {
  QueryScope scope(registry, policy, e, ctx);
  std::string where = "t.id = " + scope.bind(std::to_string(id), "bigint");
  if (std::string rules = rule_predicate(scope, ctx, op); !rules.empty()) where += " AND " + rules;
  return conn.exec_cached("SELECT 1 FROM " + scope.from() + " WHERE " + where + " FOR UPDATE OF t",
                          scope.params())
             .rows() > 0;
}

// The statement of a read: one record by id, under the caller's read rules.
struct RecordQuery {
  std::string sql;
  db::Params params;
  Selection selection;
  size_t id_param = 0;  // the index of the id among params
};

RecordQuery record_query(const schema::Registry& registry, const security::Policy& policy,
                         const SecurityContext& ctx, const Entity& e, std::int64_t id,
                         const std::optional<std::string>& fields) {
  QueryScope scope(registry, policy, e, ctx);
  Selection selection = SelectionBuilder(scope, ctx).build(fields);
  std::string sql = "SELECT " + selection.select_list({});
  std::string where = "t.id = " + scope.bind(std::to_string(id), "bigint");
  size_t id_param = scope.params().size() - 1;
  if (std::string rules = rule_predicate(scope, ctx, Right::kRead); !rules.empty())
    where += " AND " + rules;
  sql += " FROM " + scope.from() + " WHERE " + where;
  return {std::move(sql), scope.params(), std::move(selection), id_param};
}

// The answer of a read from its row (none: 404) and the id lists of its relations.
JsonResult record_json(const Entity& e, std::int64_t id, const Selection& selection,
                       const db::Result& rows, const std::vector<RelationIds>& relations) {
  if (rows.rows() == 0)
    throw ApiError(ErrorKind::kNotFound, "records.not_found",
                   "no " + e.name + " record with id " + std::to_string(id));
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  RecordWriter(w, rows, relations).record(0, selection.fields);
  return JsonResult{std::string(buffer.GetString(), buffer.GetSize()), id};
}

// One record (RecordService::read); a database error is thrown as it is.
JsonResult read_record(db::Connection& conn, bool cached, const schema::Registry& registry,
                       const security::Policy& policy, const LinkTables& links,
                       const SecurityContext& ctx, const Entity& e, std::int64_t id,
                       const std::optional<std::string>& fields) {
  RecordQuery q = record_query(registry, policy, ctx, e, id, fields);
  db::Result rows = run(conn, cached, q.sql, q.params);
  auto relations = load_relations(conn, cached, registry, links, e, q.selection, rows);
  return record_json(e, id, q.selection, rows, relations);
}

// The record a write just made, read as RecordService::read reads it (its errors mapped as a
// read's), except a stale cached statement, which atomically() runs the write again for.
JsonResult read_written(db::Connection& conn, const schema::Registry& registry,
                        const security::Policy& policy, const LinkTables& links,
                        const SecurityContext& ctx, const Entity& e, std::int64_t id) {
  // A caller may be allowed to write what it may not read back: it gets the id only.
  auto id_only = [&] { return JsonResult{"{\"id\":" + std::to_string(id) + "}", id}; };
  if (!policy.allowed(ctx, e.name, Right::kRead)) return id_only();
  try {
    return read_record(conn, true, registry, policy, links, ctx, e, id, std::nullopt);
  } catch (const ApiError& err) {
    if (err.kind() == ErrorKind::kNotFound) return id_only();
    throw;
  } catch (const db::DbError& err) {
    if (db::Connection::stale_statement(err)) throw;
    raise(err, registry, e, Operation::kRead);
  }
}

// "INSERT INTO <table> AS t (...) VALUES (...)" of a create's columns and its author; the
// values are appended to `params`.
std::string insert_sql(const Entity& e, const WritePlan& plan, std::optional<std::int64_t> user,
                       db::Params& params) {
  std::string columns, values;
  for (const auto& a : plan.columns) {
    params.add(a.text);
    columns += quote_ident(a.field->name) + ", ";
    values += param_expr(*a.field, params.size()) + ", ";
  }
  params.add(user);
  std::string p = "$" + std::to_string(params.size()) + "::bigint";
  return "INSERT INTO " + quote_ident(e.table) + " AS t (" + columns +
         "created_by, updated_by) VALUES (" + values + p + ", " + p + ")";
}

// A create as ONE statement, when nothing else is needed (no reference to check, no one2many
// or many2many to write or read, rules and fields of the table alone): INSERT ... RETURNING the
// record as read() writes it, with the caller's create rules checked on the new row by
// keel_refuse() (an error, so that a refused row is never kept: sql_objects) and its
// read rules evaluated there too.
struct CreateQuery {
  std::string sql;
  db::Params params;
  Selection selection;
  bool readable = false;
  int visible = 0;  // the column of the read rules

  JsonResult answer(const Entity& e, const db::Result& rows) const {
    std::int64_t id = rows.get_int(0, 0);
    if (!readable || !rows.get_bool(0, visible))
      return JsonResult{"{\"id\":" + std::to_string(id) + "}", id};
    return record_json(e, id, selection, rows, {});
  }
};

// Whether the values of `plan` allow a create as one statement (the rest depends on the
// entity, the caller and the columns alone: create_query).
bool one_statement(const WritePlan& plan) {
  if (!plan.errors.empty() || !plan.relations.empty()) return false;
  for (const auto& a : plan.columns)
    if (a.field->type == FieldType::kMany2one && a.text) return false;
  return true;
}

// The statement for creates of these columns by this caller (null: it takes more than one);
// its params are the rules' values, create_params adds the record's.
std::shared_ptr<const CreateQuery> create_query(const schema::Registry& registry,
                                                const security::Policy& policy,
                                                const SecurityContext& ctx, const Entity& e,
                                                const WritePlan& plan) {
  QueryScope scope(registry, policy, e, ctx);
  std::string create_rule = rule_predicate(scope, ctx, Right::kCreate);
  auto q = std::make_shared<CreateQuery>();
  q->readable = policy.allowed(ctx, e.name, Right::kRead);
  std::string read_rule = q->readable ? rule_predicate(scope, ctx, Right::kRead) : "";
  q->selection = SelectionBuilder(scope, ctx).build(std::nullopt);
  if (!q->selection.relations.empty() || scope.from() != quote_ident(e.table) + " t")
    return nullptr;
  q->params = scope.params();
  db::Params numbering = q->params;
  q->sql = insert_sql(e, plan, std::nullopt, numbering) + " RETURNING " +
           q->selection.select_list({}) + ", " + (read_rule.empty() ? "TRUE" : read_rule);
  if (!create_rule.empty()) q->sql += ", keel_refuse(" + create_rule + ")";
  q->visible = static_cast<int>(q->selection.columns.size());
  return q;
}

// The values of a create_query statement: the rules', the record's, its author.
db::Params create_params(const CreateQuery& q, const WritePlan& plan,
                         std::optional<std::int64_t> user) {
  db::Params params = q.params;
  for (const auto& a : plan.columns)
    params.add(a.text);
  params.add(user);
  return params;
}

// What the statements built for a caller depend on: its roles (rights, rules) and, unless it
// is an administrator (no rules), its user (the values of $user.id).
std::string caller_key(const SecurityContext& ctx) {
  if (ctx.admin) return "*";
  std::string key = std::to_string(ctx.user_id);
  for (const auto& r : ctx.roles)
    key += ',' + r;
  return key;
}

// The statement of a list page and what making its answer needs.
struct PageQuery {
  std::string sql;
  db::Params params;
  Selection selection;
  int total_column = 0;
  std::int64_t limit = 0, offset = 0;
  std::string count_sql;  // the total alone, when the page is empty
  db::Params count_params;
};

PageQuery page_query(const schema::Registry& registry, const security::Policy& policy,
                     const SecurityContext& ctx, const Entity& e, const ListRequest& request) {
  PageQuery q;
  q.limit = count_param(request.limit, "limit", kDefaultLimit);
  if (q.limit > kMaxLimit)
    throw ApiError(ErrorKind::kBadInput, "records.bad_query",
                   "limit " + std::to_string(q.limit) + " is above 1000",
                   "page with limit and offset");
  q.offset = count_param(request.offset, "offset", 0);

  require_right(policy, ctx, e, Right::kRead);

  QueryScope scope(registry, policy, e, ctx);
  std::string where = request.filter ? compile_filter(*request.filter, scope) : "TRUE";
  if (std::string rules = rule_predicate(scope, ctx, Right::kRead); !rules.empty())
    where = "(" + where + ") AND " + rules;
  q.count_sql = "SELECT count(*) FROM " + scope.from() + " WHERE " + where;
  q.count_params = scope.params();
  std::vector<SortKey> order = order_by(scope, request.sort);
  q.selection = SelectionBuilder(scope, ctx).build(request.fields);
  const Selection& selection = q.selection;
  // The page is chosen on the stored values (c0, c1, ..., the sort keys o0, o1, ... and the
  // total over every matching row); only its rows are then formatted for the answer. Formatting
  // in the same SELECT as count(*) OVER () would format every matching row (2.5x slower on a
  // page of 50 out of 5,000). The outer ORDER BY repeats the page's order on its sort keys;
  // PostgreSQL knows the subquery is sorted that way and does not sort again.
  std::string inner = "SELECT ";
  for (size_t i = 0; i < selection.columns.size(); ++i)
    inner += selection.columns[i] + " AS c" + std::to_string(i) + ", ";
  std::string inner_order, outer_order;
  for (size_t i = 0; i < order.size(); ++i) {
    const char* direction = order[i].descending ? " DESC" : " ASC";
    inner += order[i].sql + " AS o" + std::to_string(i) + ", ";
    inner_order += (i ? ", " : "") + order[i].sql + direction;
    outer_order += (i ? ", s.o" : "s.o") + std::to_string(i) + direction;
  }
  inner += "count(*) OVER () AS total FROM " + scope.from() + " WHERE " + where + " ORDER BY " +
           inner_order;
  inner += " LIMIT " + scope.bind(std::to_string(q.limit), "bigint");
  inner += " OFFSET " + scope.bind(std::to_string(q.offset), "bigint");
  q.sql = "SELECT " + selection.select_list("s") + ", s.total FROM (" + inner + ") s ORDER BY " +
          outer_order;
  q.params = scope.params();
  q.total_column = static_cast<int>(selection.columns.size());
  return q;
}

// Whether the total of a page is in its rows: not when the page is empty (past the last page,
// or limit 0) while rows may match.
bool total_in_rows(const PageQuery& q, const db::Result& rows) {
  return rows.rows() > 0 || (q.offset == 0 && q.limit > 0);
}

// {"data": [...], "total": N}
JsonResult page_json(const PageQuery& q, const db::Result& rows,
                     const std::vector<RelationIds>& relations, std::int64_t total) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  RecordWriter records(w, rows, relations);
  w.StartObject();
  w.Key("data", 4);
  w.StartArray();
  for (int i = 0; i < rows.rows(); ++i)
    records.record(i, q.selection.fields);
  w.EndArray();
  w.Key("total", 5);
  w.Int64(total);
  w.EndObject();
  return JsonResult{std::string(buffer.GetString(), buffer.GetSize()), 0};
}

}  // namespace

// The statements of reads by id (all but the id) and of one-statement creates (all but the
// record's values), built once per entity, fields or columns, and caller: building the SQL text
// and its selection cost more CPU than the rest of a read (a registry snapshot is immutable,
// and so is what was built from it). Callers are keyed by caller_key().
struct RecordService::Built {
  static constexpr size_t kMax = 4096;  // per kind; then start over
  std::mutex mutex;
  std::unordered_map<std::string, std::shared_ptr<const RecordQuery>> reads;
  std::unordered_map<std::string, std::shared_ptr<const CreateQuery>> creates;  // null: none

  // The entry of `key`, made by `make` when there is none (outside the lock: what it throws,
  // the caller gets).
  template <typename T, typename Make>
  std::shared_ptr<const T> get(std::unordered_map<std::string, std::shared_ptr<const T>>& map,
                               std::string key, Make make) {
    {
      std::lock_guard lock(mutex);
      if (auto it = map.find(key); it != map.end()) return it->second;
    }
    std::shared_ptr<const T> made = make();
    std::lock_guard lock(mutex);
    if (map.size() >= kMax) map.clear();
    map.emplace(std::move(key), made);
    return made;
  }

  // The one statement of a create of these columns by this caller (null: a create of these
  // values needs more).
  std::shared_ptr<const CreateQuery> create(const schema::Registry& registry,
                                            const security::Policy& policy,
                                            const SecurityContext& ctx, const Entity& e,
                                            const WritePlan& plan) {
    if (!one_statement(plan)) return nullptr;
    std::string key = e.name + '\0';
    for (const auto& a : plan.columns)
      key += a.field->name + ',';
    key += '\0' + caller_key(ctx);
    return get(creates, std::move(key),
               [&] { return create_query(registry, policy, ctx, e, plan); });
  }
};

RecordService::~RecordService() = default;

RecordService::RecordService(std::shared_ptr<const schema::Registry> registry,
                             std::shared_ptr<const security::Policy> policy,
                             std::shared_ptr<const Extensions> extensions)
    : registry_(std::move(registry)),
      policy_(std::move(policy)),
      extensions_(std::move(extensions)),
      built_(std::make_unique<Built>()),
      stored_(std::make_unique<StoredComputed>(*registry_, extensions_.get())) {
  for (const auto& e : registry_->entities())
    for (const auto& f : e.fields)
      if (f.type == FieldType::kMany2many)
        link_tables_.emplace(e.name + "." + f.name, schema::link_table(*registry_, e, f));
}

const Entity& RecordService::entity(std::string_view name) const {
  const Entity* e = registry_->entity(name);
  if (!e)
    throw ApiError(ErrorKind::kNotFound, "records.unknown_entity",
                   "no entity \"" + shown(name) + "\"");
  return *e;
}

JsonResult RecordService::list_stored(db::Connection& conn, const SecurityContext& ctx,
                                      std::string_view entity_name,
                                      const ListRequest& request) const {
  const Entity& e = entity(entity_name);
  PageQuery q = page_query(*registry_, *policy_, ctx, e, request);
  const bool cached = !conn.idle_in_transaction();
  try {
    db::Result rows = run(conn, cached, q.sql, q.params);
    std::int64_t total = 0;
    if (rows.rows() > 0)
      total = rows.get_int(0, q.total_column);
    else if (!total_in_rows(q, rows))
      total = run(conn, cached, q.count_sql, q.count_params).get_int(0, 0);
    auto relations = load_relations(conn, cached, *registry_, link_tables_, e, q.selection, rows);
    return page_json(q, rows, relations, total);
  } catch (const db::DbError& err) {
    raise(err, *registry_, e, Operation::kRead);
  }
}

bool RecordService::computes_any(const Entity& e) const {
  if (!extensions_) return false;
  return std::any_of(e.fields.begin(), e.fields.end(), [&](const Field& f) {
    return !f.has_column() && extensions_->computes(e.name, f.name);
  });
}

std::optional<Statement> RecordService::list_statement(const SecurityContext& ctx,
                                                       std::string_view entity_name,
                                                       const ListRequest& request) const {
  const Entity& e = entity(entity_name);
  if (computes_any(e)) return std::nullopt;
  auto q = std::make_shared<PageQuery>(page_query(*registry_, *policy_, ctx, e, request));
  if (!q->selection.relations.empty() || q->offset > 0 || q->limit == 0) return std::nullopt;
  Statement s{q->sql, q->params, nullptr, nullptr};
  s.answer = [q](const db::Result& rows) {
    std::int64_t total = rows.rows() > 0 ? rows.get_int(0, q->total_column) : 0;
    return page_json(*q, rows, {}, total);
  };
  s.fail = [this, &e](const db::DbError& err) { raise(err, *registry_, e, Operation::kRead); };
  return s;
}

std::optional<Statement> RecordService::read_statement(
    const SecurityContext& ctx, std::string_view entity_name, std::int64_t id,
    const std::optional<std::string>& fields) const {
  const Entity& e = entity(entity_name);
  if (computes_any(e)) return std::nullopt;
  require_right(*policy_, ctx, e, Right::kRead);
  std::string key = e.name + '\0' + (fields ? "=" + *fields : "") + '\0' + caller_key(ctx);
  auto q = built_->get(built_->reads, std::move(key), [&] {
    return std::make_shared<const RecordQuery>(
        record_query(*registry_, *policy_, ctx, e, 0, fields));
  });
  if (!q->selection.relations.empty()) return std::nullopt;
  Statement s{q->sql, q->params, nullptr, nullptr};
  s.params.set(q->id_param, std::to_string(id));
  s.answer = [q, &e, id](const db::Result& rows) {
    return record_json(e, id, q->selection, rows, {});
  };
  s.fail = [this, &e](const db::DbError& err) { raise(err, *registry_, e, Operation::kRead); };
  return s;
}

std::optional<Statement> RecordService::create_statement(const SecurityContext& ctx,
                                                         std::string_view entity_name,
                                                         std::string_view body) const {
  const Entity& e = entity(entity_name);
  if (computes_any(e) || (extensions_ && extensions_->has_hooks(e.name)) ||
      stored_->affected_by(e.name))
    return std::nullopt;
  require_right(*policy_, ctx, e, Right::kCreate);
  WritePlan plan = parse_body(e, body, true, ctx);
  std::optional<std::int64_t> user;
  if (ctx.user_id > 0) user = ctx.user_id;
  auto q = built_->create(*registry_, *policy_, ctx, e, plan);
  if (!q) return std::nullopt;
  Statement s{q->sql, create_params(*q, plan, user), nullptr, nullptr};
  s.answer = [q, &e](const db::Result& rows) { return q->answer(e, rows); };
  s.fail = [this, &e](const db::DbError& err) { raise(err, *registry_, e, Operation::kWrite); };
  return s;
}

JsonResult RecordService::read_stored(db::Connection& conn, const SecurityContext& ctx,
                                      std::string_view entity_name, std::int64_t id,
                                      const std::optional<std::string>& fields) const {
  const Entity& e = entity(entity_name);
  require_right(*policy_, ctx, e, Right::kRead);
  try {
    return read_record(conn, !conn.idle_in_transaction(), *registry_, *policy_, link_tables_, ctx,
                       e, id, fields);
  } catch (const db::DbError& err) {
    raise(err, *registry_, e, Operation::kRead);
  }
}

JsonResult RecordService::create_stored(db::Connection& conn, const SecurityContext& ctx,
                                        std::string_view entity_name, std::string_view body) const {
  const Entity& e = entity(entity_name);
  require_right(*policy_, ctx, e, Right::kCreate);
  WritePlan plan = parse_body(e, body, true, ctx);
  std::optional<std::int64_t> user;
  if (ctx.user_id > 0) user = ctx.user_id;
  try {
    if (auto q = built_->create(*registry_, *policy_, ctx, e, plan)) {
      auto run = [&] {
        return q->answer(e, conn.exec_cached(q->sql, create_params(*q, plan, user)));
      };
      // Inside the caller's transaction, a refused record rolls back to a savepoint only.
      return conn.idle_in_transaction() ? atomically(conn, run) : run();
    }
    return atomically(conn, [&] {
      check_references(conn, *registry_, plan);
      throw_if_invalid(e, plan);
      db::Params params;
      std::string insert = insert_sql(e, plan, user, params);
      std::int64_t id = conn.exec_cached(insert + " RETURNING id", params).get_int(0, 0);
      for (const auto& rel : plan.relations)
        write_relation(conn, *registry_, link_tables_, e, id, rel, true, ctx);
      // The new record must be one the caller's create rules allow (else nothing is kept).
      if (!find_locked(conn, *registry_, *policy_, ctx, e, id, Right::kCreate)) refused(e);
      return read_written(conn, *registry_, *policy_, link_tables_, ctx, e, id);
    });
  } catch (const db::DbError& err) {
    raise(err, *registry_, e, Operation::kWrite);
  }
}

JsonResult RecordService::update_stored(db::Connection& conn, const SecurityContext& ctx,
                                        std::string_view entity_name, std::int64_t id,
                                        std::string_view body) const {
  const Entity& e = entity(entity_name);
  require_right(*policy_, ctx, e, Right::kUpdate);
  WritePlan plan = parse_body(e, body, false, ctx);
  std::optional<std::int64_t> user;
  if (ctx.user_id > 0) user = ctx.user_id;
  try {
    return atomically(conn, [&] {
      if (!find_locked(conn, *registry_, *policy_, ctx, e, id, Right::kUpdate))
        throw ApiError(ErrorKind::kNotFound, "records.not_found",
                       "no " + e.name + " record with id " + std::to_string(id));
      check_references(conn, *registry_, plan);
      throw_if_invalid(e, plan);
      db::Params params;
      std::string sets;
      for (const auto& a : plan.columns) {
        params.add(a.text);
        sets += quote_ident(a.field->name) + " = " + param_expr(*a.field, params.size()) + ", ";
      }
      params.add(user).add(id);
      size_t n = params.size();
      conn.exec_cached("UPDATE " + quote_ident(e.table) + " SET " + sets +
                           "updated_at = now(), updated_by = $" + std::to_string(n - 1) +
                           "::bigint WHERE id = $" + std::to_string(n) + "::bigint",
                       params);
      for (const auto& rel : plan.relations)
        write_relation(conn, *registry_, link_tables_, e, id, rel, false, ctx);
      return read_written(conn, *registry_, *policy_, link_tables_, ctx, e, id);
    });
  } catch (const db::DbError& err) {
    raise(err, *registry_, e, Operation::kWrite);
  }
}

void RecordService::remove_stored(db::Connection& conn, const SecurityContext& ctx,
                                  std::string_view entity_name, std::int64_t id) const {
  const Entity& e = entity(entity_name);
  require_right(*policy_, ctx, e, Right::kDelete);
  try {
    atomically(conn, [&] {
      if (!find_locked(conn, *registry_, *policy_, ctx, e, id, Right::kDelete))
        throw ApiError(ErrorKind::kNotFound, "records.not_found",
                       "no " + e.name + " record with id " + std::to_string(id));
      auto result = conn.exec_cached(
          "DELETE FROM " + quote_ident(e.table) + " WHERE id = $1::bigint", db::Params().add(id));
      if (result.affected() == 0)
        throw ApiError(ErrorKind::kNotFound, "records.not_found",
                       "no " + e.name + " record with id " + std::to_string(id));
      return 0;
    });
  } catch (const db::DbError& err) {
    raise(err, *registry_, e, Operation::kDelete, id);
  }
}

std::vector<schema::SqlObject> sql_objects() {
  std::string body =
      " BEGIN IF allowed IS NOT TRUE THEN RAISE EXCEPTION 'a record rule refuses this record' "
      "USING ERRCODE = '" +
      std::string(kRefused) + "'; END IF; RETURN TRUE; END ";
  return {{"function", "", "keel_refuse", "base",
           "CREATE OR REPLACE FUNCTION keel_refuse(allowed boolean) RETURNS boolean "
           "LANGUAGE plpgsql VOLATILE AS $$" +
               body + "$$",
           body}};
}

}  // namespace keel::records
