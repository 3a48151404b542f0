// Feeds arbitrary bytes to the manifest parser: it must report diagnostics, never crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "modules/manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  keel::Diagnostics diagnostics;
  auto manifest = keel::modules::parse_manifest(text, "fuzz/manifest.yaml", "sales", diagnostics);
  if (manifest) (void)manifest->version.to_string();
  for (const auto& d : diagnostics.items())
    (void)d.to_string();
  return 0;
}
