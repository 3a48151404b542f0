#include "schema/registry.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "app/error.hpp"
#include "modules/discovery.hpp"
#include "modules/graph.hpp"
#include "modules/manifest.hpp"
#include "query/filter.hpp"
#include "schema/entity.hpp"
#include "support/addon_tree.hpp"

namespace keel::schema {
namespace {
namespace fs = std::filesystem;

using Names = std::vector<std::string>;
using Files = std::vector<std::pair<std::string, std::string>>;  // entities/<name> -> YAML

// The 1-based line and column of `token` on line `line` of `text` (0 when it is not there):
// where a diagnostic about that token must point.
std::pair<int, int> place(const std::string& text, int line, const std::string& token) {
  size_t start = 0;
  for (int i = 1; i < line; ++i) {
    start = text.find('\n', start);
    if (start == std::string::npos) return {0, 0};
    ++start;
  }
  std::string row = text.substr(start, text.find('\n', start) - start);
  size_t column = row.find(token);
  return {line, column == std::string::npos ? 0 : static_cast<int>(column) + 1};
}

// Modules written into a temporary addons directory, discovered, ordered by the module graph
// and merged into a Registry.
class RegistryTest : public ::testing::Test {
 protected:
  // Writes module `name` (version 1.0.0) with its entity files under entities/ (a file named
  // "security/<x>" goes to the module's security files instead).
  void module(const std::string& name, const Names& depends, const Files& files) {
    std::string manifest = "name: " + name +
                           "\nversion: 1.0.0\nentities: [entities/*.yaml]\n"
                           "security: [security/*.yaml]\n";
    if (!depends.empty()) {
      manifest += "depends:\n";
      for (const auto& d : depends)
        manifest += "  - " + d + "\n";
    }
    tree_.write(name + "/manifest.yaml", manifest);
    for (const auto& [file, text] : files)
      tree_.write(name + (file.rfind("security/", 0) == 0 ? "/" : "/entities/") + file, text);
  }

  fs::path file(const std::string& module, const std::string& name) const {
    return tree_.path() / module / "entities" / name;
  }

  // Discovers the modules, orders them and builds the registry; the manifests must be valid.
  std::shared_ptr<const Registry> build() {
    auto found = modules::discover({tree_.path()});
    for (const auto& d : found.diagnostics.items())
      ADD_FAILURE() << d.to_string();
    graph_ = std::make_unique<modules::ModuleGraph>(std::move(found.modules));
    for (const auto& d : graph_->diagnostics().items())
      ADD_FAILURE() << d.to_string();
    auto registry = Registry::build(graph_->order(), diagnostics_);
    EXPECT_NE(registry, nullptr);
    return registry;
  }

  // Builds and expects no diagnostic at all.
  std::shared_ptr<const Registry> build_clean() {
    auto registry = build();
    EXPECT_TRUE(diagnostics_.empty()) << dump();
    return registry;
  }

  std::string dump() const {
    std::string out;
    for (const auto& d : diagnostics_.items())
      out += d.to_string() + "\n";
    return out;
  }

  // The errors whose message contains `part`.
  std::vector<Diagnostic> errors_with(const std::string& part) const {
    std::vector<Diagnostic> out;
    for (const auto& d : diagnostics_.errors())
      if (d.message.find(part) != std::string::npos) out.push_back(d);
    return out;
  }

  // Expects exactly one error containing `part`, at file:line:col, and returns it.
  Diagnostic expect_error(const std::string& part, const fs::path& where, std::pair<int, int> at) {
    auto found = errors_with(part);
    EXPECT_EQ(found.size(), 1u) << "\"" << part << "\" in:\n" << dump();
    if (found.empty()) return {};
    EXPECT_EQ(found[0].location.file, where) << found[0].to_string();
    EXPECT_EQ(found[0].location.line, at.first) << found[0].to_string();
    EXPECT_EQ(found[0].location.column, at.second) << found[0].to_string();
    EXPECT_NE(at.second, 0) << "bad test: token not found for " << part;
    return found[0];
  }

  // Expects exactly `count` errors (and no warning).
  void expect_errors(size_t count) const {
    EXPECT_EQ(diagnostics_.errors().size(), count) << dump();
    EXPECT_EQ(diagnostics_.items().size(), diagnostics_.errors().size()) << dump();
  }

  static Names field_names(const Entity& e) {
    Names out;
    for (const auto& f : e.fields)
      out.push_back(f.name);
    return out;
  }

  keel::testing::AddonTree tree_;
  std::unique_ptr<modules::ModuleGraph> graph_;
  Diagnostics diagnostics_;
};

// ---- parsing ------------------------------------------------------------------------------------

const char* kEveryType = R"(entities:
  sale_order:
    label: Sales order
    title: ref
    order: date desc, id desc
    table: orders
    fields:
      ref:      {type: string, required: true, unique: true, max_length: 64, label: Reference, help: Shown on invoices}
      partner:  {type: many2one, target: partner, required: true, on_delete: cascade, index: true}
      notes:    {type: text, roles: [sales.manager, sales.admin]}
      count:    {type: integer, default: -5, readonly: true}
      big:      {type: bigint, default: "9000000000"}
      amount:   {type: decimal, precision: 14, scale: 2, default: "12.50"}
      ratio:    {type: float, default: 1.5e3}
      paid:     {type: boolean, default: false}
      date:     {type: date, default: today}
      sent_at:  {type: datetime, default: "2024-02-29T23:59:59+01:00"}
      payload:  {type: json}
      state:    {type: selection, options: [draft, done], default: draft}
      email:    {type: email, default: sales@example.com}
      website:  {type: url}
      scan:     {type: binary}
      lines:    {type: one2many, target: sale_line, inverse: order}
      tags:     {type: many2many, target: tag}
      total:    {type: integer, computed: true, store: true}
      margin:   {type: decimal, computed: true}
  sale_line:
    fields:
      order:    {type: many2one, target: sale_order, on_delete: set_null}
  partner:
    fields:
      name:     {type: string}
  tag:
    fields:
      label:    {type: string, max_length: 32}
)";

TEST_F(RegistryTest, ParsesEveryFieldTypeAndAttribute) {
  module(
      "sales", {},
      {{"sales.yaml", kEveryType}, {"security/roles.yaml", "roles: {manager: {}, admin: {}}\n"}});
  auto registry = build_clean();
  const Entity* e = registry->entity("sale_order");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "sale_order");
  EXPECT_EQ(e->table, "orders");
  EXPECT_EQ(e->label, "Sales order");
  EXPECT_EQ(e->title, "ref");
  EXPECT_EQ(e->order, "date desc, id desc");
  EXPECT_EQ(e->module, "sales");
  EXPECT_TRUE(e->extended_by.empty());
  EXPECT_EQ(e->location.file, file("sales", "sales.yaml"));
  EXPECT_EQ(e->location.line, 2);
  EXPECT_EQ(e->location.column, 3);
  EXPECT_EQ(field_names(*e), (Names{"ref", "partner", "notes", "count", "big", "amount", "ratio",
                                    "paid", "date", "sent_at", "payload", "state", "email",
                                    "website", "scan", "lines", "tags", "total", "margin"}));

