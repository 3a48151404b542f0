#pragma once

#include <optional>
#include <string>
#include <vector>

#include "db/connection.hpp"

namespace keel::install {

// Many rows as ONE statement: each column travels as one text[] parameter, and
// `unnest($1::text[], $2::text[], ...) AS x(c1, c2, ...)` turns them back into rows for an
// INSERT ... SELECT (casts and joins in the SELECT). The only way the lifecycle writes many rows
// of its bookkeeping tables: nothing is spliced into the SQL, the array literal is made here.
class BulkRows {
 public:
  explicit BulkRows(std::vector<std::string> columns) : columns_(std::move(columns)) {}

  // One row: a value (nullopt: NULL) per column, in order.
  BulkRows& add(std::vector<std::optional<std::string>> row);
  bool empty() const { return rows_ == 0; }
  std::size_t size() const { return rows_; }

  // "unnest($k::text[], ...) AS x(c1, ...)", binding one array per column after the values
  // `params` holds already.
  std::string source(db::Params& params) const;

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<std::optional<std::string>>> values_;  // per column
  std::size_t rows_ = 0;
};

// The PostgreSQL array literal of `values` ({"a","b\"c",NULL}).
std::string text_array(const std::vector<std::optional<std::string>>& values);

}  // namespace keel::install
