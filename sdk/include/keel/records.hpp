#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "keel/value.hpp"

namespace keel::sdk {

// A list request, as GET /api/v1/records/{entity} takes it. Empty strings mean "not given".
struct Query {
  std::string filter;  // JSON in the API's filter language: {"state": {"eq": "draft"}}
  std::string sort;    // "-date,name"
  std::string fields;  // "name,partner.name"
  std::int64_t limit = 50;
  std::int64_t offset = 0;
};

struct Page {
  std::vector<Record> records;
  std::int64_t total = 0;
};

// The only way module code reaches records: Keel's RecordService, with a security context
// (the caller's, or Keel's own through Env::elevated). Access rights, record rules,
// validation and the hooks of every module apply as for a REST request; failures are thrown as
// they would be answered (not found, forbidden, invalid). Writes run in the transaction of the
// operation that called the module code.
class Records {
 public:
  virtual ~Records() = default;
  virtual Page list(std::string_view entity, const Query& query = {}) = 0;
  virtual Record read(std::string_view entity, std::int64_t id, std::string_view fields = {}) = 0;
  virtual Record create(std::string_view entity, const Record& values) = 0;
  virtual Record update(std::string_view entity, std::int64_t id, const Record& values) = 0;
  virtual void remove(std::string_view entity, std::int64_t id) = 0;
};

}  // namespace keel::sdk
