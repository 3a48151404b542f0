// The operations of RecordService on the table alone. Its other files, one job each:
// common.cpp (request text, rights and rules), select.cpp (selection, formatting, the read
// path), write_plan.cpp (write planning), db_errors.cpp (database errors -> API errors),
// statement_cache.cpp (statements built once per entity and caller), service_extensions.cpp
// (native hooks and computed fields around these operations).

#include "records/service.hpp"

#include <algorithm>
#include <mutex>

#include "app/error.hpp"
#include "db/connection.hpp"
#include "query/filter.hpp"
#include "query/values.hpp"
#include "records/common.hpp"
#include "records/db_errors.hpp"
#include "records/extensions.hpp"
#include "records/select.hpp"
#include "records/statement_cache.hpp"
#include "records/stored.hpp"
#include "records/transaction.hpp"
#include "records/write_plan.hpp"
#include "schema/diff.hpp"

namespace keel::records {

using db::quote_ident;
using namespace query;  // QueryScope, compile_filter, field_visible, to_sql_text, ...
using schema::Entity;
using schema::Field;
using schema::FieldType;
using namespace detail;

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
      // The new record must be one the caller's create rules allow (else nothing is kept); an
      // administrator (Keel too) is under none.
      if (!ctx.admin && !find_locked(conn, *registry_, *policy_, ctx, e, id, Right::kCreate))
        refused(e);
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

bool RecordService::writes_per_record(const Entity& e) const {
  return (extensions_ && extensions_->has_hooks(e.name)) || stored_->affected_by(e.name);
}

namespace {

// "(SELECT t.id FROM ... WHERE <filter> AND <rules> ORDER BY t.id FOR UPDATE OF t)": the
// records of a set-based write, locked in id order; its values are bound in `scope`.
std::string selected(QueryScope& scope, const SecurityContext& ctx, std::string_view filter,
                     Right op) {
  std::string where = compile_filter(filter, scope);
  if (std::string rules = rule_predicate(scope, ctx, op); !rules.empty())
    where = "(" + where + ") AND " + rules;
  return "(SELECT t.id FROM " + scope.from() + " WHERE " + where +
         " ORDER BY t.id FOR UPDATE OF t)";
}

}  // namespace

std::vector<std::int64_t> RecordService::ids_where(db::Connection& conn, const SecurityContext& ctx,
                                                   const Entity& e, std::string_view filter,
                                                   Right op) const {
  QueryScope scope(*registry_, *policy_, e, ctx);
  std::string records = selected(scope, ctx, filter, op);
  auto rows = conn.exec_cached("SELECT s.id FROM " + records + " AS s", scope.params());
  std::vector<std::int64_t> ids;
  ids.reserve(static_cast<size_t>(rows.rows()));
  for (int i = 0; i < rows.rows(); ++i)
    ids.push_back(rows.get_int(i, 0));
  return ids;
}

std::int64_t RecordService::update_where(db::Connection& conn, const SecurityContext& ctx,
                                         std::string_view entity_name, std::string_view filter,
                                         std::string_view body) const {
  const Entity& e = entity(entity_name);
  require_right(*policy_, ctx, e, Right::kUpdate);
  WritePlan plan = parse_body(e, body, false, ctx);
  std::optional<std::int64_t> user;
  if (ctx.user_id > 0) user = ctx.user_id;
  try {
    return atomically(conn, [&]() -> std::int64_t {
      if (writes_per_record(e) || !plan.relations.empty()) {
        auto ids = ids_where(conn, ctx, e, filter, Right::kUpdate);
        for (auto id : ids)
          update(conn, ctx, entity_name, id, body);
        return static_cast<std::int64_t>(ids.size());
      }
      check_references(conn, *registry_, plan);
      throw_if_invalid(e, plan);
      QueryScope scope(*registry_, *policy_, e, ctx);
      std::string records = selected(scope, ctx, filter, Right::kUpdate);
      db::Params params = scope.params();
      std::string sets;
      for (const auto& a : plan.columns) {
        params.add(a.text);
        sets += quote_ident(a.field->name) + " = " + param_expr(*a.field, params.size()) + ", ";
      }
      params.add(user);
      return conn
          .exec_cached("UPDATE " + quote_ident(e.table) + " AS u SET " + sets +
                           "updated_at = now(), updated_by = $" + std::to_string(params.size()) +
                           "::bigint FROM " + records + " AS s WHERE u.id = s.id",
                       params)
          .affected();
    });
  } catch (const db::DbError& err) {
    raise(err, *registry_, e, Operation::kWrite);
  }
}

std::int64_t RecordService::remove_where(db::Connection& conn, const SecurityContext& ctx,
                                         std::string_view entity_name,
                                         std::string_view filter) const {
  const Entity& e = entity(entity_name);
  require_right(*policy_, ctx, e, Right::kDelete);
  try {
    return atomically(conn, [&]() -> std::int64_t {
      if (writes_per_record(e)) {
        auto ids = ids_where(conn, ctx, e, filter, Right::kDelete);
        for (auto id : ids)
          remove(conn, ctx, entity_name, id);
        return static_cast<std::int64_t>(ids.size());
      }
      QueryScope scope(*registry_, *policy_, e, ctx);
      std::string records = selected(scope, ctx, filter, Right::kDelete);
      return conn
          .exec_cached("DELETE FROM " + quote_ident(e.table) + " AS u USING " + records +
                           " AS s WHERE u.id = s.id",
                       scope.params())
          .affected();
    });
  } catch (const db::DbError& err) {
    raise(err, *registry_, e, Operation::kDelete);
  }
}

}  // namespace keel::records
