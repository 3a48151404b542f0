#pragma once

// keel::sdk::Decimal: exact fixed-point numbers for money and quantities (see docs/native.md).
//
//   Decimal price = Decimal::parse("19.99");             // scale 2, exactly
//   Decimal qty = Decimal::parse("3.500");               // scale 3
//   Decimal subtotal = (price * qty).round(2);           // 69.965 -> 69.97 (half up)
//   Decimal share = subtotal.divide(Decimal(3), 2, Rounding::kHalfEven);
//   subtotal.to_string();                                // "69.97"
//
// A value is an integer mantissa (128 bits) and a scale (digits after the point, 0..38): at most
// 38 significant digits, as many as PostgreSQL's numeric(38, s). Nothing goes through a double.
// + - and * are exact (the scale of a sum is the larger one, of a product the sum of both);
// what does not fit in 38 digits throws DecimalOverflow instead of wrapping. Rounding is always
// explicit: round(scale, mode) and divide(other, scale, mode). kHalfUp rounds halves away from
// zero, as PostgreSQL's round(numeric, s) does; kHalfEven to the even neighbour (banker's).

#include <compare>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace keel::sdk {

enum class Rounding {
  kHalfUp,    // halves away from zero: 2.345 -> 2.35, -2.345 -> -2.35 (PostgreSQL's round)
  kHalfEven,  // halves to the even neighbour: 2.345 -> 2.34, 2.355 -> 2.36
  kDown,      // toward zero (truncation): 2.349 -> 2.34, -2.349 -> -2.34
};

// A result with more than 38 significant digits, or a scale beyond 38.
class DecimalOverflow : public std::overflow_error {
 public:
  using std::overflow_error::overflow_error;
};

// Text that is not a decimal ("1.2.3", "", "abc"), or a division by zero.
class DecimalError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

class Decimal {
 public:
  __extension__ using Mantissa = __int128;
  static constexpr int kMaxDigits = 38;
  static constexpr int kMaxScale = 38;

