#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "db/connection.hpp"
#include "schema/diff.hpp"
#include "schema/registry.hpp"
#include "security/policy.hpp"

namespace keel::records {

class Extensions;
class StoredComputed;

// Who is asking (security/context.hpp); RecordService alone decides what it may do.
using SecurityContext = security::Context;

// Parameters of a list request, as received (query-string values, already URL-decoded).
struct ListRequest {
  std::optional<std::string> filter;  // JSON (contract §3 filter language)
  std::optional<std::string> sort;    // "-date,name,partner.name"
  std::optional<std::string> limit;   // default 50, max 1000
  std::optional<std::string> offset;  // default 0
  std::optional<std::string> fields;  // "name,partner.name"
};

// A JSON document produced by the service (RapidJSON writer output) and, for create, the id.
struct JsonResult {
  std::string json;
  std::int64_t id = 0;
};

// A read as ONE statement, for an executor that runs it elsewhere (db::Pipeline), and the
// functions that make the answer from its rows (`answer`: may throw ApiError, e.g. 404) or turn
// a database failure into the ApiError the blocking path throws (`fail`). They refer to the
// service that made them: keep it (its snapshot) alive until they have run.
struct Statement {
  std::string sql;
  db::Params params;
  std::function<JsonResult(const db::Result& rows)> answer;
  std::function<void(const db::DbError& error)> fail;  // always throws
};

// THE path to records, whatever calls it (REST handlers, data files later, native hooks):
// list, read, create, update, delete, with validation per field type. Failures are
// keel::ApiError of the kind http/ maps to the status of contract §4 rule 10 (bad_input: a bad
// query, not_found: absent, conflict: unique or restrict, invalid: a body breaking its rules,
// with field errors). Nothing from a request is ever spliced into
// SQL: names are checked against the Registry and quoted, values are bound as parameters.
class RecordService {
 public:
  // `policy`: the roles, access rights and record rules validated against `registry`
  // (query::load_policy). `extensions`: what the native modules of the snapshot add (hooks,
  // computed fields).
  RecordService(std::shared_ptr<const schema::Registry> registry,
                std::shared_ptr<const security::Policy> policy,
                std::shared_ptr<const Extensions> extensions = nullptr);
  ~RecordService();

  const schema::Registry& registry() const { return *registry_; }
  const security::Policy& policy() const { return *policy_; }

  // The operations below run the native hooks of the entity (in the write's transaction) and
  // add the natively computed fields (records/service_extensions.cpp), around the stored ones.

  // {"data": [...], "total": N}
  JsonResult list(db::Connection& conn, const SecurityContext& ctx, std::string_view entity,
                  const ListRequest& request) const;
  // One record; `fields` as in list.
  JsonResult read(db::Connection& conn, const SecurityContext& ctx, std::string_view entity,
                  std::int64_t id, const std::optional<std::string>& fields) const;
  // Creates from a JSON object body; returns the record as read back, and its id.
  JsonResult create(db::Connection& conn, const SecurityContext& ctx, std::string_view entity,
                    std::string_view body) const;
  // list() and read() as one statement each, when that is all they need: no one2many or
  // many2many to read, no natively computed field, the total in the page's rows (offset 0);
  // nullopt otherwise (call list() or read()). The checks that need no data (entity, rights,
  // names in the request) throw here, as list() and read() would.
  std::optional<Statement> list_statement(const SecurityContext& ctx, std::string_view entity,
                                          const ListRequest& request) const;
  std::optional<Statement> read_statement(const SecurityContext& ctx, std::string_view entity,
                                          std::int64_t id,
                                          const std::optional<std::string>& fields) const;
  // create() as one statement (one INSERT ... RETURNING, its own transaction), when that is
  // all it needs: no native hook or computed field, no reference to check, no one2many or
  // many2many to write; nullopt otherwise (call create()). A body create() would refuse with
  // 422 gives nullopt too; a malformed one, a missing right throw here as create() would.
  std::optional<Statement> create_statement(const SecurityContext& ctx, std::string_view entity,
                                            std::string_view body) const;
  // Updates the given fields; returns the record.
  JsonResult update(db::Connection& conn, const SecurityContext& ctx, std::string_view entity,
                    std::int64_t id, std::string_view body) const;
  void remove(db::Connection& conn, const SecurityContext& ctx, std::string_view entity,
              std::int64_t id) const;

  // Set-based writes: every record of `entity` that `filter` (the API's filter language, JSON:
  // query::compile_filter) selects and the caller's rules let it update (delete), in one
  // transaction (a savepoint inside the caller's). Each record is written as update() (remove())
  // writes it, hooks and stored computed fields included, when the entity has any; otherwise
  // as ONE statement, with the same validation and rules. Returns how many were written.
  std::int64_t update_where(db::Connection& conn, const SecurityContext& ctx,
                            std::string_view entity, std::string_view filter,
                            std::string_view body) const;
  std::int64_t remove_where(db::Connection& conn, const SecurityContext& ctx,
                            std::string_view entity, std::string_view filter) const;

  // Computes the stored computed fields whose value is NULL (records/stored.hpp): after an
  // install or upgrade added their column or wrote records without RecordService.
  void fill_stored_computed(db::Connection& conn) const;

 private:
  // The operations on the table alone (service.cpp).
  JsonResult list_stored(db::Connection& conn, const SecurityContext& ctx, std::string_view entity,
                         const ListRequest& request) const;
  JsonResult read_stored(db::Connection& conn, const SecurityContext& ctx, std::string_view entity,
                         std::int64_t id, const std::optional<std::string>& fields) const;
  JsonResult create_stored(db::Connection& conn, const SecurityContext& ctx,
                           std::string_view entity, std::string_view body) const;
  JsonResult update_stored(db::Connection& conn, const SecurityContext& ctx,
                           std::string_view entity, std::int64_t id, std::string_view body) const;
  void remove_stored(db::Connection& conn, const SecurityContext& ctx, std::string_view entity,
                     std::int64_t id) const;

  // The entity named in a request; ApiError not_found when there is none.
  const schema::Entity& entity(std::string_view name) const;
  // Whether native code computes a field of `e` (reads of it need the blocking path).
  bool computes_any(const schema::Entity& e) const;
  // Whether a write of `e` needs more than its statement (hooks, stored computed fields).
  bool writes_per_record(const schema::Entity& e) const;
  // The ids (ascending, rows locked) of the records of `e` that `filter` selects and the
  // caller's rules for `op` let it touch (service.cpp).
  std::vector<std::int64_t> ids_where(db::Connection& conn, const SecurityContext& ctx,
                                      const schema::Entity& e, std::string_view filter,
                                      security::Operation op) const;

  std::shared_ptr<const schema::Registry> registry_;
  std::shared_ptr<const security::Policy> policy_;
  std::shared_ptr<const Extensions> extensions_;
  // Statements of reads by id built before, per entity, fields and caller (service.cpp).
  struct Built;
  std::unique_ptr<Built> built_;
  // The link table of every many2many ("entity.field" -> table), named once per registry.
  std::map<std::string, std::string, std::less<>> link_tables_;
  // What recomputes the stored computed fields (records/stored.cpp).
  std::unique_ptr<StoredComputed> stored_;
};

// The SQL functions the statements of RecordService call: keel_refuse(allowed), which fails
// (SQLSTATE KR403) when a new record breaks the caller's create rules, so that a create under
// rules is one statement and nothing refused is kept. Created through the schema plan of an
// install or upgrade (install/lifecycle.cpp), owned by base in the ledger.
std::vector<schema::SqlObject> sql_objects();

}  // namespace keel::records