  const Field& ref = *e->field("ref");
  EXPECT_EQ(ref.type, FieldType::kString);
  EXPECT_TRUE(ref.required);
  EXPECT_TRUE(ref.unique);
  EXPECT_FALSE(ref.index);
  EXPECT_FALSE(ref.readonly);
  EXPECT_EQ(ref.max_length, 64);
  EXPECT_EQ(ref.label, "Reference");
  EXPECT_EQ(ref.help, "Shown on invoices");
  EXPECT_EQ(ref.module, "sales");
  EXPECT_TRUE(ref.changed_by.empty());
  EXPECT_EQ(ref.location.line, 8);
  EXPECT_EQ(ref.location.column, 7);
  EXPECT_TRUE(ref.has_column());

  const Field& partner = *e->field("partner");
  EXPECT_EQ(partner.type, FieldType::kMany2one);
  EXPECT_EQ(partner.target, "partner");
  EXPECT_EQ(partner.on_delete, OnDelete::kCascade);
  EXPECT_TRUE(partner.index);
  EXPECT_TRUE(partner.required);
  EXPECT_EQ(partner.label, "partner");  // label defaults to the name

  EXPECT_EQ(e->field("notes")->type, FieldType::kText);
  EXPECT_EQ(e->field("notes")->roles, (Names{"sales.manager", "sales.admin"}));
  EXPECT_EQ(e->field("count")->type, FieldType::kInteger);
  EXPECT_EQ(e->field("count")->default_value, "-5");
  EXPECT_TRUE(e->field("count")->readonly);
  EXPECT_EQ(e->field("big")->type, FieldType::kBigint);
  EXPECT_EQ(e->field("big")->default_value, "9000000000");
  const Field& amount = *e->field("amount");
  EXPECT_EQ(amount.type, FieldType::kDecimal);
  EXPECT_EQ(amount.precision, 14);
  EXPECT_EQ(amount.scale, 2);
  EXPECT_EQ(amount.default_value, "12.50");
  EXPECT_EQ(e->field("ratio")->type, FieldType::kFloat);
  EXPECT_EQ(e->field("paid")->type, FieldType::kBoolean);
  EXPECT_EQ(e->field("paid")->default_value, "false");
  EXPECT_EQ(e->field("date")->type, FieldType::kDate);
  EXPECT_EQ(e->field("date")->default_value, "today");
  EXPECT_EQ(e->field("sent_at")->type, FieldType::kDatetime);
  EXPECT_EQ(e->field("payload")->type, FieldType::kJson);
  EXPECT_FALSE(e->field("payload")->default_value.has_value());
  EXPECT_EQ(e->field("state")->type, FieldType::kSelection);
  EXPECT_EQ(e->field("state")->options, (Names{"draft", "done"}));
  EXPECT_EQ(e->field("email")->type, FieldType::kEmail);
  EXPECT_EQ(e->field("website")->type, FieldType::kUrl);
  EXPECT_EQ(e->field("scan")->type, FieldType::kBinary);
  const Field& lines = *e->field("lines");
  EXPECT_EQ(lines.type, FieldType::kOne2many);
  EXPECT_EQ(lines.target, "sale_line");
  EXPECT_EQ(lines.inverse, "order");
  EXPECT_FALSE(lines.has_column());
  EXPECT_EQ(e->field("tags")->type, FieldType::kMany2many);
  EXPECT_FALSE(e->field("tags")->has_column());
  EXPECT_TRUE(e->field("total")->computed);
  EXPECT_TRUE(e->field("total")->store);
  EXPECT_TRUE(e->field("total")->has_column());
  EXPECT_TRUE(e->field("margin")->computed);
  EXPECT_FALSE(e->field("margin")->has_column());
  EXPECT_EQ(registry->entity("sale_line")->field("order")->on_delete, OnDelete::kSetNull);
  EXPECT_EQ(registry->entity("partner")->field("name")->on_delete, OnDelete::kRestrict);
}

TEST_F(RegistryTest, EveryContractTypeNameParsesAndPrintsBack) {
  Names expected = {"string",  "text",   "integer",  "bigint",   "decimal",   "float",
                    "boolean", "date",   "datetime", "json",     "selection", "email",
                    "url",     "binary", "many2one", "one2many", "many2many"};
  Names names;
  for (auto n : field_type_names())
    names.emplace_back(n);
  EXPECT_EQ(names, expected);
  for (const auto& n : expected) {
    auto type = parse_field_type(n);
    ASSERT_TRUE(type.has_value()) << n;
    EXPECT_EQ(to_string(*type), n);
  }
  EXPECT_FALSE(parse_field_type("String").has_value());
  EXPECT_FALSE(parse_field_type("int").has_value());
  EXPECT_EQ(to_string(OnDelete::kRestrict), "restrict");
  EXPECT_EQ(to_string(OnDelete::kCascade), "cascade");
  EXPECT_EQ(to_string(OnDelete::kSetNull), "set_null");
  EXPECT_EQ(reserved_field_names(), (std::vector<std::string_view>{"id", "created_at", "updated_at",
                                                                   "created_by", "updated_by"}));
}

