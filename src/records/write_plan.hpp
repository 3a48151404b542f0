#pragma once

// RecordService's write planning (records/write_plan.cpp): a create or update body checked
// into a plan, its references, relation sets, row locks, and the one-statement create.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/error.hpp"
#include "records/common.hpp"
#include "records/select.hpp"

namespace keel::records::detail {

struct Assignment {
  const schema::Field* field = nullptr;
  std::optional<std::string> text;  // nullopt: NULL
};

struct RelationWrite {
  const schema::Field* field = nullptr;
  std::vector<std::int64_t> ids;  // sorted, unique
};

struct WritePlan {
  std::vector<Assignment> columns;
  std::vector<RelationWrite> relations;
  std::vector<ApiError::FieldError> errors;
};

// Checks a create or update body field by field; every problem goes to plan.errors.
WritePlan parse_body(const schema::Entity& entity, std::string_view body, bool create,
                     const SecurityContext& ctx);

// Records that many2one values and relation ids name and that do not exist: ONE query for
// the whole body. Adds an error per field.
void check_references(db::Connection& conn, const schema::Registry& registry, WritePlan& plan);

void throw_if_invalid(const schema::Entity& entity, WritePlan& plan);

// Replaces the set of one one2many or many2many of record `id`.
void write_relation(db::Connection& conn, const schema::Registry& registry, const LinkTables& links,
                    const schema::Entity& entity, std::int64_t id, const RelationWrite& rel,
                    bool fresh, const SecurityContext& ctx);

// Whether record `id` exists and the caller's rules for `op` let it touch it; the row is
// locked until the transaction ends (an invisible row is then a 404, contract §4 rule 10).
bool find_locked(db::Connection& conn, const schema::Registry& registry,
                 const security::Policy& policy, const SecurityContext& ctx,
                 const schema::Entity& e, std::int64_t id, Right op);

// "INSERT INTO <table> AS t (...) VALUES (...)" of a create's columns and its author; the
// values are appended to `params`.
std::string insert_sql(const schema::Entity& e, const WritePlan& plan,
                       std::optional<std::int64_t> user, db::Params& params);

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

  JsonResult answer(const schema::Entity& e, const db::Result& rows) const;
};

// Whether the values of `plan` allow a create as one statement (the rest depends on the
// entity, the caller and the columns alone: create_query).
bool one_statement(const WritePlan& plan);

// The statement for creates of these columns by this caller (null: it takes more than one);
// its params are the rules' values, create_params adds the record's.
std::shared_ptr<const CreateQuery> create_query(const schema::Registry& registry,
                                                const security::Policy& policy,
                                                const SecurityContext& ctx, const schema::Entity& e,
                                                const WritePlan& plan);

// The values of a create_query statement: the rules', the record's, its author.
db::Params create_params(const CreateQuery& q, const WritePlan& plan,
                         std::optional<std::int64_t> user);

}  // namespace keel::records::detail
