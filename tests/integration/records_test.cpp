#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "app/error.hpp"
#include "db/connection.hpp"
#include "query/filter.hpp"
#include "records/service.hpp"
#include "support/addon_tree.hpp"
#include "support/answered.hpp"
#include "support/fixture.hpp"
#include "support/pg.hpp"

namespace keel::records {
namespace {

using Names = std::vector<std::string>;

const char* kEntities = R"(entities:
  country:
    title: code
    fields:
      code: {type: string, max_length: 2, required: true, unique: true}
      name: {type: string}
  partner:
    order: name
    fields:
      name:    {type: string, max_length: 32, required: true, unique: true}
      city:    {type: string, max_length: 40}
      country: {type: many2one, target: country}
      score:   {type: integer}
      big:     {type: bigint}
      email:   {type: email}
      site:    {type: url}
      meta:    {type: json}
      photo:   {type: binary}
      rating:  {type: float}
      note:    {type: text, readonly: true}
      orders:  {type: one2many, target: order, inverse: partner}
  order:
    title: ref
    order: day desc, id desc
    fields:
      ref:     {type: string, max_length: 16, required: true}
      partner: {type: many2one, target: partner}
      total:   {type: decimal, precision: 10, scale: 2}
      day:     {type: date}
      at:      {type: datetime}
      paid:    {type: boolean, default: false}
      state:   {type: selection, options: [draft, done], default: draft, required: true}
      lines:   {type: one2many, target: line, inverse: order}
      tags:    {type: many2many, target: tag}
  line:
    fields:
      order: {type: many2one, target: order, required: true, on_delete: cascade}
      qty:   {type: integer}
  tag:
    fields:
      name: {type: string, required: true}
)";

// Rows, in id order: countries FR(1) DE(2); partners ACME(1) Beta(2) Gamma(3) Delta(4);
// orders SO1..SO4; tags A(1) B(2); lines 1, 2 of SO1 and 3 of SO2.
const char* kRows = R"(
INSERT INTO country (code, name) VALUES ('FR', 'France'), ('DE', 'Germany');
INSERT INTO partner (name, city, country, score) VALUES
  ('ACME', 'Paris', 1, 10), ('Beta', 'Lyon', 1, 5), ('Gamma', NULL, 2, NULL),
  ('Delta', 'Berlin', NULL, 7);
INSERT INTO "order" (ref, partner, total, day, at, paid, state) VALUES
  ('SO1', 1, 10.50, '2024-01-01', '2024-01-01T10:00:00Z', true, 'done'),
  ('SO2', 2, 20, '2024-01-03', NULL, false, 'draft'),
  ('SO3', 3, NULL, '2024-01-02', NULL, false, 'draft'),
  ('SO4', NULL, 5, NULL, NULL, false, 'draft');
INSERT INTO tag (name) VALUES ('A'), ('B');
INSERT INTO order_tags_rel (source_id, target_id) VALUES (1, 1), (1, 2), (2, 2);
INSERT INTO line ("order", qty) VALUES (1, 1), (1, 2), (2, 3);
)";

class Records : public ::testing::Test, protected testing::AddonsFixture {
 protected:
  void SetUp() override {
    tree.write("shop/manifest.yaml",
               "name: shop\nversion: 1.0.0\ndepends: [base]\n"
               "entities: [entities.yaml]\n");
    tree.write("shop/entities.yaml", kEntities);
    install({"shop"});  // discovery errors fail the test (AddonsFixture::lifecycle)
    Diagnostics diagnostics;
    auto registry = schema::Registry::build(graph->order(), diagnostics);
    auto policy = query::load_policy(graph->order(), *registry, diagnostics);
    ASSERT_FALSE(diagnostics.has_errors());
    service = std::make_unique<RecordService>(registry, policy);
    conn->exec(kRows);
  }

  std::string list_json(const std::string& entity, ListRequest request) {
    return service->list(*conn, ctx, entity, request).json;
  }

  static rapidjson::Document parse(const std::string& json) {
    rapidjson::Document doc;
    doc.Parse(json.c_str());
    EXPECT_FALSE(doc.HasParseError()) << json;
    return doc;
  }

  // The values of `key` (strings, or numbers as text) of the records a list returns.
  Names list(const std::string& entity, const std::string& filter, const std::string& key,
             std::optional<std::string> sort = std::nullopt) {
    ListRequest request;
    request.filter = filter;
    request.sort = sort;
    auto doc = parse(list_json(entity, request));
    Names out;
    for (const auto& r : doc["data"].GetArray()) {
      const auto& v = r[key.c_str()];
      out.push_back(v.IsString() ? v.GetString()
                    : v.IsNull() ? "null"
                                 : std::to_string(v.GetInt64()));
    }
    return out;
  }
  Names partners(const std::string& filter) { return list("partner", filter, "name"); }
  Names orders(const std::string& filter) { return list("order", filter, "ref", "ref"); }

  // The ApiError `call` throws, as the API answers it (status 0 when it throws none).
  static testing::Answered error_of(const std::function<void()>& call) {
    try {
      call();
    } catch (const ApiError& e) {
      return testing::Answered(e);
    }
    return {};
  }