TEST_F(RegistryTest, DefaultsOfLeftOutAttributes) {
  module("shop", {}, {{"shop.yaml", R"(entities:
  product:
    fields:
      name: {type: string}
      code: {type: string}
  stock:
    fields:
      code: {type: string}
)"}});
  auto registry = build_clean();
  const Entity& product = *registry->entity("product");
  EXPECT_EQ(product.table, "product");
  EXPECT_EQ(product.label, "product");
  EXPECT_EQ(product.title, "name");  // `name` when present
  EXPECT_EQ(product.order, "");
  EXPECT_EQ(registry->entity("stock")->title, "");  // no `name`, no title
  const Field& code = *product.field("code");
  EXPECT_FALSE(code.required || code.unique || code.index || code.readonly || code.computed ||
               code.store);
  EXPECT_FALSE(code.max_length.has_value());
  EXPECT_EQ(code.precision, 0);
  EXPECT_EQ(code.scale, 0);
  EXPECT_TRUE(code.options.empty());
  EXPECT_TRUE(code.roles.empty());
  EXPECT_FALSE(code.default_value.has_value());
  EXPECT_EQ(code.on_delete, OnDelete::kRestrict);
  EXPECT_EQ(code.label, "code");
  EXPECT_EQ(code.set_by.at("type"), "shop");
  EXPECT_EQ(code.module_of("unique"), "shop");  // not written: the declaring module
}

TEST_F(RegistryTest, TableOverrideAndLookups) {
  module("shop", {},
         {{"b.yaml", "entities:\n  zebra:\n    table: zoo_zebra\n"},
          {"a.yaml", "entities:\n  apple: {}\n  mango:\n    fields: {}\n"}});
  auto registry = build_clean();
  Names names;
  for (const auto& e : registry->entities())
    names.push_back(e.name);
  EXPECT_EQ(names, (Names{"apple", "mango", "zebra"}));  // sorted by name
  EXPECT_EQ(registry->entity("zebra")->table, "zoo_zebra");
  EXPECT_EQ(registry->entity("apple")->table, "apple");
  EXPECT_EQ(registry->entity("zoo_zebra"), nullptr);  // found by entity name, not table
  EXPECT_EQ(registry->entity("nothing"), nullptr);
  EXPECT_EQ(registry->modules(), (Names{"shop"}));
}

TEST_F(RegistryTest, ManifestsLoadedOneByOneBuildInTheGivenOrder) {
  module("base", {},
         {{"base.yaml", "entities:\n  partner:\n    fields:\n      name: {type: string}\n"}});
  module("crm", {"base"},
         {{"crm.yaml", "extend:\n  partner:\n    fields:\n      stage: {type: string}\n"}});
  Diagnostics loading;
  auto base = modules::load_manifest(tree_.path() / "base", loading);
  auto crm = modules::load_manifest(tree_.path() / "crm", loading);
  ASSERT_TRUE(base && crm);
  EXPECT_TRUE(loading.empty());
  auto registry = Registry::build({&*base, &*crm}, diagnostics_);
  EXPECT_TRUE(diagnostics_.empty()) << dump();
  EXPECT_EQ(registry->modules(), (Names{"base", "crm"}));
  EXPECT_EQ(field_names(*registry->entity("partner")), (Names{"name", "stage"}));
}

TEST_F(RegistryTest, ModuleWithoutEntitiesOrWithAnEmptyFileAddsNothing) {
  tree_.write("bare/manifest.yaml", "name: bare\nversion: 1.0.0\n");
  module("empty", {}, {{"empty.yaml", "# nothing yet\n"}});
  auto registry = build_clean();
  EXPECT_TRUE(registry->entities().empty());
  EXPECT_EQ(registry->modules(), (Names{"bare", "empty"}));
}

// ---- extend ------------------------------------------------------------------------------------

TEST_F(RegistryTest, ExtendAddsFieldsAndChangesAttributesInDependencyOrder) {
  // Lexical order is the reverse of dependency order: zz_core <- mid <- aa_custom.
  module("zz_core", {}, {{"core.yaml", R"(entities:
  contact:
    label: Contact
    fields:
      name:  {type: string, max_length: 64}
      email: {type: email}
      city:  {type: string, max_length: 32, label: City}
)"}});
  module("mid", {"zz_core"}, {{"mid.yaml", R"(extend:
  contact:
    label: Person
    fields:
      email: {required: true, label: Mail}
      city:  {max_length: 40}
      score: {type: integer, default: 1}
)"}});
  module("aa_custom", {"mid"}, {{"custom.yaml", R"(extend:
  contact:
    order: name
    fields:
      email: {label: E-mail, unique: true}
      city:  {max_length: 50}
      vip:   {type: boolean}
)"}});
  auto registry = build_clean();
  EXPECT_EQ(registry->modules(), (Names{"zz_core", "mid", "aa_custom"}));
  const Entity& c = *registry->entity("contact");
  EXPECT_EQ(c.module, "zz_core");
  EXPECT_EQ(c.extended_by, (Names{"mid", "aa_custom"}));
  EXPECT_EQ(c.label, "Person");
  EXPECT_EQ(c.order, "name");
  EXPECT_EQ(c.title, "name");
  EXPECT_EQ(field_names(c), (Names{"name", "email", "city", "score", "vip"}));

  const Field& email = *c.field("email");
  EXPECT_EQ(email.type, FieldType::kEmail);
  EXPECT_TRUE(email.required);
  EXPECT_TRUE(email.unique);
  EXPECT_EQ(email.label, "E-mail");  // the last module in dependency order wins
  EXPECT_EQ(email.module, "zz_core");
  EXPECT_EQ(email.changed_by, (Names{"mid", "aa_custom"}));
  EXPECT_EQ(email.module_of("type"), "zz_core");
  EXPECT_EQ(email.module_of("required"), "mid");
  EXPECT_EQ(email.module_of("unique"), "aa_custom");
  EXPECT_EQ(email.module_of("label"), "aa_custom");
  EXPECT_EQ(email.location.file, file("zz_core", "core.yaml"));  // where it was declared

  const Field& city = *c.field("city");
  EXPECT_EQ(city.max_length, 50);
  EXPECT_EQ(city.label, "City");
  EXPECT_EQ(city.changed_by, (Names{"mid", "aa_custom"}));

  EXPECT_EQ(c.field("score")->module, "mid");
  EXPECT_EQ(c.field("score")->location.file, file("mid", "mid.yaml"));
  EXPECT_TRUE(c.field("score")->changed_by.empty());
  EXPECT_EQ(c.field("vip")->module, "aa_custom");
  EXPECT_TRUE(c.field("name")->changed_by.empty());
}

TEST_F(RegistryTest, ExtendingTwiceFromOneModuleRecordsItOnce) {
  module("base", {},
         {{"base.yaml", "entities:\n  partner:\n    fields:\n      name: {type: string}\n"}});
  module("crm", {"base"},
         {{"a.yaml", "extend:\n  partner:\n    fields:\n      name: {required: true}\n"},
          {"b.yaml", "extend:\n  partner:\n    fields:\n      name: {index: true}\n"}});
  auto registry = build_clean();
  const Entity& p = *registry->entity("partner");
  EXPECT_EQ(p.extended_by, (Names{"crm"}));
  EXPECT_EQ(p.field("name")->changed_by, (Names{"crm"}));
  EXPECT_TRUE(p.field("name")->required);
  EXPECT_TRUE(p.field("name")->index);
}

TEST_F(RegistryTest, TitleDefaultsToANameFieldAddedByAnExtension) {
  module("base", {},
         {{"base.yaml", "entities:\n  tag:\n    fields:\n      code: {type: string}\n"}});
  module("crm", {"base"},
         {{"crm.yaml", "extend:\n  tag:\n    fields:\n      name: {type: string}\n"}});
  auto registry = build_clean();
  EXPECT_EQ(registry->entity("tag")->title, "name");
}

TEST_F(RegistryTest, ExtendOfAnEntityOfAModuleNotDependedOnIsAnError) {
  module("base", {},
         {{"base.yaml", "entities:\n  partner:\n    fields:\n      name: {type: string}\n"}});
  std::string text = "extend:\n  partner:\n    fields:\n      vip: {type: boolean}\n";
  module("loner", {}, {{"loner.yaml", text}});
  auto registry = build();
  auto d =
      expect_error("does not depend on", file("loner", "loner.yaml"), place(text, 2, "partner"));
  EXPECT_NE(d.message.find("\"loner\""), std::string::npos) << d.message;
  EXPECT_NE(d.message.find("\"base\""), std::string::npos) << d.message;
  EXPECT_NE(d.hint.find("depends"), std::string::npos) << d.hint;
  expect_errors(1);
  EXPECT_EQ(field_names(*registry->entity("partner")), (Names{"name"}));  // not applied
}

TEST_F(RegistryTest, ExtendThroughATransitiveDependencyIsAllowed) {
  module("base", {},
         {{"base.yaml", "entities:\n  partner:\n    fields:\n      name: {type: string}\n"}});
  module("crm", {"base"}, {});
  module("sales", {"crm"},
         {{"s.yaml", "extend:\n  partner:\n    fields:\n      vip: {type: boolean}\n"}});
  auto registry = build_clean();
  EXPECT_EQ(registry->entity("partner")->extended_by, (Names{"sales"}));
}

TEST_F(RegistryTest, ExtendOfAnUnknownEntityIsAnErrorWithDidYouMean) {
  module("base", {},
         {{"base.yaml", "entities:\n  partner:\n    fields:\n      name: {type: string}\n"}});
  std::string text = "extend:\n  partnr:\n    fields:\n      vip: {type: boolean}\n";
  module("crm", {"base"}, {{"crm.yaml", text}});
  build();
  auto d = expect_error("extends unknown entity \"partnr\"", file("crm", "crm.yaml"),
                        place(text, 2, "partnr"));
  EXPECT_EQ(d.hint, "did you mean \"partner\"?");
  expect_errors(1);
}

TEST_F(RegistryTest, ExtendOfItsOwnEntityIsAnError) {
  std::string text =
      "entities:\n  partner:\n    fields:\n      name: {type: string}\n"
      "extend:\n  partner:\n    fields:\n      vip: {type: boolean}\n";
  module("base", {}, {{"base.yaml", text}});
  build();
  expect_error("its own entity \"partner\"", file("base", "base.yaml"), place(text, 6, "partner"));
  expect_errors(1);
}

TEST_F(RegistryTest, RedeclaringAnEntityNamesTheFirstModule) {
  std::string first = "entities:\n  partner:\n    fields:\n      name: {type: string}\n";
  std::string second = "entities:\n  partner:\n    fields:\n      code: {type: string}\n";
  module("base", {}, {{"base.yaml", first}});
  module("crm", {"base"}, {{"crm.yaml", second}});
  auto registry = build();
  auto d = expect_error("already declared", file("crm", "crm.yaml"), place(second, 2, "partner"));
  EXPECT_NE(d.message.find("module \"base\""), std::string::npos) << d.message;
  EXPECT_NE(d.message.find(file("base", "base.yaml").string() + ":2:3"), std::string::npos)
      << d.message;
  EXPECT_NE(d.hint.find("extend"), std::string::npos);
  expect_errors(1);
  EXPECT_EQ(registry->entity("partner")->module, "base");
  EXPECT_EQ(field_names(*registry->entity("partner")), (Names{"name"}));
}

TEST_F(RegistryTest, TypeChangeThroughExtendIsAnError) {
  module("base", {},
         {{"base.yaml", "entities:\n  partner:\n    fields:\n      code: {type: string}\n"}});
  std::string text =
      "extend:\n  partner:\n    fields:\n      code: {type: integer, required: true}\n";
  module("crm", {"base"}, {{"crm.yaml", text}});
  auto registry = build();
  auto d = expect_error("cannot change the type of \"partner.code\"", file("crm", "crm.yaml"),
                        place(text, 4, "integer"));
  EXPECT_NE(d.message.find("string, declared by \"base\""), std::string::npos) << d.message;
  expect_errors(1);
  const Field& code = *registry->entity("partner")->field("code");
  EXPECT_EQ(code.type, FieldType::kString);
  EXPECT_FALSE(code.required);  // nothing of the rejected change applied
}

TEST_F(RegistryTest, RestatingTheSameTypeThroughExtendIsFine) {
  module("base", {},
         {{"base.yaml", "entities:\n  partner:\n    fields:\n      code: {type: string}\n"}});
  module("crm", {"base"},
         {{"crm.yaml",
           "extend:\n  partner:\n    fields:\n      code: {type: string, max_length: 8}\n"}});
  auto registry = build_clean();
  EXPECT_EQ(registry->entity("partner")->field("code")->max_length, 8);
}

TEST_F(RegistryTest, TargetChangeThroughExtendIsAnError) {
  module("base", {}, {{"base.yaml", R"(entities:
  partner:
    fields:
      parent: {type: many2one, target: partner}
  country:
    fields:
      code: {type: string}
)"}});
  std::string text = "extend:\n  partner:\n    fields:\n      parent: {target: country}\n";
  module("crm", {"base"}, {{"crm.yaml", text}});
  auto registry = build();
  expect_error("cannot change the target of \"partner.parent\"", file("crm", "crm.yaml"),
               place(text, 4, "country"));
  expect_errors(1);
  EXPECT_EQ(registry->entity("partner")->field("parent")->target, "partner");
}

TEST_F(RegistryTest, AnExtensionCannotChangeTheTable) {
  module("base", {}, {{"base.yaml", "entities:\n  partner: {}\n"}});
  std::string text = "extend:\n  partner:\n    table: people\n";
  module("crm", {"base"}, {{"crm.yaml", text}});
  auto registry = build();
  expect_error("cannot change the table", file("crm", "crm.yaml"), place(text, 3, "people"));
  expect_errors(1);
  EXPECT_EQ(registry->entity("partner")->table, "partner");
}

TEST_F(RegistryTest, AnExtensionCanMakeARequiredSetNullInvalid) {
  std::string base = R"(entities:
  partner:
    fields:
      parent: {type: many2one, target: partner, on_delete: set_null}
)";
  module("base", {}, {{"base.yaml", base}});
  module("crm", {"base"},
         {{"crm.yaml", "extend:\n  partner:\n    fields:\n      parent: {required: true}\n"}});
  build();
  // Reported where on_delete was written: the two attributes are only wrong together.
  expect_error("required but on_delete is set_null", file("base", "base.yaml"),
               place(base, 4, "set_null"));
  expect_errors(1);
}

TEST_F(RegistryTest, AnExtensionChangingOptionsRevalidatesTheDefault) {
  std::string base = R"(entities:
  task:
    fields:
      state: {type: selection, options: [todo, done], default: todo}
)";
  module("base", {}, {{"base.yaml", base}});
  module("crm", {"base"},
         {{"crm.yaml", "extend:\n  task:\n    fields:\n      state: {options: [open, closed]}\n"}});
  build();
  expect_error("default \"todo\" of \"task.state\" is not one of the options",
               file("base", "base.yaml"), place(base, 4, "todo}"));
  expect_errors(1);
}

TEST_F(RegistryTest, UnstoringAComputedFieldThroughExtendIsReportedNotACrash) {
  std::string base = R"(entities:
  partner:
    fields:
      total: {type: integer, computed: true, store: true}
)";
  module("base", {}, {{"base.yaml", base}});
  module("crm", {"base"},
         {{"crm.yaml", "extend:\n  partner:\n    fields:\n      total: {computed: false}\n"}});
  build();
  expect_error("\"store\" applies only to computed fields", file("base", "base.yaml"),
               place(base, 4, "true}"));
  expect_errors(1);
}

// ---- errors, each with its place
// -----------------------------------------------------------------

TEST_F(RegistryTest, UnknownTargetWithDidYouMean) {
  std::string text = R"(entities:
  contact:
    fields:
      name: {type: string}
  order:
    fields:
      partner: {type: many2one, target: contcat}
      tags:    {type: many2many, target: zzz_unrelated_thing}
)";
  module("sales", {}, {{"s.yaml", text}});
  build();
  auto d = expect_error("\"order.partner\" targets unknown entity \"contcat\"",
                        file("sales", "s.yaml"), place(text, 7, "contcat"));
  EXPECT_EQ(d.hint, "did you mean \"contact\"?");
  d = expect_error("\"order.tags\" targets unknown entity", file("sales", "s.yaml"),
                   place(text, 8, "zzz_unrelated_thing"));
  EXPECT_NE(d.hint.find("depend on the module"), std::string::npos) << d.hint;
  expect_errors(2);
}

TEST_F(RegistryTest, TargetOfAModuleNotDependedOnIsAnError) {
  module("base", {}, {{"base.yaml", "entities:\n  partner: {}\n"}});
  std::string text =
      "entities:\n  order:\n    fields:\n      partner: {type: many2one, target: partner}\n";
  module("loner", {}, {{"loner.yaml", text}});
  build();
  auto d = expect_error("targets \"partner\" of module \"base\"", file("loner", "loner.yaml"),
                        place(text, 4, "partner}"));
  EXPECT_NE(d.hint.find("depends"), std::string::npos);
  expect_errors(1);
}

TEST_F(RegistryTest, One2manyInverseMustBeAMany2oneBack) {
  std::string text = R"(entities:
  order:
    fields:
      a: {type: one2many, target: line}
      b: {type: one2many, target: line, inverse: missing}
      c: {type: one2many, target: line, inverse: qty}
      d: {type: one2many, target: line, inverse: other}
      e: {type: one2many, target: line, inverse: order}
  line:
    fields:
      order: {type: many2one, target: order}
      other: {type: many2one, target: line}
      qty:   {type: integer}
)";
  module("sales", {}, {{"s.yaml", text}});
  build();
  const fs::path f = file("sales", "s.yaml");
  expect_error("one2many \"order.a\" needs `inverse:`", f, place(text, 4, "a:"));
  auto d = expect_error("inverse of one2many \"order.b\"", f, place(text, 5, "missing"));
  EXPECT_EQ(d.hint, "declare `missing: {type: many2one, target: order}` on \"line\"");
  d = expect_error("inverse of one2many \"order.c\"", f, place(text, 6, "qty"));
  EXPECT_EQ(d.hint, "\"line.qty\" is a integer");
  d = expect_error("inverse of one2many \"order.d\"", f, place(text, 7, "other"));
  EXPECT_EQ(d.hint, "\"line.other\" is a many2one to \"line\"");
  EXPECT_TRUE(errors_with("order.e").empty());
  expect_errors(4);
}

TEST_F(RegistryTest, BadDefaultsPerType) {
  std::string text = R"(entities:
  thing:
    fields:
      count:  {type: integer, default: x}
      small:  {type: integer, default: 3000000000}
      flag:   {type: boolean, default: yes}
      day:    {type: date, default: tomorrow}
      leap:   {type: date, default: "2023-02-29"}
      at:     {type: datetime, default: "2024-01-01 25:00"}
      state:  {type: selection, options: [a, b], default: c}
      code:   {type: string, max_length: 3, default: abcd}
      price:  {type: decimal, precision: 6, scale: 2, default: "1.234"}
      big:    {type: decimal, precision: 4, scale: 2, default: "123.4"}
      ratio:  {type: float, default: abc}
      mail:   {type: email, default: nobody}
      blob:   {type: binary, default: abc}
      list:   {type: json, default: [1, 2]}
)";
  module("m", {}, {{"t.yaml", text}});
  build();
  const fs::path f = file("m", "t.yaml");
  expect_error("default \"x\" of \"thing.count\" is not an integer", f, place(text, 4, "x}"));
  expect_error("default \"3000000000\" of \"thing.small\" is not an integer", f,
               place(text, 5, "3000000000"));
  expect_error("default \"yes\" of \"thing.flag\" is not true or false", f, place(text, 6, "yes"));
  expect_error("default \"tomorrow\" of \"thing.day\"", f, place(text, 7, "tomorrow"));
  expect_error("default \"2023-02-29\" of \"thing.leap\"", f, place(text, 8, "\"2023"));
  expect_error("default \"2024-01-01 25:00\" of \"thing.at\"", f, place(text, 9, "\"2024"));
  expect_error("default \"c\" of \"thing.state\" is not one of the options", f,
               place(text, 10, "c}"));
  expect_error("default \"abcd\" of \"thing.code\" is longer than max_length 3", f,
               place(text, 11, "abcd"));
  expect_error("default \"1.234\" of \"thing.price\" has more than 2 decimals", f,
               place(text, 12, "\"1.234"));
  expect_error("default \"123.4\" of \"thing.big\" does not fit numeric(4,2)", f,
               place(text, 13, "\"123.4"));
  expect_error("default \"abc\" of \"thing.ratio\" is not a number", f, place(text, 14, "abc"));
  expect_error("default \"nobody\" of \"thing.mail\" is not an email address", f,
               place(text, 15, "nobody"));
  expect_error("binary fields take no default", f, place(text, 16, "abc"));
  expect_error("\"default\" must be a single value", f, place(text, 17, "[1"));
  expect_errors(14);
}

TEST_F(RegistryTest, GoodDefaultsPerType) {
  module("m", {}, {{"t.yaml", R"(entities:
  thing:
    fields:
      count:  {type: integer, default: -2147483648}
      big:    {type: bigint, default: 9000000000}
      flag:   {type: boolean, default: True}
      day:    {type: date, default: "2024-02-29"}
      at:     {type: datetime, default: "2024-01-01T10:00:00.5Z"}
      now:    {type: datetime, default: now}
      code:   {type: string, max_length: 3, default: "été"}
      price:  {type: decimal, precision: 6, scale: 2, default: "1234.50"}
      zeros:  {type: decimal, precision: 4, scale: 2, default: "01.100"}
      free:   {type: decimal, default: "123456789.123456789"}
      ratio:  {type: float, default: -1.5e-3}
      mail:   {type: email, default: a@b.org}
      site:   {type: url, default: "https://example.com"}
      doc:    {type: json, default: "{}"}
      memo:   {type: text, default: anything at all}
)"}});
  build_clean();
}

TEST_F(RegistryTest, DuplicateNamesAreReportedAtTheSecondOne) {
  std::string text = R"(entities:
  thing:
    fields:
      name: {type: string}
      code: {type: string}
      name: {type: integer}
  other:
    fields:
      code: {type: string, type: integer}
  thing:
    label: Again
)";
  module("m", {}, {{"t.yaml", text}});
  auto registry = build();
  const fs::path f = file("m", "t.yaml");
  expect_error("\"name\" is declared twice in the fields of \"thing\"", f, place(text, 6, "name"));
  expect_error("duplicate key \"type\" in field \"code\"", f, place(text, 9, "type: integer"));
  expect_error("\"thing\" is declared twice in entities", f, place(text, 10, "thing"));
  expect_errors(3);
  const Entity& thing = *registry->entity("thing");
  EXPECT_EQ(field_names(thing), (Names{"name", "code"}));
  EXPECT_EQ(thing.field("name")->type, FieldType::kString);  // the first one is kept
}

TEST_F(RegistryTest, DuplicateKeysOfTheFileAndOfAnEntity) {
  std::string text = R"(entities:
  thing:
    label: One
    label: Two
entities:
  other: {}
)";
  module("m", {}, {{"t.yaml", text}});
  build();
  const fs::path f = file("m", "t.yaml");
  expect_error("duplicate key \"label\" in entity \"thing\"", f, place(text, 4, "label"));
  expect_error("duplicate key \"entities\" in entity file", f, place(text, 5, "entities"));
  expect_errors(2);
}

TEST_F(RegistryTest, ReservedFieldNames) {
  std::string text = R"(entities:
  thing:
    fields:
      id:         {type: integer}
      created_at: {type: datetime}
      updated_at: {type: datetime}
      created_by: {type: bigint}
      updated_by: {type: bigint}
      fine:       {type: string}
)";
  module("base", {}, {{"t.yaml", text}});
  std::string ext = "extend:\n  thing:\n    fields:\n      id: {required: true}\n";
  module("crm", {"base"}, {{"e.yaml", ext}});
  auto registry = build();
  const fs::path f = file("base", "t.yaml");
  int line = 4;
  for (const char* name : {"id", "created_at", "updated_at", "created_by", "updated_by"}) {
    std::string part = std::string("\"") + name + "\" is a reserved field name";
    auto found = errors_with(part);
    ASSERT_EQ(found.size(), name == std::string("id") ? 2u : 1u) << dump();
    EXPECT_EQ(found[0].location.file, f);
    EXPECT_EQ(found[0].location.line, line++);
    EXPECT_EQ(found[0].location.column, 7);
  }
  auto in_extension = errors_with("\"id\" is a reserved field name")[1];
  EXPECT_EQ(in_extension.location.file, file("crm", "e.yaml"));
  EXPECT_EQ(in_extension.location.line, 4);
  EXPECT_EQ(in_extension.location.column, 7);
  expect_errors(6);
  EXPECT_EQ(field_names(*registry->entity("thing")), (Names{"fine"}));
}

TEST_F(RegistryTest, BadNames) {
  std::string long_name(64, 'a');
  std::string text =
      "entities:\n"
      "  Thing: {}\n"
      "  item:\n"
      "    table: Bad-Table\n"
      "    fields:\n"
      "      Name: {type: string}\n"
      "      1st: {type: string}\n"
      "      with-dash: {type: string}\n"
      "      " +
      long_name +
      ": {type: string}\n"
      "      " +
      std::string(63, 'b') +
      ": {type: string}\n"
      "  " +
      long_name + ": {}\n";
  module("m", {}, {{"t.yaml", text}});
  auto registry = build();
  const fs::path f = file("m", "t.yaml");
  auto d = expect_error("bad name \"Thing\" in entities", f, {2, 3});
  EXPECT_NE(d.hint.find("lowercase"), std::string::npos);
  expect_error("bad table name \"Bad-Table\"", f, {4, 12});
  expect_error("bad name \"Name\"", f, {6, 7});
  expect_error("bad name \"1st\"", f, {7, 7});
  expect_error("bad name \"with-dash\"", f, {8, 7});
  expect_error("name \"" + long_name + "\" in the fields of \"item\" is longer than 63", f, {9, 7});
  expect_error("name \"" + long_name + "\" in entities is longer than 63", f, {11, 3});
  expect_errors(7);
  EXPECT_EQ(field_names(*registry->entity("item")), (Names{std::string(63, 'b')}));
}

TEST_F(RegistryTest, AttributeNotApplicableToTheType) {
  std::string text = R"(entities:
  thing:
    fields:
      count: {type: integer, max_length: 10}
      code:  {type: string, options: [a, b]}
      name:  {type: string, precision: 4}
      lines: {type: one2many, target: line, inverse: thing, on_delete: cascade}
      owner: {type: many2one, target: line, inverse: thing}
      tags:  {type: many2many, target: line, index: true, unique: true}
      flag:  {type: boolean, target: line}
  line:
    fields:
      thing: {type: many2one, target: thing}
)";
  module("m", {}, {{"t.yaml", text}});
  build();
  const fs::path f = file("m", "t.yaml");
  auto d = expect_error("\"max_length\" does not apply to a integer field (\"count\")", f,
                        place(text, 4, "10"));
  EXPECT_EQ(d.hint, "remove it");
  expect_error("\"options\" does not apply to a string field", f, place(text, 5, "[a"));
  expect_error("\"precision\" does not apply to a string field", f, place(text, 6, "4}"));
  expect_error("\"on_delete\" does not apply to a one2many field", f, place(text, 7, "cascade"));
  expect_error("\"inverse\" does not apply to a many2one field", f, place(text, 8, "thing}"));
  expect_error("\"index\" does not apply to a many2many field", f, place(text, 9, "true,"));
  expect_error("\"unique\" does not apply to a many2many field", f, place(text, 9, "true}"));
  expect_error("\"target\" does not apply to a boolean field", f, place(text, 10, "line}"));
  expect_errors(8);
}

TEST_F(RegistryTest, AttributeNotApplicableThroughExtend) {
  module("base", {},
         {{"b.yaml", "entities:\n  thing:\n    fields:\n      count: {type: integer}\n"}});
  std::string text = "extend:\n  thing:\n    fields:\n      count: {max_length: 5}\n";
  module("crm", {"base"}, {{"e.yaml", text}});
  build();
  expect_error("\"max_length\" does not apply to a integer field", file("crm", "e.yaml"),
               place(text, 4, "5}"));
  expect_errors(1);
}

TEST_F(RegistryTest, UnknownMissingAndMalformedFieldTypes) {
  std::string text = R"(entities:
  thing:
    fields:
      a: {type: strng}
      b: {type: wibble}
      c: {label: No type}
      d: string
      e: {type: string, maxlength: 3}
)";
  module("m", {}, {{"t.yaml", text}});
  auto registry = build();
  const fs::path f = file("m", "t.yaml");
  auto d = expect_error("unknown field type \"strng\"", f, place(text, 4, "strng"));
  EXPECT_EQ(d.hint, "did you mean \"string\"?");
  d = expect_error("unknown field type \"wibble\"", f, place(text, 5, "wibble"));
  EXPECT_EQ(d.hint.rfind("field types: string text integer", 0), 0u) << d.hint;
  EXPECT_NE(d.hint.find("many2many"), std::string::npos) << d.hint;
  expect_error("field \"thing.c\" has no type", f, place(text, 6, "c:"));
  expect_error("field \"d\" must be a map", f, place(text, 7, "string"));
  d = expect_error("unknown key \"maxlength\"", f, place(text, 8, "maxlength"));
  EXPECT_EQ(d.hint, "did you mean \"max_length\"?");
  expect_errors(5);
  EXPECT_EQ(field_names(*registry->entity("thing")), (Names{"e"}));
}

TEST_F(RegistryTest, BadAttributeValues) {
  std::string text = R"(entities:
  thing:
    fields:
      a: {type: string, max_length: 0}
      b: {type: decimal, precision: 1001}
      c: {type: string, required: maybe}
      d: {type: many2one, target: thing, on_delete: explode}
      e: {type: decimal, precision: 4, scale: 6}
      f: {type: decimal, scale: 2}
)";
  module("m", {}, {{"t.yaml", text}});
  build();
  const fs::path f = file("m", "t.yaml");
  expect_error("\"max_length\" must be between 1 and 10485760, got 0", f, place(text, 4, "0}"));
  expect_error("\"precision\" must be between 1 and 1000, got 1001", f, place(text, 5, "1001"));
  expect_error("\"required\" must be true or false, got \"maybe\"", f, place(text, 6, "maybe"));
  auto d = expect_error("unknown on_delete \"explode\"", f, place(text, 7, "explode"));
  EXPECT_NE(d.hint.find("set_null"), std::string::npos);
  expect_error("scale 6 exceeds precision 4 in \"thing.e\"", f, place(text, 8, "6}"));
  expect_error("\"thing.f\" has a scale but no precision", f, place(text, 9, "2}"));
  expect_errors(6);
}

