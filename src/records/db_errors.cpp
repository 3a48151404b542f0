// RecordService's database errors mapped to API errors. Only names and PostgreSQL's primary
// message reach the answer, never SQL text.

#include "records/db_errors.hpp"

#include <spdlog/spdlog.h>

#include "app/error.hpp"
#include "schema/diff.hpp"

namespace keel::records::detail {

using schema::Entity;
using schema::FieldType;

namespace {

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

}  // namespace

// A new record the caller's create rules do not allow: nothing was kept.
[[noreturn]] void refused(const Entity& e) {
  throw ApiError(ErrorKind::kForbidden, "security.rule",
                 "the record rules of " + e.name + " do not let you create this record",
                 "change the values so that the record is one you may create");
}

[[noreturn]] void raise(const db::DbError& e, const schema::Registry& registry,
                        const Entity& entity, Operation op, std::int64_t id) {
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

}  // namespace keel::records::detail

namespace keel::records {

std::vector<schema::SqlObject> sql_objects() {
  std::string body =
      " BEGIN IF allowed IS NOT TRUE THEN RAISE EXCEPTION 'a record rule refuses this record' "
      "USING ERRCODE = '" +
      std::string(detail::kRefused) + "'; END IF; RETURN TRUE; END ";
  return {{"function", "", "keel_refuse", "base",
           "CREATE OR REPLACE FUNCTION keel_refuse(allowed boolean) RETURNS boolean "
           "LANGUAGE plpgsql VOLATILE AS $$" +
               body + "$$",
           body}};
}

}  // namespace keel::records