  static std::set<std::string> error_fields(const testing::Answered& e) {
    std::set<std::string> out;
    for (const auto& f : e.field_errors())
      out.insert(f.field);
    return out;
  }

  // Rows of a table, all columns: unchanged after a refused request.
  std::string snapshot(const std::string& table) {
    auto r = conn->exec(
        "SELECT count(*), coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), "
        "'') FROM " +
        db::quote_ident(table) + " t");
    return std::string(r.get(0, 0)) + " " + std::string(r.get(0, 1));
  }
  std::string all_tables() {
    std::string out;
    for (const char* t : {"country", "partner", "order", "line", "tag", "order_tags_rel"})
      out += snapshot(t) + "\n";
    return out + std::string(conn->exec("SELECT count(*) FROM pg_tables WHERE schemaname = "
                                        "'public'")
                                 .get(0, 0));
  }
  std::string one(const std::string& sql) { return std::string(conn->exec(sql).get(0, 0)); }

  std::unique_ptr<RecordService> service;
  SecurityContext ctx = SecurityContext::system();
};

TEST_F(Records, EqNeAndShorthand) {
  EXPECT_EQ(partners(R"({"city": {"eq": "Paris"}})"), (Names{"ACME"}));
  EXPECT_EQ(partners(R"({"city": "Paris"})"), (Names{"ACME"}));
  EXPECT_EQ(partners(R"({"city": null})"), (Names{"Gamma"}));
  // ne includes rows where the field is null
  EXPECT_EQ(partners(R"({"city": {"ne": "Paris"}})"), (Names{"Beta", "Delta", "Gamma"}));
  EXPECT_EQ(partners(R"({"score": {"ne": 10}})"), (Names{"Beta", "Delta", "Gamma"}));
  EXPECT_EQ(partners(R"({"city": {"ne": null}})"), (Names{"ACME", "Beta", "Delta"}));
  EXPECT_EQ(partners(""), (Names{"ACME", "Beta", "Delta", "Gamma"}));
}

TEST_F(Records, Comparisons) {
  EXPECT_EQ(partners(R"({"score": {"gt": 5}})"), (Names{"ACME", "Delta"}));
  EXPECT_EQ(partners(R"({"score": {"gte": 5}})"), (Names{"ACME", "Beta", "Delta"}));
  EXPECT_EQ(partners(R"({"score": {"lt": 7}})"), (Names{"Beta"}));
  EXPECT_EQ(partners(R"({"score": {"lte": 7}})"), (Names{"Beta", "Delta"}));
  EXPECT_EQ(partners(R"({"score": {"gt": 5, "lt": 10}})"), (Names{"Delta"}));
  EXPECT_EQ(orders(R"({"total": {"gte": "10.5"}})"), (Names{"SO1", "SO2"}));
  EXPECT_EQ(orders(R"({"total": {"gte": 10.5}})"), (Names{"SO1", "SO2"}));
  EXPECT_EQ(orders(R"({"total": {"lt": 10.5}})"), (Names{"SO4"}));
  EXPECT_EQ(orders(R"({"day": {"gt": "2024-01-01"}})"), (Names{"SO2", "SO3"}));
  EXPECT_EQ(orders(R"({"at": {"gte": "2024-01-01T09:00:00Z"}})"), (Names{"SO1"}));
  EXPECT_EQ(orders(R"({"at": {"gte": "2024-01-01T11:00:00+02:00"}})"), (Names{"SO1"}));
  EXPECT_EQ(orders(R"({"at": {"gt": "2024-01-01T10:00:00"}})"), (Names{}));
  EXPECT_EQ(orders(R"({"paid": true})"), (Names{"SO1"}));
  EXPECT_EQ(orders(R"({"paid": {"ne": true}})"), (Names{"SO2", "SO3", "SO4"}));
  EXPECT_EQ(orders(R"({"state": {"ne": "draft"}})"), (Names{"SO1"}));
}

TEST_F(Records, InNinWithNulls) {
  EXPECT_EQ(partners(R"({"city": {"in": ["Paris", "Lyon"]}})"), (Names{"ACME", "Beta"}));
  EXPECT_EQ(partners(R"({"city": {"in": ["Paris", null]}})"), (Names{"ACME", "Gamma"}));
  EXPECT_EQ(partners(R"({"city": {"in": []}})"), (Names{}));
  // nin includes rows where the field is null, unless null is in the list
  EXPECT_EQ(partners(R"({"city": {"nin": ["Paris"]}})"), (Names{"Beta", "Delta", "Gamma"}));
  EXPECT_EQ(partners(R"({"city": {"nin": ["Paris", null]}})"), (Names{"Beta", "Delta"}));
  EXPECT_EQ(partners(R"({"city": {"nin": []}})"), (Names{"ACME", "Beta", "Delta", "Gamma"}));
  EXPECT_EQ(partners(R"({"score": {"nin": [10, 5]}})"), (Names{"Delta", "Gamma"}));
  EXPECT_EQ(orders(R"({"partner": {"in": [1, 3]}})"), (Names{"SO1", "SO3"}));
}

