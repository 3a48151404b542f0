// Feeds arbitrary bytes as a list request's query string: URL decoding and splitting
// (http::parse_query), then `filter`, `sort`, `limit`, `offset` and `fields` through
// RecordService's statement builders, as an administrator and as a user under a record rule.
// It must answer with an error or a statement, never crash, recurse without bound or leak.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string_view>

#include "app/error.hpp"
#include "http/message.hpp"
#include "modules/discovery.hpp"
#include "modules/graph.hpp"
#include "query/filter.hpp"
#include "records/service.hpp"
#include "schema/registry.hpp"

namespace {

constexpr const char* kEntities = R"(entities:
  country:
    fields:
      name: {type: string, max_length: 8}
      code: {type: string}
  partner:
    order: name desc, id
    fields:
      name:    {type: string, max_length: 32, required: true}
      score:   {type: integer}
      amount:  {type: decimal, precision: 14, scale: 2}
      day:     {type: date}
      meta:    {type: json}
      state:   {type: selection, options: [draft, done]}
      country: {type: many2one, target: country}
      parent:  {type: many2one, target: partner}
      tags:    {type: many2many, target: country}
)";

constexpr const char* kSecurity = R"(roles:
  clerk: {label: Clerk}
access:
  - {entity: partner, role: clerk, read: true}
  - {entity: country, role: clerk, read: true}
rules:
  - {entity: partner, role: clerk, operations: [read], filter: {state: {ne: done}}}
)";

struct World {
  std::unique_ptr<keel::modules::ModuleGraph> graph;
  std::shared_ptr<const keel::schema::Registry> registry;
  std::unique_ptr<keel::records::RecordService> service;
};

World& world() {
  static World w = [] {
    World out;
    char tmpl[] = "/tmp/keel-fuzz-XXXXXX";
    std::filesystem::path dir = ::mkdtemp(tmpl);
    std::filesystem::create_directories(dir / "shop");
    std::ofstream(dir / "shop/manifest.yaml")
        << "name: shop\nversion: 1.0.0\nentities: [e.yaml]\nsecurity: [s.yaml]\n";
    std::ofstream(dir / "shop/e.yaml") << kEntities;
    std::ofstream(dir / "shop/s.yaml") << kSecurity;
    auto found = keel::modules::discover({dir});
    out.graph = std::make_unique<keel::modules::ModuleGraph>(std::move(found.modules));
    keel::Diagnostics diagnostics;
    out.registry = keel::schema::Registry::build(out.graph->order(), diagnostics);
    std::shared_ptr<const keel::security::Policy> policy;
    if (out.registry && !diagnostics.has_errors())
      policy = keel::query::load_policy(out.graph->order(), *out.registry, diagnostics);
    std::filesystem::remove_all(dir);
    if (!out.registry || diagnostics.has_errors()) std::abort();
    out.service = std::make_unique<keel::records::RecordService>(out.registry, policy);
    return out;
  }();
  return w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  World& w = world();
  auto query = keel::http::parse_query(text);
  if (!query) return 0;
  auto value = [&](std::string_view name) -> std::optional<std::string> {
    auto it = query->find(name);
    if (it == query->end()) return std::nullopt;
    return it->second;
  };
  keel::records::ListRequest list{value("filter"), value("sort"), value("limit"), value("offset"),
                                  value("fields")};
  static const keel::records::SecurityContext admin = keel::records::SecurityContext::system();
  static const keel::records::SecurityContext clerk = [] {
    keel::records::SecurityContext c;
    c.user_id = 7;
    c.login = "clerk";
    c.roles = {"shop.clerk"};
    return c;
  }();
  for (const auto* ctx : {&admin, &clerk}) {
    for (std::string_view entity : {"partner", "country"}) {
      try {
        (void)w.service->list_statement(*ctx, entity, list);
      } catch (const keel::Error&) {
      }
      try {
        (void)w.service->read_statement(*ctx, entity, 1, list.fields);
      } catch (const keel::Error&) {
      }
    }
  }
  return 0;
}
