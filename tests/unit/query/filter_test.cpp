#include "query/filter.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/error.hpp"
#include "modules/discovery.hpp"
#include "modules/graph.hpp"
#include "support/addon_tree.hpp"
#include "support/answered.hpp"

namespace keel::query {
namespace {

using Params = std::vector<std::optional<std::string>>;

const char* kEntities = R"(entities:
  country:
    fields:
      code: {type: string, max_length: 2}
      name: {type: string}
  partner:
    fields:
      name:    {type: string, max_length: 32, required: true}
      city:    {type: string, max_length: 40}
      country: {type: many2one, target: country}
      score:   {type: integer}
      big:     {type: bigint}
      rating:  {type: float}
      email:   {type: email}
      secret:  {type: text, roles: [shop.manager]}
      meta:    {type: json}
      photo:   {type: binary}
      orders:  {type: one2many, target: order, inverse: partner}
      rank:    {type: integer, computed: true}
  order:
    fields:
      ref:     {type: string, max_length: 16}
      partner: {type: many2one, target: partner}
      total:   {type: decimal, precision: 10, scale: 2}
      day:     {type: date}
      at:      {type: datetime}
      paid:    {type: boolean}
      state:   {type: selection, options: [draft, done]}
      tags:    {type: many2many, target: tag}
  tag:
    fields:
      name: {type: string}
)";

class FilterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tree_ = std::make_unique<testing::AddonTree>();
    tree_->write(
        "shop/manifest.yaml",
        "name: shop\nversion: 1.0.0\nentities: [entities.yaml]\nsecurity: [security.yaml]\n");
    tree_->write("shop/security.yaml", "roles: {manager: {label: Shop manager}}\n");
    tree_->write("shop/entities.yaml", kEntities);
    auto found = modules::discover({tree_->path()});
    for (const auto& d : found.diagnostics.items())
      ADD_FAILURE() << d.to_string();
    graph_ = std::make_unique<modules::ModuleGraph>(std::move(found.modules));
    Diagnostics diagnostics;
    registry_ = schema::Registry::build(graph_->order(), diagnostics);
    policy_ = load_policy(graph_->order(), *registry_, diagnostics);
    for (const auto& d : diagnostics.items())
      ADD_FAILURE() << d.to_string();
  }
  static void TearDownTestSuite() {
    policy_.reset();
    registry_.reset();
    graph_.reset();
    tree_.reset();
  }

  struct Compiled {
    std::string sql;
    Params params;
    std::string from;
  };

  Compiled compile(const std::string& entity, const std::string& json,
                   const security::Context& ctx = security::Context::system()) {
    QueryScope scope(*registry_, *policy_, *registry_->entity(entity), ctx);
    std::string sql = compile_filter(json, scope);
    return {sql, scope.params().values(), scope.from()};
  }

  // The ApiError a filter raises, as the API answers it (status 0 when it compiles).
  testing::Answered error(const std::string& entity, const std::string& json,
                          const security::Context& ctx = security::Context::system()) {
    try {
      compile(entity, json, ctx);
    } catch (const ApiError& e) {
      return testing::Answered(e);
    }
    return {};
  }

  static std::unique_ptr<testing::AddonTree> tree_;
  static std::unique_ptr<modules::ModuleGraph> graph_;
  static std::shared_ptr<const schema::Registry> registry_;
  static std::shared_ptr<const security::Policy> policy_;
};

std::unique_ptr<testing::AddonTree> FilterTest::tree_;
std::unique_ptr<modules::ModuleGraph> FilterTest::graph_;
std::shared_ptr<const schema::Registry> FilterTest::registry_;
std::shared_ptr<const security::Policy> FilterTest::policy_;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_F(FilterTest, EmptyFilterIsTrue) {
  EXPECT_EQ(compile("partner", "").sql, "TRUE");
  EXPECT_EQ(compile("partner", "  ").sql, "TRUE");
  EXPECT_EQ(compile("partner", "{}").sql, "TRUE");
  EXPECT_EQ(compile("partner", "{}").from, "\"partner\" t");
}