TEST_F(Records, LikeIlikeAndNull) {
  EXPECT_EQ(partners(R"({"name": {"like": "%a%"}})"), (Names{"Beta", "Delta", "Gamma"}));
  EXPECT_EQ(partners(R"({"name": {"ilike": "%a%"}})"), (Names{"ACME", "Beta", "Delta", "Gamma"}));
  EXPECT_EQ(partners(R"({"name": {"like": "_eta"}})"), (Names{"Beta"}));
  EXPECT_EQ(partners(R"({"city": {"null": true}})"), (Names{"Gamma"}));
  EXPECT_EQ(partners(R"({"city": {"null": false}})"), (Names{"ACME", "Beta", "Delta"}));
}

TEST_F(Records, AndOrNotWithNulls) {
  EXPECT_EQ(partners(R"({"or": [{"city": "Paris"}, {"score": {"lt": 6}}]})"),
            (Names{"ACME", "Beta"}));
  EXPECT_EQ(partners(R"({"and": [{"country": 1}, {"score": {"lt": 6}}]})"), (Names{"Beta"}));
  // not is the complement, nulls included
  EXPECT_EQ(partners(R"({"not": {"city": "Paris"}})"), (Names{"Beta", "Delta", "Gamma"}));
  EXPECT_EQ(partners(R"({"not": {"score": {"gt": 5}}})"), (Names{"Beta", "Gamma"}));
  EXPECT_EQ(partners(R"({"not": {"city": {"in": ["Paris", "Lyon"]}}})"), (Names{"Delta", "Gamma"}));
  EXPECT_EQ(partners(R"({"not": {"or": [{"city": "Paris"}, {"score": 5}]}})"),
            (Names{"Delta", "Gamma"}));
  EXPECT_EQ(partners(R"({"not": {"not": {"city": "Paris"}}})"), (Names{"ACME"}));
  EXPECT_EQ(partners(R"({"or": []})"), (Names{}));
}

TEST_F(Records, PathsThroughMany2one) {
  EXPECT_EQ(orders(R"({"partner.city": "Paris"})"), (Names{"SO1"}));
  EXPECT_EQ(orders(R"({"partner.country.code": "FR"})"), (Names{"SO1", "SO2"}));
  // SO3's partner is German, SO4 has no partner: both differ from FR
  EXPECT_EQ(orders(R"({"partner.country.code": {"ne": "FR"}})"), (Names{"SO3", "SO4"}));
  EXPECT_EQ(orders(R"({"partner.country": {"null": true}})"), (Names{"SO4"}));
  EXPECT_EQ(orders(R"({"partner.city": "Paris", "partner.country.name": "France"})"),
            (Names{"SO1"}));
  EXPECT_EQ(orders(R"({"not": {"partner.score": {"gte": 5}}})"), (Names{"SO3", "SO4"}));
}

TEST_F(Records, Variables) {
  EXPECT_EQ(orders(R"({"day": {"lt": "$today"}})"), (Names{"SO1", "SO2", "SO3"}));
  EXPECT_EQ(orders(R"({"at": {"lt": "$now"}})"), (Names{"SO1"}));
  ctx.user_id = 7;
  service->create(*conn, ctx, "tag", R"({"name": "mine"})");
  EXPECT_EQ(list("tag", R"({"created_by": "$user.id"})", "name"), (Names{"mine"}));
  EXPECT_EQ(list("tag", R"({"updated_by": {"eq": "$user.id"}})", "name"), (Names{"mine"}));
  ctx.user_id = 8;
  EXPECT_EQ(list("tag", R"({"created_by": "$user.id"})", "name"), (Names{}));
}

TEST_F(Records, SortAscDescWithPathsAndNulls) {
  auto sorted = [&](const std::string& entity, const std::string& sort, const std::string& key) {
    return list(entity, "", key, sort);
  };
  EXPECT_EQ(sorted("partner", "-name", "name"), (Names{"Gamma", "Delta", "Beta", "ACME"}));
  EXPECT_EQ(sorted("partner", "+name", "name"), (Names{"ACME", "Beta", "Delta", "Gamma"}));
  EXPECT_EQ(sorted("partner", "city", "name"), (Names{"Delta", "Beta", "ACME", "Gamma"}));
  EXPECT_EQ(sorted("partner", "-city", "name"), (Names{"Gamma", "ACME", "Beta", "Delta"}));
  EXPECT_EQ(sorted("partner", "country, -score", "name"),
            (Names{"ACME", "Beta", "Gamma", "Delta"}));
  EXPECT_EQ(sorted("order", "partner.name", "ref"), (Names{"SO1", "SO2", "SO3", "SO4"}));
  EXPECT_EQ(sorted("order", "-partner.name", "ref"), (Names{"SO4", "SO3", "SO2", "SO1"}));
  EXPECT_EQ(sorted("order", "partner.country.code,-ref", "ref"),
            (Names{"SO3", "SO2", "SO1", "SO4"}));
  EXPECT_EQ(sorted("order", "-id", "ref"), (Names{"SO4", "SO3", "SO2", "SO1"}));
  // Default: the entity's order ("day desc, id desc"), nulls first when descending
  EXPECT_EQ(list("order", "", "ref"), (Names{"SO4", "SO2", "SO3", "SO1"}));
  EXPECT_EQ(list("partner", "", "name"), (Names{"ACME", "Beta", "Delta", "Gamma"}));
  EXPECT_EQ(list("tag", "", "name"), (Names{"A", "B"}));  // no order: id

  for (const char* bad : {"nope", "-", "name,", "tags", "lines", "name;DROP TABLE partner",
                          "name desc", "partner.nope", "city.name", "\"name\""}) {
    ListRequest r;
    r.sort = bad;
    auto e = error_of([&] { list_json(bad[0] == 't' || bad[0] == 'l' ? "order" : "partner", r); });
    EXPECT_EQ(e.status(), 400) << bad;
  }
}

