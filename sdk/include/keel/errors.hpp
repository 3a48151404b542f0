#pragma once

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

// Thrown by module code (hooks, routes, services) to fail the operation with an answer of its
// choice: Keel turns it into application/problem+json with this status, `code` as the problem
// type and `errors` for a 422. Any other exception from module code becomes a 500 naming the
// module. Either way the operation's transaction is rolled back.
class KEEL_SDK_EXPORT Error : public std::runtime_error {
 public:
  Error(int status, std::string code, std::string message, std::string hint = {},
        std::vector<FieldError> errors = {})
      : std::runtime_error(std::move(message)),
        status_(status),
        code_(std::move(code)),
        hint_(std::move(hint)),
        errors_(std::move(errors)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }
  const std::string& hint() const { return hint_; }
  const std::vector<FieldError>& errors() const { return errors_; }

 private:
  int status_;
  std::string code_;
  std::string hint_;
  std::vector<FieldError> errors_;
};

// Invalid data: 422 `records.invalid` with the fields at fault.
class KEEL_SDK_EXPORT ValidationError : public Error {
 public:
  explicit ValidationError(std::string message, std::vector<FieldError> errors = {},
                           std::string hint = {})
      : Error(422, "records.invalid", std::move(message), std::move(hint), std::move(errors)) {}
};

}  // namespace keel::sdk
