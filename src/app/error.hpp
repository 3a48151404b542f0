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

// What kind of failure an error is, in no layer's terms: http/ maps a kind to a status
// (http::status_of), cli/ to an exit status (cli::exit_code_of). The native SDK has the same
// kinds with the same values (keel::sdk::ErrorKind; native/errors.cpp checks them). Nothing else
// knows statuses or exit codes.
enum class ErrorKind {
  kFailed,           // an operation failed; the user can fix it (the default)
  kUsage,            // bad command-line usage
  kBadInput,         // a malformed request, or a name in it that does not exist
  kLimits,           // a request beyond one of Keel's limits (size, depth, count)
  kInvalid,          // values that break their rules; the field errors say which
  kUnauthenticated,  // no valid credentials
  kForbidden,        // the caller may not
  kNotFound,         // nothing of that name or id (for this caller)
  kConflict,         // the state of the data forbids it (unique, restrict, concurrent change)
  kTooMany,          // too many attempts: retry later
  kUnavailable,      // something it needs is not available: retry shortly
  kTimeout,          // it took too long
  kInternal,         // a bug or an unexpected failure: the log says more
};
std::string_view to_string(ErrorKind kind);

// Base of every failure that aborts an operation: a kind, a stable `code` (documented, used by
// the API's problem+json `type` and by tests), a message, an optional `detail`, a `hint` that
// names the fix, and the fields at fault for kInvalid.
class Error : public std::runtime_error {
 public:
  struct FieldError {
    std::string field;
    std::string message;
  };

  Error(std::string code, std::string message, std::string hint = {}, std::string detail = {});
  Error(ErrorKind kind, std::string code, std::string message, std::string hint = {},
        std::vector<FieldError> field_errors = {}, std::string detail = {});

  ErrorKind kind() const { return kind_; }
  const std::string& code() const { return code_; }
  const std::string& hint() const { return hint_; }
  const std::string& detail() const { return detail_; }
  const std::vector<FieldError>& field_errors() const { return field_errors_; }

 private:
  ErrorKind kind_ = ErrorKind::kFailed;
  std::string code_;
  std::string hint_;
  std::string detail_;
  std::vector<FieldError> field_errors_;
};

// Bad command-line usage (kind kUsage: exit status 2).
class UsageError : public Error {
 public:
  explicit UsageError(std::string message, std::string hint = {})
      : Error(ErrorKind::kUsage, "usage", std::move(message), std::move(hint)) {}
};

// Validation failed; carries every diagnostic of the pass (errors and warnings).
class ValidationError : public Error {
 public:
  ValidationError(std::string code, std::string summary, std::vector<Diagnostic> diagnostics);
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

// The failure of an operation done for a caller (a request, a module's call, a data file's
// record): what http/ answers as problem+json (RFC 9457), its status from the kind, `code` as
// the problem `type`, the message (and `detail` when there is one) as its `detail`, `hint`, and
// `field_errors` as the `errors` array.
class ApiError : public Error {
 public:
  ApiError(ErrorKind kind, std::string code, std::string message, std::string hint = {},
           std::vector<FieldError> field_errors = {}, std::string detail = {})
      : Error(kind, std::move(code), std::move(message), std::move(hint), std::move(field_errors),
              std::move(detail)) {}
};

// An invariant of Keel's own code does not hold: a bug, never bad input. Thrown by KEEL_ASSERT
// with kind kInternal and code "internal.invariant"; the message names the invariant and where
// it was checked (the answer of a request is then a 500, its log line says which).
class InvariantError : public Error {
 public:
  InvariantError(std::string_view invariant, const char* file, int line);
};

// Checks an invariant in every build: KEEL_ASSERT(target != nullptr, "the registry resolves
// every many2one target"). Not for input checks: those are errors of a kind that says what the
// user did wrong.
#define KEEL_ASSERT(condition, invariant)                                            \
  do {                                                                               \
    if (!(condition)) throw ::keel::InvariantError((invariant), __FILE__, __LINE__); \
  } while (false)

// Throws ValidationError(code, summary, ...) when `diagnostics` holds at least one error.
void throw_if_errors(const Diagnostics& diagnostics, const std::string& code,
                     const std::string& summary);

// The closest of `candidates` to `word` when it is close enough to be a likely typo
// (for "did you mean ...?" hints): at most max(2, length / 3) edits away, and not all of
// `word` replaced. The first candidate wins ties.
std::optional<std::string_view> closest_match(std::string_view word,
                                              const std::vector<std::string_view>& candidates);

}  // namespace keel