TEST_F(Records, LimitOffsetTotal) {
  auto page = [&](const char* limit, const char* offset, const char* filter = nullptr) {
    ListRequest r;
    if (limit) r.limit = limit;
    if (offset) r.offset = offset;
    if (filter) r.filter = filter;
    return parse(list_json("partner", r));
  };
  auto names = [](const rapidjson::Document& d) {
    Names out;
    for (const auto& r : d["data"].GetArray())
      out.push_back(r["name"].GetString());
    return out;
  };
  auto d = page("2", nullptr);
  EXPECT_EQ(names(d), (Names{"ACME", "Beta"}));
  EXPECT_EQ(d["total"].GetInt64(), 4);
  d = page("2", "3");
  EXPECT_EQ(names(d), (Names{"Gamma"}));
  EXPECT_EQ(d["total"].GetInt64(), 4);
  d = page(nullptr, "10");
  EXPECT_EQ(names(d), (Names{}));
  EXPECT_EQ(d["total"].GetInt64(), 4);
  d = page("0", nullptr);
  EXPECT_EQ(names(d), (Names{}));
  EXPECT_EQ(d["total"].GetInt64(), 4);
  d = page("1", "1", R"({"city": {"ne": "Paris"}})");
  EXPECT_EQ(names(d), (Names{"Delta"}));
  EXPECT_EQ(d["total"].GetInt64(), 3);
  d = page("1", "5", R"({"city": {"ne": "Paris"}})");
  EXPECT_EQ(d["total"].GetInt64(), 3);
  d = page("1000", nullptr);
  EXPECT_EQ(d["total"].GetInt64(), 4);

  for (auto [limit, offset] :
       std::vector<std::pair<const char*, const char*>>{{"1001", nullptr},
                                                        {"-1", nullptr},
                                                        {"abc", nullptr},
                                                        {"1.5", nullptr},
                                                        {"99999999999999999999", nullptr},
                                                        {nullptr, "-1"},
                                                        {nullptr, "x"},
                                                        {"1;", nullptr}}) {
    auto e = error_of([&] { page(limit, offset); });
    EXPECT_EQ(e.status(), 400) << (limit ? limit : "") << " " << (offset ? offset : "");
  }
  EXPECT_NE(std::string(error_of([&] { page("1001", nullptr); }).what()).find("1000"),
            std::string::npos);
}

TEST_F(Records, DefaultFieldsAndTypes) {
  ListRequest r;
  r.filter = R"({"ref": "SO1"})";
  auto doc = parse(list_json("order", r));
  ASSERT_EQ(doc["data"].Size(), 1u);
  const auto& o = doc["data"][0];
  EXPECT_EQ(o["id"].GetInt64(), 1);
  EXPECT_STREQ(o["ref"].GetString(), "SO1");
  EXPECT_EQ(o["partner"].GetInt64(), 1);
  EXPECT_STREQ(o["total"].GetString(), "10.50");
  EXPECT_STREQ(o["day"].GetString(), "2024-01-01");
  EXPECT_STREQ(o["at"].GetString(), "2024-01-01T10:00:00Z");
  EXPECT_TRUE(o["paid"].GetBool());
  EXPECT_STREQ(o["state"].GetString(), "done");
  ASSERT_TRUE(o["lines"].IsArray());
  EXPECT_EQ(o["lines"].Size(), 2u);
  EXPECT_EQ(o["lines"][0].GetInt64(), 1);
  EXPECT_EQ(o["lines"][1].GetInt64(), 2);
  ASSERT_TRUE(o["tags"].IsArray());
  EXPECT_EQ(o["tags"].Size(), 2u);
  EXPECT_TRUE(o["created_at"].IsString());
  EXPECT_TRUE(o["created_by"].IsNull());
  // The keys: id, the declared fields, then the audit columns.
  Names keys;
  for (const auto& m : o.GetObject())
    keys.push_back(m.name.GetString());
  EXPECT_EQ(keys, (Names{"id", "ref", "partner", "total", "day", "at", "paid", "state", "lines",
                         "tags", "created_at", "updated_at", "created_by", "updated_by"}));

  // one2many and many2many as id lists, empty when there are none
  EXPECT_EQ(service->read(*conn, ctx, "order", 4, std::string("lines,tags")).json,
            R"({"id":4,"lines":[],"tags":[]})");
  EXPECT_EQ(service->read(*conn, ctx, "order", 2, std::string("lines,tags")).json,
            R"({"id":2,"lines":[3],"tags":[2]})");
  ListRequest orders;
  orders.fields = "orders";
  orders.sort = "name";
  EXPECT_EQ(list_json("partner", orders),
            R"({"data":[{"id":1,"orders":[1]},{"id":2,"orders":[2]},{"id":4,"orders":[]},)"
            R"({"id":3,"orders":[3]}],"total":4})");
}

