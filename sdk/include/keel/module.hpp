#pragma once

// The entry point of a native module:
//
//   #include <keel/keel.hpp>
//   KEEL_MODULE(sales) {
//     loader.validate("sale_order", [](keel::sdk::Env& env, keel::sdk::Change& change) {...});
//   }
//
// defines the ABI note (section .note.keel.abi) that Keel reads from the file before it opens the
// library, the exported ABI block (`keel_module_abi`, checked again once it is open), and
// `extern "C" int keel_module_init(keel::sdk::Loader*)`, which runs the body with `loader`.
// Built into the keel binary (cmake -DKEEL_STATIC_ADDONS=ON), the same two symbols are named
// after the library (keel_module_abi_<library>, keel_module_init_<library>) and keel registers
// them at start; the entry function and the checks are the same.

#include <exception>

#include "keel/abi.hpp"
#include "keel/layout.hpp"
#include "keel/loader.hpp"

namespace keel::sdk {

// The body of keel_module_init: runs the registrations; what they throw fails the load.
inline int run_module_init(Loader* loader, void (*registrations)(Loader&)) {
  try {
    registrations(*loader);
    return 0;
  } catch (const std::exception& e) {
    loader->fail(e.what());
  } catch (...) {
    loader->fail("unknown exception");
  }
  return 1;
}

}  // namespace keel::sdk

#define KEEL_SDK_PASTE_(a, b) a##b
#define KEEL_SDK_PASTE(a, b) KEEL_SDK_PASTE_(a, b)

#if defined(KEEL_ADDON_STATIC)
#define KEEL_SDK_ABI_SYMBOL KEEL_SDK_PASTE(keel_module_abi_, KEEL_ADDON_STATIC)
#define KEEL_SDK_INIT_SYMBOL KEEL_SDK_PASTE(keel_module_init_, KEEL_ADDON_STATIC)
#else
#define KEEL_SDK_ABI_SYMBOL keel_module_abi
#define KEEL_SDK_INIT_SYMBOL keel_module_init
#endif

#define KEEL_MODULE(name)                                                            \
  static void keel_module_register_(::keel::sdk::Loader& loader);                    \
  KEEL_SDK_ABI_NOTE(KEEL_SDK_ABI_BLOCK(#name));                                      \
  extern "C" KEEL_SDK_EXPORT const ::keel::sdk::AbiBlock KEEL_SDK_ABI_SYMBOL =       \
      KEEL_SDK_ABI_BLOCK(#name);                                                     \
  extern "C" KEEL_SDK_EXPORT int KEEL_SDK_INIT_SYMBOL(::keel::sdk::Loader* loader) { \
    return ::keel::sdk::run_module_init(loader, &keel_module_register_);             \
  }                                                                                  \
  static void keel_module_register_([[maybe_unused]] ::keel::sdk::Loader& loader)
