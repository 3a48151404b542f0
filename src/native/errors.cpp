#include "native/errors.hpp"

#include <array>
#include <utility>

namespace keel::native {

namespace {

// The SDK's statuses of the kinds (keel/errors.hpp documents them as HTTP statuses).
constexpr std::array<std::pair<ErrorKind, int>, 13> kStatuses = {{
    {ErrorKind::kFailed, 409},
    {ErrorKind::kUsage, 400},
    {ErrorKind::kBadInput, 400},
    {ErrorKind::kLimits, 400},
    {ErrorKind::kInvalid, 422},
    {ErrorKind::kUnauthenticated, 401},
    {ErrorKind::kForbidden, 403},
    {ErrorKind::kNotFound, 404},
    {ErrorKind::kConflict, 409},
    {ErrorKind::kTooMany, 429},
    {ErrorKind::kUnavailable, 503},
    {ErrorKind::kTimeout, 504},
    {ErrorKind::kInternal, 500},
}};

}  // namespace

ModuleError::ModuleError(int sdk_status, std::string code, std::string message, std::string hint,
                         std::vector<FieldError> field_errors)
    : ApiError(kind_of_sdk_status(sdk_status), std::move(code), std::move(message), std::move(hint),
               std::move(field_errors)),
      sdk_status_(sdk_status) {}

ErrorKind kind_of_sdk_status(int status) {
  switch (status) {
    case 400:
      return ErrorKind::kBadInput;
    case 401:
      return ErrorKind::kUnauthenticated;
    case 403:
      return ErrorKind::kForbidden;
    case 404:
      return ErrorKind::kNotFound;
    case 409:
      return ErrorKind::kConflict;
    case 422:
      return ErrorKind::kInvalid;
    case 429:
      return ErrorKind::kTooMany;
    case 500:
      return ErrorKind::kInternal;
    case 503:
      return ErrorKind::kUnavailable;
    case 504:
      return ErrorKind::kTimeout;
    default:
      return ErrorKind::kFailed;
  }
}

int sdk_status_of(const Error& error) {
  if (auto* m = dynamic_cast<const ModuleError*>(&error)) return m->sdk_status();
  for (const auto& [kind, status] : kStatuses)
    if (kind == error.kind()) return status;
  return 500;
}

}  // namespace keel::native
