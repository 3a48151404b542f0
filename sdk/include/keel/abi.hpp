#pragma once

// The ABI block every native module exports and Keel checks before it calls any module code.
// Module code never writes it by hand: KEEL_MODULE (keel/module.hpp) defines it.

#include <cstddef>  // also defines _GLIBCXX_RELEASE / _LIBCPP_VERSION
#include <cstdint>

#include "keel/version.hpp"

// Raised whenever a type or a virtual function of the SDK changes in an incompatible way.
#define KEEL_SDK_ABI_VERSION 2  // 2: Value carries a Decimal (keel/decimal.hpp)

#define KEEL_SDK_STR_(x) #x
#define KEEL_SDK_STR(x) KEEL_SDK_STR_(x)

#if defined(__clang__)
#define KEEL_SDK_COMPILER "clang " KEEL_SDK_STR(__clang_major__)
#elif defined(__GNUC__)
#define KEEL_SDK_COMPILER "gcc " KEEL_SDK_STR(__GNUC__)
#else
#define KEEL_SDK_COMPILER "unknown"
#endif

#if defined(_LIBCPP_VERSION)
#define KEEL_SDK_STDLIB "libc++ " KEEL_SDK_STR(_LIBCPP_VERSION)
#elif defined(_GLIBCXX_RELEASE)
#if _GLIBCXX_USE_CXX11_ABI
#define KEEL_SDK_STDLIB "libstdc++ " KEEL_SDK_STR(_GLIBCXX_RELEASE) " cxx11"
#else
#define KEEL_SDK_STDLIB "libstdc++ " KEEL_SDK_STR(_GLIBCXX_RELEASE) " old-abi"
#endif
#else
#define KEEL_SDK_STDLIB "unknown"
#endif

#if defined(__GNUC__)
#define KEEL_SDK_EXPORT __attribute__((visibility("default")))
#else
#define KEEL_SDK_EXPORT
#endif

namespace keel::sdk {

// Plain data with a fixed layout: read by Keel with dlsym before anything else of the module.
struct AbiBlock {
  char magic[8];              // "KEELMOD"
  std::uint32_t abi_version;  // KEEL_SDK_ABI_VERSION the module was compiled with
  std::uint32_t size;         // sizeof(AbiBlock) on the module's side
  char keel_version[32];      // the Keel version of the SDK headers
  char compiler[32];          // "gcc 12"
  char stdlib[32];            // "libstdc++ 12 cxx11"
  char module[64];            // the module name given to KEEL_MODULE
};

inline constexpr char kAbiMagic[8] = "KEELMOD";

}  // namespace keel::sdk

// The block as this compiler, standard library and SDK would write it for module `name`.
#define KEEL_SDK_ABI_BLOCK(name)                                                           \
  {                                                                                        \
    "KEELMOD", KEEL_SDK_ABI_VERSION, sizeof(::keel::sdk::AbiBlock), KEEL_SDK_KEEL_VERSION, \
        KEEL_SDK_COMPILER, KEEL_SDK_STDLIB, name                                           \
  }
