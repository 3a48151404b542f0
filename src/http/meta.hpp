#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "schema/entity.hpp"
#include "schema/registry.hpp"
#include "security/policy.hpp"

namespace keel::http {

// GET /api/v1/meta/entities: {"data": [entity, ...]} with the entities sorted by name, each
//   {name, label, table, title, order, module,
//    fields: [{name, type, label, help, required, readonly, unique, computed, target, inverse,
//              options, max_length, precision, scale, default}, ...],
//    rights: {read, create, update, delete}}
// Fields come in declaration order; `readonly` is true for fields no request may write
// (declared readonly, or computed). Attributes that do not apply to a field's type are null
// (target, inverse, options, max_length, precision, scale), as is an absent default. Only
// the entities `ctx` may read are listed, without the fields hidden from it by role; rights
// are the caller's.
std::string meta_entities(const schema::Registry& registry, const security::Policy& policy,
                          const security::Context& ctx);

// GET /api/v1/meta/entities/{entity}: the one entity object of meta_entities (not wrapped);
// nullopt when the Registry has no entity of that name or `ctx` may not read it.
std::optional<std::string> meta_entity(const schema::Registry& registry,
                                       const security::Policy& policy, const security::Context& ctx,
                                       std::string_view name);

// A field's default as a JSON value of its API type: a number for integer, bigint, float and
// many2one; true/false for boolean; the parsed document for json (a string when the text is
// not JSON); a string otherwise (decimals included, as answers carry them). "null" when the
// field has no default. Dynamic defaults ("today", "now") stay strings.
std::string default_json(const schema::Field& field);

// Whether the default is computed when a record is created (date `today`, datetime `now`).
bool is_dynamic_default(const schema::Field& field);

}  // namespace keel::http
