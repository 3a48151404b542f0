#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "keel/abi.hpp"

namespace keel::sdk {

struct FieldError {
  std::string field;
  std::string message;
};

// What kind of failure an Error is, with the names and meanings of Keel's own kinds
// (keel::ErrorKind): Keel answers an API request with the status of the kind (404 for
// kNotFound, 422 for kInvalid, ...) and a CLI command with the exit status of the kind, as for
// its own errors. The values are part of the ABI: never renumbered, new kinds only at the end
// (Keel's native boundary static_asserts them against its own).
enum class ErrorKind : std::uint8_t {
  kFailed = 0,           // an operation failed; the user can fix it (409)
  kUsage = 1,            // bad command-line usage (Keel's own; 400)
  kBadInput = 2,         // a malformed request, or a name in it that does not exist (400)
  kLimits = 3,           // a request beyond a limit (size, depth, count) (400)
  kInvalid = 4,          // values that break their rules; the field errors say which (422)
  kUnauthenticated = 5,  // no valid credentials (401)
  kForbidden = 6,        // the caller may not (403)
  kNotFound = 7,         // nothing of that name or id (for this caller) (404)
  kConflict = 8,         // the state of the data forbids it (409)
  kTooMany = 9,          // too many attempts: retry later (429)
  kUnavailable = 10,     // something it needs is not available: retry shortly (503)
  kTimeout = 11,         // it took too long (504)
  kInternal = 12,        // a bug or an unexpected failure: the log says more (500)
};

// Thrown by module code (hooks, routes, services) to fail the operation: Keel turns it into
// application/problem+json with the status of its kind, `code` as the problem type, `message`
// (followed by `detail` when there is one) as the problem detail, `hint` and the field errors as
// `errors`. Any other exception from module code becomes a 500 naming the module. Either way the
// operation's transaction is rolled back.
class KEEL_SDK_EXPORT Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string code, std::string message, std::string hint = {},
        std::vector<FieldError> errors = {}, std::string detail = {})
      : std::runtime_error(std::move(message)),
        kind_(kind),
        code_(std::move(code)),
        hint_(std::move(hint)),
        errors_(std::move(errors)),
        detail_(std::move(detail)) {}
  ErrorKind kind() const { return kind_; }
  const std::string& code() const { return code_; }
  const std::string& hint() const { return hint_; }
  const std::vector<FieldError>& errors() const { return errors_; }
  const std::string& detail() const { return detail_; }

 private:
  ErrorKind kind_;
  std::string code_;
  std::string hint_;
  std::vector<FieldError> errors_;
  std::string detail_;
};

// Invalid data: kInvalid (422) `records.invalid` with the fields at fault.
class KEEL_SDK_EXPORT ValidationError : public Error {
 public:
  explicit ValidationError(std::string message, std::vector<FieldError> errors = {},
                           std::string hint = {})
      : Error(ErrorKind::kInvalid, "records.invalid", std::move(message), std::move(hint),
              std::move(errors)) {}
};

}  // namespace keel::sdk