TEST_F(FilterTest, EqAndShorthand) {
  auto c = compile("partner", R"({"city": {"eq": "Paris"}})");
  EXPECT_EQ(c.sql, "t.\"city\" = $1::text");
  EXPECT_EQ(c.params, (Params{"Paris"}));
  auto s = compile("partner", R"({"city": "Paris"})");
  EXPECT_EQ(s.sql, c.sql);
  EXPECT_EQ(s.params, c.params);
  EXPECT_EQ(compile("partner", R"({"city": null})").sql, "t.\"city\" IS NULL");
  EXPECT_EQ(compile("partner", R"({"city": {"eq": null}})").sql, "t.\"city\" IS NULL");
}

TEST_F(FilterTest, NeIncludesNulls) {
  auto c = compile("partner", R"({"city": {"ne": "Paris"}})");
  EXPECT_EQ(c.sql, "t.\"city\" IS DISTINCT FROM $1::text");
  EXPECT_EQ(c.params, (Params{"Paris"}));
  EXPECT_EQ(compile("partner", R"({"city": {"ne": null}})").sql, "t.\"city\" IS NOT NULL");
}

TEST_F(FilterTest, Comparisons) {
  EXPECT_EQ(compile("partner", R"({"score": {"lt": 5}})").sql, "t.\"score\" < $1::integer");
  EXPECT_EQ(compile("partner", R"({"score": {"lte": 5}})").sql, "t.\"score\" <= $1::integer");
  EXPECT_EQ(compile("partner", R"({"score": {"gt": -5}})").sql, "t.\"score\" > $1::integer");
  auto c = compile("partner", R"({"score": {"gte": 5, "lt": 10}})");
  EXPECT_EQ(c.sql, "(t.\"score\" >= $1::integer AND t.\"score\" < $2::integer)");
  EXPECT_EQ(c.params, (Params{"5", "10"}));
  EXPECT_EQ(compile("partner", R"({"score": {"gt": -5}})").params, (Params{"-5"}));
  EXPECT_EQ(compile("partner", R"({"big": {"gt": 9007199254740993}})").params,
            (Params{"9007199254740993"}));
  EXPECT_EQ(compile("partner", R"({"rating": {"gt": 1.5}})").sql,
            "t.\"rating\" > $1::double precision");
  EXPECT_EQ(compile("partner", R"({"rating": {"gt": 1.5}})").params, (Params{"1.5"}));
}

TEST_F(FilterTest, CastsToTheColumnTypeWithoutModifiers) {
  auto d = compile("order", R"({"total": {"gte": "12.50"}})");
  EXPECT_EQ(d.sql, "t.\"total\" >= $1::numeric");
  EXPECT_EQ(d.params, (Params{"12.50"}));
  EXPECT_EQ(compile("order", R"({"total": {"gte": 12.5}})").params, (Params{"12.5"}));
  EXPECT_EQ(compile("order", R"({"day": "2024-02-29"})").sql, "t.\"day\" = $1::date");
  auto at = compile("order", R"({"at": {"lt": "2024-02-29T10:00:00Z"}})");
  EXPECT_EQ(at.sql, "t.\"at\" < $1::timestamp with time zone");
  EXPECT_EQ(at.params, (Params{"2024-02-29T10:00:00Z"}));
  // A datetime without an offset is UTC.
  EXPECT_EQ(compile("order", R"({"at": {"lt": "2024-02-29T10:00"}})").params,
            (Params{"2024-02-29T10:00+00"}));
  // A date alone is midnight UTC.
  EXPECT_EQ(compile("order", R"({"at": {"gte": "2024-02-29"}})").params,
            (Params{"2024-02-29 00:00:00+00"}));
  EXPECT_EQ(compile("order", R"({"paid": true})").sql, "t.\"paid\" = $1::boolean");
  EXPECT_EQ(compile("order", R"({"paid": true})").params, (Params{"true"}));
  EXPECT_EQ(compile("order", R"({"state": "draft"})").sql, "t.\"state\" = $1::text");
  EXPECT_EQ(compile("order", R"({"partner": 7})").sql, "t.\"partner\" = $1::bigint");
  EXPECT_EQ(compile("order", R"({"id": {"in": [1, 2]}})").sql, "t.\"id\" = ANY($1::bigint[])");
  EXPECT_EQ(compile("partner", R"({"email": "a@b.c"})").sql, "t.\"email\" = $1::text");
}