TEST_F(Records, FieldsExpandMany2oneInTheSameQuery) {
  ListRequest r;
  r.fields = "name,country.code";
  r.filter = R"({"name": {"in": ["ACME", "Delta"]}})";
  EXPECT_EQ(list_json("partner", r),
            R"({"data":[{"id":1,"name":"ACME","country":{"id":1,"code":"FR"}},)"
            R"({"id":4,"name":"Delta","country":null}],"total":2})");
  r = ListRequest();
  r.fields = "ref, partner.country.code, partner.name, partner";
  r.sort = "ref";
  r.limit = "1";
  EXPECT_EQ(list_json("order", r),
            R"({"data":[{"id":1,"ref":"SO1","partner":{"id":1,"country":{"id":1,"code":"FR"},)"
            R"("name":"ACME"}}],"total":4})");
  EXPECT_EQ(service->read(*conn, ctx, "order", 4, std::string("partner.name,id")).json,
            R"({"id":4,"partner":null})");
  EXPECT_EQ(service->read(*conn, ctx, "order", 1, std::string("partner")).json,
            R"({"id":1,"partner":1})");

  for (const char* bad : {"nope", "name,,ref", "lines.qty", "tags.name", "partner.orders",
                          "partner.nope", "ref.x", "name;DROP TABLE partner", "\"ref\""}) {
    auto e = error_of([&] { service->read(*conn, ctx, "order", 1, std::string(bad)); });
    EXPECT_EQ(e.status(), 400) << bad;
  }
}

TEST_F(Records, ReadOneAndUnknownEntity) {
  auto doc = parse(service->read(*conn, ctx, "partner", 3, std::nullopt).json);
  EXPECT_STREQ(doc["name"].GetString(), "Gamma");
  EXPECT_TRUE(doc["city"].IsNull());
  EXPECT_TRUE(doc["score"].IsNull());
  EXPECT_EQ(error_of([&] { service->read(*conn, ctx, "partner", 99, std::nullopt); }).status(),
            404);
  EXPECT_EQ(error_of([&] { service->read(*conn, ctx, "nope", 1, std::nullopt); }).status(), 404);
  EXPECT_EQ(error_of([&] { list_json("nope", {}); }).status(), 404);
}

TEST_F(Records, CreateReturnsTheRecordReadBack) {
  ctx.user_id = 3;
  auto result =
      service->create(*conn, ctx, "order",
                      R"({"ref": "SO9", "partner": 2, "total": "1.25", "day": "2024-05-01",
          "at": "2024-05-01T12:30:00+02:00", "tags": [2, 1, 2]})");
  EXPECT_EQ(result.id, 5);
  auto o = parse(result.json);
  EXPECT_EQ(o["id"].GetInt64(), 5);
  EXPECT_STREQ(o["ref"].GetString(), "SO9");
  EXPECT_EQ(o["partner"].GetInt64(), 2);
  EXPECT_STREQ(o["total"].GetString(), "1.25");
  EXPECT_STREQ(o["day"].GetString(), "2024-05-01");
  EXPECT_STREQ(o["at"].GetString(), "2024-05-01T10:30:00Z");
  EXPECT_STREQ(o["state"].GetString(), "draft");  // default
  EXPECT_FALSE(o["paid"].GetBool());              // default
  EXPECT_EQ(o["created_by"].GetInt64(), 3);
  EXPECT_EQ(o["updated_by"].GetInt64(), 3);
  ASSERT_EQ(o["tags"].Size(), 2u);
  EXPECT_EQ(o["tags"][0].GetInt64(), 1);
  EXPECT_EQ(o["tags"][1].GetInt64(), 2);
  EXPECT_EQ(one("SELECT count(*) FROM order_tags_rel WHERE source_id = 5"), "2");

  // Decimals as numbers; json, binary, float, email, url round trip.
  auto n = parse(service->create(*conn, ctx, "order", R"({"ref": "N", "total": 3.5})").json);
  EXPECT_STREQ(n["total"].GetString(), "3.50");
  auto p = parse(service
                     ->create(*conn, ctx, "partner",
                              R"({"name": "Typed", "meta": {"a": [1, "x", null]},
                                  "photo": "aGVsbG8=", "rating": 1.5, "big": 9007199254740993,
                                  "email": "a.b@example.com", "site": "https://example.com/x?y=1",
                                  "country": {"id": 2}})")
                     .json);
  ASSERT_TRUE(p["meta"].IsObject());
  EXPECT_EQ(p["meta"]["a"].Size(), 3u);
  EXPECT_STREQ(p["photo"].GetString(), "aGVsbG8=");
  EXPECT_EQ(one("SELECT convert_from(photo, 'UTF8') FROM partner WHERE name = 'Typed'"), "hello");
  EXPECT_DOUBLE_EQ(p["rating"].GetDouble(), 1.5);
  EXPECT_EQ(p["big"].GetInt64(), 9007199254740993);
  EXPECT_EQ(p["country"].GetInt64(), 2);
  EXPECT_STREQ(p["email"].GetString(), "a.b@example.com");
}

