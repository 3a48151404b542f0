// Feeds arbitrary bytes to the path every request body and filter takes: the bounded JSON
// reader (json::parse, with the members' source text), the values' checks for every field type
// (query::to_sql_text) and the filter compiler. It must answer with an error or a value, never
// crash, recurse without bound or leak.
#include <unistd.h>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string_view>

#include "app/error.hpp"
#include "app/json.hpp"
#include "modules/discovery.hpp"
#include "modules/graph.hpp"
#include "query/filter.hpp"
#include "query/values.hpp"
#include "schema/registry.hpp"

namespace {

constexpr const char* kEntities = R"(entities:
  country:
    fields:
      name: {type: string, max_length: 8}
  partner:
    fields:
      name:    {type: string, max_length: 32, required: true}
      notes:   {type: text}
      score:   {type: integer}
      big:     {type: bigint}
      amount:  {type: decimal, precision: 14, scale: 2}
      rating:  {type: float}
      active:  {type: boolean}
      day:     {type: date}
      at:      {type: datetime}
      meta:    {type: json}
      state:   {type: selection, options: [draft, done]}
      email:   {type: email}
      site:    {type: url}
      photo:   {type: binary}
      country: {type: many2one, target: country}
      parent:  {type: many2one, target: partner}
)";

struct World {
  std::filesystem::path dir;
  std::unique_ptr<keel::modules::ModuleGraph> graph;
  std::shared_ptr<const keel::schema::Registry> registry;
};

World& world() {
  static World w = [] {
    World out;
    char tmpl[] = "/tmp/keel-fuzz-XXXXXX";
    out.dir = ::mkdtemp(tmpl);
    std::filesystem::create_directories(out.dir / "shop");
    std::ofstream(out.dir / "shop/manifest.yaml")
        << "name: shop\nversion: 1.0.0\nentities: [entities.yaml]\n";
    std::ofstream(out.dir / "shop/entities.yaml") << kEntities;
    auto found = keel::modules::discover({out.dir});
    out.graph = std::make_unique<keel::modules::ModuleGraph>(std::move(found.modules));
    keel::Diagnostics diagnostics;
    out.registry = keel::schema::Registry::build(out.graph->order(), diagnostics);
    std::filesystem::remove_all(out.dir);
    return out;
  }();
  return w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  World& w = world();
  const keel::schema::Entity& partner = *w.registry->entity("partner");
  // A create body: every member checked as each field type would check it.
  rapidjson::Document doc;
  std::vector<std::string_view> source;
  auto limits = keel::json::limits();
  auto parsed = keel::json::try_parse(doc, text, limits.value_depth + limits.depth, &source);
  if (parsed.ok && doc.IsObject()) {
    size_t i = 0;
    for (const auto& m : doc.GetObject()) {
      std::string_view raw = i < source.size() ? source[i] : std::string_view();
      ++i;
      for (const auto& f : partner.fields) {
        if (!f.has_column()) continue;
        std::string error;
        (void)keel::query::to_sql_text(f, m.value, keel::query::ValueCheck::kFull, error, raw);
      }
    }
    (void)keel::json::depth(doc);
  }
  // The same bytes as a filter.
  static const keel::security::Context system = keel::security::Context::system();
  static const keel::security::Policy policy;  // the system context consults none
  try {
    keel::query::QueryScope scope(*w.registry, policy, partner, system);
    (void)keel::query::compile_filter(text, scope);
  } catch (const keel::Error&) {
  }
  return 0;
}