TEST_F(RegistryTest, SelectionWithoutOptionsAndRelationWithoutTarget) {
  std::string text = R"(entities:
  thing:
    fields:
      state: {type: selection}
      empty: {type: selection, options: []}
      owner: {type: many2one}
      lines: {type: one2many, inverse: thing}
      tags:  {type: many2many}
)";
  module("m", {}, {{"t.yaml", text}});
  build();
  const fs::path f = file("m", "t.yaml");
  auto d = expect_error("selection \"thing.state\" has no options", f, place(text, 4, "state"));
  EXPECT_EQ(d.hint, "add `options: [a, b, c]`");
  expect_error("selection \"thing.empty\" has no options", f, place(text, 5, "[]"));
  expect_error("relation \"thing.owner\" has no target entity", f, place(text, 6, "owner"));
  expect_error("relation \"thing.lines\" has no target entity", f, place(text, 7, "lines"));
  expect_error("relation \"thing.tags\" has no target entity", f, place(text, 8, "tags"));
  expect_errors(5);
}

TEST_F(RegistryTest, RequiredWithSetNull) {
  std::string text = R"(entities:
  thing:
    fields:
      owner: {type: many2one, target: thing, required: true, on_delete: set_null}
      other: {type: many2one, target: thing, required: true, on_delete: cascade}
)";
  module("m", {}, {{"t.yaml", text}});
  build();
  auto d = expect_error("\"thing.owner\" is required but on_delete is set_null",
                        file("m", "t.yaml"), place(text, 4, "set_null"));
  EXPECT_EQ(d.hint, "use restrict or cascade, or make it optional");
  expect_errors(1);
}

