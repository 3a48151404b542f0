// The UI metadata end to end: views merged with patches, generated views, customisation that
// survives an upgrade, menus filtered per role, actions, components and their assets, storage in
// the base tables and removal on uninstall.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>

#include "db/pool.hpp"
#include "install/lifecycle.hpp"
#include "modules/discovery.hpp"
#include "query/filter.hpp"
#include "schema/registry.hpp"
#include "security/context.hpp"
#include "support/addon_tree.hpp"
#include "support/auth.hpp"
#include "support/fixture.hpp"
#include "support/http_client.hpp"
#include "support/pg.hpp"
#include "support/test_server.hpp"
#include "ui/service.hpp"

namespace keel::ui {
namespace {

using testing::bearer;
using testing::http_request;
using testing::HttpReply;
using testing::TestServer;

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  EXPECT_FALSE(d.HasParseError()) << text;
  return d;
}

// The field names and components of an arch, depth first: "group(name,partner)".
std::string shape(const rapidjson::Value& arch) {
  std::string out;
  for (const auto& n : arch.GetArray()) {
    if (!out.empty()) out += ",";
    out += n.HasMember("field") ? n["field"].GetString() : n["component"].GetString();
    if (n.HasMember("children")) out += "(" + shape(n["children"]) + ")";
  }
  return out;
}

const char* kShopManifest = R"(name: shop
version: 1.0.0
depends: [base]
entities: [e.yaml]
security: [s.yaml]
views: [v.yaml]
)";

const char* kShopEntities = R"(entities:
  partner:
    fields:
      name: {type: string, required: true}
      city: {type: string}
  order:
    fields:
      name:    {type: string, required: true}
      partner: {type: many2one, target: partner}
      date:    {type: date}
      notes:   {type: text, roles: [shop.manager]}
)";

const char* kShopSecurity = R"(roles:
  user:    {label: Shop user, implies: [base.user]}
  manager: {label: Shop manager, implies: [user]}
access:
  - {entity: order, role: user, read: true, create: true, update: true}
  - {entity: partner, role: manager, read: true}
)";

const char* kShopViews = R"(views:
  - id: order_form
    entity: order
    type: form
    arch:
      - {component: group, id: main, children: [{field: name}, {field: partner}, {field: date}]}
      - {component: group, children: [{field: notes}]}
menus:
  - {id: root, label: Shop, sequence: 5}
  - {id: orders, parent: root, label: Orders, action: orders, sequence: 1}
  - {id: partners, parent: root, label: Partners, action: partners, sequence: 2}
  - {id: empty, label: Nothing here}
actions:
  - {id: orders, entity: order, views: [list, form], filter: {date: {null: false}}}
  - {id: partners, entity: partner}
components:
  - {name: stamp, asset: static/stamp.js}
)";

class Ui : public ::testing::Test, protected testing::AddonsFixture {
 protected:
  void SetUp() override {
    tree.write("shop/manifest.yaml", kShopManifest);
    tree.write("shop/e.yaml", kShopEntities);
    tree.write("shop/s.yaml", kShopSecurity);
    tree.write("shop/v.yaml", kShopViews);
    tree.write("shop/static/stamp.js", "export default function stamp() {}\n");
    tree.write("shop/secret.txt", "not an asset\n");
    tree.write("shop_ext/manifest.yaml",
               "name: shop_ext\nversion: 1.0.0\ndepends: [shop]\nviews: [v.yaml]\n");
    tree.write("shop_ext/v.yaml", R"(views:
  - id: order_form_ext
    inherit: shop.order_form
    patch:
      - {op: after, target: {field: partner}, node: {component: stamp, id: stamp}}
      - {op: remove, target: {field: date}}
)");
    try {
      lifecycle().install({"shop_ext"});
    } catch (const ValidationError& e) {
      for (const auto& d : e.diagnostics())
        ADD_FAILURE() << d.to_string();
      throw;
    }
    admin = testing::token_for(testing::create_user(*conn, "admin", {"base.admin"}));
    seller = testing::token_for(testing::create_user(*conn, "seller", {"shop.user"}));
    boss = testing::token_for(testing::create_user(*conn, "boss", {"shop.manager"}));
    nobody = testing::token_for(testing::create_user(*conn, "nobody", {"base.user"}));
  }

