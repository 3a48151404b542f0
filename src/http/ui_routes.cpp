#include "http/ui_routes.hpp"

#include "db/connection.hpp"
#include "db/pool.hpp"
#include "http/api.hpp"
#include "records/service.hpp"
#include "security/policy.hpp"
#include "ui/service.hpp"

namespace keel::http {

namespace {

// Asset paths below static/ may have a few folders: one route per depth.
constexpr int kAssetDepth = 4;

const ui::Catalog& catalog_of(const Snapshot& snap) {
  return *snap.ui;
}

// The parts of the routes' descriptions they share.
const std::string kObject = R"({"type":"object"})";
ApiParameter view_id() {
  return path_parameter("id",
                        "Qualified view id (sales.sale_order_form; generated: module.entity.type)");
}
ApiResponse view_answer() {
  return {.status = "200",
          .description = "The view: base arch, patches, customisation",
          .schema = kObject};
}
ApiResponse forbidden() {
  return {.status = "403",
          .description = "The caller may not read the entity (or is not an administrator)"};
}
ApiResponse missing() {
  return {.status = "404", .description = "No such view, action or asset"};
}

}  // namespace

void add_ui_routes(Router& router, const std::string& prefix,
                   std::function<std::shared_ptr<const Snapshot>()> snapshot, db::Pool& pool,
                   std::function<const security::Context&(const Request&)> caller) {
  const std::string ui = prefix + "/ui";

  auto answer_view = [snapshot, &pool, caller](Request& req, const ui::View& view,
                                               const ui::Catalog& catalog) {
    auto conn = pool.acquire();
    return Response::json(
        200, ui::view_json(catalog, view, ui::load_customization(*conn, view.id), caller(req)));
  };

  const RouteDoc entity_view_doc{
      .summary = "The view of an entity of a type (generated if none)",
      .operation_id = "readEntityView",
      .tags = {"UI"},
      .parameters = {path_parameter("entity", "Entity name"),
                     path_parameter("type", "list, form, search or kanban")},
      .responses = {view_answer(), shared_answer("401", "Unauthorized"), forbidden(), missing()}};
  router.add("GET", ui + "/views/{entity}/{type}", entity_view_doc, [=](Request& req) {
    auto snap = snapshot();
    auto view =
        ui::find_view_for(catalog_of(*snap), req.param("entity"), req.param("type"), caller(req));
    return answer_view(req, view, catalog_of(*snap));
  });
  const RouteDoc view_doc{
      .summary = "A view by id",
      .operation_id = "readView",
      .tags = {"UI"},
      .parameters = {view_id()},
      .responses = {view_answer(), shared_answer("401", "Unauthorized"), forbidden(), missing()}};
  router.add("GET", ui + "/views/{id}", view_doc, [=](Request& req) {
    auto snap = snapshot();
    auto view = ui::find_view(catalog_of(*snap), req.param("id"), caller(req));
    return answer_view(req, view, catalog_of(*snap));
  });
  const RouteDoc customize_doc{
      .summary = "Store a customised arch (admin); survives upgrades",
      .operation_id = "customizeView",
      .tags = {"UI"},
      .parameters = {view_id()},
      .body = kObject,
      .responses = {view_answer(),
                    shared_answer("401", "Unauthorized"),
                    forbidden(),
                    missing(),
                    {.status = "422", .description = "Invalid arch: `errors` names each problem"}}};
  router.add("PUT", ui + "/views/{id}", customize_doc, [=, &pool](Request& req) {
    auto snap = snapshot();
    auto ctx = caller(req);
    const auto& catalog = catalog_of(*snap);
    auto view = ui::find_view(catalog, req.param("id"), ctx);
    auto arch = ui::parse_customization(catalog, view, req.body);
    auto conn = pool.acquire();
    // A record of base_view_customization: RecordService checks the caller's rights on it.
    db::Transaction tx(*conn);
    ui::save_customization(*conn, *snap->records, ctx, view, arch);
    tx.commit();
    return Response::json(200,
                          ui::view_json(catalog, view, ui::Customization{arch, view.hash}, ctx));
  });
  const RouteDoc revert_doc{
      .summary = "Remove the customisation (admin)",
      .operation_id = "revertView",
      .tags = {"UI"},
      .parameters = {view_id()},
      .responses = {{.status = "204", .description = "Removed: the module's version is back"},
                    shared_answer("401", "Unauthorized"),
                    forbidden(),
                    missing()}};
  router.add("DELETE", ui + "/views/{id}/customization", revert_doc, [=, &pool](Request& req) {
    auto snap = snapshot();
    auto ctx = caller(req);
    auto view = ui::find_view(catalog_of(*snap), req.param("id"), ctx);
    auto conn = pool.acquire();
    db::Transaction tx(*conn);
    bool deleted = ui::delete_customization(*conn, *snap->records, ctx, view.id);
    tx.commit();
    if (!deleted)
      throw ApiError(ErrorKind::kNotFound, "ui.not_customized",
                     "view \"" + view.id + "\" is not customised");
    Response r;
    r.status = 204;
    return r;
  });

  const RouteDoc menus_doc{
      .summary = "The menu tree the caller may see",
      .operation_id = "listMenus",
      .tags = {"UI"},
      .responses = {{.status = "200",
                     .description = "{data: [{id, label, sequence, action, icon, children}]}",
                     .schema = kObject},
                    shared_answer("401", "Unauthorized")}};
  router.add("GET", ui + "/menus", menus_doc, [=](Request& req) {
    return Response::json(200, ui::menus_json(catalog_of(*snapshot()), caller(req)));
  });
  const RouteDoc action_doc{
      .summary = "An action: entity, views, filter",
      .operation_id = "readAction",
      .tags = {"UI"},
      .parameters = {path_parameter("id", "Qualified action id (sales.orders)")},
      .responses = {{.status = "200", .description = "The action", .schema = kObject},
                    shared_answer("401", "Unauthorized"),
                    forbidden(),
                    missing()}};
  router.add("GET", ui + "/actions/{id}", action_doc, [=](Request& req) {
    return Response::json(200,
                          ui::action_json(catalog_of(*snapshot()), req.param("id"), caller(req)));
  });
  const RouteDoc components_doc{
      .summary = "Custom UI components and their asset URLs",
      .operation_id = "listComponents",
      .tags = {"UI"},
      .responses = {
          {.status = "200", .description = "{data: [{name, module, asset}]}", .schema = kObject},
          shared_answer("401", "Unauthorized")}};
  router.add("GET", ui + "/components", components_doc, [=](Request& req) {
    caller(req);  // a token is needed, as for every /ui route
    return Response::json(200, ui::components_json(catalog_of(*snapshot()), ui + "/assets"));
  });

  std::string pattern = ui + "/assets/{module}";
  // Module assets are public code: a <script src> sends no token.
  RouteDoc asset_doc{
      .summary = "A file of a module's static/ folder, with ETag",
      .tags = {"UI"},
      .parameters = {path_parameter("module", "Module name")},
      .responses = {{.status = "200", .description = "The file, with its content type"},
                    {.status = "304", .description = "Not modified (If-None-Match)"},
                    missing()},
      .open = true};
  for (int depth = 1; depth <= kAssetDepth; ++depth) {
    pattern += "/{p" + std::to_string(depth) + "}";
    asset_doc.operation_id = "readAsset" + std::to_string(depth);
    asset_doc.description =
        depth == 1 ? "A file directly in static/"
                   : "A file " + std::to_string(depth - 1) + " folder(s) below static/";
    asset_doc.parameters.resize(1);
    for (int i = 1; i <= depth; ++i)
      asset_doc.parameters.push_back(path_parameter(
          "p" + std::to_string(i), i == depth ? "File name" : "Folder name below static/"));
    router.add("GET", pattern, asset_doc, [=, &pool](Request& req) {
      caller(req);
      std::string path;
      for (int i = 1; i <= depth; ++i)
        path += (i > 1 ? "/" : "") + req.param("p" + std::to_string(i));
      auto snap = snapshot();
      const auto& catalog = catalog_of(*snap);
      auto asset = ui::read_asset(*pool.acquire(), catalog, req.param("module"), path);
      Response r;
      r.headers.emplace_back("ETag", asset.etag);
      // ?v=<module version> (the URL GET /ui/components gives) may be cached for good; any
      // other URL is checked again each time (If-None-Match answers 304 when unchanged).
      auto version = req.query_value("v");
      bool pinned = version && *version == catalog.module_version(req.param("module"));
      r.headers.emplace_back("Cache-Control",
                             pinned ? "private, max-age=31536000, immutable" : "private, no-cache");
      r.content_type = asset.content_type;
      if (req.header("if-none-match") == asset.etag) {
        r.status = 304;
        return r;
      }
      r.body = std::move(asset.body);
      return r;
    });
  }
}

}  // namespace keel::http