TEST_F(FilterTest, InAndNin) {
  auto in = compile("partner", R"({"score": {"in": [1, 2, 3]}})");
  EXPECT_EQ(in.sql, "t.\"score\" = ANY($1::integer[])");
  EXPECT_EQ(in.params, (Params{R"({"1","2","3"})"}));
  auto nin = compile("partner", R"({"score": {"nin": [1, 2]}})");
  EXPECT_EQ(nin.sql, "(t.\"score\" IS NULL OR t.\"score\" <> ALL($1::integer[]))");
  EXPECT_EQ(nin.params, (Params{R"({"1","2"})"}));
  // null in the list: in matches nulls, nin excludes them
  EXPECT_EQ(compile("partner", R"({"city": {"in": ["Paris", null]}})").sql,
            "(t.\"city\" = ANY($1::text[]) OR t.\"city\" IS NULL)");
  EXPECT_EQ(compile("partner", R"({"city": {"nin": ["Paris", null]}})").sql,
            "(t.\"city\" IS NOT NULL AND t.\"city\" <> ALL($1::text[]))");
  EXPECT_EQ(compile("partner", R"({"city": {"in": []}})").params, (Params{"{}"}));
  // Quotes and backslashes are escaped inside the array literal, which is a parameter.
  EXPECT_EQ(compile("partner", R"({"city": {"in": ["a\"b", "c\\d", "e,f}"]}})").params,
            (Params{R"({"a\"b","c\\d","e,f}"})"}));
}

TEST_F(FilterTest, LikeAndIlike) {
  auto c = compile("partner", R"({"name": {"like": "AC%"}})");
  EXPECT_EQ(c.sql, "t.\"name\" LIKE $1::text");
  EXPECT_EQ(c.params, (Params{"AC%"}));
  EXPECT_EQ(compile("partner", R"({"name": {"ilike": "%me"}})").sql, "t.\"name\" ILIKE $1::text");
  EXPECT_EQ(error("partner", R"({"score": {"like": "1%"}})").status(), 400);
  EXPECT_EQ(error("partner", R"({"name": {"like": 5}})").status(), 400);
}

TEST_F(FilterTest, NullOperator) {
  EXPECT_EQ(compile("partner", R"({"city": {"null": true}})").sql, "t.\"city\" IS NULL");
  EXPECT_EQ(compile("partner", R"({"city": {"null": false}})").sql, "t.\"city\" IS NOT NULL");
  EXPECT_TRUE(compile("partner", R"({"city": {"null": true}})").params.empty());
  EXPECT_EQ(error("partner", R"({"city": {"null": "yes"}})").status(), 400);
  EXPECT_EQ(compile("partner", R"({"photo": {"null": false}})").sql, "t.\"photo\" IS NOT NULL");
}

TEST_F(FilterTest, AndOrNot) {
  auto c = compile("partner",
                   R"({"or": [{"city": "Paris"}, {"and": [{"score": {"gt": 1}}, {"big": 2}]}]})");
  EXPECT_EQ(c.sql,
            "(t.\"city\" = $1::text OR (t.\"score\" > $2::integer AND t.\"big\" = $3::bigint))");
  EXPECT_EQ(c.params, (Params{"Paris", "1", "2"}));
  EXPECT_EQ(compile("partner", R"({"not": {"city": "Paris"}})").sql,
            "NOT coalesce(t.\"city\" = $1::text, false)");
  EXPECT_EQ(compile("partner", R"({"city": "Paris", "score": 1})").sql,
            "(t.\"city\" = $1::text AND t.\"score\" = $2::integer)");
  EXPECT_EQ(compile("partner", R"({"and": []})").sql, "TRUE");
  EXPECT_EQ(compile("partner", R"({"or": []})").sql, "FALSE");
  EXPECT_EQ(compile("partner", R"({"not": {"not": {"city": {"ne": "x"}}}})").sql,
            "NOT coalesce(NOT coalesce(t.\"city\" IS DISTINCT FROM $1::text, false), false)");
  EXPECT_EQ(error("partner", R"({"and": {"city": "x"}})").status(), 400);
  EXPECT_EQ(error("partner", R"({"or": ["x"]})").status(), 400);
  EXPECT_EQ(error("partner", R"({"not": [{"city": "x"}]})").status(), 400);
}

