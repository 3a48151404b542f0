#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "ui/catalog.hpp"
#include "ui/store.hpp"

namespace keel::security {
struct Context;
}

namespace keel::ui {

// The answers of the /ui routes, for one caller (the rules; handlers only parse and shape).
// Errors are ApiError: 404 unknown view, action or asset; 403 an entity the caller may not read;
// 422 an invalid customisation (every problem in `errors`).

// GET /ui/views/{entity}/{type} and GET /ui/views/{id}: base → patches → customisation, with
// `customized` and `base_changed`; fields the caller may not see are left out.
std::string view_json(const Catalog& catalog, const View& view,
                      const std::optional<Customization>& customization,
                      const security::Context& ctx);
// The view `id` names, when the caller may read its entity.
View find_view(const Catalog& catalog, std::string_view id, const security::Context& ctx);
View find_view_for(const Catalog& catalog, std::string_view entity, std::string_view type,
                   const security::Context& ctx);
// The arch of a PUT body (the object GET returns; only `arch` is taken, `id`, `entity` and
// `type` must match), validated against the view's entity and the installed components.
Arch parse_customization(const Catalog& catalog, const View& view, std::string_view body);

// GET /ui/menus: the tree the caller may see (a menu whose action's entity it cannot read is
// left out, and so is a menu left without an action or a visible child).
std::string menus_json(const Catalog& catalog, const security::Context& ctx);
// GET /ui/actions/{id}
std::string action_json(const Catalog& catalog, std::string_view id, const security::Context& ctx);
// GET /ui/components; asset URLs below `assets_url` (/api/v1/ui/assets).
std::string components_json(const Catalog& catalog, std::string_view assets_url);

// A file of an installed module's static/ folder.
struct Asset {
  std::string body;
  std::string content_type;
  std::string etag;  // quoted
};
// `path` is relative to static/ (already URL-decoded); no `..`, no hidden files, no link out of
// the folder. ApiError not_found otherwise. Read from base_ui_asset (what the module's install
// or upgrade stored) when the catalog was loaded from the database, else from the module's folder.
Asset read_asset(db::Connection& conn, const Catalog& catalog, std::string_view module,
                 std::string_view path);

// The Content-Type of a file served to browsers (module assets, the web client), by extension;
// application/octet-stream when unknown.
std::string content_type_of(const std::filesystem::path& file);

}  // namespace keel::ui
