#pragma once

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace keel {

// A place in a user-supplied file. Lines and columns are 1-based; 0 means "unknown".
struct SourceLocation {
  std::filesystem::path file;
  int line = 0;
  int column = 0;

  // "file:line:col", "file:line" or "file", whichever is known.
  std::string to_string() const;
};

// A string read from a user file, with where it was written.
struct LocatedString {
  std::string value;
  SourceLocation location;
};

enum class Severity { kError, kWarning };

// One problem found while validating user input (a manifest, an entity file, ...).
struct Diagnostic {
  Severity severity = Severity::kError;
  SourceLocation location;
  std::string message;
  std::string hint;  // what to do about it; may be empty

  // "file:line:col: error: message" followed by "  hint: ..." when there is one.
  std::string to_string() const;
};

// Collects every problem of a validation pass, so that users see all of them at once.
class Diagnostics {
 public:
  void error(SourceLocation location, std::string message, std::string hint = {});
  void warning(SourceLocation location, std::string message, std::string hint = {});
  void add(Diagnostic diagnostic) { items_.push_back(std::move(diagnostic)); }
  void append(const Diagnostics& other);

  bool has_errors() const;
  const std::vector<Diagnostic>& items() const { return items_; }
  std::vector<Diagnostic> errors() const;
  bool empty() const { return items_.empty(); }

 private:
  std::vector<Diagnostic> items_;
};

// Base of every failure that aborts an operation. `code` is stable (documented, used by the
// API's problem+json `type` and by tests); `hint` names the fix.
class Error : public std::runtime_error {
 public:
  Error(std::string code, std::string message, std::string hint = {}, std::string detail = {});

  const std::string& code() const { return code_; }
  const std::string& hint() const { return hint_; }
  const std::string& detail() const { return detail_; }
  // Process exit status for the CLI: 1 for failures the user can fix, 2 for bad usage.
  virtual int exit_code() const { return 1; }

 private:
  std::string code_;
  std::string hint_;
  std::string detail_;
};

// Bad command-line usage (exit status 2).
class UsageError : public Error {
 public:
  explicit UsageError(std::string message, std::string hint = {})
      : Error("usage", std::move(message), std::move(hint)) {}
  int exit_code() const override { return 2; }
};

// Validation failed; carries every diagnostic of the pass (errors and warnings).
class ValidationError : public Error {
 public:
  ValidationError(std::string code, std::string summary, std::vector<Diagnostic> diagnostics);
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

// A failure of an API request, mapped 1:1 to problem+json (RFC 9457): `status` is the HTTP
// status, `code` becomes the problem `type`, and `field_errors` the `errors` array of a 422.
class ApiError : public Error {
 public:
  struct FieldError {
    std::string field;
    std::string message;
  };
  ApiError(int status, std::string code, std::string message, std::string hint = {},
           std::vector<FieldError> field_errors = {})
      : Error(std::move(code), std::move(message), std::move(hint)),
        status_(status),
        field_errors_(std::move(field_errors)) {}
  int status() const { return status_; }
  const std::vector<FieldError>& field_errors() const { return field_errors_; }

 private:
  int status_;
  std::vector<FieldError> field_errors_;
};

// Throws ValidationError(code, summary, ...) when `diagnostics` holds at least one error.
void throw_if_errors(const Diagnostics& diagnostics, const std::string& code,
                     const std::string& summary);

// The closest of `candidates` to `word` when it is close enough to be a likely typo
// (for "did you mean ...?" hints): at most max(2, length / 3) edits away, and not all of
// `word` replaced. The first candidate wins ties.
std::optional<std::string_view> closest_match(std::string_view word,
                                              const std::vector<std::string_view>& candidates);

}  // namespace keel
