// RecordService's write planning: a create or update body checked field by field into a
// plan, the references it names, the writes of one2many and many2many sets, the row lock of an
// update or delete, and the one-statement create.

#include "records/write_plan.hpp"

#include <rapidjson/document.h>

#include <algorithm>

#include "app/error.hpp"
#include "app/json.hpp"
#include "query/filter.hpp"
#include "query/values.hpp"

namespace keel::records::detail {

using db::quote_ident;
using namespace query;  // QueryScope, compile_filter, field_visible, to_sql_text, ...
using schema::Entity;
using schema::Field;
using schema::FieldType;

namespace {

std::string id_array(const std::vector<std::int64_t>& ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i)
    out += (i ? "," : "") + std::to_string(ids[i]);
  return out + "}";
}

}  // namespace

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

JsonResult CreateQuery::answer(const Entity& e, const db::Result& rows) const {
  std::int64_t id = rows.get_int(0, 0);
  if (!readable || !rows.get_bool(0, visible))
    return JsonResult{"{\"id\":" + std::to_string(id) + "}", id};
  return record_json(e, id, selection, rows, {});
}

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
  q->selection = build_selection(scope, ctx, std::nullopt);
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

}  // namespace keel::records::detail