TEST_F(FilterTest, PathsJoinEachMany2oneOnce) {
  auto c = compile(
      "order",
      R"({"partner.country.code": "FR", "partner.city": {"ne": "Paris"}, "partner.name": "A"})");
  EXPECT_EQ(c.sql,
            "(j2.\"code\" = $1::text AND j1.\"city\" IS DISTINCT FROM $2::text AND j1.\"name\" = "
            "$3::text)");
  EXPECT_EQ(c.from,
            "\"order\" t LEFT JOIN \"partner\" j1 ON j1.id = t.\"partner\" LEFT JOIN \"country\" "
            "j2 ON j2.id = j1.\"country\"");
  EXPECT_EQ(compile("order", R"({"partner.id": 3})").sql, "j1.\"id\" = $1::bigint");
  // Through a field that is no many2one
  auto e = error("order", R"({"ref.name": "x"})");
  EXPECT_EQ(e.status(), 400);
  EXPECT_TRUE(contains(e.what(), "many2one")) << e.what();
  EXPECT_EQ(error("order", R"({"partner.nope": "x"})").status(), 400);
  EXPECT_TRUE(contains(error("order", R"({"partner.nope": "x"})").what(), "\"nope\""));
  EXPECT_EQ(error("order", R"({"partner.": "x"})").status(), 400);
  EXPECT_EQ(error("order", R"({".partner": "x"})").status(), 400);
}

TEST_F(FilterTest, Variables) {
  security::Context ctx = security::Context::system();
  ctx.user_id = 42;
  auto u = compile("partner", R"({"created_by": {"eq": "$user.id"}})", ctx);
  EXPECT_EQ(u.sql, "t.\"created_by\" = $1::bigint");
  EXPECT_EQ(u.params, (Params{"42"}));
  EXPECT_EQ(compile("order", R"({"partner": {"in": ["$user.id", 3]}})", ctx).params,
            (Params{R"({"42","3"})"}));
  EXPECT_EQ(compile("order", R"({"at": {"lt": "$now"}})").sql,
            "t.\"at\" < CAST(now() AS timestamp with time zone)");
  EXPECT_EQ(compile("order", R"({"day": {"gte": "$today"}})").sql,
            "t.\"day\" >= CAST(CURRENT_DATE AS date)");
  EXPECT_TRUE(compile("order", R"({"day": {"gte": "$today"}})").params.empty());
  // "$$" escapes a literal dollar; "$5" is no variable
  EXPECT_EQ(compile("partner", R"({"city": "$$now"})").params, (Params{"$now"}));
  EXPECT_EQ(compile("partner", R"({"city": "$5"})").params, (Params{"$5"}));
  auto unknown = error("partner", R"({"city": "$nope"})");
  EXPECT_EQ(unknown.status(), 400);
  EXPECT_TRUE(contains(unknown.what(), "$nope")) << unknown.what();
  EXPECT_EQ(error("partner", R"({"city": "$now"})").status(), 400);
  EXPECT_EQ(error("partner", R"({"city": "$user.id"})").status(), 400);
  EXPECT_EQ(error("order", R"({"day": {"in": ["$today"]}})").status(), 400);
}

