#include "schema/diff.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "app/error.hpp"
#include "db/catalog.hpp"
#include "modules/discovery.hpp"
#include "modules/graph.hpp"
#include "schema/registry.hpp"
#include "support/addon_tree.hpp"

namespace keel::schema {
namespace {

using Names = std::vector<std::string>;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Registries built from modules written into a temporary addons directory, planned against
// hand-built live schemas.
class SchemaDiffTest : public ::testing::Test {
 protected:
  // Writes module `name` with one entity file holding `yaml`.
  void module(const std::string& name, const Names& depends, const std::string& yaml) {
    std::string manifest = "name: " + name + "\nversion: 1.0.0\nentities: [entities.yaml]\n";
    if (!depends.empty()) {
      manifest += "depends:\n";
      for (const auto& d : depends)
        manifest += "  - " + d + "\n";
    }
    tree_.write(name + "/manifest.yaml", manifest);
    tree_.write(name + "/entities.yaml", yaml);
  }

  // The registry of every module written so far; it must be valid.
  const Registry& registry() {
    auto found = modules::discover({tree_.path()});
    EXPECT_TRUE(found.diagnostics.empty());
    graph_ = std::make_unique<modules::ModuleGraph>(std::move(found.modules));
    Diagnostics diagnostics;
    registry_ = Registry::build(graph_->order(), diagnostics);
    for (const auto& d : diagnostics.items())
      ADD_FAILURE() << d.to_string();
    return *registry_;
  }

  std::vector<Statement> plan(const db::LiveSchema& live = {}) {
    return plan_schema(registry(), live);
  }

  static Names sqls(const std::vector<Statement>& plan) {
    Names out;
    for (const auto& st : plan)
      out.push_back(st.sql);
    return out;
  }

  static std::string dump(const std::vector<Statement>& plan) {
    std::string out;
    for (const auto& st : plan)
      out += st.sql + ";\n";
    return out;
  }

  // The statements whose SQL contains `part`.
  static std::vector<Statement> with(const std::vector<Statement>& plan, const std::string& part) {
    std::vector<Statement> out;
    std::copy_if(plan.begin(), plan.end(), std::back_inserter(out),
                 [&](const Statement& st) { return contains(st.sql, part); });
    return out;
  }

  // The one statement whose SQL contains `part`.
  static Statement one(const std::vector<Statement>& plan, const std::string& part) {
    auto found = with(plan, part);
    EXPECT_EQ(found.size(), 1u) << part << " in:\n" << dump(plan);
    return found.empty() ? Statement{} : found[0];
  }

  // A live table as CREATE TABLE leaves it: id and the audit columns.
  static db::LiveTable audited(const std::string& table) {
    db::LiveTable t;
    t.columns["id"] = {"bigint", true, ""};
    t.columns["created_at"] = {"timestamp with time zone", true, "now()"};
    t.columns["updated_at"] = {"timestamp with time zone", true, "now()"};
    t.columns["created_by"] = {"bigint", false, ""};
    t.columns["updated_by"] = {"bigint", false, ""};
    t.constraints[table + "_pkey"] = "PRIMARY KEY (id)";
    t.indexes.insert(table + "_pkey");
    return t;
  }