  HttpReply get(const TestServer& s, const std::string& path, const std::string& token) {
    return http_request(s.port(), "GET", "/api/v1" + path, "", bearer(token));
  }

  long long count(const std::string& sql) { return conn->exec(sql).get_int(0, 0); }

  std::string admin, seller, boss, nobody;
};

TEST_F(Ui, ViewsArePatchedGeneratedAndFilteredPerCaller) {
  TestServer server(config, database.conninfo());
  auto form = get(server, "/ui/views/order/form", admin);
  ASSERT_EQ(form.status, 200) << form.body;
  auto v = parse(form.body);
  EXPECT_STREQ(v["id"].GetString(), "shop.order_form");
  EXPECT_EQ(shape(v["arch"]), "group(name,partner,stamp),group(notes)");
  EXPECT_EQ(v["patches"].Size(), 1u);
  EXPECT_STREQ(v["patches"][0].GetString(), "shop_ext.order_form_ext");
  EXPECT_FALSE(v["customized"].GetBool());
  EXPECT_FALSE(v["base_changed"].GetBool());
  EXPECT_FALSE(v["generated"].GetBool());
  // By id, the same view.
  EXPECT_EQ(get(server, "/ui/views/shop.order_form", admin).body, form.body);
  // A field hidden by role is left out (and its group, now empty).
  auto as_seller = parse(get(server, "/ui/views/order/form", seller).body);
  EXPECT_EQ(shape(as_seller["arch"]), "group(name,partner,stamp)");
  EXPECT_EQ(shape(parse(get(server, "/ui/views/order/form", boss).body)["arch"]),
            "group(name,partner,stamp),group(notes)");
  // No declared list: a generated one.
  auto list = parse(get(server, "/ui/views/order/list", seller).body);
  EXPECT_TRUE(list["generated"].GetBool());
  EXPECT_STREQ(list["id"].GetString(), "shop.order.list");
  EXPECT_EQ(shape(list["arch"]), "name,partner,date");
  // Entities the caller may not read, unknown views and types.
  EXPECT_EQ(get(server, "/ui/views/partner/list", seller).status, 403);
  EXPECT_EQ(get(server, "/ui/views/order/form", nobody).status, 403);
  EXPECT_EQ(get(server, "/ui/views/order/chart", admin).status, 404);
  EXPECT_EQ(get(server, "/ui/views/nothing/list", admin).status, 404);
  EXPECT_EQ(get(server, "/ui/views/shop.nothing", admin).status, 404);
  EXPECT_EQ(http_request(server.port(), "GET", "/api/v1/ui/views/order/form").status, 401);
}

TEST_F(Ui, MenusFollowTheCallersRights) {
  TestServer server(config, database.conninfo());
  auto menus = [&](const std::string& token) {
    auto d = parse(get(server, "/ui/menus", token).body);
    std::string out;
    std::function<void(const rapidjson::Value&)> walk = [&](const rapidjson::Value& list) {
      for (const auto& m : list.GetArray()) {
        out += std::string(out.empty() || out.back() == '(' ? "" : ",") + m["id"].GetString();
        if (m["children"].Size()) {
          out += "(";
          walk(m["children"]);
          out += ")";
        }
      }
    };
    walk(d["data"]);
    return out;
  };
  // base's Settings: users and roles for everyone (a user reads their own record), API keys
  // for administrators.
  EXPECT_EQ(
      menus(admin),
      "shop.root(shop.orders,shop.partners),base.settings(base.users,base.roles,base.api_keys)");
  EXPECT_EQ(menus(boss),
            "shop.root(shop.orders,shop.partners),base.settings(base.users,base.roles)");
  EXPECT_EQ(menus(seller), "shop.root(shop.orders),base.settings(base.users,base.roles)");
  EXPECT_EQ(menus(nobody), "base.settings(base.users,base.roles)");
}

