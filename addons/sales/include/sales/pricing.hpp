#pragma once

// The services `sales` provides to other modules (keel::sdk::Env::service).

#include <keel/keel.hpp>

namespace sales {

// The price of one sale_order_line (fields product, quantity, unit_price) before tax.
// Override it to change how every order total is computed (see the sales_discount module).
using LinePrice = double(keel::sdk::Env& env, const keel::sdk::Record& line);
inline constexpr const char* kLinePrice = "sales.line_price";

}  // namespace sales
