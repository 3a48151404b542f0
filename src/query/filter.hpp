#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "db/connection.hpp"
#include "schema/registry.hpp"
#include "security/policy.hpp"

namespace keel::modules {
struct Manifest;
}

// Filter compilation: names of a request resolved against the Registry under the caller's
// rights, the API's filter language compiled to SQL. Below records/ (RecordService), ui/ (view
// and action filters) and the policy loader (rule filters), above schema/ and security/.
namespace keel::query {

// A field of `entity` by name, including the columns every table has (id, created_at,
// updated_at, created_by, updated_by); nullptr when there is none.
const schema::Field* find_field(const schema::Entity& entity, std::string_view name);
// Whether `name` is one of the columns every table has.
bool is_implicit_field(std::string_view name);
// Whether the caller may see `field` (its `roles:`; `ctx.roles` holds the implied roles too).
bool field_visible(const schema::Field& field, const security::Context& ctx);

// The FROM clause and parameters of one query on an entity: the table (alias t), one LEFT JOIN
// per many2one path named by the filter, the sort or the fields (aliases j1, j2, ...; each
// path joined once, whoever names it), and the values bound so far. Only names checked
// against the Registry reach the SQL text, quoted; values are parameters.
// `policy` decides which joined entities the caller may read and holds the record rules.
class QueryScope {
 public:
  QueryScope(const schema::Registry& registry, const security::Policy& policy,
             const schema::Entity& root, const security::Context& ctx);
  // The scope keeps references: a temporary context would dangle.
  QueryScope(const schema::Registry&, const security::Policy&, const schema::Entity&,
             security::Context&&) = delete;

  struct Column {
    std::string sql;                         // t."city", j2."name"
    const schema::Field* field = nullptr;    // the last field of the path
    const schema::Entity* entity = nullptr;  // the entity that holds it
    std::string alias;                       // the alias of that entity's table
  };

  // Resolves "partner.country.code": every step but the last must be a many2one (a LEFT JOIN
  // each). `what` names the part of the request in errors ("filter", "sort", "fields") and
  // gives the error code records.bad_<what>. Unknown names: ApiError bad_input (with a "did you
  // mean" hint); a field hidden from the caller: forbidden.
  Column resolve(std::string_view path, std::string_view what);

  // The alias of the row reached through the many2one path ("" is the root, "t").
  std::string alias_of(std::string_view path) const;

  // Binds the next parameter and returns "$n::cast" ("$n" when cast is empty).
  std::string bind(std::string value, std::string_view cast);
  std::string bind_null(std::string_view cast);

  // "\"order\" t LEFT JOIN \"partner\" j1 ON j1.id = t.\"partner\" ..."
  std::string from() const;

  const db::Params& params() const { return params_; }
  const schema::Registry& registry() const { return registry_; }
  const schema::Entity& root() const { return root_; }
  const security::Policy& policy() const { return policy_; }
  const security::Context& context() const { return ctx_; }
  // While set, names resolve without the caller's field and entity rights: record rules are
  // written by module authors and apply whatever the caller may see.
  void set_trusted(bool trusted) { trusted_ = trusted; }

  // The record rules of `op` on the root entity for the caller, as one SQL predicate over the
  // scope (their joins shared, their values bound); empty when none restricts the caller.
  // Global rules are AND-ed; then, for at least one of the caller's roles that grants `op`, all
  // of that role's rules hold (a granting role without rules grants every row).
  std::string rules(security::Operation op);

 private:
  struct Join {
    std::string key;  // "partner", "partner.country"; "!partner" in rules, "partner!company" in
                      // the rules of the target of "partner"
    std::string alias;
    const schema::Entity* entity = nullptr;
    int parent = -1;     // index of the parent join; -1: the root
    std::string column;  // the many2one column in the parent
    std::string rule;    // the target's read rules for the caller: a row they hide joins as null
  };
  // The index of the join `key` below `parent`, created when new. A join named by the caller
  // (not by a rule) gets the read rules of its target.
  size_t join(const std::string& key, int parent, const schema::Field& field,
              const schema::Entity& target);
  // The joins below `parent` and their ON conditions, as FROM writes them after LEFT JOIN.
  std::string joined(size_t index) const;

  const schema::Registry& registry_;
  const security::Policy& policy_;
  const schema::Entity& root_;
  const security::Context& ctx_;
  bool trusted_ = false;
  int base_ = -1;  // while compiling the rules of a join's target: that join
  std::vector<Join> joins_;
  std::map<std::string, size_t, std::less<>> join_index_;
  db::Params params_;
};

// Compiles a filter of the API's filter language (contract §3, §4 rule 11) into a boolean
// SQL expression over `scope`, every value bound as a parameter with an explicit cast to its
// field's type. "TRUE" for an empty filter.
//
//   {"f": {"op": value, ...}}  operators eq ne lt lte gt gte in nin like ilike null; several
//                              operators on one field are AND-ed
//   {"f": value}               eq; {"f": null} is "f is null"
//   {"and": [...]}, {"or": [...]}, {"not": {...}}; several keys in one object are AND-ed
//   "a.b.c"                    a path through many2one fields (LEFT JOINs)
//   "$user.id", "$now", "$today"  variables; "$$x" is the literal string "$x"
//   {"f": {"in": "$user.roles"}}  the caller's roles (implied included), for string fields
//
// ne and nin hold for rows where the field is null; not is the complement (nulls included):
// NOT coalesce(expr, false). one2many and many2many fields cannot be filtered on yet (400),
// binary fields only with null, json fields with eq, ne and null.
// Errors: ApiError bad_input records.bad_filter naming the unknown field, operator or variable or
// the invalid value; malformed JSON is 400 too.
std::string compile_filter(std::string_view json, QueryScope& scope);
std::string compile_filter(const rapidjson::Value& filter, QueryScope& scope);

// Compiles `filter` (JSON) on `entity` as Keel itself (no rights, no rules): what module files
// (record rules, actions) are checked with. Throws keel::Error when it is invalid.
void check_filter(const schema::Registry& registry, const schema::Entity& entity,
                  const std::string& filter);

// The roles, access rights and record rules of the security files of `modules` (dependency
// order), validated against `registry`, rule filters compiled (security::Policy::load with
// check_filter). Every problem goes to `diagnostics`; while they hold an error already (invalid
// entities) the files are not read and the policy is empty.
std::shared_ptr<const security::Policy> load_policy(
    const std::vector<const modules::Manifest*>& modules, const schema::Registry& registry,
    Diagnostics& diagnostics);

}  // namespace keel::query
