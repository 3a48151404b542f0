#pragma once

// The entry point of a native module:
//
//   #include <keel/keel.hpp>
//   KEEL_MODULE(sales) {
//     loader.validate("sale_order", [](keel::sdk::Env& env, keel::sdk::Change& change) {...});
//   }
//
// defines the exported ABI block (`keel_module_abi`) that Keel checks before anything else, and
// `extern "C" int keel_module_init(keel::sdk::Loader*)`, which runs the body with `loader`.

#include <exception>

#include "keel/abi.hpp"
#include "keel/loader.hpp"

#define KEEL_MODULE(name)                                                        \
  static void keel_module_register_(::keel::sdk::Loader& loader);                \
  extern "C" KEEL_SDK_EXPORT const ::keel::sdk::AbiBlock keel_module_abi =       \
      KEEL_SDK_ABI_BLOCK(#name);                                                 \
  extern "C" KEEL_SDK_EXPORT int keel_module_init(::keel::sdk::Loader* loader) { \
    try {                                                                        \
      keel_module_register_(*loader);                                            \
      return 0;                                                                  \
    } catch (const std::exception& e) {                                          \
      loader->fail(e.what());                                                    \
    } catch (...) {                                                              \
      loader->fail("unknown exception");                                         \
    }                                                                            \
    return 1;                                                                    \
  }                                                                              \
  static void keel_module_register_([[maybe_unused]] ::keel::sdk::Loader& loader)