TEST_F(RegistryTest, BadOrder) {
  std::string text = R"(entities:
  a:
    order: nope desc
    fields:
      name: {type: string}
  b:
    order: name sideways
    fields:
      name: {type: string}
  c:
    order: name asc extra
    fields:
      name: {type: string}
  d:
    order: lines
    fields:
      lines: {type: one2many, target: e, inverse: d}
  e:
    order: "d asc, updated_at desc, id"
    fields:
      d: {type: many2one, target: d}
)";
  module("m", {}, {{"t.yaml", text}});
  build();
  const fs::path f = file("m", "t.yaml");
  auto d = expect_error("bad order \"nope desc\" of \"a\"", f, place(text, 3, "nope"));
  EXPECT_NE(d.hint.find("asc|desc"), std::string::npos);
  expect_error("bad order \"name sideways\" of \"b\"", f, place(text, 7, "name"));
  expect_error("bad order \"name asc extra\" of \"c\"", f, place(text, 11, "name"));
  expect_error("bad order \"lines\" of \"d\"", f, place(text, 15, "lines"));  // no column
  expect_errors(4);
}

TEST_F(RegistryTest, BadTitle) {
  std::string text = R"(entities:
  thing:
    title: label
    fields:
      name: {type: string}
)";
  module("base", {}, {{"t.yaml", text}});
  std::string ext = "extend:\n  thing:\n    title: nothing\n";
  module("crm", {"base"}, {{"e.yaml", ext}});
  build();
  // The extension's title is the one in force, and the one reported.
  expect_error("title \"nothing\" of \"thing\" is not one of its fields", file("crm", "e.yaml"),
               place(ext, 3, "nothing"));
  expect_errors(1);
}

