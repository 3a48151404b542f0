// Feeds arbitrary bytes to the YAML files of an addon: the first byte chooses the file (an
// entities file, a security file or a views file), the rest is its text; the module is then
// discovered, its registry built and its views catalogued, as `keel module plan` and
// `keel serve` do. Every problem must be a diagnostic (file:line:col), never a crash, unbounded
// recursion or a leak.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "app/error.hpp"
#include "modules/discovery.hpp"
#include "modules/graph.hpp"
#include "query/filter.hpp"
#include "schema/registry.hpp"
#include "ui/catalog.hpp"

namespace {

constexpr const char* kEntities = R"(entities:
  partner:
    fields:
      name:    {type: string, required: true}
      parent:  {type: many2one, target: partner}
      state:   {type: selection, options: [draft, done]}
)";
constexpr const char* kSecurity = "roles:\n  clerk: {label: Clerk}\n";
constexpr const char* kViews = R"(views:
  - id: partner_form
    entity: partner
    type: form
    arch:
      - {field: name}
)";

const std::filesystem::path& directory() {
  static const std::filesystem::path dir = [] {
    char tmpl[] = "/tmp/keel-fuzz-XXXXXX";
    std::filesystem::path d = ::mkdtemp(tmpl);
    std::filesystem::create_directories(d / "shop");
    std::ofstream(d / "shop/manifest.yaml") << "name: shop\nversion: 1.0.0\nentities: [e.yaml]\n"
                                               "security: [s.yaml]\nviews: [v.yaml]\n";
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto& dir = directory();
  int which = data[0] % 3;
  std::ofstream(dir / "shop/e.yaml", std::ios::trunc) << (which == 0 ? text : kEntities);
  std::ofstream(dir / "shop/s.yaml", std::ios::trunc) << (which == 1 ? text : kSecurity);
  std::ofstream(dir / "shop/v.yaml", std::ios::trunc) << (which == 2 ? text : kViews);
  try {
    auto found = keel::modules::discover({dir});
    keel::modules::ModuleGraph graph(std::move(found.modules));
    keel::Diagnostics diagnostics;
    auto registry = keel::schema::Registry::build(graph.order(), diagnostics);
    if (!registry || diagnostics.has_errors()) return 0;
    auto policy = keel::query::load_policy(graph.order(), *registry, diagnostics);
    if (!diagnostics.has_errors()) (void)keel::ui::build_catalog(graph.order(), registry, policy);
  } catch (const keel::Error&) {
  }
  return 0;
}
