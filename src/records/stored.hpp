#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "records/extensions.hpp"
#include "schema/registry.hpp"

namespace keel::records {

// Stored computed fields (`computed: true, store: true, depends: [...]`): which writes
// recompute which of them, and the recomputation itself. A write through RecordService to a
// field named in a `depends` path recomputes the records that depend on it, in the write's
// transaction, with one call of the module's computation per field for all of them (as Keel:
// the stored value never depends on what the caller may see), then one UPDATE; what depends on
// the fields so written is recomputed in turn. Paths: `field` (of the same record),
// `many2one.field` (the records pointing at the changed one) and `one2many.field` (the record
// the changed one belongs to, before and after the change).
class StoredComputed {
 public:
  StoredComputed(const schema::Registry& registry, const Extensions* extensions);

  // Whether a write to `entity` may recompute anything.
  bool affected_by(std::string_view entity) const { return triggers_.count(entity) > 0; }
  // Whether `entity` has stored computed fields of its own (its written record is read again).
  bool has_own(std::string_view entity) const { return own_.count(entity) > 0; }

  // What must be recomputed because of the records as they are before an update (`changed`:
  // the fields written) or a delete (`changed` null): the records they belong to or that point
  // at them. Call before the write; pass the answer to after().
  using Pending =
      std::map<std::pair<const schema::Entity*, const schema::Field*>, std::set<std::int64_t>>;
  Pending before(db::Connection& conn, const schema::Entity& e, std::int64_t id,
                 const std::set<std::string>* changed) const;
  // After a create (`changed` null), an update (`changed`: the fields written) or a delete
  // (`deleted`) of `id`: recomputes what depends on it, and what `pending` holds.
  void after(db::Connection& conn, const RecordService& service, const schema::Entity& e,
             std::int64_t id, const std::set<std::string>* changed, bool deleted,
             Pending pending) const;
  // Computes every stored computed field whose value is NULL (after an install or an upgrade:
  // a new column, records written by data files).
  void fill_missing(db::Connection& conn, const RecordService& service) const;

 private:
  enum class Kind { kSelf, kMany2one, kOne2many };
  struct Trigger {
    const schema::Entity* target;  // whose stored field is recomputed
    const schema::Field* field;    // the stored computed field
    Kind kind;
    const schema::Field* via;  // kMany2one: the many2one of target; kOne2many: the one2many
    std::string changed;       // the field of the written entity that triggers it
  };
  void collect(db::Connection& conn, const schema::Entity& e, const std::vector<std::int64_t>& ids,
               const std::set<std::string>* changed, bool deleted, Pending& out) const;
  void recompute(db::Connection& conn, const RecordService& service, Pending pending,
                 int depth) const;

  const schema::Registry& registry_;
  const Extensions* extensions_;
  std::map<std::string, std::vector<Trigger>, std::less<>> triggers_;  // by written entity
  std::map<std::string, std::vector<const schema::Field*>, std::less<>> own_;
};

}  // namespace keel::records