TEST_F(FilterTest, JsonAndBinaryFields) {
  auto c = compile("partner", R"({"meta": {"eq": {"a": [1, "x"]}}})");
  EXPECT_EQ(c.sql, "t.\"meta\" = $1::jsonb");
  EXPECT_EQ(c.params, (Params{R"({"a":[1,"x"]})"}));
  EXPECT_EQ(compile("partner", R"({"meta": {"ne": [1]}})").params, (Params{"[1]"}));
  EXPECT_EQ(error("partner", R"({"meta": {"gt": 1}})").status(), 400);
  EXPECT_EQ(error("partner", R"({"photo": {"eq": "AAAA"}})").status(), 400);
}

TEST_F(FilterTest, UnknownNamesAre400NamingThem) {
  auto f = error("partner", R"({"citty": "Paris"})");
  EXPECT_EQ(f.status(), 400);
  EXPECT_EQ(f.code(), "records.bad_filter");
  EXPECT_TRUE(contains(f.what(), "\"citty\"")) << f.what();
  EXPECT_TRUE(contains(f.hint(), "city")) << f.hint();
  auto op = error("partner", R"({"city": {"equals": "Paris"}})");
  EXPECT_EQ(op.status(), 400);
  EXPECT_TRUE(contains(op.what(), "\"equals\"")) << op.what();
  auto empty = error("partner", R"({"city": {}})");
  EXPECT_EQ(empty.status(), 400);
}

TEST_F(FilterTest, MalformedOrWrongShapedJsonIs400) {
  for (const char* bad : {"{", "{\"city\": }", "[1]", "\"x\"", "{} {}", "{\"a\":1,}", "nul"}) {
    auto e = error("partner", bad);
    EXPECT_EQ(e.status(), 400) << bad;
    EXPECT_EQ(e.code(), "records.bad_filter") << bad;
  }
  EXPECT_EQ(error("partner", "{\"city\": \"\xff\xfe\"}").status(), 400);  // invalid UTF-8
}

TEST_F(FilterTest, InvalidValuesAre400) {
  EXPECT_EQ(error("partner", R"({"score": "abc"})").status(), 400);
  EXPECT_EQ(error("partner", R"({"score": 1.5})").status(), 400);
  EXPECT_EQ(error("partner", R"({"score": 3000000000})").status(), 400);
  EXPECT_EQ(error("partner", R"({"big": 1e30})").status(), 400);
  EXPECT_EQ(error("partner", R"({"big": 18446744073709551615})").status(), 400);
  EXPECT_EQ(error("order", R"({"day": "2023-02-29"})").status(), 400);
  EXPECT_EQ(error("order", R"({"day": "29/02/2024"})").status(), 400);
  EXPECT_EQ(error("order", R"({"at": "2024-01-01T25:00:00Z"})").status(), 400);
  EXPECT_EQ(error("order", R"({"total": "12,5"})").status(), 400);
  EXPECT_EQ(error("order", R"({"total": "NaN"})").status(), 400);
  EXPECT_EQ(error("order", R"({"paid": "true"})").status(), 400);
  EXPECT_EQ(error("order", R"({"partner": "7"})").status(), 400);
  EXPECT_EQ(error("partner", R"({"city": 5})").status(), 400);
  EXPECT_EQ(error("partner", R"({"city": "a\u0000b"})").status(), 400);
  EXPECT_EQ(error("partner", R"({"city": ["a"]})").status(), 400);
  EXPECT_EQ(error("partner", R"({"city": {"in": "a"}})").status(), 400);
  EXPECT_EQ(error("partner", R"({"score": {"lt": null}})").status(), 400);
  // Filters check types, not write constraints: a longer string or an unknown option matches
  // nothing.
  EXPECT_EQ(compile("order", R"({"ref": "a string longer than sixteen"})").params.size(), 1u);
  EXPECT_EQ(compile("order", R"({"state": "nope"})").params, (Params{"nope"}));
}

TEST_F(FilterTest, RelationsAndComputedFieldsAreRefused) {
  auto o2m = error("partner", R"({"orders": 1})");
  EXPECT_EQ(o2m.status(), 400);
  EXPECT_TRUE(contains(o2m.what(), "not supported")) << o2m.what();
  EXPECT_EQ(error("order", R"({"tags": {"in": [1]}})").status(), 400);
  EXPECT_EQ(error("order", R"({"tags.name": "x"})").status(), 400);
  EXPECT_EQ(error("partner", R"({"rank": 1})").status(), 400);
}