TEST_F(Records, CreateOne2manyTakesOverTheLines) {
  auto o = parse(service->create(*conn, ctx, "order", R"({"ref": "SO9", "lines": [3]})").json);
  EXPECT_EQ(o["lines"].Size(), 1u);
  EXPECT_EQ(o["lines"][0].GetInt64(), 3);
  EXPECT_EQ(service->read(*conn, ctx, "order", 2, std::string("lines")).json,
            R"({"id":2,"lines":[]})");
}

TEST_F(Records, CreateValidationListsEveryProblem) {
  std::string before = all_tables();
  auto e = error_of([&] {
    service->create(*conn, ctx, "order",
                    R"({"ref": 12, "total": "1.234", "state": "bogus", "day": "2024-13-01",
                        "at": "yesterday", "paid": "yes", "partner": 999, "tags": [1, 998, 999],
                        "lines": "x", "nope": 1, "id": 5, "created_at": "2024-01-01"})");
  });
  EXPECT_EQ(e.status(), 422);
  EXPECT_EQ(e.code(), "records.invalid");
  EXPECT_EQ(error_fields(e),
            (std::set<std::string>{"ref", "total", "state", "day", "at", "paid", "partner", "tags",
                                   "lines", "nope", "id", "created_at"}));
  std::map<std::string, std::string> messages;
  for (const auto& f : e.field_errors())
    messages[f.field] = f.message;
  EXPECT_NE(messages["partner"].find("999"), std::string::npos) << messages["partner"];
  EXPECT_NE(messages["tags"].find("998, 999"), std::string::npos) << messages["tags"];
  EXPECT_NE(messages["state"].find("draft, done"), std::string::npos) << messages["state"];
  EXPECT_NE(messages["id"].find("read-only"), std::string::npos) << messages["id"];
  // required on create: ref has no default; state has one
  auto required = error_of([&] { service->create(*conn, ctx, "order", "{}"); });
  EXPECT_EQ(required.status(), 422);
  EXPECT_EQ(error_fields(required), (std::set<std::string>{"ref"}));
  auto null_required =
      error_of([&] { service->create(*conn, ctx, "order", R"({"ref": "x", "state": null})"); });
  EXPECT_EQ(error_fields(null_required), (std::set<std::string>{"state"}));

  auto p = error_of([&] {
    service->create(*conn, ctx, "partner",
                    R"({"name": "123456789012345678901234567890123", "email": "not-an-email",
                        "site": "no url", "score": 3000000000, "big": 1.5, "note": "x",
                        "rating": "1.5", "meta": null, "photo": "abc", "orders": [1, "2"],
                        "country": "1", "updated_by": 1})");
  });
  EXPECT_EQ(p.status(), 422);
  EXPECT_EQ(error_fields(p),
            (std::set<std::string>{"name", "email", "site", "score", "big", "note", "rating",
                                   "photo", "orders", "country", "updated_by"}));
  // precision: 10 digits, 2 after the point
  auto big = error_of(
      [&] { service->create(*conn, ctx, "order", R"({"ref": "x", "total": "123456789.5"})"); });
  EXPECT_EQ(error_fields(big), (std::set<std::string>{"total"}));
  EXPECT_EQ(service->create(*conn, ctx, "order", R"({"ref": "x", "total": "12345678.50"})").id, 5);
  EXPECT_EQ(service->create(*conn, ctx, "order", R"({"ref": "y", "total": "-1.5e1"})").id, 6);
  conn->exec("DELETE FROM \"order\" WHERE id > 4");
  EXPECT_EQ(all_tables(), before);
}

TEST_F(Records, MalformedBodiesAre400) {
  std::string before = all_tables();
  for (const char* body : {"", "{", "[1]", "\"x\"", "{\"ref\": \"x\",}", "{\"ref\": 'x'}",
                           "{\"ref\": \"x\"} {}", "null"}) {
    auto e = error_of([&] { service->create(*conn, ctx, "order", body); });
    EXPECT_EQ(e.status(), 400) << body;
  }
  EXPECT_EQ(all_tables(), before);
}

TEST_F(Records, UniqueViolationIs409) {
  std::string before = snapshot("partner");
  auto e = error_of([&] { service->create(*conn, ctx, "partner", R"({"name": "ACME"})"); });
  EXPECT_EQ(e.status(), 409);
  EXPECT_EQ(error_fields(e), (std::set<std::string>{"name"}));
  EXPECT_EQ(std::string(e.what()).find("INSERT"), std::string::npos) << e.what();
  auto u = error_of([&] { service->update(*conn, ctx, "partner", 2, R"({"name": "ACME"})"); });
  EXPECT_EQ(u.status(), 409);
  EXPECT_EQ(snapshot("partner"), before);
}

