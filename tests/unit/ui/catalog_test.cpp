#include "ui/catalog.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "app/error.hpp"
#include "app/yaml_reader.hpp"
#include "modules/discovery.hpp"
#include "modules/graph.hpp"
#include "query/filter.hpp"
#include "schema/registry.hpp"
#include "support/addon_tree.hpp"

namespace keel::ui {
namespace {
namespace fs = std::filesystem;

// The node ids and field names of an arch, depth first: "group#header(name,partner)".
std::string shape(const Arch& arch) {
  std::string out;
  for (const auto& n : arch) {
    if (!out.empty()) out += ",";
    out += n.field.empty() ? n.component : n.field;
    if (!n.id.empty()) out += "#" + n.id;
    if (!n.children.empty()) out += "(" + shape(n.children) + ")";
  }
  return out;
}

struct Built {
  std::unique_ptr<modules::ModuleGraph> graph;
  std::shared_ptr<const schema::Registry> registry;
  std::shared_ptr<const security::Policy> policy;
  std::shared_ptr<const Catalog> catalog;
  Diagnostics diagnostics;

  // Every diagnostic as "file-name:line:col: message".
  std::vector<std::string> errors() const {
    std::vector<std::string> out;
    for (const auto& d : diagnostics.errors())
      out.push_back(d.location.file.filename().string() + ":" + std::to_string(d.location.line) +
                    ":" + std::to_string(d.location.column) + ": " + d.message);
    return out;
  }
  bool has(const std::string& text) const {
    auto all = errors();
    return std::any_of(all.begin(), all.end(),
                       [&](const std::string& e) { return e.find(text) != std::string::npos; });
  }
};

Built build(const std::vector<fs::path>& path) {
  Built b;
  auto found = modules::discover(path);
  for (const auto& d : found.diagnostics.errors())
    ADD_FAILURE() << d.to_string();
  b.graph = std::make_unique<modules::ModuleGraph>(std::move(found.modules));
  for (const auto& d : b.graph->diagnostics().errors())
    ADD_FAILURE() << d.to_string();
  Diagnostics entity_problems;
  b.registry = schema::Registry::build(b.graph->order(), entity_problems);
  b.policy = query::load_policy(b.graph->order(), *b.registry, entity_problems);
  for (const auto& d : entity_problems.errors())
    ADD_FAILURE() << d.to_string();
  b.catalog = Catalog::build(b.graph->order(), b.registry, b.policy, b.diagnostics);
  return b;
}

class CatalogTest : public ::testing::Test {
 protected:
  void module(const std::string& name, const std::string& depends, const std::string& entities,
              const std::string& views) {
    std::string manifest = "name: " + name + "\nversion: 1.0.0\ndepends: [" + depends +
                           "]\nentities: [e.yaml]\nviews: [v.yaml]\n";
    tree_.write(name + "/manifest.yaml", manifest);
    tree_.write(name + "/e.yaml", entities.empty() ? "entities: {}\n" : entities);
    tree_.write(name + "/v.yaml", views);
  }
  Built build() { return ui::build({tree_.path()}); }

  keel::testing::AddonTree tree_;
};

const char* kShop = R"(entities:
  order:
    fields:
      name:    {type: string, required: true}
      partner: {type: string}
      date:    {type: date}
      state:   {type: selection, options: [draft, done]}
      lines:   {type: one2many, target: order_line, inverse: order}
  order_line:
    fields:
      order:   {type: many2one, target: order}
      product: {type: string}
)";

const char* kShopViews = R"(views:
  - id: order_form
    entity: order
    type: form
    arch:
      - component: group
        id: header
        children: [{field: name}, {field: partner}, {field: date}]
      - {component: notebook, children: [{component: page, label: Lines, children: [{field: lines, children: [{field: product}]}]}]}
)";