TEST_F(Ui, ActionsAndComponentsWithTheirAssets) {
  TestServer server(config, database.conninfo());
  auto action = get(server, "/ui/actions/shop.orders", seller);
  ASSERT_EQ(action.status, 200) << action.body;
  EXPECT_EQ(action.body,
            R"({"id":"shop.orders","module":"shop","label":"order","entity":"order","views":[)"
            R"({"type":"list","id":"shop.order.list"},{"type":"form","id":"shop.order_form"}],)"
            R"("filter":{"date":{"null":false}},"sort":null,"limit":null})");
  EXPECT_EQ(get(server, "/ui/actions/shop.partners", seller).status, 403);
  EXPECT_EQ(get(server, "/ui/actions/shop.nothing", admin).status, 404);

  auto components = parse(get(server, "/ui/components", seller).body);
  ASSERT_EQ(components["data"].Size(), 1u);
  std::string url = components["data"][0]["asset"].GetString();
  EXPECT_EQ(url, "/api/v1/ui/assets/shop/stamp.js?v=1.0.0");

  auto asset = http_request(server.port(), "GET", url, "", bearer(seller));
  ASSERT_EQ(asset.status, 200);
  EXPECT_EQ(asset.body, "export default function stamp() {}\n");
  EXPECT_EQ(asset.header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(asset.header("cache-control"), "private, max-age=31536000, immutable");
  std::string etag = asset.header("etag");
  ASSERT_FALSE(etag.empty());
  auto unpinned = get(server, "/ui/assets/shop/stamp.js", seller);
  EXPECT_EQ(unpinned.header("cache-control"), "private, no-cache");
  auto headers = bearer(seller);
  headers["If-None-Match"] = etag;
  auto again = http_request(server.port(), "GET", "/api/v1/ui/assets/shop/stamp.js", "", headers);
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(again.header("content-length"), "") << "a 304 carries no Content-Length";
  // A <script src> sends no token: assets are served without one (they hold no data).
  auto anonymous = http_request(server.port(), "GET", "/api/v1/ui/assets/shop/stamp.js");
  EXPECT_EQ(anonymous.status, 200);
  EXPECT_EQ(anonymous.body, asset.body);
  // Nothing outside static/, however it is spelled.
  for (const char* path :
       {"/ui/assets/shop/..%2Fsecret.txt", "/ui/assets/shop/%2E%2E/secret.txt",
        "/ui/assets/shop/../secret.txt", "/ui/assets/shop/.hidden", "/ui/assets/shop/missing.js",
        "/ui/assets/nowhere/stamp.js", "/ui/assets/shop/..%5Csecret.txt"})
    EXPECT_EQ(get(server, path, seller).status, 404) << path;
}

TEST_F(Ui, ACustomisationSurvivesAnUpgradeAndCanBeReverted) {
  TestServer server(config, database.conninfo());
  const std::string path = "/api/v1/ui/views/shop.order_form";
  // The second group dropped and a label added.
  std::string body =
      R"({"id": "shop.order_form", "arch": [{"component": "group", "id": "main",)"
      R"( "label": "Main", "children": [{"field": "name"}, {"field": "partner"}]}]})";
  EXPECT_EQ(http_request(server.port(), "PUT", path, body, bearer(seller)).status, 403);
  auto put = http_request(server.port(), "PUT", path, body, bearer(admin));
  ASSERT_EQ(put.status, 200) << put.body;
  auto after = parse(get(server, "/ui/views/shop.order_form", admin).body);
  EXPECT_TRUE(after["customized"].GetBool());
  EXPECT_FALSE(after["base_changed"].GetBool());
  EXPECT_EQ(shape(after["arch"]), "group(name,partner)");
  EXPECT_STREQ(after["arch"][0]["label"].GetString(), "Main");
  // Taking back what GET returned is accepted as it is.
  auto roundtrip = get(server, "/ui/views/shop.order_form", admin).body;
  EXPECT_EQ(http_request(server.port(), "PUT", path, roundtrip, bearer(admin)).status, 200);

  // Invalid customisations: every problem in `errors`.
  auto bad = http_request(server.port(), "PUT", path,
                          R"({"type": "list", "colour": 1, "arch": [{"field": "nope"},)"
                          R"( {"component": "gizmo"}]})",
                          bearer(admin));
  EXPECT_EQ(bad.status, 422) << bad.body;
  EXPECT_EQ(parse(bad.body)["errors"].Size(), 4u) << bad.body;

  // An upgrade of shop changes the form: the customisation stays, base_changed tells.
  tree.write(
      "shop/manifest.yaml",
      std::string(kShopManifest).replace(std::string(kShopManifest).find("1.0.0"), 5, "1.1.0"));
  std::string views = kShopViews;
  const std::string second_group = "      - {component: group, children: [{field: notes}]}\n";
  views.erase(views.find(second_group), second_group.size());
  views.replace(views.find("{field: date}"), 13, "{field: date}, {field: notes}");
  tree.write("shop/v.yaml", views);
  lifecycle().upgrade({"shop"});
  server.api().reload();
  auto upgraded = parse(get(server, "/ui/views/shop.order_form", admin).body);
  EXPECT_TRUE(upgraded["customized"].GetBool());
  EXPECT_TRUE(upgraded["base_changed"].GetBool());
  EXPECT_EQ(shape(upgraded["arch"]), "group(name,partner)");
  EXPECT_EQ(count("SELECT count(*) FROM base_view_customization"), 1);

  // Reverting gives the module's version, with the patches.
  EXPECT_EQ(
      http_request(server.port(), "DELETE", path + "/customization", "", bearer(seller)).status,
      403);
  EXPECT_EQ(
      http_request(server.port(), "DELETE", path + "/customization", "", bearer(admin)).status,
      204);
  EXPECT_EQ(
      http_request(server.port(), "DELETE", path + "/customization", "", bearer(admin)).status,
      404);
  auto reverted = parse(get(server, "/ui/views/shop.order_form", admin).body);
  EXPECT_FALSE(reverted["customized"].GetBool());
  EXPECT_EQ(shape(reverted["arch"]), "group(name,partner,stamp,notes)");
}

TEST_F(Ui, StoredOnInstallAndRemovedOnUninstall) {
  EXPECT_EQ(count("SELECT count(*) FROM base_view WHERE name = 'shop.order_form' AND "
                  "module = 'shop' AND entity = 'order' AND type = 'form'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM base_view_patch WHERE name = 'shop_ext.order_form_ext' "
                  "AND view = 'shop.order_form' AND jsonb_array_length(patch) = 2"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM base_menu WHERE module = 'shop'"), 4);
  EXPECT_EQ(count("SELECT count(*) FROM base_action WHERE module = 'shop'"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM base_ui_component WHERE name = 'stamp'"), 1);
  {
    TestServer server(config, database.conninfo());
    auto put = http_request(server.port(), "PUT", "/api/v1/ui/views/shop.order.list",
                            R"({"arch": [{"field": "name"}]})", bearer(admin));
    ASSERT_EQ(put.status, 200) << put.body;  // generated views can be customised too
  }
  lifecycle().uninstall({"shop_ext"}, false);
  EXPECT_EQ(count("SELECT count(*) FROM base_view_patch"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM base_view WHERE module = 'shop'"), 1);
  lifecycle().uninstall({"shop"}, false);
  // What is left is base's own (its administration screens).
  for (const char* table :
       {"base_view", "base_view_patch", "base_menu", "base_action", "base_ui_component"})
    EXPECT_EQ(count(std::string("SELECT count(*) FROM ") + table + " WHERE module <> 'base'"), 0)
        << table;
  // Customisations are user data: they stay unless the uninstall purges.
  EXPECT_EQ(count("SELECT count(*) FROM base_view_customization"), 1);
  lifecycle().install({"shop"});
  lifecycle().uninstall({"shop"}, true);
  EXPECT_EQ(count("SELECT count(*) FROM base_view_customization"), 0);
}

TEST_F(Ui, InvalidViewsStopAnInstallBeforeAnythingIsWritten) {
  tree.write("broken/manifest.yaml",
             "name: broken\nversion: 1.0.0\ndepends: [shop]\nviews: [v.yaml]\n");
  tree.write("broken/v.yaml", R"(views:
  - {id: f, entity: order, type: form, arch: [{field: nope}]}
  - {id: p, inherit: shop.order_form, patch: [{op: remove, target: {field: gone}}]}
menus:
  - {id: m, label: M, action: missing}
)");
  try {
    lifecycle().install({"broken"});
    FAIL() << "installed";
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.code(), "view.invalid");
    ASSERT_EQ(e.diagnostics().size(), 3u);
    EXPECT_EQ(e.diagnostics()[0].location.line, 2);
  }
  EXPECT_EQ(count("SELECT count(*) FROM base_module WHERE name = 'broken'"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM base_view WHERE module = 'broken'"), 0);
}

// The database, not the files on the server's disk, says what an installed module's UI is: a
// views file or a component's file changed without an upgrade changes nothing (after a reload, or
// in a new server); the upgrade does.
TEST_F(Ui, AViewsFileChangedWithoutAnUpgradeIsNotServed) {
  std::string form, menus, action;
  {
    TestServer server(config, database.conninfo());
    form = get(server, "/ui/views/order/form", admin).body;
    menus = get(server, "/ui/menus", admin).body;
    action = get(server, "/ui/actions/shop.orders", admin).body;
    EXPECT_EQ(shape(parse(form)["arch"]), "group(name,partner,stamp),group(notes)");
  }
  std::string views = kShopViews;
  const std::string second_group = "      - {component: group, children: [{field: notes}]}\n";
  views.erase(views.find(second_group), second_group.size());
  views.replace(views.find("label: Orders"), 13, "label: Sales orders");
  views.replace(views.find("filter: {date: {null: false}}"), 29, "sort: name, limit: 20");
  tree.write("shop/v.yaml", views);
  tree.write("shop/static/stamp.js", "export default function changed() {}\n");
  tree.write("shop/static/added.js", "export default 1;\n");
  {
    TestServer server(config, database.conninfo());
    EXPECT_EQ(get(server, "/ui/views/order/form", admin).body, form);
    EXPECT_EQ(get(server, "/ui/assets/shop/stamp.js", admin).body,
              "export default function stamp() {}\n");
    EXPECT_EQ(get(server, "/ui/assets/shop/added.js", admin).status, 404);
    EXPECT_EQ(get(server, "/ui/menus", admin).body, menus);
    EXPECT_EQ(get(server, "/ui/actions/shop.orders", admin).body, action);
    server.api().reload();  // what a NOTIFY does
    EXPECT_EQ(get(server, "/ui/views/order/form", admin).body, form);

    tree.write(
        "shop/manifest.yaml",
        std::string(kShopManifest).replace(std::string(kShopManifest).find("1.0.0"), 5, "1.0.1"));
    lifecycle().upgrade({"shop"});
    server.api().reload();
    auto upgraded = parse(get(server, "/ui/views/order/form", admin).body);
    EXPECT_EQ(shape(upgraded["arch"]), "group(name,partner,stamp)");
    EXPECT_NE(get(server, "/ui/menus", admin).body.find("\"Sales orders\""), std::string::npos);
    EXPECT_EQ(get(server, "/ui/actions/shop.orders", admin).body,
              R"({"id":"shop.orders","module":"shop","label":"order","entity":"order","views":[)"
              R"({"type":"list","id":"shop.order.list"},{"type":"form","id":"shop.order_form"}],)"
              R"("filter":null,"sort":"name","limit":20})");
    EXPECT_EQ(get(server, "/ui/assets/shop/stamp.js", admin).body,
              "export default function changed() {}\n");
    EXPECT_EQ(get(server, "/ui/assets/shop/added.js", admin).body, "export default 1;\n");
    auto components = parse(get(server, "/ui/components", admin).body);
    EXPECT_STREQ(components["data"][0]["asset"].GetString(),
                 "/api/v1/ui/assets/shop/stamp.js?v=1.0.1");
  }
}

// Everything a server answers under /ui from the rows the install wrote is, byte for byte, what
// the catalog built from the same files answers: the demo addons, and a module with what they
// lack (attributes holding objects whose keys jsonb would reorder, numbers it would respell,
// sort and limit, defaults merged with another module's, a menu icon, patches by priority).
TEST(UiStore, TheDatabaseAnswersByteForByteWhatTheFilesDeclare) {
  testing::TestDatabase database;
  testing::AddonTree tree;
  tree.write("extra/manifest.yaml",
             "name: extra\nversion: 1.2.0\ndepends: [sale_stock]\nviews: [v.yaml, w.yaml]\n");
  tree.write("extra/v.yaml", R"(views:
  - id: order_board
    entity: sale_order
    type: kanban
    arch:
      - {field: name, options: {zeta: 1.50, alpha: [2e3, "x", -0.0], mid: {b: null, a: true}}}
      - {field: partner, label: "Cliente \u00e9 \"quoted\"\ttab"}
  - id: order_board_low
    entity: sale_order
    type: kanban
    priority: 16
    arch: [{field: state}]
  - id: totals_late
    inherit: sales.sale_order_form
    priority: 20
    patch:
      - {op: attrs, target: {id: totals}, set: {style: {width: 10.0, color: red}, label: null}}
  - id: totals_early
    inherit: sales.sale_order_form
    priority: 3
    patch:
      - {op: inside, target: {id: totals}, node: {component: label, text: "1E3 and {b: 2, a: 1}"}}
menus:
  - {id: board, parent: sales.root, label: Board, action: big, sequence: 7, icon: grid}
actions:
  - id: big
    entity: sale_order
    views: [kanban, list]
    sort: "-date,name"
    limit: 20
    filter: {state: {nin: [cancelled, done]}, amount: {gte: 1.50}, date: {null: false}}
)");
  tree.write("extra/w.yaml", R"(defaults:
  product: {form: [name, sku], list: [sku, name]}
  country: {search: []}
)");
  Config config;
  config.addons_path = {KEEL_SOURCE_DIR "/addons", tree.path()};
  config.core_dir = KEEL_SOURCE_DIR "/core";
  modules::ModuleGraph graph(modules::discover(config.module_path()).modules);
  auto conn = database.connect();
  install::Lifecycle(conn, graph).install({"extra"});

  std::vector<const modules::Manifest*> installed;
  auto versions = install::installed_modules(conn);
  for (const auto* m : graph.order())
    if (versions.count(m->name)) installed.push_back(m);
  Diagnostics diagnostics;
  std::shared_ptr<const schema::Registry> registry =
      schema::Registry::build(installed, diagnostics);
  auto policy = query::load_policy(installed, *registry, diagnostics);
  ASSERT_FALSE(diagnostics.has_errors());
  auto files = build_catalog(installed, registry, policy);
  auto stored = load_catalog(conn, installed, registry, policy);

  auto admin = security::Context::system();
  size_t compared = 0;
  auto same = [&](const std::string& a, const std::string& b, const std::string& what) {
    EXPECT_EQ(a, b) << what;
    ++compared;
  };
  for (const auto& e : registry->entities())
    for (auto type : view_types()) {
      auto a = files->view_for(e.name, type), b = stored->view_for(e.name, type);
      ASSERT_TRUE(a && b) << e.name << " " << type;
      same(view_json(*files, *a, std::nullopt, admin), view_json(*stored, *b, std::nullopt, admin),
           e.name + " " + std::string(type));
      EXPECT_EQ(a->hash, b->hash) << e.name << " " << type;  // customisations compare it
    }
  ASSERT_EQ(files->views().size(), stored->views().size());
  for (const auto& v : files->views())
    same(view_json(*files, *files->view(v.id), std::nullopt, admin),
         view_json(*stored, *stored->view(v.id), std::nullopt, admin), v.id);
  same(menus_json(*files, admin), menus_json(*stored, admin), "menus");
  ASSERT_EQ(files->actions().size(), stored->actions().size());
  for (const auto& a : files->actions())
    same(action_json(*files, a.id, admin), action_json(*stored, a.id, admin), a.id);
  same(components_json(*files, "/a"), components_json(*stored, "/a"), "components");
  EXPECT_GT(compared, 40u);
  // The cases above are there: the board wins by file order, the patches by priority.
  auto board = view_json(*stored, *stored->view_for("sale_order", "kanban"), std::nullopt, admin);
  EXPECT_NE(
      board.find(R"("options":{"zeta":1.50,"alpha":[2e3,"x",-0.0],"mid":{"b":null,"a":true}})"),
      std::string::npos)
      << board;
  EXPECT_NE(action_json(*stored, "extra.big", admin).find(R"("sort":"-date,name","limit":20})"),
            std::string::npos);
  auto form = *stored->view("sales.sale_order_form");
  ASSERT_GE(form.patches.size(), 2u);
  EXPECT_EQ(form.patches[form.patches.size() - 2], "extra.totals_early");
  EXPECT_EQ(form.patches.back(), "extra.totals_late");
}

}  // namespace
}  // namespace keel::ui
