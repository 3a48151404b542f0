#pragma once

// The ABI block every native module exports and Keel checks before it calls any module code.
// Module code never writes it by hand: KEEL_MODULE (keel/module.hpp) defines it.

#include <cstddef>  // also defines _GLIBCXX_RELEASE / _LIBCPP_VERSION
#include <cstdint>

#include "keel/version.hpp"

// Raised whenever a type or a virtual function of the SDK changes in an incompatible way.
// 2: Value carries a Decimal (keel/decimal.hpp); 3: services carry a ServiceBridge (loader.hpp);
// 4: routes carry a RouteDoc (Loader::route, keel/http.hpp); 5: Error carries an ErrorKind and a
// detail instead of an HTTP status (keel/errors.hpp)
#define KEEL_SDK_ABI_VERSION 5

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

// The same block as an ELF note in the section ".note.keel.abi" of lib<name>.so: Keel reads it
// from the file, before the library is opened, so that a library built for another ABI is
// refused before any of its code (static initialisers included) runs. `readelf -n` shows it as
// owner "Keel", type 1.
struct AbiNote {
  std::uint32_t name_size;  // 5: "Keel" and its NUL
  std::uint32_t desc_size;  // sizeof(AbiBlock)
  std::uint32_t type;       // kAbiNoteType
  char name[8];             // "Keel", padded to 4 bytes
  AbiBlock desc;
};

inline constexpr std::uint32_t kAbiNoteType = 1;

// The layouts are the ABI: Keel reads them from files and from other compilers' objects.
static_assert(sizeof(AbiBlock) == 176 && alignof(AbiBlock) == 4, "AbiBlock layout changed");
static_assert(offsetof(AbiBlock, abi_version) == 8 && offsetof(AbiBlock, size) == 12 &&
                  offsetof(AbiBlock, keel_version) == 16 && offsetof(AbiBlock, compiler) == 48 &&
                  offsetof(AbiBlock, stdlib) == 80 && offsetof(AbiBlock, module) == 112,
              "AbiBlock layout changed");
static_assert(sizeof(AbiNote) == 12 + 8 + sizeof(AbiBlock) && offsetof(AbiNote, desc) == 20,
              "AbiNote layout changed");

}  // namespace keel::sdk

// The block as this compiler, standard library and SDK would write it for module `name`.
#define KEEL_SDK_ABI_BLOCK(name)                                                           \
  {                                                                                        \
    "KEELMOD", KEEL_SDK_ABI_VERSION, sizeof(::keel::sdk::AbiBlock), KEEL_SDK_KEEL_VERSION, \
        KEEL_SDK_COMPILER, KEEL_SDK_STDLIB, name                                           \
  }

// Writes `block` (a braced AbiBlock initialiser) as the library's ABI note. KEEL_MODULE does it;
// a module never writes one by hand.
#define KEEL_SDK_ABI_NOTE(block)                                                  \
  [[gnu::section(".note.keel.abi"), gnu::used,                                    \
    gnu::aligned(4)]] static const ::keel::sdk::AbiNote keel_module_abi_note_ = { \
      5, sizeof(::keel::sdk::AbiBlock), ::keel::sdk::kAbiNoteType, "Keel", block}