TEST(Catalog, DemoAddonsAreValidAndTheFormIsPatchedBySaleStock) {
  auto b = build({fs::path(KEEL_SOURCE_DIR) / "core", fs::path(KEEL_SOURCE_DIR) / "addons"});
  EXPECT_TRUE(b.errors().empty()) << ::testing::PrintToString(b.errors());
  auto form = b.catalog->view_for("sale_order", "form");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->id, "sales.sale_order_form");
  EXPECT_EQ(form->patches, std::vector<std::string>{"sale_stock.sale_order_form_stock"});
  EXPECT_EQ(
      shape(form->arch),
      "button#confirm,button#done,button#deliver,button#cancel,button#to_draft,"
      "group#header(name,partner,warehouse,date,state,delivery_state,delivery_badge#delivery),"
      "notebook#tabs(page(lines(product,quantity,unit_price,tax_rate,subtotal,tax)),page(notes),"
      "page(moves(product,quantity,from_location,to_location,state))),"
      "group#totals(amount,amount_tax,amount_total)");
  // inventory declares the views of its moves; warehouses get generated ones.
  auto moves = b.catalog->view_for("stock_move", "list");
  ASSERT_TRUE(moves);
  EXPECT_FALSE(moves->generated);
  EXPECT_EQ(moves->id, "inventory.stock_move_list");
  auto warehouses = b.catalog->view_for("warehouse", "list");
  ASSERT_TRUE(warehouses);
  EXPECT_TRUE(warehouses->generated);
  ASSERT_NE(b.catalog->component("delivery_badge"), nullptr);
  EXPECT_EQ(b.catalog->component("delivery_badge")->asset, "static/delivery_badge.js");
}

TEST_F(CatalogTest, EveryPatchOperation) {
  module("shop", "", kShop, kShopViews);
  module("ext", "shop", "", R"(views:
  - id: form_ext
    inherit: shop.order_form
    patch:
      - {op: before, target: {field: name}, node: {component: label, id: intro, text: Hello}}
      - {op: after, target: {field: partner}, node: [{field: state}, {component: separator}]}
      - {op: inside, target: {id: header}, node: {component: button, id: confirm, action: confirm}}
      - {op: replace, target: {field: date}, node: {field: date, widget: calendar}}
      - {op: remove, target: {field: product}}
      - {op: attrs, target: {field: name}, set: {readonly: true, label: "Reference"}}
)");
  auto b = build();
  ASSERT_TRUE(b.errors().empty()) << ::testing::PrintToString(b.errors());
  auto v = b.catalog->view("shop.order_form");
  ASSERT_TRUE(v);
  EXPECT_EQ(shape(v->arch),
            "group#header(label#intro,name,partner,state,separator,date,button#confirm),"
            "notebook(page(lines))");
  EXPECT_EQ(arch_json({v->arch[0].children[1]}),
            R"([{"field":"name","label":"Reference","readonly":true}])");
  EXPECT_EQ(v->arch[0].children[5].attrs.at("widget"), R"("calendar")");
  EXPECT_EQ(shape(v->declared), "group#header(name,partner,date),notebook(page(lines(product)))");
  EXPECT_NE(v->hash, arch_hash(v->declared));
}

TEST_F(CatalogTest, AttrsWithNullRemovesAnAttribute) {
  module("shop", "", kShop, R"(views:
  - {id: l, entity: order, type: list, arch: [{field: name, readonly: true, width: 10}]}
  - id: p
    inherit: l
    patch: [{op: attrs, target: {field: name}, set: {readonly: null, width: 20}}]
)");
  auto b = build();
  ASSERT_TRUE(b.errors().empty()) << ::testing::PrintToString(b.errors());
  EXPECT_EQ(arch_json(b.catalog->view("shop.l")->arch), R"([{"field":"name","width":20}])");
}

TEST_F(CatalogTest, PatchesApplyInDependencyOrderThenPriority) {
  module("shop", "", kShop, kShopViews);
  // "aaa" sorts first but depends on "zzz": zzz's patches come first.
  module("aaa", "zzz", "", R"(views:
  - {id: p, inherit: shop.order_form, patch: [{op: inside, target: {id: header}, node: {component: label, id: from_aaa}}]}
)");
  module("zzz", "shop", "", R"(views:
  - {id: late, inherit: shop.order_form, priority: 20, patch: [{op: inside, target: {id: header}, node: {component: label, id: zzz_late}}]}
  - {id: early, inherit: shop.order_form, priority: 5, patch: [{op: inside, target: {id: header}, node: {component: label, id: zzz_early}}]}
)");
  auto b = build();
  ASSERT_TRUE(b.errors().empty()) << ::testing::PrintToString(b.errors());
  auto v = b.catalog->view("shop.order_form");
  EXPECT_EQ(v->patches, (std::vector<std::string>{"zzz.early", "zzz.late", "aaa.p"}));
  EXPECT_EQ(shape(v->arch[0].children),
            "name,partner,date,label#zzz_early,label#zzz_late,label#from_aaa");
}

