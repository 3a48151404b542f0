#pragma once

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "app/error.hpp"
#include "modules/discovery.hpp"
#include "modules/graph.hpp"
#include "schema/registry.hpp"
#include "support/addon_tree.hpp"

namespace keel::http::testing {

// Module `name` (version 1.0.0) with one entity file, written into `tree`.
inline void write_module(const keel::testing::AddonTree& tree, const std::string& name,
                         const std::vector<std::string>& depends, const std::string& entities) {
  std::string manifest = "name: " + name + "\nversion: 1.0.0\nentities: [entities/*.yaml]\n";
  if (!depends.empty()) {
    manifest += "depends:\n";
    for (const auto& d : depends)
      manifest += "  - " + d + "\n";
  }
  tree.write(name + "/manifest.yaml", manifest);
  tree.write(name + "/entities/" + name + ".yaml", entities);
}

// Discovers the modules of `tree`, orders them and merges their entities; every diagnostic
// fails the test.
inline std::shared_ptr<const schema::Registry> build_registry(
    const keel::testing::AddonTree& tree) {
  auto found = modules::discover({tree.path()});
  for (const auto& d : found.diagnostics.items())
    ADD_FAILURE() << d.to_string();
  modules::ModuleGraph graph(std::move(found.modules));
  for (const auto& d : graph.diagnostics().items())
    ADD_FAILURE() << d.to_string();
  Diagnostics diagnostics;
  auto registry = schema::Registry::build(graph.order(), diagnostics);
  for (const auto& d : diagnostics.items())
    ADD_FAILURE() << d.to_string();
  return registry;
}

// Two modules covering every field type and attribute: `contacts` declares partner, `sales`
// (depending on it) declares sale_order, sale_line and tag and extends partner.
inline const char* kContacts = R"(entities:
  partner:
    label: Partner
    order: name
    fields:
      name:       {type: string, required: true, unique: true, max_length: 64}
      email:      {type: email}
      website:    {type: url, help: "Home page, \"https\" preferred"}
      kind:       {type: selection, options: [person, company], default: person}
      is_company: {type: boolean, default: false}
      notes:      {type: text}
)";

inline const char* kSales = R"(entities:
  sale_order:
    label: Sales order
    title: ref
    order: date desc, id desc
    table: orders
    fields:
      ref:      {type: string, required: true, unique: true, max_length: 64, label: Reference}
      partner:  {type: many2one, target: partner, required: true, on_delete: restrict}
      state:    {type: selection, options: [draft, done], required: true, default: draft}
      stage:    {type: selection, options: [new, won]}
      qty:      {type: integer, default: -5}
      big:      {type: bigint, default: "9000000000"}
      amount:   {type: decimal, precision: 14, scale: 2, readonly: true}
      discount: {type: decimal, precision: 5, scale: 2, default: "0.50"}
      rate:     {type: decimal}
      ratio:    {type: float, default: 1.5e3}
      paid:     {type: boolean, default: false}
      date:     {type: date, default: today}
      sent_at:  {type: datetime, default: now}
      payload:  {type: json, default: '{"a": [1, 2]}'}
      scan:     {type: binary}
      lines:    {type: one2many, target: sale_line, inverse: order}
      tags:     {type: many2many, target: tag, required: true}
      total:    {type: integer, computed: true, store: true}
      margin:   {type: decimal, computed: true}
  sale_line:
    fields:
      order:    {type: many2one, target: sale_order, on_delete: cascade}
      price:    {type: decimal, precision: 10, scale: 0}
  tag:
    label: Tag
    fields:
      label:    {type: string, max_length: 32}
extend:
  partner:
    fields:
      sale_count: {type: integer, computed: true}
      email:      {required: true}
)";

inline void write_sales(const keel::testing::AddonTree& tree) {
  write_module(tree, "contacts", {}, kContacts);
  write_module(tree, "sales", {"contacts"}, kSales);
}

// Parses `json`, failing the test when it is not valid JSON.
inline void parse(rapidjson::Document& doc, const std::string& json) {
  doc.Parse(json.c_str(), json.size());
  ASSERT_FALSE(doc.HasParseError()) << rapidjson::GetParseError_En(doc.GetParseError())
                                    << " at offset " << doc.GetErrorOffset() << " of:\n"
                                    << json;
}

// Member `name` of `v`, or a null value when `v` is not an object or lacks it.
inline const rapidjson::Value& at(const rapidjson::Value& v, const char* name) {
  static const rapidjson::Value kNull;
  if (!v.IsObject()) return kNull;
  auto it = v.FindMember(name);
  return it == v.MemberEnd() ? kNull : it->value;
}

inline std::string string_of(const rapidjson::Value& v) {
  return v.IsString() ? std::string(v.GetString(), v.GetStringLength())
                      : std::string("<not a string>");
}

// The strings of an array value (a non-string element becomes "<not a string>").
inline std::vector<std::string> strings_of(const rapidjson::Value& v) {
  std::vector<std::string> out;
  if (!v.IsArray()) return out;
  for (const auto& item : v.GetArray())
    out.push_back(item.IsNull() ? std::string("<null>") : string_of(item));
  return out;
}

// The member names of an object, in document order.
inline std::vector<std::string> keys_of(const rapidjson::Value& v) {
  std::vector<std::string> out;
  if (!v.IsObject()) return out;
  for (const auto& m : v.GetObject())
    out.push_back(string_of(m.name));
  return out;
}

}  // namespace keel::http::testing
