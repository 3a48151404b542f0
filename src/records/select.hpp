#pragma once

// RecordService's read path (records/select.cpp): the fields of an answer, the statements of
// a list page and of a read by id, and the JSON of their rows.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "records/common.hpp"

namespace keel::records::detail {

// One key of a record in an answer.
struct OutField {
  std::string name;
  const schema::Field* field = nullptr;
  int column = -1;        // the value's column (an expanded many2one: the target's id)
  bool expanded = false;  // a many2one written as {id, ...children}
  std::vector<OutField> children;
  int relation = -1;  // one2many/many2many: index of its id-list query
};

// The fields of an answer, the SELECT list that feeds them, and the relations whose ids need
// one more query per page.
struct Selection {
  std::vector<OutField> fields;
  std::vector<std::string> columns = {"t.id"};            // the stored values, unformatted
  std::vector<const schema::Field*> formats = {nullptr};  // per column: how it is written
  std::vector<const schema::Field*> relations;

  // The SELECT list as the answer writes it; `source` names the subquery the columns come
  // from (its columns are c0, c1, ...), or is empty for the columns themselves.
  std::string select_list(std::string_view source) const;
};

// The fields `fields` names ("name,partner.name"; all readable ones when blank), their names
// checked and their many2one paths joined in `scope`.
Selection build_selection(query::QueryScope& scope, const SecurityContext& ctx,
                          const std::optional<std::string>& fields);

// The ids of one one2many/many2many per record of a page: record id -> JSON array text.
struct RelationIds {
  db::Result result;
  std::unordered_map<std::string_view, int> row_of;  // record id (as PostgreSQL prints it)
};

// ONE query per relation per page: the id lists of every record of the page.
std::vector<RelationIds> load_relations(db::Connection& conn, bool cached,
                                        const schema::Registry& registry, const LinkTables& links,
                                        const schema::Entity& entity, const Selection& selection,
                                        const db::Result& rows);

// The statement of a read: one record by id, under the caller's read rules.
struct RecordQuery {
  std::string sql;
  db::Params params;
  Selection selection;
  size_t id_param = 0;  // the index of the id among params
};

RecordQuery record_query(const schema::Registry& registry, const security::Policy& policy,
                         const SecurityContext& ctx, const schema::Entity& e, std::int64_t id,
                         const std::optional<std::string>& fields);

// The answer of a read from its row (none: 404) and the id lists of its relations.
JsonResult record_json(const schema::Entity& e, std::int64_t id, const Selection& selection,
                       const db::Result& rows, const std::vector<RelationIds>& relations);

// One record (RecordService::read); a database error is thrown as it is.
JsonResult read_record(db::Connection& conn, bool cached, const schema::Registry& registry,
                       const security::Policy& policy, const LinkTables& links,
                       const SecurityContext& ctx, const schema::Entity& e, std::int64_t id,
                       const std::optional<std::string>& fields);

// The record a write just made, read as RecordService::read reads it (its errors mapped as a
// read's), except a stale cached statement, which atomically() runs the write again for.
JsonResult read_written(db::Connection& conn, const schema::Registry& registry,
                        const security::Policy& policy, const LinkTables& links,
                        const SecurityContext& ctx, const schema::Entity& e, std::int64_t id);

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
                     const SecurityContext& ctx, const schema::Entity& e,
                     const ListRequest& request);

// Whether the total of a page is in its rows: not when the page is empty (past the last page,
// or limit 0) while rows may match.
bool total_in_rows(const PageQuery& q, const db::Result& rows);

// {"data": [...], "total": N}
JsonResult page_json(const PageQuery& q, const db::Result& rows,
                     const std::vector<RelationIds>& relations, std::int64_t total);

}  // namespace keel::records::detail
