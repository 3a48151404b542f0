#pragma once

#include <string>
#include <string_view>

#include "schema/registry.hpp"
#include "security/policy.hpp"

namespace keel::http {

// The OpenAPI 3.1.0 description (JSON) of the REST API as the Registry defines it now: every
// entity's record routes and schemas, the meta, module and system routes. A pure function of
// the Registry (no I/O); deterministic, so two calls on the same Registry give the same bytes.
//
// Per entity `e` (components.schemas):
//   e         the record as answered (contract §4 rule 9): id, audit columns, every field;
//             only `id` is required, since `fields` may select a subset;
//   e_input   the body of POST: writable fields only, `required` = required fields without a
//             default, no other property allowed;
//   e_patch   the body of PATCH: as e_input, nothing required;
//   e_list    the answer of a list: {data: [e], total}.
// A derived name that is itself an entity's name ("e_input" when both "e" and "e_input" are
// entities) is spelled with a dot instead ("e.input"), which no entity name contains.
// Paths: /api/v1/records/<entity> and /api/v1/records/<entity>/{id} for each entity, then
// /api/v1/meta/..., /api/v1/modules..., /api/v1/healthz, /api/v1/metrics, /api/v1/openapi.json.
// `server_url` is the origin the paths hang from ("http://127.0.0.1:8080"; "/" when empty).
// Only what `ctx` may read is described: entities without a read right and fields hidden by
// role are left out.
std::string openapi_document(const schema::Registry& registry, const security::Policy& policy,
                             const security::Context& ctx, std::string_view server_url);

}  // namespace keel::http