  keel::testing::AddonTree tree_;
  std::unique_ptr<modules::ModuleGraph> graph_;
  std::shared_ptr<const Registry> registry_;
};

// ---- types
// ---------------------------------------------------------------------------------------

Field typed(FieldType type) {
  Field f;
  f.name = "f";
  f.type = type;
  return f;
}

TEST(SchemaDiffTypes, SqlTypeFollowsContractRule7ForEveryType) {
  Field s = typed(FieldType::kString);
  EXPECT_EQ(sql_type(s), "text");
  s.max_length = 64;
  EXPECT_EQ(sql_type(s), "character varying(64)");
  EXPECT_EQ(sql_type(typed(FieldType::kText)), "text");
  EXPECT_EQ(sql_type(typed(FieldType::kInteger)), "integer");
  EXPECT_EQ(sql_type(typed(FieldType::kBigint)), "bigint");
  Field d = typed(FieldType::kDecimal);
  EXPECT_EQ(sql_type(d), "numeric");
  d.precision = 14;
  d.scale = 2;
  EXPECT_EQ(sql_type(d), "numeric(14,2)");
  d.scale = 0;
  EXPECT_EQ(sql_type(d), "numeric(14,0)");
  EXPECT_EQ(sql_type(typed(FieldType::kFloat)), "double precision");
  EXPECT_EQ(sql_type(typed(FieldType::kBoolean)), "boolean");
  EXPECT_EQ(sql_type(typed(FieldType::kDate)), "date");
  EXPECT_EQ(sql_type(typed(FieldType::kDatetime)), "timestamp with time zone");
  EXPECT_EQ(sql_type(typed(FieldType::kJson)), "jsonb");
  EXPECT_EQ(sql_type(typed(FieldType::kSelection)), "text");
  EXPECT_EQ(sql_type(typed(FieldType::kEmail)), "character varying(254)");
  EXPECT_EQ(sql_type(typed(FieldType::kUrl)), "text");
  EXPECT_EQ(sql_type(typed(FieldType::kBinary)), "bytea");
  EXPECT_EQ(sql_type(typed(FieldType::kMany2one)), "bigint");
  EXPECT_EQ(sql_type(typed(FieldType::kOne2many)), "");  // no column
  EXPECT_EQ(sql_type(typed(FieldType::kMany2many)), "");
}

TEST(SchemaDiffTypes, ObjectNamesStayWithin63Bytes) {
  EXPECT_EQ(object_name("partner", "name", "key"), "partner_name_key");
  std::string table(63, 't'), column(63, 'c');
  std::string a = object_name(table, column, "fkey");
  std::string b = object_name(table, std::string(62, 'c') + "d", "fkey");
  EXPECT_EQ(a.size(), 63u);
  EXPECT_EQ(a.substr(a.size() - 5), "_fkey");
  EXPECT_NE(a, b);  // the hash tells apart names that differ past the cut
  EXPECT_EQ(a, object_name(table, column, "fkey"));  // stable
  std::string exact = std::string(50, 'x');          // 50 + 1 + 8 + 1 + 3 = 63
  EXPECT_EQ(object_name(exact, "abcdefgh", "key"), exact + "_abcdefgh_key");
}

// ---- fresh tables
// --------------------------------------------------------------------------------

TEST_F(SchemaDiffTest, FreshTableWithIdentityAuditColumnsTypesNotNullAndDefaults) {
  module("shop", {}, R"(entities:
  partner:
    fields:
      name:     {type: string, max_length: 32, required: true}
      notes:    {type: text}
      score:    {type: integer, default: -5}
      visits:   {type: bigint, default: 0}
      balance:  {type: decimal, precision: 12, scale: 2, default: "10.50"}
      ratio:    {type: float, default: 1.5}
      active:   {type: boolean, required: true, default: True}
      since:    {type: date, default: today}
      seen_at:  {type: datetime, default: now}
      born:     {type: date, default: "2000-01-31"}
      extra:    {type: json, default: "{}"}
      email:    {type: email, default: a@b.org}
      site:     {type: url, default: "https://x.org/it's"}
      photo:    {type: binary}
      total:    {type: integer, computed: true}
      kept:     {type: integer, computed: true, store: true}
)");
  auto statements = plan();
  ASSERT_FALSE(statements.empty());
  EXPECT_EQ(statements[0].sql,
            "CREATE TABLE \"partner\" (\n"
            "  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n"
            "  created_at timestamp with time zone NOT NULL DEFAULT now(),\n"
            "  updated_at timestamp with time zone NOT NULL DEFAULT now(),\n"
            "  created_by bigint,\n"
            "  updated_by bigint,\n"
            "  \"name\" character varying(32) NOT NULL,\n"
            "  \"notes\" text,\n"
            "  \"score\" integer DEFAULT -5,\n"
            "  \"visits\" bigint DEFAULT 0,\n"
            "  \"balance\" numeric(12,2) DEFAULT 10.50,\n"
            "  \"ratio\" double precision DEFAULT '1.5'::double precision,\n"
            "  \"active\" boolean NOT NULL DEFAULT true,\n"
            "  \"since\" date DEFAULT CURRENT_DATE,\n"
            "  \"seen_at\" timestamp with time zone DEFAULT now(),\n"
            "  \"born\" date DEFAULT '2000-01-31'::date,\n"
            "  \"extra\" jsonb DEFAULT '{}'::jsonb,\n"
            "  \"email\" character varying(254) DEFAULT 'a@b.org'::character varying,\n"
            "  \"site\" text DEFAULT 'https://x.org/it''s'::text,\n"
            "  \"photo\" bytea,\n"
            "  \"kept\" integer\n"
            ")");
  EXPECT_EQ(statements.size(), 1u) << dump(statements);
  EXPECT_EQ(statements[0].module, "shop");
  EXPECT_TRUE(statements[0].check_sql.empty());
}

TEST_F(SchemaDiffTest, StatementsComeInDependencyFreeOrder) {
  module("shop", {}, R"(entities:
  order:
    fields:
      state:   {type: selection, options: [draft, done], default: draft}
      ref:     {type: string, unique: true}
      partner: {type: many2one, target: partner, index: true}
      tags:    {type: many2many, target: partner}
  partner:
    fields:
      name: {type: string}
)");
  auto statements = plan();
  Names kinds;
  for (const auto& st : statements) {
    if (st.sql.rfind("CREATE TABLE", 0) == 0)
      kinds.push_back("table " + st.creates.at(0).name);
    else if (st.sql.rfind("CREATE INDEX", 0) == 0)
      kinds.push_back("index " + st.creates.at(0).name);
    else if (contains(st.sql, "CHECK"))
      kinds.push_back("check");
    else if (contains(st.sql, "UNIQUE"))
      kinds.push_back("unique");
    else if (contains(st.sql, "FOREIGN KEY"))
      kinds.push_back("fkey");
    else
      kinds.push_back(st.sql);
  }
  // Tables first (both), then CHECKs and unique constraints, foreign keys, indexes, link tables.
  EXPECT_EQ(kinds, (Names{"table order", "table partner", "check", "unique", "fkey",
                          "index order_partner_idx", "table order_tags_rel",
                          "index order_tags_rel_target_id_idx"}))
      << dump(statements);
}

// ---- columns of existing tables
// ------------------------------------------------------------------

TEST_F(SchemaDiffTest, NewColumnOnAnExistingTable) {
  module("shop", {}, R"(entities:
  partner:
    fields:
      name:  {type: string, max_length: 32}
      city:  {type: string, max_length: 40, default: Paris}
      score: {type: integer, required: true, default: 5}
)");
  db::LiveSchema live;
  live.tables["partner"] = audited("partner");
  live.tables["partner"].columns["name"] = {"character varying(32)", false, ""};
  auto statements = plan(live);
  ASSERT_EQ(statements.size(), 2u) << dump(statements);
  EXPECT_EQ(statements[0].sql,
            "ALTER TABLE \"partner\" ADD COLUMN \"city\" character varying(40) DEFAULT "
            "'Paris'::character varying");
  EXPECT_EQ(statements[1].sql,
            "ALTER TABLE \"partner\" ADD COLUMN \"score\" integer DEFAULT 5 NOT NULL");
  for (const auto& st : statements) {
    EXPECT_TRUE(st.check_sql.empty()) << st.sql;  // nullable or with a default: always possible
    EXPECT_EQ(st.module, "shop");
  }
  ASSERT_EQ(statements[0].creates.size(), 1u);
  EXPECT_EQ(statements[0].creates[0].kind, "column");
  EXPECT_EQ(statements[0].creates[0].table, "partner");
  EXPECT_EQ(statements[0].creates[0].name, "city");
  EXPECT_EQ(statements[0].creates[0].module, "shop");
}

TEST_F(SchemaDiffTest, RequiredNewColumnWithoutDefaultIsGuarded) {
  module("shop", {},
         "entities:\n  partner:\n    fields:\n      code: {type: string, required: true}\n");
  db::LiveSchema live;
  live.tables["partner"] = audited("partner");
  auto st = one(plan(live), "ADD COLUMN");
  EXPECT_EQ(st.sql, "ALTER TABLE \"partner\" ADD COLUMN \"code\" text NOT NULL");
  EXPECT_EQ(st.check_sql, "SELECT count(*) FROM \"partner\"");
  EXPECT_EQ(st.check_message,
            "cannot add required column partner.code without a default: the table has {} rows");
}

TEST_F(SchemaDiffTest, SafeWideningsAlterTheType) {
  module("shop", {}, R"(entities:
  item:
    fields:
      code:   {type: string, max_length: 64}
      label:  {type: string}
      qty:    {type: bigint}
      price:  {type: decimal, precision: 12, scale: 2}
      mail:   {type: email}
      free:   {type: decimal}
)");
  db::LiveSchema live;
  auto& t = live.tables["item"] = audited("item");
  t.columns["code"] = {"character varying(32)", false, ""};
  t.columns["label"] = {"character varying(64)", false, ""};
  t.columns["qty"] = {"integer", false, ""};
  t.columns["price"] = {"numeric(10,2)", false, ""};
  t.columns["mail"] = {"character varying(100)", false, ""};
  t.columns["free"] = {"numeric(10,2)", false, ""};
  EXPECT_EQ(sqls(plan(live)),
            (Names{"ALTER TABLE \"item\" ALTER COLUMN \"code\" TYPE character varying(64)",
                   "ALTER TABLE \"item\" ALTER COLUMN \"label\" TYPE text",
                   "ALTER TABLE \"item\" ALTER COLUMN \"qty\" TYPE bigint",
                   "ALTER TABLE \"item\" ALTER COLUMN \"price\" TYPE numeric(12,2)",
                   "ALTER TABLE \"item\" ALTER COLUMN \"mail\" TYPE character varying(254)",
                   "ALTER TABLE \"item\" ALTER COLUMN \"free\" TYPE numeric"}));
}

TEST_F(SchemaDiffTest, UnsafeChangesAreAllReportedAsOneValidationError) {
  module("shop", {}, R"(entities:
  item:
    fields:
      code:  {type: string, max_length: 32}
      qty:   {type: integer}
      notes: {type: integer}
      price: {type: decimal, precision: 12, scale: 1}
      fine:  {type: string, max_length: 10}
)");
  db::LiveSchema live;
  auto& t = live.tables["item"] = audited("item");
  t.columns["code"] = {"character varying(64)", false, ""};
  t.columns["qty"] = {"bigint", false, ""};
  t.columns["notes"] = {"text", false, ""};
  t.columns["price"] = {"numeric(12,2)", false, ""};
  t.columns["fine"] = {"character varying(10)", false, ""};
  const Registry& r = registry();
  try {
    plan_schema(r, live);
    FAIL() << "expected a ValidationError";
  } catch (const ValidationError& e) {
    EXPECT_EQ(e.code(), "schema.unsafe_change");
    EXPECT_TRUE(contains(e.what(), "needs an explicit migration")) << e.what();
    Names messages;
    for (const auto& d : e.diagnostics())
      messages.push_back(d.message);
    EXPECT_EQ(messages,
              (Names{"changing item.code from character varying(64) to character varying(32) "
                     "could lose data",
                     "changing item.qty from bigint to integer could lose data",
                     "changing item.notes from text to integer could lose data",
                     "changing item.price from numeric(12,2) to numeric(12,1) could lose data"}));
    ASSERT_FALSE(e.diagnostics().empty());
    // Each points at the field's declaration.
    EXPECT_EQ(e.diagnostics()[0].location.file, tree_.path() / "shop" / "entities.yaml");
    EXPECT_EQ(e.diagnostics()[0].location.line, 4);
    EXPECT_TRUE(contains(e.diagnostics()[0].hint, "migration"));
  }
}

TEST_F(SchemaDiffTest, NotNullIsSetWithAGuardAndDroppedWhenNoLongerRequired) {
  module("shop", {}, R"(entities:
  item:
    fields:
      code: {type: string, required: true}
      memo: {type: text}
)");
  db::LiveSchema live;
  auto& t = live.tables["item"] = audited("item");
  t.columns["code"] = {"text", false, ""};
  t.columns["memo"] = {"text", true, ""};
  auto statements = plan(live);
  ASSERT_EQ(statements.size(), 2u) << dump(statements);
  EXPECT_EQ(statements[0].sql, "ALTER TABLE \"item\" ALTER COLUMN \"code\" SET NOT NULL");
  EXPECT_EQ(statements[0].check_sql, "SELECT count(*) FROM \"item\" WHERE \"code\" IS NULL");
  EXPECT_EQ(statements[0].check_message, "cannot make item.code required: {} rows have no value");
  EXPECT_TRUE(statements[0].creates.empty());
  EXPECT_EQ(statements[1].sql, "ALTER TABLE \"item\" ALTER COLUMN \"memo\" DROP NOT NULL");
  EXPECT_TRUE(statements[1].check_sql.empty());
}

// The live defaults are what pg_get_expr() printed for these columns on PostgreSQL 15.
TEST_F(SchemaDiffTest, DefaultsAreComparedAsPostgresqlPrintsThem) {
  module("shop", {}, R"(entities:
  item:
    fields:
      a: {type: integer, default: 5}
      b: {type: integer, default: -5}
      c: {type: bigint, default: 7}
      d: {type: string, max_length: 8, default: abc}
      e: {type: selection, options: [x, "it's"], default: "it's"}
      f: {type: date, default: today}
      g: {type: datetime, default: now}
      h: {type: decimal, precision: 6, scale: 2, default: "-1.50"}
      i: {type: boolean, default: false}
      j: {type: float, default: 2.5}
      k: {type: text, default: "(x)::y"}
      l: {type: bigint, default: -3}
      m: {type: string, default: x}
)");
  db::LiveSchema live;
  auto& t = live.tables["item"] = audited("item");
  t.columns["a"] = {"integer", false, "5"};
  t.columns["b"] = {"integer", false, "'-5'::integer"};
  t.columns["c"] = {"bigint", false, "7"};
  t.columns["d"] = {"character varying(8)", false, "'abc'::character varying"};
  t.columns["e"] = {"text", false, "'it''s'::text"};
  t.columns["f"] = {"date", false, "CURRENT_DATE"};
  t.columns["g"] = {"timestamp with time zone", false, "now()"};
  t.columns["h"] = {"numeric(6,2)", false, "'-1.50'::numeric"};
  t.columns["i"] = {"boolean", false, "false"};
  t.columns["j"] = {"double precision", false, "'2.5'::double precision"};
  t.columns["k"] = {"text", false, "'(x)::y'::text"};
  t.columns["l"] = {"bigint", false, "'-3'::integer"};
  t.columns["m"] = {"text", false, "'x'::character varying"};  // as created by earlier plans
  auto statements = plan(live);
  EXPECT_TRUE(with(statements, "DEFAULT").empty()) << dump(statements);
}

TEST_F(SchemaDiffTest, ChangedDefaultsAreSetAndRemovedOnesDropped) {
  module("shop", {}, R"yaml(entities:
  item:
    fields:
      a: {type: integer, default: 6}
      b: {type: string, default: "a(b)"}
      c: {type: integer}
      d: {type: text, default: "x"}
)yaml");
  db::LiveSchema live;
  auto& t = live.tables["item"] = audited("item");
  t.columns["a"] = {"integer", false, "5"};
  t.columns["b"] = {"text", false, "'ab'::text"};  // parentheses inside a literal count
  t.columns["c"] = {"integer", false, "0"};
  t.columns["d"] = {"text", false, "'x'::text || 'y'::text"};
  EXPECT_EQ(sqls(plan(live)),
            (Names{"ALTER TABLE \"item\" ALTER COLUMN \"a\" SET DEFAULT 6",
                   "ALTER TABLE \"item\" ALTER COLUMN \"b\" SET DEFAULT 'a(b)'::text",
                   "ALTER TABLE \"item\" ALTER COLUMN \"c\" DROP DEFAULT",
                   "ALTER TABLE \"item\" ALTER COLUMN \"d\" SET DEFAULT 'x'::text"}));
}

// ---- constraints
// ---------------------------------------------------------------------------------

TEST_F(SchemaDiffTest, SelectionCheckIsReplacedWhenOptionsChangeAndKeptWhenEqual) {
  module("shop", {}, R"(entities:
  item:
    fields:
      state:       {type: selection, options: [draft, done, cancelled]}
      state_check: {type: selection, options: [a, b], unique: true}
)");
  auto fresh = plan();
  auto state = one(fresh, "CHECK (\"state\" IN");
  ASSERT_EQ(state.creates.size(), 1u);
  std::string name = state.creates[0].name;
  EXPECT_EQ(state.creates[0].kind, "constraint");
  ASSERT_EQ(name.size(), 23u) << name;  // item_state_check_ and 6 hex digits of the options
  EXPECT_EQ(name.rfind("item_state_check_", 0), 0u) << name;
  EXPECT_EQ(name.find_first_not_of("0123456789abcdef", 17), std::string::npos) << name;
  EXPECT_EQ(state.sql, "ALTER TABLE \"item\" ADD CONSTRAINT \"" + name +
                           "\" CHECK (\"state\" IN ('draft', 'done', 'cancelled'))");
  auto other = one(fresh, "CHECK (\"state_check\" IN");
  std::string other_name = other.creates.at(0).name;

  // The live table has the same CHECKs: nothing to do.
  db::LiveSchema live;
  auto& t = live.tables["item"] = audited("item");
  t.columns["state"] = {"text", false, ""};
  t.columns["state_check"] = {"text", false, ""};
  t.constraints[name] =
      "CHECK ((state = ANY (ARRAY['draft'::text, 'done'::text, 'cancelled'::text])))";
  t.constraints[other_name] = "CHECK ((state_check = ANY (ARRAY['a'::text, 'b'::text])))";
  t.constraints["item_state_check_key"] = "UNIQUE (state_check)";
  t.indexes.insert("item_state_check_key");
  EXPECT_TRUE(plan(live).empty()) << dump(plan(live));

  // Other options: the old CHECK of `state` goes, a new one comes; `state_check`'s CHECK and
  // its unique constraint (whose names start like state's) are left alone.
  module("shop", {}, R"(entities:
  item:
    fields:
      state:       {type: selection, options: [draft, done]}
      state_check: {type: selection, options: [a, b], unique: true}
)");
  auto changed = plan(live);
  ASSERT_EQ(changed.size(), 2u) << dump(changed);
  EXPECT_EQ(changed[0].sql, "ALTER TABLE \"item\" DROP CONSTRAINT \"" + name + "\"");
  EXPECT_TRUE(changed[0].creates.empty());
  EXPECT_TRUE(contains(changed[1].sql, "CHECK (\"state\" IN ('draft', 'done'))"));
  EXPECT_NE(changed[1].creates.at(0).name, name);
  EXPECT_EQ(changed[1].creates.at(0).name.rfind("item_state_check_", 0), 0u);
}

TEST_F(SchemaDiffTest, LongSelectionCheckNamesAreReplacedToo) {
  std::string table(60, 't');
  module("shop", {},
         "entities:\n  " + table +
             ":\n    fields:\n      state: {type: selection, options: [a, b]}\n");
  auto fresh = plan();
  auto check = one(fresh, "CHECK (");
  std::string name = check.creates.at(0).name;
  EXPECT_LE(name.size(), 63u);
  db::LiveSchema live;
  auto& t = live.tables[table] = audited(table);
  t.columns["state"] = {"text", false, ""};
  t.constraints[name] = "CHECK ((state = ANY (ARRAY['a'::text, 'b'::text])))";
  EXPECT_TRUE(plan(live).empty());
  module("shop", {},
         "entities:\n  " + table +
             ":\n    fields:\n      state: {type: selection, options: [a, b, c]}\n");
  auto changed = plan(live);
  ASSERT_EQ(changed.size(), 2u) << dump(changed);
  EXPECT_EQ(changed[0].sql, "ALTER TABLE \"" + table + "\" DROP CONSTRAINT \"" + name + "\"");
  EXPECT_LE(changed[1].creates.at(0).name.size(), 63u);
}

TEST_F(SchemaDiffTest, UniqueConstraintWithADuplicateGuard) {
  module("shop", {}, R"(entities:
  partner:
    fields:
      name: {type: string, max_length: 32, unique: true, index: true}
      code: {type: string, unique: true}
)");
  db::LiveSchema live;
  auto& t = live.tables["partner"] = audited("partner");
  t.columns["name"] = {"character varying(32)", false, ""};
  t.columns["code"] = {"text", false, ""};
  t.constraints["partner_code_key"] = "UNIQUE (code)";
  t.indexes.insert("partner_code_key");
  auto statements = plan(live);
  ASSERT_EQ(statements.size(), 1u) << dump(statements);  // no extra index for a unique field
  const Statement& st = statements[0];
  EXPECT_EQ(st.sql,
            "ALTER TABLE \"partner\" ADD CONSTRAINT \"partner_name_key\" UNIQUE (\"name\")");
  EXPECT_EQ(st.check_sql,
            "SELECT count(*) FROM (SELECT 1 FROM \"partner\" WHERE \"name\" IS NOT NULL GROUP BY "
            "\"name\" HAVING count(*) > 1) d");
  EXPECT_EQ(st.check_message, "cannot make partner.name unique: {} values appear more than once");
  ASSERT_EQ(st.creates.size(), 1u);
  EXPECT_EQ(st.creates[0].kind, "constraint");
  EXPECT_EQ(st.creates[0].table, "partner");
  EXPECT_EQ(st.creates[0].name, "partner_name_key");
}

TEST_F(SchemaDiffTest, ForeignKeysWithEachOnDelete) {
  module("shop", {}, R"(entities:
  partner:
    fields:
      name: {type: string}
  order:
    fields:
      a: {type: many2one, target: partner}
      b: {type: many2one, target: partner, on_delete: restrict}
      c: {type: many2one, target: partner, on_delete: cascade}
      d: {type: many2one, target: partner, on_delete: set_null}
      e: {type: many2one, target: order, computed: true}
)");
  auto statements = plan();
  auto fks = with(statements, "FOREIGN KEY");
  EXPECT_EQ(sqls(fks),
            (Names{"ALTER TABLE \"order\" ADD CONSTRAINT \"order_a_fkey\" FOREIGN KEY (\"a\") "
                   "REFERENCES \"partner\" (id) ON DELETE RESTRICT",
                   "ALTER TABLE \"order\" ADD CONSTRAINT \"order_b_fkey\" FOREIGN KEY (\"b\") "
                   "REFERENCES \"partner\" (id) ON DELETE RESTRICT",
                   "ALTER TABLE \"order\" ADD CONSTRAINT \"order_c_fkey\" FOREIGN KEY (\"c\") "
                   "REFERENCES \"partner\" (id) ON DELETE CASCADE",
                   "ALTER TABLE \"order\" ADD CONSTRAINT \"order_d_fkey\" FOREIGN KEY (\"d\") "
                   "REFERENCES \"partner\" (id) ON DELETE SET NULL"}));
  for (const auto& fk : fks) {
    ASSERT_EQ(fk.creates.size(), 1u);
    EXPECT_EQ(fk.creates[0].kind, "constraint");
    EXPECT_EQ(fk.creates[0].table, "order");
  }
}

TEST_F(SchemaDiffTest, ForeignKeyIsReplacedWhenOnDeleteChangesAndKeptOtherwise) {
  module("shop", {}, R"(entities:
  partner:
    fields:
      name: {type: string}
  order:
    fields:
      a: {type: many2one, target: partner}
      b: {type: many2one, target: partner, on_delete: cascade}
      c: {type: many2one, target: partner, on_delete: set_null}
      d: {type: many2one, target: partner}
)");
  db::LiveSchema live;
  live.tables["partner"] = audited("partner");
  live.tables["partner"].columns["name"] = {"text", false, ""};
  auto& t = live.tables["order"] = audited("order");
  for (const char* c : {"a", "b", "c", "d"})
    t.columns[c] = {"bigint", false, ""};
  t.constraints["order_a_fkey"] = "FOREIGN KEY (a) REFERENCES partner(id) ON DELETE RESTRICT";
  t.constraints["order_b_fkey"] = "FOREIGN KEY (b) REFERENCES partner(id) ON DELETE CASCADE";
  t.constraints["order_c_fkey"] = "FOREIGN KEY (c) REFERENCES partner(id) ON DELETE CASCADE";
  t.constraints["order_d_fkey"] = "FOREIGN KEY (d) REFERENCES \"order\"(id) ON DELETE RESTRICT";
  EXPECT_EQ(sqls(plan(live)),
            (Names{"ALTER TABLE \"order\" DROP CONSTRAINT \"order_c_fkey\"",
                   "ALTER TABLE \"order\" ADD CONSTRAINT \"order_c_fkey\" FOREIGN KEY (\"c\") "
                   "REFERENCES \"partner\" (id) ON DELETE SET NULL",
                   "ALTER TABLE \"order\" DROP CONSTRAINT \"order_d_fkey\"",
                   "ALTER TABLE \"order\" ADD CONSTRAINT \"order_d_fkey\" FOREIGN KEY (\"d\") "
                   "REFERENCES \"partner\" (id) ON DELETE RESTRICT"}));
}

TEST_F(SchemaDiffTest, IndexesForIndexedColumnsOnly) {
  module("shop", {}, R"(entities:
  partner:
    fields:
      city:    {type: string, index: true}
      zip:     {type: string, index: true}
      country: {type: many2one, target: partner, index: true}
      note:    {type: text}
      code:    {type: string, unique: true, index: true}
      virtual: {type: integer, computed: true, index: true}
)");
  db::LiveSchema live;
  auto& t = live.tables["partner"] = audited("partner");
  for (const char* c : {"city", "zip", "country", "note", "code"})
    t.columns[c] = {c == std::string("country") ? "bigint" : "text", false, ""};
  t.constraints["partner_country_fkey"] =
      "FOREIGN KEY (country) REFERENCES partner(id) ON DELETE RESTRICT";
  t.constraints["partner_code_key"] = "UNIQUE (code)";
  t.indexes.insert("partner_code_key");
  t.indexes.insert("partner_zip_idx");
  auto statements = plan(live);
  EXPECT_EQ(sqls(statements),
            (Names{"CREATE INDEX \"partner_city_idx\" ON \"partner\" (\"city\")",
                   "CREATE INDEX \"partner_country_idx\" ON \"partner\" (\"country\")"}));
  ASSERT_EQ(statements.size(), 2u);
  EXPECT_EQ(statements[0].creates.at(0).kind, "index");
  EXPECT_EQ(statements[0].creates.at(0).table, "partner");
  EXPECT_EQ(statements[0].creates.at(0).name, "partner_city_idx");
}

TEST_F(SchemaDiffTest, Many2manyLinkTable) {
  module("shop", {}, R"(entities:
  partner:
    fields:
      tags: {type: many2many, target: tag}
  tag:
    fields:
      name: {type: string}
)");
  auto statements = plan();
  auto link = one(statements, "CREATE TABLE \"partner_tags_rel\"");
  const Registry& reg = registry();
  const Entity& partner = *reg.entity("partner");
  EXPECT_EQ(link_table(reg, partner, *partner.field("tags")), "partner_tags_rel");
  EXPECT_EQ(link.sql,
            "CREATE TABLE \"partner_tags_rel\" (\n"
            "  source_id bigint NOT NULL REFERENCES \"partner\" (id) ON DELETE CASCADE,\n"
            "  target_id bigint NOT NULL REFERENCES \"tag\" (id) ON DELETE CASCADE,\n"
            "  PRIMARY KEY (source_id, target_id)\n"
            ")");
  ASSERT_EQ(link.creates.size(), 1u);
  EXPECT_EQ(link.creates[0].kind, "table");
  EXPECT_EQ(link.creates[0].name, "partner_tags_rel");
  auto index = one(statements, "CREATE INDEX");
  EXPECT_EQ(index.sql,
            "CREATE INDEX \"partner_tags_rel_target_id_idx\" ON \"partner_tags_rel\" (target_id)");
  EXPECT_EQ(index.creates.at(0).table, "partner_tags_rel");
  // The partner table has no column for the many2many.
  EXPECT_FALSE(contains(one(statements, "CREATE TABLE \"partner\"").sql, "tags"));

  db::LiveSchema live;
  live.tables["partner"] = audited("partner");
  live.tables["tag"] = audited("tag");
  live.tables["tag"].columns["name"] = {"text", false, ""};
  auto& rel = live.tables["partner_tags_rel"];
  rel.columns["source_id"] = {"bigint", true, ""};
  rel.columns["target_id"] = {"bigint", true, ""};
  rel.constraints["partner_tags_rel_source_id_fkey"] =
      "FOREIGN KEY (source_id) REFERENCES partner(id) ON DELETE CASCADE";
  EXPECT_TRUE(plan(live).empty()) << dump(plan(live));
}

TEST_F(SchemaDiffTest, LongNamesStayWithin63Bytes) {
  std::string table(63, 'p'), field(63, 'f'), other(63, 'g');
  module("shop", {},
         "entities:\n  " + table + ":\n    fields:\n      " + field +
             ": {type: many2one, target: " + table + ", index: true}\n      " + other +
             ": {type: selection, options: [a], unique: true}\n      " + std::string(62, 'f') +
             "x: {type: many2many, target: " + table + "}\n      " + std::string(62, 'f') +
             "y: {type: many2many, target: " + table + "}\n");
  auto statements = plan();
  Names names;
  for (const auto& st : statements)
    for (const auto& o : st.creates) {
      EXPECT_LE(o.name.size(), 63u) << o.name;
      EXPECT_LE(o.table.size(), 63u) << o.table;
      if (o.kind != "column") names.push_back(o.name);
    }
  // table, fkey, check, key, idx, two link tables and their indexes: all different
  EXPECT_EQ(names.size(), 9u) << dump(statements);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::unique(names.begin(), names.end()), names.end()) << dump(statements);
}

TEST_F(SchemaDiffTest, IdentifiersAreQuoted) {
  module("shop", {}, R"(entities:
  order:
    fields:
      select: {type: selection, options: [a, "b'c"], required: true, unique: true, index: true}
      user:   {type: many2one, target: order}
      group:  {type: many2many, target: order}
)");
  auto statements = plan();
  EXPECT_TRUE(contains(statements[0].sql, "CREATE TABLE \"order\" ("));
  EXPECT_TRUE(contains(statements[0].sql, "\"select\" text NOT NULL"));
  EXPECT_TRUE(contains(statements[0].sql, "\"user\" bigint"));
  EXPECT_TRUE(contains(one(statements, "CHECK").sql, "CHECK (\"select\" IN ('a', 'b''c'))"));
  auto unique = one(statements, "UNIQUE");
  EXPECT_EQ(unique.sql,
            "ALTER TABLE \"order\" ADD CONSTRAINT \"order_select_key\" UNIQUE (\"select\")");
  EXPECT_TRUE(contains(unique.check_sql, "GROUP BY \"select\""));
  EXPECT_TRUE(contains(one(statements, "FOREIGN KEY").sql,
                       "FOREIGN KEY (\"user\") REFERENCES \"order\" (id)"));
  EXPECT_TRUE(contains(one(statements, "CREATE TABLE \"order_group_rel\"").sql,
                       "REFERENCES \"order\" (id)"));

  db::LiveSchema live;
  auto& t = live.tables["order"] = audited("order");
  t.columns["user"] = {"bigint", false, ""};
  auto add = one(plan(live), "ADD COLUMN");
  EXPECT_EQ(add.sql, "ALTER TABLE \"order\" ADD COLUMN \"select\" text NOT NULL");
  EXPECT_EQ(add.check_sql, "SELECT count(*) FROM \"order\"");
}

// ---- idempotence
// ---------------------------------------------------------------------------------

TEST_F(SchemaDiffTest, ALiveSchemaEqualToThePlanYieldsNoStatement) {
  module("shop", {}, R"(entities:
  partner:
    fields:
      name:   {type: string, max_length: 32, required: true, unique: true}
      city:   {type: string, max_length: 40, index: true}
      score:  {type: integer, default: 5}
      state:  {type: selection, options: [draft, done], default: draft, required: true}
      total:  {type: decimal, precision: 10, scale: 2, default: "0"}
      paid:   {type: boolean, default: false}
      day:    {type: date, default: today}
      parent: {type: many2one, target: partner, on_delete: set_null}
      tags:   {type: many2many, target: partner}
      lines:  {type: one2many, target: partner, inverse: parent}
      count:  {type: integer, computed: true}
)");
  auto fresh = plan();
  std::string check = one(fresh, "CHECK").creates.at(0).name;
  EXPECT_EQ(check.rfind("partner_state_check_", 0), 0u);

  // What PostgreSQL shows after running `fresh` (format_type, pg_get_expr,
  // pg_get_constraintdef, index names).
  db::LiveSchema live;
  auto& t = live.tables["partner"] = audited("partner");
  t.columns["name"] = {"character varying(32)", true, ""};
  t.columns["city"] = {"character varying(40)", false, ""};
  t.columns["score"] = {"integer", false, "5"};
  t.columns["state"] = {"text", true, "'draft'::text"};
  t.columns["total"] = {"numeric(10,2)", false, "0"};
  t.columns["paid"] = {"boolean", false, "false"};
  t.columns["day"] = {"date", false, "CURRENT_DATE"};
  t.columns["parent"] = {"bigint", false, ""};
  t.constraints[check] = "CHECK ((state = ANY (ARRAY['draft'::text, 'done'::text])))";
  t.constraints["partner_name_key"] = "UNIQUE (name)";
  t.constraints["partner_parent_fkey"] =
      "FOREIGN KEY (parent) REFERENCES partner(id) ON DELETE SET NULL";
  t.indexes.insert("partner_name_key");
  t.indexes.insert("partner_city_idx");
  auto& rel = live.tables["partner_tags_rel"];
  rel.columns["source_id"] = {"bigint", true, ""};
  rel.columns["target_id"] = {"bigint", true, ""};
  rel.constraints["partner_tags_rel_pkey"] = "PRIMARY KEY (source_id, target_id)";
  rel.constraints["partner_tags_rel_source_id_fkey"] =
      "FOREIGN KEY (source_id) REFERENCES partner(id) ON DELETE CASCADE";
  rel.constraints["partner_tags_rel_target_id_fkey"] =
      "FOREIGN KEY (target_id) REFERENCES partner(id) ON DELETE CASCADE";
  rel.indexes = {"partner_tags_rel_pkey", "partner_tags_rel_target_id_idx"};

  auto again = plan(live);
  EXPECT_TRUE(again.empty()) << dump(again);

  // Every object of the fresh plan exists in that live schema.
  for (const auto& st : fresh)
    for (const auto& o : st.creates) {
      ASSERT_TRUE(live.has_table(o.table)) << o.table;
      const auto& lt = live.tables.at(o.table);
      if (o.kind == "column") {
        EXPECT_TRUE(lt.columns.count(o.name)) << o.name;
      }
      if (o.kind == "constraint") {
        EXPECT_TRUE(lt.constraints.count(o.name)) << o.name;
      }
      if (o.kind == "index") {
        EXPECT_TRUE(lt.indexes.count(o.name)) << o.name;
      }
    }
}

// ---- ownership
// ------------------------------------------------------------------------------------

TEST_F(SchemaDiffTest, CreatesNameTheOwnerOfEveryObject) {
  module("base", {}, R"(entities:
  contact:
    fields:
      name:    {type: string, max_length: 64}
      email:   {type: email}
      country: {type: many2one, target: contact, index: true}
)");
  module("crm", {"base"}, R"(extend:
  contact:
    fields:
      email:   {unique: true}
      country: {label: Land}
      stage:   {type: selection, options: [new, won]}
      tags:    {type: many2many, target: contact}
)");
  auto fresh = plan();
  auto table = one(fresh, "CREATE TABLE \"contact\"");
  EXPECT_EQ(table.module, "base");
  std::vector<std::pair<std::string, std::string>> owners;  // kind:name -> module
  for (const auto& o : table.creates)
    owners.emplace_back(o.kind + ":" + o.name, o.module);
  EXPECT_EQ(owners, (std::vector<std::pair<std::string, std::string>>{{"table:contact", "base"},
                                                                      {"column:name", "base"},
                                                                      {"column:email", "base"},
                                                                      {"column:country", "base"},
                                                                      {"column:stage", "crm"}}));
  auto unique = one(fresh, "UNIQUE");
  EXPECT_EQ(unique.module, "crm");  // crm asked for it: uninstalling crm drops it
  EXPECT_EQ(unique.creates.at(0).module, "crm");
  auto fk = one(fresh, "FOREIGN KEY");
  EXPECT_EQ(fk.creates.at(0).module, "base");  // a label change does not take the key over
  EXPECT_EQ(one(fresh, "CREATE INDEX \"contact_country_idx\"").creates.at(0).module, "base");
  EXPECT_EQ(one(fresh, "CHECK").creates.at(0).module, "crm");
  auto rel = one(fresh, "CREATE TABLE \"contact_tags_rel\"");
  EXPECT_EQ(rel.module, "crm");
  EXPECT_EQ(rel.creates.at(0).module, "crm");
  EXPECT_EQ(one(fresh, "CREATE INDEX \"contact_tags_rel").creates.at(0).module, "crm");

  // On an existing table, the column crm adds is crm's.
  db::LiveSchema live;
  auto& t = live.tables["contact"] = audited("contact");
  t.columns["name"] = {"character varying(64)", false, ""};
  t.columns["email"] = {"character varying(254)", false, ""};
  t.columns["country"] = {"bigint", false, ""};
  t.constraints["contact_country_fkey"] =
      "FOREIGN KEY (country) REFERENCES contact(id) ON DELETE RESTRICT";
  t.indexes.insert("contact_country_idx");
  auto upgrade = plan(live);
  auto add = one(upgrade, "ADD COLUMN \"stage\"");
  EXPECT_EQ(add.module, "crm");
  ASSERT_EQ(add.creates.size(), 1u);
  EXPECT_EQ(add.creates[0].kind, "column");
  EXPECT_EQ(add.creates[0].table, "contact");
  EXPECT_EQ(add.creates[0].name, "stage");
  EXPECT_EQ(add.creates[0].module, "crm");
  EXPECT_EQ(one(upgrade, "UNIQUE").creates.at(0).module, "crm");
}

TEST_F(SchemaDiffTest, AlterStatementsRunForTheModuleThatAskedForTheChange) {
  module("base", {}, R"(entities:
  contact:
    fields:
      name:  {type: string, max_length: 32}
      email: {type: email}
)");
  module("crm", {"base"}, R"(extend:
  contact:
    fields:
      name:  {max_length: 64}
      email: {required: true, label: Mail}
)");
  db::LiveSchema live;
  auto& t = live.tables["contact"] = audited("contact");
  t.columns["name"] = {"character varying(32)", false, ""};
  t.columns["email"] = {"character varying(254)", false, ""};
  auto statements = plan(live);
  ASSERT_EQ(statements.size(), 2u) << dump(statements);
  EXPECT_EQ(statements[0].sql,
            "ALTER TABLE \"contact\" ALTER COLUMN \"name\" TYPE character varying(64)");
  EXPECT_EQ(statements[0].module, "crm");
  EXPECT_EQ(statements[1].sql, "ALTER TABLE \"contact\" ALTER COLUMN \"email\" SET NOT NULL");
  EXPECT_EQ(statements[1].module, "crm");
}

// ---- names shared by the whole schema
// ------------------------------------------------------------

const char* kCollidingIndexes = R"(entities:
  sale:
    fields:
      order_date: {type: date, index: true}
      order_ref:  {type: string, unique: true}
  sale_order:
    fields:
      date: {type: date, index: true}
      ref:  {type: string, unique: true}
)";