TEST_F(RegistryTest, TwoEntitiesOnOneTable) {
  std::string text = R"(entities:
  alpha:
    table: shared
  beta:
    table: shared
  gamma: {}
  shared: {}
)";
  module("m", {}, {{"t.yaml", text}});
  build();
  const fs::path f = file("m", "t.yaml");
  auto found = errors_with("both use the table \"shared\"");
  ASSERT_EQ(found.size(), 2u) << dump();
  EXPECT_EQ(found[0].message, "entities \"alpha\" and \"beta\" both use the table \"shared\"");
  EXPECT_EQ(found[0].location.file, f);
  EXPECT_EQ(found[0].location.line, 5);
  EXPECT_EQ(found[0].location.column, 12);
  EXPECT_EQ(found[1].message, "entities \"alpha\" and \"shared\" both use the table \"shared\"");
  EXPECT_EQ(found[1].location.line, 7);
  EXPECT_EQ(found[1].location.column, 3);
  expect_errors(2);
}

TEST_F(RegistryTest, MalformedFiles) {
  module("m", {},
         {{"a.yaml", "entities:\n  thing: {fields: [a, b]}\n"},
          {"b.yaml", "entities: [thing]\n"},
          {"c.yaml", "entities:\n  thing: {\n"},
          {"d.yaml", "- just a list\n"},
          {"e.yaml", "entites:\n  thing: {}\n"}});
  build();
  expect_error("the fields of \"thing\" must be a map of names", file("m", "a.yaml"), {2, 19});
  expect_error("entities must be a map of names, got a list", file("m", "b.yaml"), {1, 11});
  auto syntax = errors_with("invalid YAML");
  ASSERT_EQ(syntax.size(), 1u) << dump();
  EXPECT_EQ(syntax[0].location.file, file("m", "c.yaml"));
  EXPECT_GT(syntax[0].location.line, 0);
  expect_error("entity file must be a map, got a list", file("m", "d.yaml"), {1, 1});
  auto d = expect_error("unknown key \"entites\"", file("m", "e.yaml"), {1, 1});
  EXPECT_EQ(d.hint, "did you mean \"entities\"?");
  expect_errors(5);
}