TEST_F(Records, FailuresInsideACallersTransactionUseASavepoint) {
  db::Transaction tx(*conn);
  auto e = error_of([&] { service->create(*conn, ctx, "partner", R"({"name": "ACME"})"); });
  EXPECT_EQ(e.status(), 409);
  // The caller's transaction is still usable.
  service->create(*conn, ctx, "partner", R"({"name": "Inside"})");
  EXPECT_EQ(one("SELECT count(*) FROM partner"), "5");
  tx.rollback();
  EXPECT_EQ(one("SELECT count(*) FROM partner"), "4");
}

TEST_F(Records, UpdateChangesOnlyTheGivenFields) {
  conn->exec("UPDATE \"order\" SET updated_at = '2000-01-01' WHERE id = 2");
  ctx.user_id = 9;
  auto o = parse(
      service->update(*conn, ctx, "order", 2, R"({"total": "99.99", "tags": [], "day": null})")
          .json);
  EXPECT_STREQ(o["total"].GetString(), "99.99");
  EXPECT_EQ(o["tags"].Size(), 0u);
  EXPECT_TRUE(o["day"].IsNull());
  EXPECT_STREQ(o["ref"].GetString(), "SO2");
  EXPECT_EQ(o["partner"].GetInt64(), 2);
  EXPECT_EQ(o["updated_by"].GetInt64(), 9);
  EXPECT_EQ(one("SELECT updated_at > now() - interval '1 minute' FROM \"order\" WHERE id = 2"),
            "t");
  // many2many replaces the set
  o = parse(service->update(*conn, ctx, "order", 1, R"({"tags": [2]})").json);
  ASSERT_EQ(o["tags"].Size(), 1u);
  EXPECT_EQ(o["tags"][0].GetInt64(), 2);
  EXPECT_EQ(one("SELECT count(*) FROM order_tags_rel WHERE source_id = 1"), "1");
  // one2many replaces the set: line 2 cannot exist without its order (cascade): deleted
  o = parse(service->update(*conn, ctx, "order", 1, R"({"lines": [1, 3]})").json);
  EXPECT_EQ(service->read(*conn, ctx, "order", 1, std::string("lines")).json,
            R"({"id":1,"lines":[1,3]})");
  EXPECT_EQ(one("SELECT count(*) FROM line WHERE id = 2"), "0");
  // partner.orders: order.partner is optional, so orders taken out are detached
  service->update(*conn, ctx, "partner", 1, R"({"orders": [2]})");
  EXPECT_EQ(service->read(*conn, ctx, "partner", 1, std::string("orders")).json,
            R"({"id":1,"orders":[2]})");
  EXPECT_EQ(one("SELECT partner IS NULL FROM \"order\" WHERE id = 1"), "t");
  // an empty body touches updated_at only
  EXPECT_EQ(parse(service->update(*conn, ctx, "tag", 1, "{}").json)["name"].GetString(),
            std::string("A"));
}

TEST_F(Records, UpdateErrors) {
  std::string before = all_tables();
  EXPECT_EQ(error_of([&] { service->update(*conn, ctx, "order", 99, R"({"total": 1})"); }).status(),
            404);
  auto e = error_of([&] {
    service->update(*conn, ctx, "order", 1,
                    R"({"ref": null, "state": null, "partner": 42, "total": "x", "id": 3})");
  });
  EXPECT_EQ(e.status(), 422);
  EXPECT_EQ(error_fields(e), (std::set<std::string>{"ref", "state", "partner", "total", "id"}));
  EXPECT_EQ(error_of([&] { service->update(*conn, ctx, "order", 1, "[]"); }).status(), 400);
  EXPECT_EQ(
      error_of([&] { service->update(*conn, ctx, "order", 1, R"({"lines": [99]})"); }).status(),
      422);
  EXPECT_EQ(all_tables(), before);
}

TEST_F(Records, Delete) {
  service->remove(*conn, ctx, "tag", 1);  // the link rows go with it
  EXPECT_EQ(one("SELECT count(*) FROM order_tags_rel WHERE target_id = 1"), "0");
  EXPECT_EQ(error_of([&] { service->remove(*conn, ctx, "tag", 1); }).status(), 404);
  // restrict: orders refer to partner 1
  std::string before = all_tables();
  auto e = error_of([&] { service->remove(*conn, ctx, "partner", 1); });
  EXPECT_EQ(e.status(), 409);
  EXPECT_EQ(e.code(), "records.referenced");
  EXPECT_NE(std::string(e.what()).find("order.partner"), std::string::npos) << e.what();
  EXPECT_EQ(std::string(e.what()).find("DELETE"), std::string::npos) << e.what();
  auto c = error_of([&] { service->remove(*conn, ctx, "country", 1); });
  EXPECT_EQ(c.status(), 409);
  EXPECT_NE(std::string(c.what()).find("partner.country"), std::string::npos) << c.what();
  EXPECT_EQ(all_tables(), before);
  // cascade: the lines go with their order
  service->remove(*conn, ctx, "order", 1);
  EXPECT_EQ(one("SELECT count(*) FROM line WHERE \"order\" = 1"), "0");
  service->remove(*conn, ctx, "partner", 1);
  EXPECT_EQ(one("SELECT count(*) FROM partner"), "3");
}

