#pragma once

#include <compare>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::modules {

// A semantic version (semver.org 2.0): MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD].
class Version {
 public:
  Version() = default;
  Version(unsigned long long major, unsigned long long minor, unsigned long long patch)
      : major_(major), minor_(minor), patch_(patch) {}

  // Strict parse of a full version; nullopt with `error` set when `text` is not semver.
  static std::optional<Version> parse(std::string_view text, std::string* error = nullptr);

  unsigned long long major() const { return major_; }
  unsigned long long minor() const { return minor_; }
  unsigned long long patch() const { return patch_; }
  const std::vector<std::string>& prerelease() const { return prerelease_; }
  const std::string& build() const { return build_; }
  bool is_prerelease() const { return !prerelease_.empty(); }

  std::string to_string() const;

  // semver 2.0 precedence; build metadata is ignored (1.0.0+a == 1.0.0+b).
  friend std::strong_ordering operator<=>(const Version& a, const Version& b);
  friend bool operator==(const Version& a, const Version& b) { return (a <=> b) == 0; }

 private:
  friend class VersionConstraint;
  unsigned long long major_ = 0, minor_ = 0, patch_ = 0;
  std::vector<std::string> prerelease_;
  std::string build_;
};

// A set of acceptable versions, written as in npm/cargo:
//   `1.2.3` or `=1.2.3` exact; `>=1.0`, `>1.0`, `<=2`, `<2.0.0`; ranges AND-ed by spaces
//   (`>=1.0 <2`); caret `^1.2` (>=1.2.0 <2.0.0); tilde `~1.2.3` (>=1.2.3 <1.3.0);
//   wildcards `1.2.*`, `1.*`, `*`; alternatives joined by `||`.
// Partial versions fill with zeros (`>=1.0` is `>=1.0.0`). Upper bounds derived from caret,
// tilde and wildcards exclude the pre-releases of the bound (`^1.0` does not admit 2.0.0-rc.1).
class VersionConstraint {
 public:
  VersionConstraint() = default;  // matches every version

  static std::optional<VersionConstraint> parse(std::string_view text,
                                                std::string* error = nullptr);

  bool matches(const Version& v) const;
  bool is_any() const { return alternatives_.empty(); }
  // The text it was parsed from, trimmed ("*" when built by default).
  const std::string& text() const { return text_; }

 private:
  enum class Op { kEq, kGt, kGe, kLt, kLe };
  struct Comparator {
    Op op;
    Version version;
  };
  std::vector<std::vector<Comparator>> alternatives_;  // OR of ANDs; empty = any
  std::string text_ = "*";
};

}  // namespace keel::modules
