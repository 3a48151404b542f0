#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "records/service.hpp"

namespace keel::db {
class Connection;
}

namespace keel::records {

// Where a write or a read of RecordService calls out: the connection and transaction it runs
// in, the caller, and the service itself (module code reaches records through it again).
struct CallSite {
  db::Connection& conn;
  const SecurityContext& ctx;
  const RecordService& records;
};

// What native modules add to records (implemented by native::Extensions, one per registry
// snapshot). RecordService calls it at fixed points of its operations, inside their
// transaction; records cross as JSON text, so that this layer knows nothing of the SDK.
// Every function throws keel::ApiError when module code fails the operation.
class Extensions {
 public:
  virtual ~Extensions() = default;

  // Whether `entity` has record hooks at all (when not, writes skip every call below).
  virtual bool has_hooks(std::string_view entity) const = 0;
  // Before a create (id 0, `old` empty) or an update (`old`: the record before): the before
  // hooks, which may change the body, then the validate hooks. Returns the body to write.
  virtual std::string before_write(const CallSite& site, std::string_view entity, std::int64_t id,
                                   std::string_view old, std::string_view body) const = 0;
  // After a create or an update, with the record as written.
  virtual void after_write(const CallSite& site, std::string_view entity, std::int64_t id,
                           bool created, std::string_view record) const = 0;
  // Before and after a delete, with the record as it was.
  virtual void before_delete(const CallSite& site, std::string_view entity, std::int64_t id,
                             std::string_view old) const = 0;
  virtual void after_delete(const CallSite& site, std::string_view entity, std::int64_t id,
                            std::string_view old) const = 0;

  // Whether native code computes `entity.field` (a `computed: true` field without a column).
  virtual bool computes(std::string_view entity, std::string_view field) const = 0;
  // The values of a computed field for a page of records: one JSON value per id, in order.
  virtual std::vector<std::string> compute(const CallSite& site, std::string_view entity,
                                           std::string_view field,
                                           const std::vector<std::int64_t>& ids) const = 0;
};

}  // namespace keel::records