TEST_F(Records, DataExceptionsAre422WithoutSql) {
  std::string before = all_tables();
  // jsonb cannot hold \u0000: PostgreSQL refuses it (22P05)
  auto e = error_of(
      [&] { service->create(*conn, ctx, "partner", R"({"name": "J", "meta": {"a": "\u0000"}})"); });
  EXPECT_EQ(e.status(), 422);
  EXPECT_EQ(std::string(e.what()).find("INSERT"), std::string::npos) << e.what();
  EXPECT_EQ(std::string(e.detail()).find("INSERT"), std::string::npos) << e.detail();
  EXPECT_EQ(all_tables(), before);
}

TEST_F(Records, InjectionAttemptsLeaveEverythingIntact) {
  std::string before = all_tables();
  const std::vector<std::string> evil = {
      "'; DROP TABLE partner; --",   "x' OR '1'='1", "\\'; DELETE FROM partner; --",
      "\"; DELETE FROM partner; --", "$1",           "1); DELETE FROM partner; --"};
  for (const auto& v : evil) {
    std::string quoted;  // v as a JSON string
    {
      rapidjson::StringBuffer b;
      rapidjson::Writer<rapidjson::StringBuffer> w(b);
      w.String(v.c_str());
      quoted = b.GetString();
    }
    // values: bound, they match nothing
    EXPECT_EQ(partners("{\"name\": " + quoted + "}"), (Names{}));
    EXPECT_EQ(partners("{\"name\": {\"like\": " + quoted + "}}"), (Names{}));
    EXPECT_EQ(partners("{\"city\": {\"in\": [" + quoted + "]}}"), (Names{}));
    EXPECT_EQ(partners("{\"city\": {\"nin\": [" + quoted + "]}}").size(), 4u);
    // keys and operators: refused
    EXPECT_EQ(error_of([&] { partners("{" + quoted + ": 1}"); }).status(), 400) << v;
    EXPECT_EQ(error_of([&] { partners("{\"name\": {" + quoted + ": 1}}"); }).status(), 400) << v;
    ListRequest r;
    r.sort = v;
    EXPECT_EQ(error_of([&] { list_json("partner", r); }).status(), 400) << v;
    r = ListRequest();
    r.fields = "name," + v;
    EXPECT_EQ(error_of([&] { list_json("partner", r); }).status(), 400) << v;
    r = ListRequest();
    r.limit = v;
    EXPECT_EQ(error_of([&] { list_json("partner", r); }).status(), 400) << v;
    // body keys: unknown fields
    EXPECT_EQ(
        error_of([&] { service->create(*conn, ctx, "partner", "{" + quoted + ": 1}"); }).status(),
        422);
    EXPECT_EQ(error_of([&] {
                service->update(*conn, ctx, "partner", 1, "{\"city\": 1, " + quoted + ": 1}");
              }).status(),
              422);
    // a filter value in a number field: 400, nothing run
    EXPECT_EQ(error_of([&] { partners("{\"score\": " + quoted + "}"); }).status(), 400);
  }
  EXPECT_EQ(all_tables(), before);
  // Body values are stored verbatim, as data.
  for (size_t i = 0; i < evil.size(); ++i) {
    rapidjson::StringBuffer b;
    rapidjson::Writer<rapidjson::StringBuffer> w(b);
    w.StartObject();
    w.Key("name");
    w.String(evil[i].c_str());
    w.Key("city");
    w.String(evil[i].c_str());
    w.EndObject();
    auto created = parse(service->create(*conn, ctx, "partner", b.GetString()).json);
    EXPECT_EQ(created["name"].GetString(), evil[i]);
    EXPECT_EQ(created["city"].GetString(), evil[i]);
    EXPECT_EQ(one("SELECT count(*) FROM partner WHERE name = city AND id = " +
                  std::to_string(created["id"].GetInt64())),
              "1");
  }
  EXPECT_EQ(one("SELECT count(*) FROM partner"), std::to_string(4 + evil.size()));
}

TEST_F(Records, OneQueryPerRelationPerPageNeverOnePerRow) {
  for (int i = 0; i < 30; ++i)
    service->create(*conn, ctx, "order",
                    R"({"ref": "P)" + std::to_string(i) + R"(", "partner": 1, "tags": [1, 2]})");
  // Scans of each table within one transaction, as PostgreSQL counts them for this backend.
  auto scans = [&](const char* table) {
    return conn->exec("SELECT pg_stat_get_xact_numscans($1::regclass)", db::Params().add(table))
        .get_int(0, 0);
  };
  db::Transaction tx(*conn);
  conn->exec("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off");
  std::int64_t lines = scans("line"), links = scans("order_tags_rel"), tags = scans("tag");
  ListRequest r;
  r.fields = "ref,partner.name,partner.country.code,lines,tags";
  r.limit = "1000";
  auto doc = parse(list_json("order", r));
  EXPECT_EQ(doc["data"].Size(), 34u);
  EXPECT_EQ(scans("line") - lines, 1);
  EXPECT_EQ(scans("order_tags_rel") - links, 1);
  EXPECT_EQ(scans("tag") - tags, 0);
  tx.rollback();
}

}  // namespace
}  // namespace keel::records
