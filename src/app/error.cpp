#include "app/error.hpp"

#include <algorithm>

namespace keel {

std::string SourceLocation::to_string() const {
  std::string out = file.string();
  if (line > 0) {
    out += ':' + std::to_string(line);
    if (column > 0) out += ':' + std::to_string(column);
  }
  return out;
}

std::string Diagnostic::to_string() const {
  std::string out;
  if (!location.file.empty()) out = location.to_string() + ": ";
  out += severity == Severity::kError ? "error: " : "warning: ";
  out += message;
  if (!hint.empty()) out += "\n  hint: " + hint;
  return out;
}

void Diagnostics::error(SourceLocation location, std::string message, std::string hint) {
  items_.push_back({Severity::kError, std::move(location), std::move(message), std::move(hint)});
}

void Diagnostics::warning(SourceLocation location, std::string message, std::string hint) {
  items_.push_back({Severity::kWarning, std::move(location), std::move(message), std::move(hint)});
}

void Diagnostics::append(const Diagnostics& other) {
  items_.insert(items_.end(), other.items_.begin(), other.items_.end());
}

bool Diagnostics::has_errors() const {
  return std::any_of(items_.begin(), items_.end(),
                     [](const Diagnostic& d) { return d.severity == Severity::kError; });
}

std::vector<Diagnostic> Diagnostics::errors() const {
  std::vector<Diagnostic> out;
  std::copy_if(items_.begin(), items_.end(), std::back_inserter(out),
               [](const Diagnostic& d) { return d.severity == Severity::kError; });
  return out;
}

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kFailed:
      return "failed";
    case ErrorKind::kUsage:
      return "usage";
    case ErrorKind::kBadInput:
      return "bad_input";
    case ErrorKind::kLimits:
      return "limits";
    case ErrorKind::kInvalid:
      return "invalid";
    case ErrorKind::kUnauthenticated:
      return "unauthenticated";
    case ErrorKind::kForbidden:
      return "forbidden";
    case ErrorKind::kNotFound:
      return "not_found";
    case ErrorKind::kConflict:
      return "conflict";
    case ErrorKind::kTooMany:
      return "too_many";
    case ErrorKind::kUnavailable:
      return "unavailable";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kInternal:
      return "internal";
  }
  return "failed";
}

Error::Error(std::string code, std::string message, std::string hint, std::string detail)
    : Error(ErrorKind::kFailed, std::move(code), std::move(message), std::move(hint), {},
            std::move(detail)) {}

Error::Error(ErrorKind kind, std::string code, std::string message, std::string hint,
             std::vector<FieldError> field_errors, std::string detail)
    : std::runtime_error(std::move(message)),
      kind_(kind),
      code_(std::move(code)),
      hint_(std::move(hint)),
      detail_(std::move(detail)),
      field_errors_(std::move(field_errors)) {}

ValidationError::ValidationError(std::string code, std::string summary,
                                 std::vector<Diagnostic> diagnostics)
    : Error(ErrorKind::kInvalid, std::move(code), std::move(summary)),
      diagnostics_(std::move(diagnostics)) {}

InvariantError::InvariantError(std::string_view invariant, const char* file, int line)
    : Error(ErrorKind::kInternal, "internal.invariant",
            "invariant broken: " + std::string(invariant) + " (" +
                std::filesystem::path(file).filename().string() + ":" + std::to_string(line) +
                ")") {}

void throw_if_errors(const Diagnostics& diagnostics, const std::string& code,
                     const std::string& summary) {
  if (!diagnostics.has_errors()) return;
  auto errors = diagnostics.errors();
  const size_t count = errors.size();
  std::string text = summary + " (" + std::to_string(count) + (count == 1 ? " error)" : " errors)");
  throw ValidationError(code, std::move(text), std::move(errors));
}

std::optional<std::string_view> closest_match(std::string_view word,
                                              const std::vector<std::string_view>& candidates) {
  auto distance = [](std::string_view a, std::string_view b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j)
      prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= b.size(); ++j)
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
      std::swap(prev, cur);
    }
    return prev[b.size()];
  };
  std::optional<std::string_view> best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (auto c : candidates) {
    size_t d = distance(word, c);
    // A word that keeps none of its letters is no typo of the candidate, however short.
    if (d < best_distance && d < std::max<size_t>(word.size(), 1)) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

}  // namespace keel
