#include "modules/semver.hpp"

#include <charconv>

namespace keel::modules {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool is_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

bool is_identifier(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok =
        (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
    if (!ok) return false;
  }
  return true;
}

// A numeric component: digits, no leading zero (except "0"), fits in 64 bits.
bool parse_number(std::string_view s, unsigned long long& out) {
  if (!is_digits(s) || (s.size() > 1 && s.front() == '0')) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

bool set_error(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return false;
}

}  // namespace

std::optional<Version> Version::parse(std::string_view text, std::string* error) {
  std::string_view s = text;
  Version v;
  if (auto plus = s.find('+'); plus != std::string_view::npos) {
    std::string_view build = s.substr(plus + 1);
    for (auto id : split(build, '.')) {
      if (!is_identifier(id)) {
        set_error(error, "build metadata \"" + std::string(build) +
                             "\" must be dot-separated [0-9A-Za-z-] identifiers");
        return std::nullopt;
      }
    }
    v.build_ = std::string(build);
    s = s.substr(0, plus);
  }
  if (auto dash = s.find('-'); dash != std::string_view::npos) {
    std::string_view pre = s.substr(dash + 1);
    for (auto id : split(pre, '.')) {
      if (!is_identifier(id) || (is_digits(id) && id.size() > 1 && id.front() == '0')) {
        set_error(error, "pre-release \"" + std::string(pre) +
                             "\" must be dot-separated identifiers without leading zeros");
        return std::nullopt;
      }
      v.prerelease_.emplace_back(id);
    }
    s = s.substr(0, dash);
  }
  auto core = split(s, '.');
  if (core.size() != 3 || !parse_number(core[0], v.major_) || !parse_number(core[1], v.minor_) ||
      !parse_number(core[2], v.patch_)) {
    set_error(error, "\"" + std::string(text) +
                         "\" is not a semantic version MAJOR.MINOR.PATCH (e.g. 1.2.0)");
    return std::nullopt;
  }
  return v;
}

std::string Version::to_string() const {
  std::string out =
      std::to_string(major_) + '.' + std::to_string(minor_) + '.' + std::to_string(patch_);
  for (size_t i = 0; i < prerelease_.size(); ++i)
    out += (i == 0 ? '-' : '.') + prerelease_[i];
  if (!build_.empty()) out += '+' + build_;
  return out;
}

std::strong_ordering operator<=>(const Version& a, const Version& b) {
  if (auto c = a.major_ <=> b.major_; c != 0) return c;
  if (auto c = a.minor_ <=> b.minor_; c != 0) return c;
  if (auto c = a.patch_ <=> b.patch_; c != 0) return c;
  // A version without pre-release ranks above any of its pre-releases.
  if (a.prerelease_.empty() || b.prerelease_.empty())
    return b.prerelease_.size() == 0
               ? (a.prerelease_.empty() ? std::strong_ordering::equal : std::strong_ordering::less)
               : std::strong_ordering::greater;
  size_t n = std::min(a.prerelease_.size(), b.prerelease_.size());
  for (size_t i = 0; i < n; ++i) {
    const std::string& x = a.prerelease_[i];
    const std::string& y = b.prerelease_[i];
    bool xn = is_digits(x), yn = is_digits(y);
    if (xn && yn) {
      // Numeric identifiers compare numerically; no leading zeros, so by length then text.
      if (auto c = x.size() <=> y.size(); c != 0) return c;
      if (auto c = x.compare(y) <=> 0; c != 0) return c;
    } else if (xn != yn) {
      return xn ? std::strong_ordering::less : std::strong_ordering::greater;
    } else if (auto c = x.compare(y) <=> 0; c != 0) {
      return c;
    }
  }
  return a.prerelease_.size() <=> b.prerelease_.size();
}

namespace {

// A partial version as written in a constraint: "1", "1.2", "1.2.3-rc.1", "1.2.*", "*".
struct Partial {
  int parts = 0;  // how many numeric components were given (0..3); wildcards stop the count
  Version version;
};

bool parse_partial(std::string_view s, Partial& out, std::string* error) {
  if (s == "*" || s == "x" || s == "X") {
    out.parts = 0;
    return true;
  }
  std::string_view core = s;
  std::string_view rest;
  if (auto pos = s.find_first_of("-+"); pos != std::string_view::npos) {
    core = s.substr(0, pos);
    rest = s.substr(pos);
  }
  auto comps = split(core, '.');
  if (comps.size() > 3)
    return set_error(error, "\"" + std::string(s) + "\" has more than three components");
  unsigned long long nums[3] = {0, 0, 0};
  int given = 0;
  bool wildcard = false;
  for (size_t i = 0; i < comps.size(); ++i) {
    auto c = comps[i];
    if (c == "*" || c == "x" || c == "X") {
      wildcard = true;
      continue;
    }
    if (wildcard)
      return set_error(error, "\"" + std::string(s) + "\": a number cannot follow a wildcard");
    if (!parse_number(c, nums[i]))
      return set_error(error, "\"" + std::string(s) + "\" is not a version");
    ++given;
  }
  if (!rest.empty() && (given != 3))
    return set_error(
        error, "\"" + std::string(s) + "\": a pre-release or build needs a full MAJOR.MINOR.PATCH");
  if (given == 3) {
    auto v = Version::parse(s, error);
    if (!v) return false;
    out.version = *v;
  } else {
    out.version = Version(nums[0], nums[1], nums[2]);
  }
  out.parts = given;
  return true;
}

// The smallest version above every version that starts with the first `parts` components of
// `v`, bumped at component `parts - 1`: upper(1.2, 2) = 1.3.0-0; upper(1, 1) = 2.0.0-0.
Version bump(const Version& v, int component) {
  Version out;
  if (component == 0)
    out = Version(v.major() + 1, 0, 0);
  else if (component == 1)
    out = Version(v.major(), v.minor() + 1, 0);
  else
    out = Version(v.major(), v.minor(), v.patch() + 1);
  return out;
}

}  // namespace

std::optional<VersionConstraint> VersionConstraint::parse(std::string_view text,
                                                          std::string* error) {
  VersionConstraint result;
  std::string_view all = trim(text);
  if (all.empty()) {
    set_error(error, "empty version constraint");
    return std::nullopt;
  }
  result.text_ = std::string(all);
  bool matches_all = false;
  // An upper bound that excludes pre-releases of the bound itself: "<2.0.0-0".
  auto below = [](Version v) {
    v.prerelease_ = {"0"};
    return Comparator{Op::kLt, v};
  };
  for (auto alt_text : [&] {
         std::vector<std::string_view> alts;
         size_t start = 0;
         while (true) {
           size_t pos = all.find("||", start);
           alts.push_back(all.substr(start, pos == std::string_view::npos ? pos : pos - start));
           if (pos == std::string_view::npos) break;
           start = pos + 2;
         }
         return alts;
       }()) {
    std::vector<Comparator> comparators;
    bool any = false;
    // Tokens separated by blanks; an operator may stand apart from its version (">= 1.0").
    std::vector<std::string> tokens;
    std::string_view rest = trim(alt_text);
    while (!rest.empty()) {
      size_t end = rest.find_first_of(" \t");
      std::string tok(rest.substr(0, end));
      rest = end == std::string_view::npos ? std::string_view{} : trim(rest.substr(end));
      if (!tokens.empty() && tokens.back().find_first_not_of("<>=^~") == std::string::npos)
        tokens.back() += tok;
      else
        tokens.push_back(std::move(tok));
    }
    if (tokens.empty()) {
      set_error(error, "empty alternative in \"" + std::string(all) + "\"");
      return std::nullopt;
    }
    for (const std::string& token : tokens) {
      std::string_view tok = token;
      size_t op_len = tok.find_first_not_of("<>=^~");
      if (op_len == std::string_view::npos) {
        set_error(error, "operator \"" + std::string(tok) + "\" without a version in \"" +
                             std::string(all) + "\"");
        return std::nullopt;
      }
      std::string op(tok.substr(0, op_len));
      std::string_view ver = tok.substr(op_len);
      Partial p;
      if (!parse_partial(ver, p, error)) return std::nullopt;
      const Version& v = p.version;
      if (op.empty() || op == "=") {
        if (p.parts == 3) {
          comparators.push_back({Op::kEq, v});
        } else if (p.parts == 0) {
          any = true;
        } else {
          comparators.push_back({Op::kGe, v});
          comparators.push_back(below(bump(v, p.parts - 1)));
        }
      } else if (op == ">=") {
        comparators.push_back({Op::kGe, v});
      } else if (op == ">") {
        if (p.parts == 3 || p.parts == 0)
          comparators.push_back({Op::kGt, v});
        else  // ">1.2" means above every 1.2.x
          comparators.push_back({Op::kGe, bump(v, p.parts - 1)});
      } else if (op == "<") {
        // "<2" excludes the pre-releases of 2.0.0 too (npm, Cargo); "<2.0.0" is literal.
        comparators.push_back(p.parts == 3 || p.parts == 0 ? Comparator{Op::kLt, v} : below(v));
      } else if (op == "<=") {
        if (p.parts == 3)
          comparators.push_back({Op::kLe, v});
        else if (p.parts > 0)  // "<=1.2" admits every 1.2.x
          comparators.push_back(below(bump(v, p.parts - 1)));
      } else if (op == "^") {
        comparators.push_back({Op::kGe, v});
        if (p.parts > 0) {
          // Bump the first non-zero component given, or the last one given if all are zero
          // (npm/cargo): ^1.2 <2.0.0, ^0.2 <0.3.0, ^0.0.3 <0.0.4, ^0.0 <0.1.0.
          const unsigned long long comps[3] = {v.major(), v.minor(), v.patch()};
          int c = p.parts - 1;
          for (int i = 0; i < p.parts; ++i) {
            if (comps[i] != 0) {
              c = i;
              break;
            }
          }
          comparators.push_back(below(bump(v, c)));
        }
      } else if (op == "~") {
        comparators.push_back({Op::kGe, v});
        if (p.parts > 0) comparators.push_back(below(bump(v, p.parts == 1 ? 0 : 1)));
      } else {
        set_error(error, "unknown operator \"" + op + "\" in \"" + std::string(all) +
                             "\" (use =, >=, >, <=, <, ^, ~ or a wildcard)");
        return std::nullopt;
      }
    }
    if (comparators.empty() && any) {
      // "*" as a whole alternative: the constraint matches everything, but the other
      // alternatives must still be valid.
      matches_all = true;
      continue;
    }
    result.alternatives_.push_back(std::move(comparators));
  }
  if (matches_all) result.alternatives_.clear();
  return result;
}

bool VersionConstraint::matches(const Version& v) const {
  if (alternatives_.empty()) return true;
  for (const auto& all : alternatives_) {
    bool ok = true;
    for (const auto& c : all) {
      auto cmp = v <=> c.version;
      switch (c.op) {
        case Op::kEq:
          ok = cmp == 0;
          break;
        case Op::kGt:
          ok = cmp > 0;
          break;
        case Op::kGe:
          ok = cmp >= 0;
          break;
        case Op::kLt:
          ok = cmp < 0;
          break;
        case Op::kLe:
          ok = cmp <= 0;
          break;
      }
      if (!ok) break;
    }
    if (ok) return true;
  }
  return false;
}

}  // namespace keel::modules
