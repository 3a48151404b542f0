#pragma once

// The layouts of the SDK's types that cross between Keel and a module's library (passed by
// reference, built by two compilations): locked here for the platform Keel is built on, so that
// a change to one of them fails to compile until KEEL_SDK_ABI_VERSION (keel/abi.hpp) and these
// figures are raised together. Other platforms are refused by the ABI check (compiler and
// standard library are part of it).

#include "keel/abi.hpp"
#include "keel/decimal.hpp"
#include "keel/env.hpp"
#include "keel/errors.hpp"
#include "keel/http.hpp"
#include "keel/loader.hpp"
#include "keel/records.hpp"
#include "keel/value.hpp"

#if defined(__x86_64__) && defined(_GLIBCXX_RELEASE) && _GLIBCXX_USE_CXX11_ABI
static_assert(KEEL_SDK_ABI_VERSION == 5, "raise the figures below with the SDK ABI version");
#define KEEL_SDK_LAYOUT(type, size, align)                                                    \
  static_assert(sizeof(::keel::sdk::type) == (size) && alignof(::keel::sdk::type) == (align), \
                "the layout of keel::sdk::" #type " changed: raise KEEL_SDK_ABI_VERSION")
KEEL_SDK_LAYOUT(Decimal, 32, 16);
KEEL_SDK_LAYOUT(Value, 48, 16);
KEEL_SDK_LAYOUT(Record, 48, 8);
KEEL_SDK_LAYOUT(RawJson, 32, 8);
KEEL_SDK_LAYOUT(FieldError, 64, 8);
KEEL_SDK_LAYOUT(Caller, 72, 8);
KEEL_SDK_LAYOUT(Change, 56, 8);
KEEL_SDK_LAYOUT(Query, 112, 8);
KEEL_SDK_LAYOUT(Page, 32, 8);
KEEL_SDK_LAYOUT(HttpRequest, 240, 8);
KEEL_SDK_LAYOUT(HttpResponse, 96, 8);
KEEL_SDK_LAYOUT(Error, 144, 8);
KEEL_SDK_LAYOUT(ApiParameter, 168, 8);
KEEL_SDK_LAYOUT(ApiResponse, 184, 8);
KEEL_SDK_LAYOUT(RouteDoc, 208, 8);
#undef KEEL_SDK_LAYOUT
#endif
