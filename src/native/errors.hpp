#pragma once

#include <string>
#include <vector>

#include "app/error.hpp"

// The one place below http/ that knows statuses, because the SDK speaks them: module code
// throws keel::sdk::Error(status, ...) and receives Keel's errors as sdk::Error (keel/errors.hpp,
// part of the ABI). At that boundary, and only there, statuses become kinds and back.

namespace keel::native {

// An sdk::Error thrown by module code, as Keel carries it: the kind of its status for the code
// below http/ (kind_of_sdk_status), and the status the module chose, which http/ answers with.
class ModuleError : public ApiError {
 public:
  ModuleError(int sdk_status, std::string code, std::string message, std::string hint,
              std::vector<FieldError> field_errors);
  int sdk_status() const { return sdk_status_; }

 private:
  int sdk_status_;
};

// The kind of an SDK status (HTTP's); kFailed for a status without a kind of its own (418).
ErrorKind kind_of_sdk_status(int status);
// The SDK status of an error handed to module code: a ModuleError's own status, else its kind's
// (the statuses http::status_of gives; tests/unit/http/error_kinds_test checks they agree).
int sdk_status_of(const Error& error);

}  // namespace keel::native
