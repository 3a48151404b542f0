// Native code of `sales_discount`: 10 % off every order line of 10 units or more. It overrides
// the `sales.line_price` service of `sales` and calls the original for the base price, so any
// other override in between (in dependency order) still applies.

#include <functional>

#include <keel/keel.hpp>

#include "sales/pricing.hpp"

KEEL_MODULE(sales_discount) {
  loader.override_service<sales::LinePrice>(
      sales::kLinePrice, [](const std::function<sales::LinePrice>& original, keel::sdk::Env& env,
                            const keel::sdk::Record& line) {
        keel::sdk::Decimal price = original(env, line);
        return line.get("quantity").as_decimal() >= 10
                   ? price * keel::sdk::Decimal::from_mantissa(90, 2)  // exact: not rounded here
                   : price;
      });
}
