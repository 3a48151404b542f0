#pragma once

// RecordService's cache of the statements it builds (records/statement_cache.cpp).

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "records/select.hpp"
#include "records/service.hpp"
#include "records/write_plan.hpp"

namespace keel::records {

namespace detail {

// What the statements built for a caller depend on: its roles (rights, rules) and, unless it
// is an administrator (no rules), its user (the values of $user.id).
std::string caller_key(const SecurityContext& ctx);

}  // namespace detail

// The statements of reads by id (all but the id) and of one-statement creates (all but the
// record's values), built once per entity, fields or columns, and caller: building the SQL text
// and its selection cost more CPU than the rest of a read (a registry snapshot is immutable,
// and so is what was built from it). Callers are keyed by caller_key().
struct RecordService::Built {
  static constexpr size_t kMax = 4096;  // per kind; then start over
  std::mutex mutex;
  std::unordered_map<std::string, std::shared_ptr<const detail::RecordQuery>> reads;
  std::unordered_map<std::string, std::shared_ptr<const detail::CreateQuery>>
      creates;  // null: none

  // The entry of `key`, made by `make` when there is none (outside the lock: what it throws,
  // the caller gets).
  template <typename T, typename Make>
  std::shared_ptr<const T> get(std::unordered_map<std::string, std::shared_ptr<const T>>& map,
                               std::string key, Make make) {
    {
      std::lock_guard lock(mutex);
      if (auto it = map.find(key); it != map.end()) return it->second;
    }
    std::shared_ptr<const T> made = make();
    std::lock_guard lock(mutex);
    if (map.size() >= kMax) map.clear();
    map.emplace(std::move(key), made);
    return made;
  }

  // The one statement of a create of these columns by this caller (null: a create of these
  // values needs more).
  std::shared_ptr<const detail::CreateQuery> create(const schema::Registry& registry,
                                                    const security::Policy& policy,
                                                    const SecurityContext& ctx,
                                                    const schema::Entity& e,
                                                    const detail::WritePlan& plan);
};

}  // namespace keel::records
