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

  router.add("GET", ui + "/views/{entity}/{type}", [=](Request& req) {
    auto snap = snapshot();
    auto view =
        ui::find_view_for(catalog_of(*snap), req.param("entity"), req.param("type"), caller(req));
    return answer_view(req, view, catalog_of(*snap));
  });
  router.add("GET", ui + "/views/{id}", [=](Request& req) {
    auto snap = snapshot();
    auto view = ui::find_view(catalog_of(*snap), req.param("id"), caller(req));
    return answer_view(req, view, catalog_of(*snap));
  });
  router.add("PUT", ui + "/views/{id}", [=, &pool](Request& req) {
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
  router.add("DELETE", ui + "/views/{id}/customization", [=, &pool](Request& req) {
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

  router.add("GET", ui + "/menus", [=](Request& req) {
    return Response::json(200, ui::menus_json(catalog_of(*snapshot()), caller(req)));
  });
  router.add("GET", ui + "/actions/{id}", [=](Request& req) {
    return Response::json(200,
                          ui::action_json(catalog_of(*snapshot()), req.param("id"), caller(req)));
  });
  router.add("GET", ui + "/components", [=](Request& req) {
    caller(req);  // a token is needed, as for every /ui route
    return Response::json(200, ui::components_json(catalog_of(*snapshot()), ui + "/assets"));
  });

  std::string pattern = ui + "/assets/{module}";
  for (int depth = 1; depth <= kAssetDepth; ++depth) {
    pattern += "/{p" + std::to_string(depth) + "}";
    router.add("GET", pattern, [=](Request& req) {
      caller(req);
      std::string path;
      for (int i = 1; i <= depth; ++i)
        path += (i > 1 ? "/" : "") + req.param("p" + std::to_string(i));
      auto snap = snapshot();
      const auto& catalog = catalog_of(*snap);
      auto asset = ui::read_asset(catalog, req.param("module"), path);
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