// ---- every error of every file in one pass
// -------------------------------------------------------

TEST_F(RegistryTest, AllErrorsOfAllFilesInOnePass) {
  std::string base1 = R"(entities:
  partner:
    fields:
      name:  {type: string, max_length: 2, default: long}
      kind:  {type: selection}
)";
  std::string base2 = R"(entities:
  country:
    order: code up
    fields:
      code:  {type: strin}
)";
  std::string crm = R"(entities:
  lead:
    fields:
      partner: {type: many2one, target: partnr}
      id:      {type: integer}
extend:
  partner:
    fields:
      name: {type: text}
  contry:
    fields:
      x: {type: string}
)";
  module("base", {}, {{"a.yaml", base1}, {"b.yaml", base2}});
  module("crm", {"base"}, {{"crm.yaml", crm}});
  build();
  const fs::path a = file("base", "a.yaml"), b = file("base", "b.yaml"),
                 c = file("crm", "crm.yaml");
  expect_error("default \"long\" of \"partner.name\"", a, place(base1, 4, "long"));
  expect_error("selection \"partner.kind\" has no options", a, place(base1, 5, "kind"));
  expect_error("unknown field type \"strin\"", b, place(base2, 5, "strin"));
  expect_error("bad order \"code up\"", b, place(base2, 3, "code"));
  expect_error("targets unknown entity \"partnr\"", c, place(crm, 4, "partnr"));
  expect_error("\"id\" is a reserved field name", c, place(crm, 5, "id"));
  expect_error("cannot change the type of \"partner.name\"", c, place(crm, 9, "text"));
  expect_error("extends unknown entity \"contry\"", c, place(crm, 10, "contry"));
  expect_errors(8);
  // Printed as file:line:col: error: message.
  auto d = errors_with("extends unknown entity")[0];
  EXPECT_EQ(d.to_string().rfind(c.string() + ":10:3: error: module \"crm\" extends unknown", 0), 0u)
      << d.to_string();
  EXPECT_NE(d.to_string().find("hint: did you mean \"country\"?"), std::string::npos);
}