TEST_F(SchemaDiffTest, IndexNamesThatWouldCollideGetHashedNames) {
  module("shop", {}, kCollidingIndexes);
  auto fresh = plan();
  Names names;
  for (const auto& st : fresh)
    for (const auto& o : st.creates)
      if (o.kind == "index" || (o.kind == "constraint" && contains(st.sql, "UNIQUE")))
        names.push_back(o.name);
  ASSERT_EQ(names.size(), 4u) << dump(fresh);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::unique(names.begin(), names.end()), names.end()) << dump(fresh);
  for (const auto& n : names) {
    EXPECT_NE(n, "sale_order_date_idx");  // both want it: neither gets it
    EXPECT_NE(n, "sale_order_ref_key");
    EXPECT_LE(n.size(), 63u);
  }
}

TEST_F(SchemaDiffTest, AnIndexNameTheDatabaseHasIsKeptAndTheNewcomerYields) {
  module("shop", {}, kCollidingIndexes);
  // `sale` was installed first, with the natural names.
  db::LiveSchema live;
  auto& sale = live.tables["sale"] = audited("sale");
  sale.columns["order_date"] = {"date", false, ""};
  sale.columns["order_ref"] = {"text", false, ""};
  sale.constraints["sale_order_ref_key"] = "UNIQUE (order_ref)";
  sale.indexes = {"sale_pkey", "sale_order_date_idx", "sale_order_ref_key"};
  auto statements = plan(live);
  auto index = one(statements, "CREATE INDEX");
  auto unique = one(statements, "UNIQUE");
  EXPECT_TRUE(contains(index.sql, "ON \"sale_order\" (\"date\")")) << index.sql;
  EXPECT_TRUE(contains(unique.sql, "ALTER TABLE \"sale_order\"")) << unique.sql;
  std::string index_name = index.creates.at(0).name, unique_name = unique.creates.at(0).name;
  EXPECT_NE(index_name, "sale_order_date_idx");
  EXPECT_NE(unique_name, "sale_order_ref_key");

  // Once created, every name is found again: nothing more to do.
  auto& order = live.tables["sale_order"] = audited("sale_order");
  order.columns["date"] = {"date", false, ""};
  order.columns["ref"] = {"text", false, ""};
  order.constraints[unique_name] = "UNIQUE (ref)";
  order.indexes.insert(unique_name);
  order.indexes.insert(index_name);
  EXPECT_TRUE(plan(live).empty()) << dump(plan(live));

  // Even after `sale` is gone from the registry, sale_order keeps its names.
  module("shop", {}, R"(entities:
  sale_order:
    fields:
      date: {type: date, index: true}
      ref:  {type: string, unique: true}
)");
  live.tables.erase("sale");
  EXPECT_TRUE(plan(live).empty()) << dump(plan(live));
}

