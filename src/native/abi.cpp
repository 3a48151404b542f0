#include "native/abi.hpp"

#include <cstring>
#include <string_view>

#include "modules/semver.hpp"

namespace keel::native {

namespace {

constexpr sdk::AbiBlock kHost = KEEL_SDK_ABI_BLOCK("");

// A fixed-size field as text: up to its first NUL, never past its end.
std::string_view text(const char* field, size_t size) {
  return {field, strnlen(field, size)};
}
#define KEEL_FIELD(block, field) text((block).field, sizeof((block).field))

}  // namespace

const sdk::AbiBlock& host_abi() {
  return kHost;
}

std::string describe(const sdk::AbiBlock& b) {
  return "SDK ABI " + std::to_string(b.abi_version) + ", Keel " +
         std::string(KEEL_FIELD(b, keel_version)) + ", " + std::string(KEEL_FIELD(b, compiler)) +
         ", " + std::string(KEEL_FIELD(b, stdlib));
}

std::optional<std::string> abi_mismatch(const sdk::AbiBlock& module, const sdk::AbiBlock& host) {
  if (std::memcmp(module.magic, sdk::kAbiMagic, sizeof module.magic) != 0)
    return "its keel_module_abi symbol is not a Keel ABI block (bad magic)";
  auto both = " (module: " + describe(module) + "; this Keel: " + describe(host) + ")";
  if (module.abi_version != host.abi_version || module.size != host.size)
    return "it was built for SDK ABI " + std::to_string(module.abi_version) +
           ", this Keel has SDK ABI " + std::to_string(host.abi_version) + both;
  if (KEEL_FIELD(module, compiler) != KEEL_FIELD(host, compiler))
    return "it was built with " + std::string(KEEL_FIELD(module, compiler)) + ", this Keel with " +
           std::string(KEEL_FIELD(host, compiler)) + both;
  if (KEEL_FIELD(module, stdlib) != KEEL_FIELD(host, stdlib))
    return "it was built against " + std::string(KEEL_FIELD(module, stdlib)) +
           ", this Keel against " + std::string(KEEL_FIELD(host, stdlib)) + both;
  auto built = modules::Version::parse(std::string(KEEL_FIELD(module, keel_version)));
  auto running = modules::Version::parse(std::string(KEEL_FIELD(host, keel_version)));
  if (!built || !running)
    return "its Keel version \"" + std::string(KEEL_FIELD(module, keel_version)) +
           "\" is not a version" + both;
  if (running->major() != built->major() || *running < *built)
    return "it was built for Keel " + built->to_string() + ", this is Keel " +
           running->to_string() + both;
  return std::nullopt;
}

}  // namespace keel::native
