// RecordService's read path: which fields an answer has and the SELECT that feeds them,
// ORDER BY and paging, the statements of a list page and of a read by id, and the JSON
// writing of their rows.

#include "records/select.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>

#include "app/error.hpp"
#include "query/filter.hpp"
#include "records/db_errors.hpp"
#include "schema/field_traits.hpp"

namespace keel::records::detail {

using db::quote_ident;
using namespace query;  // QueryScope, compile_filter, field_visible, to_sql_text, ...
using schema::Entity;
using schema::Field;
using schema::FieldType;
using schema::JsonShape;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

namespace {

constexpr std::int64_t kDefaultLimit = 50;
constexpr std::int64_t kMaxLimit = 1000;

// ---------------------------------------------------------------------------------------
// Reading: the fields of an answer and how each is written.

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
    switch (schema::traits(f.field->type).json) {
      case JsonShape::kInteger:
        raw_number(text);
        break;
      case JsonShape::kBoolean:
        w_.Bool(text == "t");
        break;
      case JsonShape::kAny:
        w_.RawValue(text.data(), text.size(), rapidjson::kObjectType);
        break;
      case JsonShape::kNumber: {
        // NaN and ±Infinity are no JSON numbers: written as strings.
        size_t digit = !text.empty() && text[0] == '-' ? 1 : 0;
        if (text.size() > digit && text[digit] >= '0' && text[digit] <= '9')
          raw_number(text);
        else
          w_.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
        break;
      }
      case JsonShape::kString:
      case JsonShape::kIdList:  // written from their own query (relation >= 0) above
        w_.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
        break;
      case JsonShape::kDatetime:
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

}  // namespace

std::string Selection::select_list(std::string_view source) const {
  std::string out;
  for (size_t i = 0; i < columns.size(); ++i) {
    std::string column =
        source.empty() ? columns[i] : std::string(source) + ".c" + std::to_string(i);
    if (i) out += ", ";
    out += formats[i] ? select_expr(*formats[i], column) : column;
  }
  return out;
}

Selection build_selection(QueryScope& scope, const SecurityContext& ctx,
                          const std::optional<std::string>& fields) {
  return SelectionBuilder(scope, ctx).build(fields);
}

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

}  // namespace keel::records::detail