TEST_F(CatalogTest, ConflictingPatchesNameThePatchThatRemovedTheTarget) {
  module("shop", "", kShop, kShopViews);
  module("one", "shop", "", R"(views:
  - {id: drop_date, inherit: shop.order_form, patch: [{op: remove, target: {field: date}}]}
)");
  module("two", "one", "", R"(views:
  - {id: after_date, inherit: shop.order_form, patch: [{op: after, target: {field: date}, node: {field: state}}]}
)");
  auto b = build();
  ASSERT_EQ(b.errors().size(), 1u) << ::testing::PrintToString(b.errors());
  EXPECT_EQ(b.errors()[0],
            "v.yaml:2:56: patch \"two.after_date\" of module \"two\": after target {field: date} "
            "is not in view \"shop.order_form\" of module \"shop\"");
  EXPECT_NE(b.diagnostics.errors()[0].hint.find("patch \"one.drop_date\" of module \"one\""),
            std::string::npos);
}

TEST_F(CatalogTest, ButtonsNameFieldsOfTheEntityAndARoute) {
  module("shop", "", kShop, R"(views:
  - id: form
    entity: order
    type: form
    arch:
      - {component: button, id: ok, label: Done, set: {name: x}, when: {name: [a, b]}}
      - {component: button, id: go, route: "POST /x/shop/orders/{id}/go"}
      - {component: button, id: a, set: {colour: red}}
      - {component: button, id: b, when: [name]}
      - {component: button, id: c, route: "FETCH /x"}
      - {component: button, id: d, route: "x/y"}
      - {component: button, id: e, set: {name: x}, route: /x}
)");
  auto b = build();
  auto e = b.errors();
  EXPECT_TRUE(b.has("v.yaml:8:9: button set names unknown field \"colour\" of entity \"order\""))
      << ::testing::PrintToString(e);
  EXPECT_TRUE(b.has("v.yaml:9:9: button when must be a map of fields"));
  EXPECT_TRUE(b.has("v.yaml:10:9: button route must be \"METHOD /path\""));
  EXPECT_TRUE(b.has("v.yaml:11:9: button route must be \"METHOD /path\""));
  EXPECT_TRUE(b.has("v.yaml:12:9: a button either sets values or calls a route, not both"));
  EXPECT_EQ(e.size(), 5u);
}

TEST_F(CatalogTest, EveryErrorOfEveryModuleInOnePass) {
  module("shop", "", kShop, R"(views:
  - id: bad
    entity: ordr
    type: form
    arch: [{field: name}]
  - id: form
    entity: order
    type: form
    arch:
      - {field: nme}
      - {component: gizmo}
      - {component: notebook, children: [{field: name}]}
  - id: form
    entity: order
    type: chart
    arch: []
  - {id: form, entity: order, type: list, arch: []}
menus:
  - {id: m, parent: nowhere, label: M, action: nothing}
actions:
  - {id: a, entity: order, views: [list, pie], filter: {colour: red}}
)");
  module("ext", "shop", "", R"(views:
  - {id: p1, inherit: shop.gone, patch: [{op: remove, target: {field: name}}]}
  - {id: p2, inherit: shop.form, patch: [{op: remove, target: {id: missing}}, {op: explode, target: {field: name}}]}
components:
  - {name: widget, asset: ../outside.js}
)");
  auto b = build();
  auto e = b.errors();
  EXPECT_TRUE(b.has("v.yaml:3:13: unknown entity \"ordr\"")) << ::testing::PrintToString(e);
  EXPECT_TRUE(b.has("v.yaml:10:9: unknown field \"nme\" of entity \"order\""));
  EXPECT_TRUE(b.has("v.yaml:11:9: unknown component \"gizmo\""));
  EXPECT_TRUE(b.has("v.yaml:12:42: a notebook holds only pages"));
  EXPECT_TRUE(b.has("v.yaml:15:11: unknown view type \"chart\""));
  EXPECT_TRUE(b.has("unknown parent menu \"shop.nowhere\""));
  EXPECT_TRUE(b.has("unknown action \"shop.nothing\""));
  EXPECT_TRUE(b.has("unknown view type \"pie\""));
  EXPECT_TRUE(b.has("invalid filter"));
  EXPECT_TRUE(
      b.has("v.yaml:2:23: patch \"ext.p1\" of module \"ext\" inherits from view "
            "\"shop.gone\", which module \"shop\" does not declare"));
  EXPECT_TRUE(b.has("remove target {id: missing} is not in view \"shop.form\""));
  EXPECT_TRUE(b.has("unknown patch op \"explode\""));
  EXPECT_TRUE(b.has("asset \"../outside.js\" is not in the module's static/ folder"));
  EXPECT_TRUE(b.has("view \"shop.form\" is declared twice"));
  EXPECT_EQ(e.size(), 14u);
  // The summary error of the whole pass.
  try {
    build_catalog(b.graph->order(), b.registry, b.policy);
    FAIL() << "no error";
  } catch (const ValidationError& err) {
    EXPECT_EQ(err.code(), "view.invalid");
    EXPECT_EQ(err.diagnostics().size(), e.size());
  }
}

