// RecordService's cache of built statements (records/statement_cache.hpp).

#include "records/statement_cache.hpp"

namespace keel::records {

namespace detail {

// What the statements built for a caller depend on: its roles (rights, rules) and, unless it
// is an administrator (no rules), its user (the values of $user.id).
std::string caller_key(const SecurityContext& ctx) {
  if (ctx.admin) return "*";
  std::string key = std::to_string(ctx.user_id);
  for (const auto& r : ctx.roles)
    key += ',' + r;
  return key;
}

}  // namespace detail

std::shared_ptr<const detail::CreateQuery> RecordService::Built::create(
    const schema::Registry& registry, const security::Policy& policy, const SecurityContext& ctx,
    const schema::Entity& e, const detail::WritePlan& plan) {
  if (!detail::one_statement(plan)) return nullptr;
  std::string key = e.name + '\0';
  for (const auto& a : plan.columns)
    key += a.field->name + ',';
  key += '\0' + detail::caller_key(ctx);
  return get(creates, std::move(key),
             [&] { return detail::create_query(registry, policy, ctx, e, plan); });
}

}  // namespace keel::records
