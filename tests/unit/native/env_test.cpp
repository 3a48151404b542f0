#include "native/env.hpp"

#include <gtest/gtest.h>

#include "keel/loader.hpp"

namespace keel::native {
namespace {

// A decimal a client sends as a JSON number reaches module code with every digit: the member's
// source text, never a double (a double keeps about 16 digits: 12345678901234567.89 would read
// as 12345678901234568).
TEST(ParseRecord, NumbersWithAFractionKeepTheirSourceText) {
  auto r = parse_record(R"({"amount": 12345678901234567.89, "qty":3, "price" : 0.10 ,"n":null})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get("amount").as_decimal().to_string(), "12345678901234567.89");
  EXPECT_EQ(r->get("price").as_decimal().to_string(), "0.10");
  EXPECT_TRUE(r->get("qty").is_int());
  EXPECT_EQ(r->get("qty").as_decimal().to_string(), "3");
  EXPECT_TRUE(r->get("n").is_null());
  EXPECT_DOUBLE_EQ(r->get("price").as_number(), 0.1);  // a float field still reads a number
}

TEST(ParseRecord, DecimalStringsStayStrings) {
  auto r = parse_record(R"({"amount":"99999999999999999999.99"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get("amount").as_decimal().to_string(), "99999999999999999999.99");
}

TEST(ParseRecord, NotAnObject) {
  EXPECT_FALSE(parse_record("[1.5]"));
  EXPECT_FALSE(parse_record("{"));
}

}  // namespace
}  // namespace keel::native

namespace keel::native {
namespace {

// Services whose signature can cross between the server and a module host get a bridge; the
// proxy it makes hands the arguments over as records and returns the other side's answer.
TEST(ServiceBridge, BridgeableSignaturesCrossAndOthersDoNot) {
  using Price = sdk::Decimal(sdk::Env&, const sdk::Record&, std::int64_t);
  auto bridge = sdk::detail::BridgeOf<Price>::make();
  ASSERT_TRUE(bridge);
  std::function<Price> twice = [](sdk::Env&, const sdk::Record& line, std::int64_t n) {
    return line.get("price").as_decimal() * sdk::Decimal(n);
  };
  // The far side: invoke() runs the real function on the records it received.
  auto proxy = std::static_pointer_cast<const std::function<Price>>(
      bridge->proxy([&](sdk::Env& env, const std::vector<sdk::Record>& args) {
        EXPECT_EQ(args.size(), 2u);
        return bridge->invoke(&twice, env, args);
      }));
  struct NoEnv final : sdk::Env {
    std::string name = "m";
    sdk::Caller who;
    const std::string& module() const override { return name; }
    const sdk::Caller& caller() const override { return who; }
    sdk::Records& records() override { throw std::logic_error("unused"); }
    sdk::Records& elevated(std::string_view) override { throw std::logic_error("unused"); }
    void log(sdk::LogLevel, std::string_view) override {}
    const void* find_service(std::string_view, std::string_view) override { return nullptr; }
  } env;
  EXPECT_EQ((*proxy)(env, sdk::Record{{"price", "19.99"}}, 3).to_string(), "59.97");
  EXPECT_THROW(bridge->invoke(&twice, env, {}), sdk::Error);  // wrong number of arguments

  using Greet = std::string(sdk::Env&, const std::string&);
  using Void = void(sdk::Env&, bool, double);
  EXPECT_TRUE(sdk::detail::BridgeOf<Greet>::make());
  EXPECT_TRUE(sdk::detail::BridgeOf<Void>::make());
  // No Env first, a type without a record form, a reference the callee could write through.
  EXPECT_FALSE(sdk::detail::BridgeOf<int(const std::string&)>::make());
  EXPECT_FALSE(sdk::detail::BridgeOf<int(sdk::Env&, std::vector<int>)>::make());
  EXPECT_FALSE(sdk::detail::BridgeOf<int(sdk::Env&, sdk::Record&)>::make());
}

}  // namespace
}  // namespace keel::native
