#include "native/errors.hpp"

#include <utility>
#include <vector>

namespace keel::native {

namespace {

// The SDK's kinds are Keel's, value for value: a kind crosses the boundary as it is.
#define KEEL_SAME_KIND(k)                                                              \
  static_assert(static_cast<int>(sdk::ErrorKind::k) == static_cast<int>(ErrorKind::k), \
                "keel::sdk::ErrorKind::" #k " differs from keel::ErrorKind::" #k       \
                ": the SDK's "                                                         \
                "values are fixed, Keel's must follow them")
KEEL_SAME_KIND(kFailed);
KEEL_SAME_KIND(kUsage);
KEEL_SAME_KIND(kBadInput);
KEEL_SAME_KIND(kLimits);
KEEL_SAME_KIND(kInvalid);
KEEL_SAME_KIND(kUnauthenticated);
KEEL_SAME_KIND(kForbidden);
KEEL_SAME_KIND(kNotFound);
KEEL_SAME_KIND(kConflict);
KEEL_SAME_KIND(kTooMany);
KEEL_SAME_KIND(kUnavailable);
KEEL_SAME_KIND(kTimeout);
KEEL_SAME_KIND(kInternal);
#undef KEEL_SAME_KIND

constexpr auto kLastKind = static_cast<std::uint8_t>(ErrorKind::kInternal);

}  // namespace

ErrorKind kind_of_raw(std::uint8_t kind) {
  return kind <= kLastKind ? static_cast<ErrorKind>(kind) : ErrorKind::kInternal;
}

ErrorKind kind_of(sdk::ErrorKind kind) {
  return kind_of_raw(static_cast<std::uint8_t>(kind));
}

sdk::ErrorKind sdk_kind_of(ErrorKind kind) {
  return static_cast<sdk::ErrorKind>(kind);
}

ApiError from_sdk(const sdk::Error& e) {
  std::vector<ApiError::FieldError> errors;
  for (const auto& fe : e.errors())
    errors.push_back({fe.field, fe.message});
  return ApiError(kind_of(e.kind()), e.code().empty() ? "native.error" : e.code(), e.what(),
                  e.hint(), std::move(errors), e.detail());
}

sdk::Error to_sdk(const Error& e) {
  std::vector<sdk::FieldError> errors;
  for (const auto& fe : e.field_errors())
    errors.push_back({fe.field, fe.message});
  return sdk::Error(sdk_kind_of(e.kind()), e.code(), e.what(), e.hint(), std::move(errors),
                    e.detail());
}

}  // namespace keel::native