  constexpr Decimal() = default;
  // An integer, scale 0.
  template <typename T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) constexpr Decimal(T i)
      : m_(static_cast<Mantissa>(i)) {}

  // mantissa * 10^-scale: from_mantissa(1999, 2) is 19.99.
  static Decimal from_mantissa(Mantissa mantissa, int scale) {
    check_scale(scale);
    check_digits(mantissa);
    Decimal d;
    d.m_ = mantissa;
    d.scale_ = scale;
    return d;
  }

  // "-12.50", "+3", "0.125", ".5", "7." (PostgreSQL's numeric text, no exponent, no spaces).
  // The scale is the number of digits after the point: parse("12.50").scale() == 2.
  static Decimal parse(std::string_view text) {
    Decimal d;
    if (!try_parse(text, d)) {
      // Tell an overflow from text that is no number.
      bool digits_only = !text.empty();
      size_t i = (text.size() && (text[0] == '-' || text[0] == '+')) ? 1 : 0;
      int count = 0, points = 0;
      for (; i < text.size(); ++i) {
        if (text[i] == '.')
          ++points;
        else if (text[i] >= '0' && text[i] <= '9')
          ++count;
        else
          digits_only = false;
      }
      if (digits_only && points <= 1 && count > 0)
        throw DecimalOverflow("decimal \"" + std::string(text) + "\" has more than 38 digits");
      throw DecimalError("not a decimal: \"" + std::string(text) + "\"");
    }
    return d;
  }
  // Like parse, false instead of throwing.
  static bool try_parse(std::string_view text, Decimal& out) {
    size_t i = 0;
    bool negative = false;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) negative = text[i++] == '-';
    Mantissa m = 0;
    int scale = 0, digits = 0, significant = 0;
    bool point = false;
    for (; i < text.size(); ++i) {
      char c = text[i];
      if (c == '.' && !point) {
        point = true;
        continue;
      }
      if (c < '0' || c > '9') return false;
      ++digits;
      if (point) ++scale;
      if (m != 0 || c != '0') ++significant;
      if (significant > kMaxDigits || scale > kMaxScale) return false;
      m = m * 10 + (c - '0');
    }
    if (digits == 0) return false;
    out.m_ = negative ? -m : m;
    out.scale_ = scale;
    return true;
  }

  Mantissa mantissa() const { return m_; }
  int scale() const { return scale_; }
  int sign() const { return m_ < 0 ? -1 : m_ > 0 ? 1 : 0; }
  bool is_zero() const { return m_ == 0; }

  // Exact text with every digit of the scale: "12.50", "-0.005", "3".
  std::string to_string() const {
    Mantissa u = m_ < 0 ? -m_ : m_;  // |m_| <= 10^38 - 1
    char buf[48];
    int n = 0;
    do {
      buf[n++] = static_cast<char>('0' + static_cast<int>(u % 10));
      u /= 10;
    } while (u != 0 || n <= scale_);
    std::string out;
    out.reserve(static_cast<size_t>(n) + 2);
    if (m_ < 0) out += '-';
    for (int i = n - 1; i >= 0; --i) {
      out += buf[i];
      if (i == scale_ && i != 0) out += '.';
    }
    return out;
  }

  // This value at `scale` digits: more digits are added as zeros (exact), fewer rounded by
  // `mode`. round(2) of 2.345 is 2.35; round(2, kHalfEven) 2.34.
  Decimal round(int scale, Rounding mode = Rounding::kHalfUp) const {
    check_scale(scale);
    if (scale >= scale_) return from_mantissa(mul_checked(m_, pow10(scale - scale_)), scale);
    Mantissa p = pow10(scale_ - scale);
    return from_mantissa(div_rounded(m_, p, mode), scale);
  }
  // The same value with trailing zeros after the point removed: 12.500 -> 12.5.
  Decimal normalized() const {
    Decimal d = *this;
    while (d.scale_ > 0 && d.m_ % 10 == 0) {
      d.m_ /= 10;
      --d.scale_;
    }
    return d;
  }

  Decimal operator-() const { return from_mantissa(-m_, scale_); }
  Decimal abs() const { return m_ < 0 ? -*this : *this; }

  friend Decimal operator+(const Decimal& a, const Decimal& b) {
    int s = a.scale_ > b.scale_ ? a.scale_ : b.scale_;
    Mantissa r;
    if (__builtin_add_overflow(a.at(s), b.at(s), &r)) overflow();
    return from_mantissa(r, s);
  }
  friend Decimal operator-(const Decimal& a, const Decimal& b) {
    int s = a.scale_ > b.scale_ ? a.scale_ : b.scale_;
    Mantissa r;
    if (__builtin_sub_overflow(a.at(s), b.at(s), &r)) overflow();
    return from_mantissa(r, s);
  }
  // Exact: the scale is the sum of both (round() it to the field's scale).
  friend Decimal operator*(const Decimal& a, const Decimal& b) {
    int s = a.scale_ + b.scale_;
    if (s > kMaxScale) throw DecimalOverflow("a product with more than 38 digits after the point");
    return from_mantissa(mul_checked(a.m_, b.m_), s);
  }
  Decimal& operator+=(const Decimal& o) { return *this = *this + o; }
  Decimal& operator-=(const Decimal& o) { return *this = *this - o; }
  Decimal& operator*=(const Decimal& o) { return *this = *this * o; }

  // this / divisor with `scale` digits after the point, rounded by `mode` (division is never
  // exact in general, so both are explicit). Throws DecimalError on a zero divisor.
  Decimal divide(const Decimal& divisor, int scale, Rounding mode = Rounding::kHalfUp) const {
    check_scale(scale);
    if (divisor.m_ == 0) throw DecimalError("division by zero");
    // result * 10^scale = m_ * 10^(scale + divisor.scale - scale_) / divisor.m_
    int e = scale + divisor.scale_ - scale_;
    Mantissa num = m_, den = divisor.m_;
    // Intermediates may take the full 127 bits; only the quotient must fit in 38 digits.
    if (e >= 0)
      num = mul_raw(num, pow10_checked(e));
    else
      den = mul_raw(den, pow10_checked(-e));
    return from_mantissa(div_rounded(num, den, mode), scale);
  }

  // By value (1.0 == 1.00).
  friend std::strong_ordering operator<=>(const Decimal& a, const Decimal& b) {
    if (a.sign() != b.sign()) return a.sign() <=> b.sign();
    Mantissa pa = pow10(a.scale_), pb = pow10(b.scale_);
    Mantissa ia = a.m_ / pa, ib = b.m_ / pb;
    if (ia != ib) return ia <=> ib;
    // Same integer part and sign: compare the fractions at the larger scale (< 10^38, fits).
    int s = a.scale_ > b.scale_ ? a.scale_ : b.scale_;
    Mantissa fa = (a.m_ % pa) * pow10(s - a.scale_), fb = (b.m_ % pb) * pow10(s - b.scale_);
    return fa <=> fb;
  }
  friend bool operator==(const Decimal& a, const Decimal& b) { return (a <=> b) == 0; }

 private:
  static constexpr Mantissa pow10(int n) {
    Mantissa p = 1;
    for (int i = 0; i < n; ++i)
      p *= 10;
    return p;
  }
  static Mantissa pow10_checked(int n) {
    if (n > kMaxDigits) overflow();
    return pow10(n);
  }
  static constexpr Mantissa max_mantissa() { return pow10(kMaxDigits) - 1; }
  [[noreturn]] static void overflow() {
    throw DecimalOverflow("decimal result with more than 38 significant digits");
  }
  static void check_digits(Mantissa m) {
    if (m > max_mantissa() || m < -max_mantissa()) overflow();
  }
  static void check_scale(int scale) {
    if (scale < 0 || scale > kMaxScale)
      throw DecimalOverflow("decimal scale " + std::to_string(scale) + " is not within 0..38");
  }
  static Mantissa mul_raw(Mantissa a, Mantissa b) {
    Mantissa r;
    if (__builtin_mul_overflow(a, b, &r)) overflow();
    return r;
  }
  static Mantissa mul_checked(Mantissa a, Mantissa b) {
    Mantissa r = mul_raw(a, b);
    check_digits(r);
    return r;
  }
  // num / den rounded by `mode` (den != 0).
  static Mantissa div_rounded(Mantissa num, Mantissa den, Rounding mode) {
    Mantissa q = num / den, r = num % den;  // truncated toward zero
    if (r == 0 || mode == Rounding::kDown) return q;
    bool negative = (num < 0) != (den < 0);
    // Compare 2|r| with |den| as |r| with |den| - |r| (no overflow).
    Mantissa ar = r < 0 ? -r : r, ad = den < 0 ? -den : den;
    bool up = ar > ad - ar || (ar == ad - ar && (mode == Rounding::kHalfUp || (q % 2) != 0));
    if (up) q += negative ? -1 : 1;
    return q;
  }
  // The mantissa at a scale >= scale_ (checked).
  Mantissa at(int scale) const {
    return scale == scale_ ? m_ : mul_checked(m_, pow10(scale - scale_));
  }

  Mantissa m_ = 0;
  int scale_ = 0;
};

}  // namespace keel::sdk