TEST_F(SchemaDiffTest, LinkTableNamesThatWouldCollideGetHashedNames) {
  module("shop", {}, R"(entities:
  a:
    fields:
      b_c: {type: many2many, target: a}
  a_b:
    fields:
      c: {type: many2many, target: a}
)");
  auto fresh = plan();
  auto links = with(fresh, "PRIMARY KEY (source_id, target_id)");
  ASSERT_EQ(links.size(), 2u) << dump(fresh);
  EXPECT_NE(links[0].creates.at(0).name, links[1].creates.at(0).name);
  EXPECT_NE(links[0].creates.at(0).name, "a_b_c_rel");
  EXPECT_NE(links[1].creates.at(0).name, "a_b_c_rel");

  // RecordService finds them where the planner put them.
  const Registry& reg = registry();
  for (const auto& link : links) {
    bool found = false;
    for (const auto& e : reg.entities())
      for (const auto& f : e.fields)
        if (f.type == FieldType::kMany2many && link_table(reg, e, f) == link.creates.at(0).name &&
            contains(link.sql, "REFERENCES \"" + e.table + "\" (id) ON DELETE CASCADE,\n  target"))
          found = true;
    EXPECT_TRUE(found) << link.sql;
  }

  // `a` was there first with a_b_c_rel: it keeps it, a_b's link table is another one.
  db::LiveSchema live;
  live.tables["a"] = audited("a");
  auto& rel = live.tables["a_b_c_rel"];
  rel.columns["source_id"] = {"bigint", true, ""};
  rel.columns["target_id"] = {"bigint", true, ""};
  rel.constraints["a_b_c_rel_source_id_fkey"] =
      "FOREIGN KEY (source_id) REFERENCES a(id) ON DELETE CASCADE";
  auto statements = plan(live);
  auto link = one(statements, "PRIMARY KEY (source_id, target_id)");
  EXPECT_TRUE(contains(link.sql, "source_id bigint NOT NULL REFERENCES \"a_b\" (id)")) << link.sql;
  EXPECT_NE(link.creates.at(0).name, "a_b_c_rel");
}

}  // namespace
}  // namespace keel::schema