TEST_F(RegistryTest, TheContractExampleBuilds) {
  module("contacts", {}, {{"contacts.yaml", R"(entities:
  contact:
    fields:
      name:  {type: string}
      email: {type: email}
)"}});
  module("sales", {"contacts"},
         {{"sales.yaml", R"(entities:
  sale_order:
    label: Sales order
    title: name                       # the field that names a record (default: `name` if present)
    order: date desc, id desc         # default sort
    fields:
      name:    {type: string, required: true, unique: true, max_length: 64}
      partner: {type: many2one, target: contact, required: true, on_delete: restrict, index: true}
      date:    {type: date, default: today}
      state:   {type: selection, options: [draft, confirmed, done, cancelled], default: draft}
      lines:   {type: one2many, target: sale_order_line, inverse: order}
      tags:    {type: many2many, target: sale_tag}
      amount:  {type: decimal, precision: 14, scale: 2, readonly: true}
      notes:   {type: text, roles: [sales.manager]}   # field visible/writable only to these roles
  sale_order_line:
    fields:
      order: {type: many2one, target: sale_order, required: true, on_delete: cascade}
  sale_tag:
    fields:
      name: {type: string}
extend:                               # entities of the modules this one depends on
  contact:
    fields:
      sale_count: {type: integer, computed: true}     # computed by the module's native code
      email:      {required: true}                    # change an existing field's attributes
)"},
          {"security/sales.yaml", R"(roles:
  user:    {label: Sales user}
  manager: {label: Sales manager, implies: [sales.user]}
access:
  - {entity: sale_order, role: sales.user, read: true, create: true, update: true, delete: false}
  - {entity: sale_order, role: sales.manager, read: true, create: true, update: true, delete: true}
rules:
  - {entity: sale_order, role: sales.user, operations: [read, update], filter: {created_by: {eq: $user.id}}}
)"}});
  auto registry = build_clean();
  // The security files of the same modules load beside the registry.
  auto loaded = query::load_policy(graph_->order(), *registry, diagnostics_);
  EXPECT_TRUE(diagnostics_.empty()) << dump();
  const auto& policy = *loaded;
  EXPECT_EQ(policy.closure({"sales.manager"}), (Names{"sales.manager", "sales.user"}));
  EXPECT_EQ(policy.access().size(), 2u);
  ASSERT_EQ(policy.rules().size(), 1u);
  EXPECT_EQ(policy.rules()[0].filter, R"({"created_by":{"eq":"$user.id"}})");
  const Entity& contact = *registry->entity("contact");
  EXPECT_TRUE(contact.field("email")->required);
  EXPECT_EQ(contact.field("email")->changed_by, (Names{"sales"}));
  EXPECT_EQ(contact.field("sale_count")->module, "sales");
  EXPECT_EQ(registry->entity("sale_order")->field("state")->default_value, "draft");
}

TEST_F(RegistryTest, TheDemoAddonsBuildWithoutDiagnostics) {
  auto found =
      modules::discover({fs::path(KEEL_SOURCE_DIR) / "core", fs::path(KEEL_SOURCE_DIR) / "addons"});
  for (const auto& d : found.diagnostics.items())
    ADD_FAILURE() << d.to_string();
  modules::ModuleGraph graph(std::move(found.modules));
  auto registry = Registry::build(graph.order(), diagnostics_);
  EXPECT_TRUE(diagnostics_.empty()) << dump();
  const Entity* order = registry->entity("sale_order");
  ASSERT_NE(order, nullptr);
  EXPECT_EQ(order->extended_by, (Names{"sale_stock"}));
  EXPECT_EQ(order->field("warehouse")->module, "sale_stock");
  EXPECT_EQ(registry->entity("contact")->field("sale_count")->module, "sales");
}

}  // namespace
}  // namespace keel::schema

namespace keel::schema {
namespace {

TEST_F(RegistryTest, DependsPathsOfStoredComputedFieldsAreChecked) {
  std::string text =
      "entities:\n"
      "  order:\n"
      "    fields:\n"
      "      partner: {type: many2one, target: line}\n"
      "      lines: {type: one2many, target: line, inverse: order}\n"
      "      total: {type: decimal, precision: 12, scale: 2, computed: true, store: true,"
      " depends: [lines.price, partner.price, lines.nope, name.x, ghost, lines.order.x]}\n"
      "      plain: {type: integer, computed: true, depends: [lines]}\n"
      "      name: {type: string}\n"
      "  line:\n"
      "    fields:\n"
      "      order: {type: many2one, target: order}\n"
      "      price: {type: decimal, precision: 12, scale: 2}\n";
  module("shop", {}, {{"shop.yaml", text}});
  auto registry = build();
  expect_error("depends on \"lines.nope\": \"line\" has no field \"nope\"",
               file("shop", "shop.yaml"), place(text, 6, "lines.nope"));
  expect_error("depends on \"name.x\", but \"name\" is a string", file("shop", "shop.yaml"),
               place(text, 6, "name.x"));
  expect_error("depends on \"ghost\": \"order\" has no field \"ghost\"", file("shop", "shop.yaml"),
               place(text, 6, "ghost"));
  expect_error("depends on \"lines.order.x\"", file("shop", "shop.yaml"),
               place(text, 6, "lines.order.x"));
  expect_error("\"depends\" applies only to stored computed fields", file("shop", "shop.yaml"),
               place(text, 7, "[lines]"));
  expect_errors(5);
}

}  // namespace
}  // namespace keel::schema
