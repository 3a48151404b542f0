#pragma once

#include <cstdint>
#include <exception>

#include "app/error.hpp"
#include "keel/errors.hpp"

// The boundary between Keel's errors and the SDK's (keel/errors.hpp, part of the ABI): both
// speak the same kinds, with the same values (checked here at compile time), so an error crosses
// it with its kind, code, message, hint, detail and field errors. No status on either side:
// http/ maps the kind to a status, cli/ to an exit status.

namespace keel::native {

// Keel's kind of an SDK kind; kInternal for a value that is no kind (a module's own cast, or a
// corrupt frame from a module host).
ErrorKind kind_of(sdk::ErrorKind kind);
ErrorKind kind_of_raw(std::uint8_t kind);
// The SDK kind of an error handed to module code.
sdk::ErrorKind sdk_kind_of(ErrorKind kind);

// The error Keel throws for an sdk::Error that module code let through: an ApiError of its
// kind (http/ answers it as problem+json), "native.error" when the module gave no code.
ApiError from_sdk(const sdk::Error& e);
// The sdk::Error module code receives for Keel's error `e`.
sdk::Error to_sdk(const Error& e);

// Keel's error from a records call of module code, as the module receives it: an sdk::Error of
// its kind (the same in the server and in a module host), which keeps Keel's own exception. If
// the module lets it through, Keel rethrows that exception as it was (its type, diagnostics,
// SQLSTATE), not the translation.
class KeelFailure : public sdk::Error {
 public:
  KeelFailure(const ::keel::Error& e, std::exception_ptr original)
      : sdk::Error(to_sdk(e)), original_(std::move(original)) {}
  [[noreturn]] void rethrow() const { std::rethrow_exception(original_); }

 private:
  std::exception_ptr original_;
};

}  // namespace keel::native
