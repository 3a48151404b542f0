#pragma once

// RecordService's database errors mapped to API errors (records/db_errors.cpp).

#include <cstdint>
#include <string_view>

#include "db/connection.hpp"
#include "schema/registry.hpp"

namespace keel::records::detail {

enum class Operation { kRead, kWrite, kDelete };

// The SQLSTATE of keel_refuse() (sql_objects).
constexpr std::string_view kRefused = "KR403";

// A new record the caller's create rules do not allow: nothing was kept.
[[noreturn]] void refused(const schema::Entity& e);

// `e` as the ApiError of its kind: a unique or restrict conflict, an invalid value, a limit,
// an unavailable database, or an internal error (logged). `id`: the record of a delete.
[[noreturn]] void raise(const db::DbError& e, const schema::Registry& registry,
                        const schema::Entity& entity, Operation op, std::int64_t id = 0);

}  // namespace keel::records::detail
