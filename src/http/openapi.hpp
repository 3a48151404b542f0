#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/router.hpp"
#include "schema/registry.hpp"
#include "security/policy.hpp"

namespace keel::http {

// The static parts of the document (info, tags, shared schemas, parameters, answers, headers,
// security schemes), read from `dir`/components.json (share/openapi in the sources,
// <prefix>/share/keel/openapi installed: Config::share_dir). Throws keel::Error
// (`openapi.base`) naming the file when it is missing or malformed.
struct OpenApiBase;
std::shared_ptr<const OpenApiBase> load_openapi_base(const std::filesystem::path& dir);

// The OpenAPI 3.1.0 description (JSON) of what `routers` serve (the API's routes, then the
// native modules'; null entries are skipped), written from the descriptions the routes carry
// (Router::add), with the static parts of `base` and the entities of `registry`. No I/O;
// deterministic, so two calls on the same inputs give the same bytes.
//
// Paths and operations come in the order the routes were added. A route whose operation id
// contains `{entity}` (GET /api/v1/records/{entity}, ...) is written once per entity the
// caller may read, entity by entity where the first such route stands, with `{entity}` in its
// path, ids, tags and texts replaced by the entity's name, `{label}` by its label, and the
// schema names `{entity}`, `{entity}_input`, `{entity}_patch`, `{entity}_list` by the entity's
// schemas below. A shared path parameter that every operation of a path lists is written once
// for the path; a `{name}` segment that no parameter describes gets a string parameter.
//
// Per entity `e` (components.schemas, before the base's):
//   e         the record as answered (contract §4 rule 9): id, audit columns, every field;
//             only `id` is required, since `fields` may select a subset;
//   e_input   the body of POST: writable fields only, `required` = required fields without a
//             default, no other property allowed;
//   e_patch   the body of PATCH: as e_input, nothing required;
//   e_list    the answer of a list: {data: [e], total}.
// A derived name that is itself an entity's name ("e_input" when both "e" and "e_input" are
// entities) is spelled with a dot instead ("e.input"), which no entity name contains.
// `server_url` is the origin the paths hang from ("http://127.0.0.1:8080"; "/" when empty).
// Only what `ctx` may read is described: entities without a read right and fields hidden by
// role are left out.
std::string openapi_document(const OpenApiBase& base, const std::vector<const Router*>& routers,
                             const schema::Registry& registry, const security::Policy& policy,
                             const security::Context& ctx, std::string_view server_url);

}  // namespace keel::http
