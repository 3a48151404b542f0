#include <gtest/gtest.h>

#include <thread>

#include "app/error.hpp"
#include "db/catalog.hpp"
#include "db/connection.hpp"
#include "install/lifecycle.hpp"
#include "modules/discovery.hpp"
#include "records/service.hpp"
#include "runtime/snapshot.hpp"
#include "support/addon_tree.hpp"
#include "support/fixture.hpp"
#include "support/pg.hpp"
#include "ui/catalog.hpp"

namespace keel::install {
namespace {

using db::Params;

modules::ModuleGraph graph_of(const testing::AddonTree& tree) {
  auto found = modules::discover({KEEL_SOURCE_DIR "/core", tree.path()});
  EXPECT_FALSE(found.diagnostics.has_errors())
      << (found.diagnostics.items().empty() ? "" : found.diagnostics.items()[0].to_string());
  return modules::ModuleGraph(std::move(found.modules));
}

// Everything a failed operation must leave untouched: the catalog and (unless `with_rows` is
// false) every row.
std::string snapshot(db::Connection& conn, bool with_rows = true) {
  std::string out;
  auto live = db::introspect(conn);
  for (const auto& [table, t] : live.tables) {
    out += "table " + table + "\n";
    for (const auto& [name, c] : t.columns)
      out += "  " + name + " " + c.type + (c.not_null ? " not null" : "") + " " + c.default_expr +
             "\n";
    for (const auto& [name, def] : t.constraints)
      out += "  constraint " + name + " " + def + "\n";
    for (const auto& name : t.indexes)
      out += "  index " + name + "\n";
    if (!with_rows) continue;
    auto rows = conn.exec(
        "SELECT count(*), coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM " +
        db::quote_ident(table) + " t");
    out += "  rows " + std::string(rows.get(0, 0)) + " " + std::string(rows.get(0, 1)) + "\n";
  }
  return out;
}

const char* kShopV1 = R"(name: shop
version: 1.0.0
depends: [base]
entities: [entities/*.yaml]
data: [data/*.yaml]
)";

std::string shop_manifest(const std::string& version) {
  std::string text = kShopV1;
  return text.replace(text.find("1.0.0"), 5, version);
}

const char* kShopEntitiesV1 = R"(entities:
  partner:
    fields:
      name:  {type: string, max_length: 32, required: true, unique: true}
      city:  {type: string, max_length: 40, index: true}
      score: {type: integer, default: 5}
  order:
    title: ref
    fields:
      ref:     {type: string, max_length: 16, required: true}
      partner: {type: many2one, target: partner, required: true, on_delete: cascade}
      state:   {type: selection, options: [draft, done], default: draft, required: true}
      total:   {type: decimal, precision: 10, scale: 2, default: "0"}
      paid:    {type: boolean, default: false}
      day:     {type: date, default: today}
      lines:   {type: one2many, target: line, inverse: order}
      tags:    {type: many2many, target: tag}
  line:
    fields:
      order: {type: many2one, target: order, required: true, on_delete: cascade}
      qty:   {type: integer}
  tag:
    fields:
      name: {type: string}
)";

const char* kShopData = R"(records:
  - {id: acme, entity: partner, values: {name: ACME, city: Paris}}
  - {id: tag_a, entity: tag, values: {name: A}}
  - {id: o1, entity: order, values: {ref: SO1, partner: {ref: acme}, tags: [{ref: tag_a}]}}
)";

class Lifecycle : public ::testing::Test, protected testing::AddonsFixture {
 protected:
  void SetUp() override {
    tree.write("shop/manifest.yaml", kShopV1);
    tree.write("shop/entities/shop.yaml", kShopEntitiesV1);
    tree.write("shop/data/shop.yaml", kShopData);
  }
  std::vector<std::string> upgrade(const std::vector<std::string>& names) {
    return lifecycle().upgrade(names);
  }
  std::vector<std::string> uninstall(const std::vector<std::string>& names, bool purge) {
    return lifecycle().uninstall(names, purge);
  }
  std::string one(const std::string& sql) { return std::string(conn->exec(sql).get(0, 0)); }
};

TEST_F(Lifecycle, InstallCreatesEveryKindOfSchemaObject) {
  EXPECT_EQ(install({"shop"}), (std::vector<std::string>{"base", "shop"}));
  auto live = db::introspect(*conn);
  ASSERT_TRUE(live.has_table("order"));  // a keyword, quoted
  const auto& order = live.tables.at("order");
  EXPECT_EQ(order.columns.at("id").type, "bigint");
  EXPECT_TRUE(order.columns.at("created_at").not_null);
  EXPECT_EQ(order.columns.at("ref").type, "character varying(16)");
  EXPECT_TRUE(order.columns.at("ref").not_null);
  EXPECT_EQ(order.columns.at("total").type, "numeric(10,2)");
  EXPECT_EQ(order.columns.at("paid").type, "boolean");
  EXPECT_EQ(order.columns.at("day").default_expr, "CURRENT_DATE");
  EXPECT_EQ(order.columns.at("state").default_expr, "'draft'::text");
  EXPECT_EQ(order.columns.count("lines"), 0u);  // one2many: no column
  EXPECT_NE(order.constraints.at("order_partner_fkey").find("ON DELETE CASCADE"),
            std::string::npos);
  bool has_check = false;
  for (const auto& [name, def] : order.constraints)
    if (name.rfind("order_state_check_", 0) == 0)
      has_check = def.find("'done'") != std::string::npos;
  EXPECT_TRUE(has_check);
  const auto& partner = live.tables.at("partner");
  EXPECT_TRUE(partner.constraints.count("partner_name_key"));
  EXPECT_TRUE(partner.indexes.count("partner_city_idx"));
  EXPECT_EQ(partner.columns.at("score").default_expr, "5");
  ASSERT_TRUE(live.has_table("order_tags_rel"));
  const auto& rel = live.tables.at("order_tags_rel");
  EXPECT_TRUE(rel.constraints.count("order_tags_rel_pkey"));
  EXPECT_EQ(rel.constraints.size(), 3u);  // primary key + two cascading foreign keys
  // Data: references resolved, many2many linked, external ids recorded.
  EXPECT_EQ(one("SELECT p.name FROM \"order\" o JOIN partner p ON p.id = o.partner"), "ACME");
  EXPECT_EQ(one("SELECT count(*) FROM order_tags_rel"), "1");
  EXPECT_EQ(one("SELECT count(*) FROM base_external_id WHERE module = 'shop'"), "3");
  EXPECT_EQ(one("SELECT state FROM base_module WHERE name = 'shop'"), "installed");
  EXPECT_EQ(one("SELECT count(*) FROM base_field f JOIN base_entity e ON e.id = f.entity "
                "WHERE e.name = 'order'"),
            "8");
}

TEST_F(Lifecycle, InstallIsIdempotentAndPlansNothingAfterwards) {
  install({"shop"});
  std::string before = snapshot(*conn);
  EXPECT_TRUE(install({"shop"}).empty());
  EXPECT_EQ(snapshot(*conn), before);
  EXPECT_TRUE(lifecycle().plan({"shop"}).modules.empty());
  // The live schema matches the registry exactly: no statement left to run.
  auto registry_modules = graph->install_closure({"base", "shop"}, {});
  Diagnostics d;
  auto registry = schema::Registry::build(registry_modules, d);
  EXPECT_TRUE(schema::plan_schema(*registry, db::introspect(*conn)).empty());
  EXPECT_TRUE(upgrade({"shop"}) == std::vector<std::string>{"shop"});
  EXPECT_EQ(one("SELECT count(*) FROM partner"), "1");
}

TEST_F(Lifecycle, PlanChangesNothingEvenOnAnEmptyDatabase) {
  std::string before = snapshot(*conn);
  auto plan = lifecycle().plan({"shop"});
  ASSERT_EQ(plan.modules.size(), 2u);
  EXPECT_GT(plan.statements.size(), 10u);
  EXPECT_EQ(snapshot(*conn), before);
}

TEST_F(Lifecycle, FailingPostMigrationLeavesDatabaseExactlyAsBefore) {
  install({"shop"});
  conn->exec("INSERT INTO partner (name) VALUES ('Other')");
  std::string before = snapshot(*conn);
  tree.write("shop/manifest.yaml", shop_manifest("1.1.0"));
  tree.write("shop/entities/shop.yaml",
             std::string(kShopEntitiesV1) + "extend: {}\n");  // unchanged entities
  tree.write("shop/entities/more.yaml",
             "entities:\n  note:\n    fields:\n      body: {type: text}\n");
  tree.write("shop/migrations/1.1.0/pre.sql", "UPDATE partner SET city = 'Lyon';");
  tree.write("shop/migrations/1.1.0/post.sql", "INSERT INTO no_such_table VALUES (1);");
  try {
    upgrade({"shop"});
    FAIL() << "the upgrade should fail";
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("shop"), std::string::npos) << what;
    EXPECT_NE(what.find("post.sql"), std::string::npos) << what;
    EXPECT_NE(what.find("no_such_table"), std::string::npos) << what;
  }
  EXPECT_EQ(snapshot(*conn), before);
}

TEST_F(Lifecycle, UpgradeRunsMigrationsOnceInOrderAndKeepsRows) {
  install({"shop"});
  conn->exec("INSERT INTO partner (name, city) VALUES ('Bob', 'Nice')");
  tree.write("shop/manifest.yaml", shop_manifest("2.0.0"));
  // v2 widens a column, adds a required column with a default and a new entity.
  std::string v2 = kShopEntitiesV1;
  v2.replace(v2.find("max_length: 32"), 14, "max_length: 64");
  v2.replace(v2.find("      score:"), 0,
             "      rank: {type: integer, required: true, default: 1}\n");
  tree.write("shop/entities/shop.yaml", v2);
  tree.write(
      "shop/migrations/1.5.0/pre.sql",
      "CREATE TABLE mig_log (step text, at serial); INSERT INTO mig_log VALUES ('pre 1.5');");
  tree.write("shop/migrations/2.0.0/pre.sql", "INSERT INTO mig_log VALUES ('pre 2.0');");
  tree.write("shop/migrations/2.0.0/post.sql",
             "INSERT INTO mig_log SELECT 'post 2.0 rank=' || min(rank) FROM partner;");
  tree.write("shop/migrations/0.9.0/pre.sql", "SELECT 1/0;");  // below the installed version
  tree.write("shop/migrations/3.0.0/pre.sql", "SELECT 1/0;");  // above the new version
  upgrade({"shop"});
  EXPECT_EQ(one("SELECT string_agg(step, ' | ' ORDER BY at) FROM mig_log"),
            "pre 1.5 | pre 2.0 | post 2.0 rank=1");
  EXPECT_EQ(one("SELECT version FROM base_module WHERE name = 'shop'"), "2.0.0");
  EXPECT_EQ(one("SELECT count(*) FROM partner"), "2");
  EXPECT_EQ(db::introspect(*conn).tables.at("partner").columns.at("name").type,
            "character varying(64)");
  // Each script exactly once: a second upgrade runs none of them.
  upgrade({"shop"});
  EXPECT_EQ(one("SELECT count(*) FROM mig_log"), "3");
  EXPECT_EQ(one("SELECT count(*) FROM base_migration WHERE module = 'shop'"), "3");
}

TEST_F(Lifecycle, NarrowingATypeNeedsAMigration) {
  install({"shop"});
  std::string v2 = kShopEntitiesV1;
  v2.replace(v2.find("max_length: 32"), 14, "max_length: 8");
  tree.write("shop/entities/shop.yaml", v2);
  std::string before = snapshot(*conn);
  try {
    upgrade({"shop"});
    FAIL();
  } catch (const ValidationError& e) {
    ASSERT_FALSE(e.diagnostics().empty());
    EXPECT_NE(e.diagnostics()[0].message.find("partner.name"), std::string::npos);
    EXPECT_NE(e.diagnostics()[0].location.file.string().find("shop.yaml"), std::string::npos);
  }
  EXPECT_EQ(snapshot(*conn), before);
}

TEST_F(Lifecycle, RequiredOnRowsWithoutValueSaysHowMany) {
  install({"shop"});
  conn->exec("INSERT INTO partner (name) VALUES ('B'), ('C')");
  std::string v2 = kShopEntitiesV1;
  v2.replace(v2.find("city:  {type: string, max_length: 40"), 36,
             "city:  {type: string, max_length: 40, required: true");
  tree.write("shop/entities/shop.yaml", v2);
  try {
    upgrade({"shop"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("2 rows"), std::string::npos) << e.what();
  }
}

TEST_F(Lifecycle, UpgradeUpdatesDataRespectsNoupdateAndDeletesUndeclared) {
  tree.write("shop/data/fixed.yaml",
             "noupdate: true\nrecords:\n  - {id: fixed, entity: tag, values: {name: Fixed}}\n");
  install({"shop"});
  conn->exec("UPDATE tag SET name = 'Changed by user' WHERE name = 'Fixed'");
  tree.write("shop/data/shop.yaml", R"(records:
  - {id: acme, entity: partner, values: {name: ACME Corp, city: Paris}}
  - {id: o1, entity: order, values: {ref: SO1, partner: {ref: acme}}}
)");
  tree.write("shop/data/fixed.yaml",
             "noupdate: true\nrecords:\n  - {id: fixed, entity: tag, values: {name: Again}}\n");
  upgrade({"shop"});
  EXPECT_EQ(one("SELECT name FROM partner"), "ACME Corp");
  EXPECT_EQ(one("SELECT count(*) FROM tag WHERE name = 'A'"), "0");  // no longer declared
  EXPECT_EQ(one("SELECT name FROM tag ORDER BY id LIMIT 1"), "Changed by user");
}

TEST_F(Lifecycle, UninstallKeepsDataAndPurgeRemovesExactlyOwnedObjects) {
  tree.write("extra/manifest.yaml",
             "name: extra\nversion: 1.0.0\ndepends: [shop]\n"
             "entities: [entities.yaml]\n");
  tree.write("extra/entities.yaml", R"(entities:
  gift:
    fields:
      partner: {type: many2one, target: partner}
extend:
  partner:
    fields:
      vip: {type: boolean, required: true, default: false}
      level: {type: integer, index: true, unique: true}
)");
  install({"shop"});
  std::string catalog_before_extra = snapshot(*conn, /*with_rows=*/false);
  install({"extra"});
  EXPECT_EQ(uninstall({"extra"}, false), std::vector<std::string>{"extra"});
  EXPECT_TRUE(db::introspect(*conn).has_table("gift"));  // data stays
  EXPECT_EQ(one("SELECT state FROM base_module WHERE name = 'extra'"), "uninstalled");
  conn->exec("INSERT INTO partner (name) VALUES ('no vip needed')");  // NOT NULL relaxed
  conn->exec("DELETE FROM partner WHERE name = 'no vip needed'");
  // Reinstall, then purge: everything extra created goes, nothing else.
  install({"extra"});
  uninstall({"extra"}, true);
  auto live = db::introspect(*conn);
  EXPECT_FALSE(live.has_table("gift"));
  EXPECT_EQ(live.tables.at("partner").columns.count("vip"), 0u);
  EXPECT_EQ(live.tables.at("partner").columns.count("level"), 0u);
  EXPECT_EQ(snapshot(*conn, /*with_rows=*/false), catalog_before_extra);  // nothing else left
  EXPECT_EQ(one("SELECT count(*) FROM base_ownership WHERE module = 'extra'"), "0");
  EXPECT_EQ(one("SELECT count(*) FROM partner"), "1");
}

// One write path (issue 15): a purge deletes the records a module's data files created through
// RecordService, as Keel, so what the remaining modules attached to them still happens: here
// the stored totals of sales (native code) drop with a purged line, and sales' delete hook can
// refuse a line of a done order, which leaves everything as it was.
TEST_F(Lifecycle, PurgeDeletesRecordsThroughRecordService) {
  tree.write("seed/manifest.yaml",
             "name: seed\nversion: 1.0.0\ndepends: [sales]\ndata: [data.yaml]\n");
  tree.write("seed/data.yaml", R"(records:
  - {id: acme, entity: contact, values: {name: ACME}}
  - {id: bolt, entity: product, values: {name: Bolt, uom: {ref: products.uom_unit}, list_price: "10.00"}}
  - {id: order, entity: sale_order, values: {name: SO-SEED, partner: {ref: acme}}}
)");
  tree.write("extra_line/manifest.yaml",
             "name: extra_line\nversion: 1.0.0\ndepends: [seed]\ndata: [data.yaml]\n");
  tree.write("extra_line/data.yaml", R"(records:
  - {id: line, entity: sale_order_line, values: {order: {ref: seed.order}, product: {ref: seed.bolt}, quantity: "2", unit_price: "10.00"}}
)");
  auto found = modules::discover({KEEL_SOURCE_DIR "/core", KEEL_SOURCE_DIR "/addons", tree.path()});
  ASSERT_FALSE(found.diagnostics.has_errors());
  modules::ModuleGraph graph(std::move(found.modules));
  install::Lifecycle(*conn, graph).install({"extra_line"});
  auto amount = [&] { return one("SELECT amount FROM sale_order WHERE name = 'SO-SEED'"); };
  EXPECT_EQ(amount(), "20.00");

  // A done order's lines do not change: sales' before_delete hook refuses the purge.
  conn->exec("UPDATE sale_order SET state = 'done' WHERE name = 'SO-SEED'");
  try {
    install::Lifecycle(*conn, graph).uninstall({"extra_line"}, true);
    ADD_FAILURE() << "the purge should have been refused by the hook of sales";
  } catch (const Error& e) {
    std::string text = e.what();
    for (const auto& f : e.field_errors())
      text += "; " + f.field + ": " + f.message;
    EXPECT_NE(text.find("the order is done"), std::string::npos) << text;
  }
  EXPECT_EQ(one("SELECT count(*) FROM sale_order_line"), "1");
  EXPECT_EQ(one("SELECT state FROM base_module WHERE name = 'extra_line'"), "installed");

  conn->exec("UPDATE sale_order SET state = 'draft' WHERE name = 'SO-SEED'");
  install::Lifecycle(*conn, graph).uninstall({"extra_line"}, true);
  EXPECT_EQ(one("SELECT count(*) FROM sale_order_line"), "0");
  EXPECT_EQ(amount(), "0.00") << "the stored total follows the purged line";
  EXPECT_EQ(one("SELECT count(*) FROM base_external_id WHERE module = 'extra_line'"), "0");
}

// Keel's own SQL objects (keel_refuse, the authentication triggers) come through the schema
// plan: `keel module plan` shows them, the ownership ledger records them under base, a plan
// after an install has nothing left to do, and one dropped behind Keel's back is planned again
// (and created by a starting server: ensure_sql_objects).
TEST_F(Lifecycle, KeelsOwnSqlObjectsArePlannedAndOwned) {
  auto graph = graph_of(tree);
  auto planned = [&](const std::string& what) {
    std::string all;
    for (const auto& st : install::Lifecycle(*conn, graph).plan({"shop"}).statements)
      if (st.sql.find(what) != std::string::npos) all += st.sql + "\n";
    return all;
  };
  EXPECT_NE(planned("FUNCTION keel_refuse(allowed boolean)"), "");
  EXPECT_NE(planned("TRIGGER keel_user_tokens BEFORE UPDATE ON base_user"), "");
  EXPECT_NE(planned("TRIGGER keel_auth_notify AFTER"), "");
  install({"shop"});
  EXPECT_EQ(one("SELECT string_agg(name, ',' ORDER BY name) FROM base_ownership "
                "WHERE module = 'base' AND kind = 'function'"),
            "keel_auth_notify,keel_refuse,keel_user_tokens");
  EXPECT_EQ(one("SELECT string_agg(name, ',' ORDER BY name) FROM base_ownership "
                "WHERE module = 'base' AND kind = 'trigger' AND table_name = 'base_user'"),
            "keel_auth_notify,keel_user_tokens");
  auto left = [&] {
    std::string sql;
    for (const auto& st : install::Lifecycle(*conn, graph).plan({"shop"}).statements)
      sql += st.sql + "\n";
    return sql;
  };
  EXPECT_EQ(left(), "");

  conn->exec("DROP FUNCTION keel_refuse(boolean)");
  auto again = install::Lifecycle(*conn, graph).plan({"shop"}).statements;
  ASSERT_EQ(again.size(), 1u) << again.back().sql;
  EXPECT_NE(again[0].sql.find("keel_refuse"), std::string::npos);
  install::ensure_sql_objects(*conn);
  EXPECT_EQ(one("SELECT to_regprocedure('keel_refuse(boolean)') IS NOT NULL"), "t");
  EXPECT_EQ(left(), "");
  // Recreated, it keeps its one row in the ledger, however often that happens.
  auto rows = [&] {
    return one(
        "SELECT count(*) FROM base_ownership WHERE module = 'base' AND kind = 'function' AND "
        "name = 'keel_refuse'");
  };
  EXPECT_EQ(rows(), "1");
  conn->exec("DROP FUNCTION keel_refuse(boolean)");
  install::ensure_sql_objects(*conn);
  install::ensure_sql_objects(*conn);
  EXPECT_EQ(one("SELECT to_regprocedure('keel_refuse(boolean)') IS NOT NULL"), "t");
  EXPECT_EQ(rows(), "1");
}

// The snapshot the server serves and the lifecycle works with is built in one place
// (runtime::build): registry, policy, UI catalog, native extensions, and a RecordService that
// writes as Keel.
TEST_F(Lifecycle, OneRuntimeSnapshotForServerLifecycleAndCommands) {
  install({"shop"});
  auto graph = graph_of(tree);
  auto snap = runtime::load_installed(*conn, graph);
  ASSERT_TRUE(snap.registry && snap.policy && snap.ui && snap.native && snap.records);
  EXPECT_TRUE(snap.registry->entity("partner"));
  EXPECT_FALSE(snap.ui->views().empty());
  auto created =
      snap.records->create(*conn, security::Context::system(), "partner", R"({"name": "Initech"})");
  EXPECT_EQ(one("SELECT score FROM partner WHERE id = " + std::to_string(created.id)), "5");
  // A dry run (`keel module plan`) loads no native code.
  runtime::BuildOptions dry;
  dry.load_native = false;
  EXPECT_FALSE(
      runtime::build(runtime::installed_order(graph, installed_modules(*conn)), dry).native);
}

// The tables that mirror module files are written with one bulk helper (unnest of text[]
// parameters): labels with quotes, backslashes, commas, braces and NULL-looking text arrive as
// written, and a missing target stays NULL.
TEST_F(Lifecycle, MirrorTablesKeepEveryCharacterOfTheFiles) {
  tree.write(
      "odd/manifest.yaml",
      "name: odd\nversion: 1.0.0\ndepends: [base]\nentities: [e.yaml]\nsecurity: [s.yaml]\n");
  tree.write("odd/e.yaml", R"(entities:
  odd_thing:
    label: 'He said "hi", {x} \ y'
    fields:
      name: {type: string, label: "NULL"}
      other: {type: many2one, target: odd_thing, label: "a,b}"}
)");
  tree.write("odd/s.yaml", R"(roles:
  clerk: {label: 'the "clerk" \ {role}'}
access:
  - {entity: odd_thing, role: odd.clerk, read: true}
)");
  install({"odd"});
  EXPECT_EQ(one("SELECT label FROM base_entity WHERE name = 'odd_thing'"),
            R"(He said "hi", {x} \ y)");
  EXPECT_EQ(one("SELECT label || '|' || coalesce(target, '<null>') FROM base_field "
                "WHERE name = 'name' AND module = 'odd'"),
            "NULL|<null>");
  EXPECT_EQ(one("SELECT label || '|' || target FROM base_field WHERE name = 'other'"),
            "a,b}|odd_thing");
  EXPECT_EQ(one("SELECT label FROM base_role WHERE name = 'odd.clerk'"), R"(the "clerk" \ {role})");
  EXPECT_EQ(one("SELECT can_read::text || can_create::text FROM base_access a JOIN base_role r "
                "ON r.id = a.role WHERE r.name = 'odd.clerk'"),
            "truefalse");
}

TEST_F(Lifecycle, UpgradeInstallsNewDependencies) {
  install({"shop"});
  tree.write("extra/manifest.yaml",
             "name: extra\nversion: 1.0.0\ndepends: [base]\n"
             "entities: [e.yaml]\n");
  tree.write("extra/e.yaml", "entities:\n  gift:\n    fields:\n      name: {type: string}\n");
  std::string v2 = shop_manifest("1.1.0");
  v2.replace(v2.find("depends: [base]"), 15, "depends: [base, extra]");
  tree.write("shop/manifest.yaml", v2);
  EXPECT_EQ(upgrade({"shop"}), (std::vector<std::string>{"extra", "shop"}));
  EXPECT_TRUE(db::introspect(*conn).has_table("gift"));
  EXPECT_EQ(one("SELECT state FROM base_module WHERE name = 'extra'"), "installed");
}

TEST_F(Lifecycle, UninstallTakesDependentsAndRefusesBase) {
  tree.write("extra/manifest.yaml", "name: extra\nversion: 1.0.0\ndepends: [shop]\n");
  install({"extra"});
  EXPECT_EQ(uninstall({"shop"}, false), (std::vector<std::string>{"extra", "shop"}));
  EXPECT_THROW(uninstall({"base"}, false), Error);
}

TEST_F(Lifecycle, ConcurrentInstallsSerialize) {
  std::vector<std::string> a, b;
  std::string error;
  auto run = [&](std::vector<std::string>& out) {
    try {
      auto c = database.connect();
      auto own_graph = graph_of(tree);  // each thread its own connection and graph
      out = install::Lifecycle(c, own_graph).install({"shop"});
    } catch (const std::exception& e) {
      error = e.what();
    }
  };
  std::thread t1(run, std::ref(a)), t2(run, std::ref(b));
  t1.join();
  t2.join();
  EXPECT_EQ(error, "");
  // One of them installed everything; the other waited and found nothing left to do.
  EXPECT_EQ(a.size() + b.size(), 2u);
  EXPECT_EQ(one("SELECT count(*) FROM base_module"), "2");
}

TEST_F(Lifecycle, BadDataNamesFileLineAndColumn) {
  tree.write("shop/data/bad.yaml",
             "records:\n  - {id: x, entity: partner, values: {name: X, nope: 1}}\n");
  try {
    install({"shop"});
    FAIL();
  } catch (const ValidationError& e) {
    ASSERT_EQ(e.diagnostics().size(), 1u);
    EXPECT_EQ(e.diagnostics()[0].location.line, 2);
    EXPECT_NE(e.diagnostics()[0].location.file.string().find("bad.yaml"), std::string::npos);
    EXPECT_NE(e.diagnostics()[0].message.find("nope"), std::string::npos);
  }
  EXPECT_EQ(one("SELECT to_regclass('base_module') IS NULL"), "t");  // nothing was kept
}

}  // namespace
}  // namespace keel::install