TEST_F(FilterTest, DeepNestingIsRefused) {
  std::string deep;
  for (int i = 0; i < 40; ++i)
    deep += "{\"not\": ";
  deep += "{}";
  for (int i = 0; i < 40; ++i)
    deep += "}";
  EXPECT_EQ(error("partner", deep).status(), 400);
  // Very deep JSON does not overflow the stack either.
  std::string deeper(100000, '[');
  EXPECT_EQ(error("partner", deeper).status(), 400);
}

TEST_F(FilterTest, HiddenFieldsAre403) {
  security::Context user;
  user.admin = false;
  user.roles = {"base.user"};
  EXPECT_EQ(error("partner", R"({"secret": "x"})", user).status(), 403);
  user.roles.push_back("shop.manager");
  EXPECT_EQ(compile("partner", R"({"secret": "x"})", user).sql, "t.\"secret\" = $1::text");
  EXPECT_EQ(compile("partner", R"({"secret": "x"})").sql, "t.\"secret\" = $1::text");  // admin
}

TEST_F(FilterTest, InjectionInKeysIsRefused) {
  for (const char* key : {R"(city\" = 'x' OR 1=1 --)", "city; DROP TABLE partner", "CITY", "city ",
                          "partner\"", "t.city", "city)--", "1", "_x", "city\\u0000"}) {
    std::string json = std::string("{\"") + key + "\": \"x\"}";
    auto e = error("partner", json);
    EXPECT_EQ(e.status(), 400) << json;
  }
  auto op = error("partner", R"({"city": {"= 'x' OR 1=1 --": "x"}})");
  EXPECT_EQ(op.status(), 400);
  EXPECT_EQ(error("partner", R"({"city": {"eq); DROP TABLE partner; --": "x"}})").status(), 400);
}

TEST_F(FilterTest, InjectionInValuesIsBound) {
  const std::vector<std::string> values = {"'; DROP TABLE partner; --", "x' OR '1'='1",
                                           "\\\\'; SELECT 1; --", "$1", "$$1"};
  for (const auto& v : values) {
    std::string json = R"({"city": {"eq": ")" + v + R"("}, "name": {"like": ")" + v + "\"}}";
    auto c = compile("partner", json);
    EXPECT_FALSE(contains(c.sql, "DROP")) << c.sql;
    EXPECT_FALSE(contains(c.sql, "'")) << c.sql;
    EXPECT_EQ(c.sql, "(t.\"city\" = $1::text AND t.\"name\" LIKE $2::text)");
    ASSERT_EQ(c.params.size(), 2u);
  }
  auto c = compile("partner", R"({"city": {"in": ["'); DROP TABLE partner; --"]}})");
  EXPECT_EQ(c.sql, "t.\"city\" = ANY($1::text[])");
  EXPECT_EQ(c.params, (Params{R"({"'); DROP TABLE partner; --"})"}));
}

TEST_F(FilterTest, RefusesWhatItCannotAnswerSafely) {
  // Deeper than a request's structure may be: refused while parsing.
  std::string deep;
  for (int i = 0; i < 100000; ++i)
    deep += R"({"not": )";
  deep += R"({"city": "x"})";
  deep.append(100000, '}');
  EXPECT_EQ(error("partner", deep).code(), "limits.json_depth");
  // The same key twice in one object, as a field or as an operator.
  EXPECT_EQ(error("partner", R"({"city": "a", "city": "b"})").status(), 400);
  EXPECT_TRUE(contains(error("partner", R"({"score": {"gt": 1, "gt": 2}})").what(), "twice"));
  // More values than one statement can bind.
  std::string many = R"({"or": [)";
  for (int i = 0; i < 70000; ++i)
    many += std::string(i ? "," : "") + R"({"city": "x"})";
  many += "]}";
  EXPECT_EQ(error("partner", many).code(), "limits.parameters");
}

}  // namespace
}  // namespace keel::query