TEST_F(CatalogTest, ComponentsAndPatchesNeedTheirModuleAsADependency) {
  module("shop", "", kShop, kShopViews);
  module("badges", "shop", "", R"(components:
  - {name: badge, asset: static/badge.js}
)");
  tree_.write("badges/static/badge.js", "export default 1;\n");
  module("other", "shop", "", R"(views:
  - {id: l, entity: order, type: list, arch: [{component: badge}]}
)");
  module("stranger", "", "", R"(views:
  - {id: p, inherit: shop.order_form, patch: [{op: remove, target: {field: name}}]}
)");
  auto b = build();
  EXPECT_TRUE(b.has("unknown component \"badge\"")) << ::testing::PrintToString(b.errors());
  EXPECT_TRUE(
      b.has("module \"stranger\" patches view \"shop.order_form\" of module \"shop\", "
            "which it does not depend on"));
  EXPECT_EQ(b.errors().size(), 2u) << ::testing::PrintToString(b.errors());
}

TEST_F(CatalogTest, AViewRemovedByAnUpgradeNamesBothModules) {
  module("shop", "", kShop, "views: []\n");  // version 2 dropped order_form
  module("ext", "shop", "", R"(views:
  - {id: p, inherit: shop.order_form, patch: [{op: remove, target: {field: name}}]}
)");
  auto b = build();
  ASSERT_EQ(b.errors().size(), 1u);
  EXPECT_EQ(b.diagnostics.errors()[0].message,
            "patch \"ext.p\" of module \"ext\" inherits from view \"shop.order_form\", which "
            "module \"shop\" does not declare");
  EXPECT_NE(b.diagnostics.errors()[0].hint.find("an upgrade of \"shop\""), std::string::npos);
}

TEST_F(CatalogTest, MenuCyclesAndDuplicateNodeIds) {
  module("shop", "", kShop, R"(views:
  - {id: l, entity: order, type: list, arch: [{field: name, id: x}, {field: date, id: x}]}
menus:
  - {id: a, parent: b, label: A}
  - {id: b, parent: a, label: B}
)");
  auto b = build();
  EXPECT_TRUE(b.has("node id \"x\" is used twice")) << ::testing::PrintToString(b.errors());
  EXPECT_TRUE(b.has("menu \"shop.a\" is its own ancestor"));
}

const char* kEveryType = R"(entities:
  thing:
    title: label
    fields:
      code:     {type: string, max_length: 8}
      label:    {type: string}
      notes:    {type: text}
      count:    {type: integer}
      big:      {type: bigint}
      price:    {type: decimal, precision: 10, scale: 2}
      ratio:    {type: float}
      active:   {type: boolean}
      day:      {type: date}
      at:       {type: datetime}
      data:     {type: json}
      state:    {type: selection, options: [a, b]}
      mail:     {type: email}
      site:     {type: url}
      blob:     {type: binary}
      parent:   {type: many2one, target: thing}
      children: {type: one2many, target: thing, inverse: parent}
      tags:     {type: many2many, target: thing}
      hash:     {type: string, secret: true}
)";

