#pragma once

// The services `sales` provides to other modules (keel::sdk::Env::service).

#include <keel/keel.hpp>

namespace sales {

// The price of one sale_order_line (fields product, quantity, unit_price) before tax, exact
// (not rounded: quantity * unit_price has scale 5). The order rounds each line's price to the
// cent (half up) and sums the rounded lines. Override it to change how every order total is
// computed (see the sales_discount module).
using LinePrice = keel::sdk::Decimal(keel::sdk::Env& env, const keel::sdk::Record& line);
inline constexpr const char* kLinePrice = "sales.line_price";

}  // namespace sales