TEST_F(CatalogTest, GeneratedViewsPerFieldType) {
  module("shop", "", kEveryType, "views: []\n");
  auto b = build();
  ASSERT_TRUE(b.errors().empty()) << ::testing::PrintToString(b.errors());
  auto view = [&](const char* type) { return shape(b.catalog->view_for("thing", type)->arch); };
  // list: the title, then the first scalar fields (no text, json, binary or x2many), 5 at most.
  EXPECT_EQ(view("list"), "label,code,count,big,price");
  // kanban: the title and 3 more.
  EXPECT_EQ(view("kanban"), "label,code,count,big");
  // search: string, email, selection, many2one, date and datetime fields.
  EXPECT_EQ(view("search"), "label,code,day,at,state,mail,parent");
  // form: every field but secrets in one group, relations on notebook pages.
  EXPECT_EQ(view("form"),
            "group(label,code,notes,count,big,price,ratio,active,day,at,data,state,mail,site,"
            "blob,parent),notebook(page(children),page(tags))");
  auto form = b.catalog->view_for("thing", "form");
  EXPECT_TRUE(form->generated);
  EXPECT_EQ(form->id, "shop.thing.form");
  EXPECT_EQ(form->arch[1].children[0].attrs.at("label"), R"("children")");
  // Generated views are found by id too, and are stable.
  auto again = b.catalog->view("shop.thing.form");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->hash, form->hash);
  EXPECT_FALSE(b.catalog->view("shop.thing.pie"));
  EXPECT_FALSE(b.catalog->view("other.thing.form"));
}

TEST_F(CatalogTest, DefaultsTuneGeneratedViews) {
  module("shop", "", kEveryType, R"(defaults:
  thing: {list: [code, state, tags], search: [code]}
)");
  module("ext", "shop", "", R"(defaults:
  thing: {search: [label, mail]}
  nothing: {list: [x]}
)");
  auto b = build();
  EXPECT_EQ(b.errors(), std::vector<std::string>{"v.yaml:3:3: unknown entity \"nothing\""});
  EXPECT_EQ(shape(b.catalog->view_for("thing", "list")->arch), "code,state,tags");
  EXPECT_EQ(shape(b.catalog->view_for("thing", "search")->arch), "label,mail");
}

TEST_F(CatalogTest, TheLowestPriorityViewWins) {
  module("shop", "", kShop, R"(views:
  - {id: a, entity: order, type: list, arch: [{field: name}]}
  - {id: b, entity: order, type: list, priority: 1, arch: [{field: date}]}
)");
  auto b = build();
  EXPECT_EQ(b.catalog->view_for("order", "list")->id, "shop.b");
}

TEST(Arch, JsonRoundTripKeepsAttributesAndChildren) {
  Diagnostics d;
  auto arch = arch_from_json(
      R"([{"component":"group","id":"g","cols":2,"children":[{"field":"name","opts":{"a":[1,null]}}]}])",
      d);
  ASSERT_FALSE(d.has_errors());
  EXPECT_EQ(
      arch_json(arch),
      R"([{"component":"group","id":"g","cols":2,"children":[{"field":"name","opts":{"a":[1,null]}}]}])");
  arch_from_json(R"([{"component":"group","field":"x"}, 3, {"field": 1}])", d);
  ASSERT_EQ(d.errors().size(), 3u);
  EXPECT_EQ(d.errors()[0].location.file, "arch[0]");
  EXPECT_EQ(d.errors()[1].location.file, "arch[1]");
  EXPECT_EQ(d.errors()[2].location.file, "arch[2].field");
}

TEST(Arch, YamlValuesBecomeTypedJson) {
  auto node =
      YAML::Load(R"({date: {null: false}, a: "true", b: true, c: 1.5, d: ~, e: 0x1F, f: [x, 2]})");
  EXPECT_EQ(
      yaml_to_json(node),
      R"({"date":{"null":false},"a":"true","b":true,"c":1.5,"d":null,"e":"0x1F","f":["x",2]})");
}

TEST(Arch, ApplyPatchReportsAMissingTarget) {
  Arch arch(1);
  arch[0].field = "name";
  PatchStep step;
  step.op = PatchOp::kRemove;
  step.target.field = "other";
  EXPECT_FALSE(apply_patch(arch, step));
  step.target.field = "name";
  EXPECT_TRUE(apply_patch(arch, step));
  EXPECT_TRUE(arch.empty());
}

}  // namespace
}  // namespace keel::ui
