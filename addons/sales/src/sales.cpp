// Native code of the `sales` module:
// - a new line's unit price and tax rate default from its product;
// - the stored line subtotal and tax, and the order's untaxed amount, tax and total, computed
//   for a whole batch of records at once, through the `sales.line_price` service (which other
//   modules may override);
// - the lines of a done or cancelled order do not change;
// - contact.sale_count, the number of orders of each contact of a page;
// - the state machine of an order (validate hook);
// - GET /api/v1/x/sales/orders/{id}/summary.

#include <map>
#include <string>
#include <string_view>

#include <keel/keel.hpp>

#include "sales/pricing.hpp"

namespace {

using keel::sdk::Change;
using keel::sdk::Env;
using keel::sdk::Query;
using keel::sdk::Record;
using keel::sdk::Value;

using keel::sdk::Decimal;

// Amounts have two digits; a line's price is rounded half away from zero (as PostgreSQL's
// round(numeric, 2)) before the lines are summed.
constexpr int kCurrencyScale = 2;

// Every record of `entity` whose many2one `field` is one of `ids`: one query per 1000 rows.
template <typename F>
void for_each_referring(Env& env, const char* entity, const char* field, const char* fields,
                        std::span<const std::int64_t> ids, F&& visit) {
  Query q;
  q.filter = std::string("{\"") + field +
             "\": {\"in\": " + keel::sdk::to_json(Value(Value::Ids(ids.begin(), ids.end()))) + "}}";
  q.fields = fields;
  q.sort = "id";
  q.limit = 1000;
  for (;;) {
    auto page = env.records().list(entity, q);
    for (const auto& r : page.records)
      visit(r);
    q.offset += static_cast<std::int64_t>(page.records.size());
    if (page.records.empty() || q.offset >= page.total) break;
  }
}

// The order states and where each may go (constants only: a library runs no code when loaded).
struct Transition {
  std::string_view from, to;
};
constexpr Transition kTransitions[] = {
    {"draft", "confirmed"},     {"draft", "cancelled"}, {"confirmed", "done"},
    {"confirmed", "cancelled"}, {"cancelled", "draft"},
};

void check_state(Env&, Change& change) {
  const Value& to = change.values.get("state");
  if (!change.values.has("state") || !to.is_string()) return;  // Keel checks the type
  if (!change.old) {
    if (to.as_string() != "draft")
      change.errors.push_back({"state", "a new order starts as draft"});
    return;
  }
  const Value& from_value = change.old->get("state");
  std::string from = from_value.is_string() ? from_value.as_string() : "draft";
  if (from == to.as_string()) return;
  bool allowed = false;
  for (const auto& t : kTransitions)
    allowed = allowed || (t.from == from && t.to == to.as_string());
  if (!allowed) {
    change.errors.push_back({"state", "cannot go from " + from + " to " + to.as_string()});
    return;
  }
  if (to.as_string() == "confirmed") {
    const Value& lines =
        change.values.has("lines") ? change.values.get("lines") : change.old->get("lines");
    if (!lines.is_ids() || lines.as_ids().empty())
      change.errors.push_back({"lines", "an order needs at least one line to be confirmed"});
  }
}

// A new line without a unit price (or tax rate) takes its product's list price (and tax rate).
void default_from_product(Env& env, Change& change) {
  const Value& product = change.values.get("product");
  if (!product.is_int()) return;  // Keel reports the missing or malformed product
  bool price = change.values.get("unit_price").is_null();
  bool tax = change.values.get("tax_rate").is_null();
  if (!price && !tax) return;
  Record p = env.records().read("product", product.as_int(), "list_price,tax_rate");
  if (price) change.values.set("unit_price", p.get("list_price").as_decimal().round(2));
  if (tax) change.values.set("tax_rate", p.get("tax_rate").as_decimal().round(2));
}

// The state of the order a line belongs to (empty when there is none: Keel reports a missing
// order after the hooks).
std::string order_state(Env& env, const Value& order) {
  if (!order.is_int()) return {};
  Query q;
  q.filter = "{\"id\": " + std::to_string(order.as_int()) + "}";
  q.fields = "state";
  auto page = env.records().list("sale_order", q);
  return page.records.empty() ? std::string() : page.records.front().get("state").as_string();
}

// The lines of a done or cancelled order are what was sold: they do not change.
void check_line_order(Env& env, Change& change) {
  const Value* before = change.old ? &change.old->get("order") : nullptr;
  const Value* after = change.values.has("order") ? &change.values.get("order") : nullptr;
  if (before && after && *before == *after) after = nullptr;  // the same order: read it once
  for (const Value* order : {before, after}) {
    if (!order) continue;
    std::string state = order_state(env, *order);
    if (state == "done" || state == "cancelled")
      change.errors.push_back({"order", "the order is " + state + ": its lines cannot change"});
  }
}

}  // namespace

KEEL_MODULE(sales) {
  loader.provide<sales::LinePrice>(sales::kLinePrice, [](Env&, const Record& line) {
    return line.get("quantity").as_decimal() * line.get("unit_price").as_decimal();
  });

  // Stored (entities/sales.yaml): recomputed when a line's quantity, price or product changes.
  loader.compute("sale_order_line", "subtotal", [](Env& env, std::span<const std::int64_t> ids) {
    const auto& price = env.service<sales::LinePrice>(sales::kLinePrice);
    std::map<std::int64_t, Decimal> subtotals;
    for_each_referring(
        env, "sale_order_line", "id", "id,order,product,quantity,unit_price", ids,
        [&](const Record& line) { subtotals[line.id()] = price(env, line).round(kCurrencyScale); });
    std::vector<Value> out;
    for (auto id : ids)
      out.emplace_back(subtotals[id]);
    return out;
  });

  // Stored: the sum of the rounded subtotals, recomputed when one of them changes.
  loader.compute("sale_order", "amount", [](Env& env, std::span<const std::int64_t> ids) {
    std::map<std::int64_t, Decimal> totals;
    for_each_referring(env, "sale_order_line", "order", "order,subtotal", ids,
                       [&](const Record& line) {
                         totals[line.get("order").as_int()] += line.get("subtotal").as_decimal();
                       });
    std::vector<Value> out;
    for (auto id : ids)
      out.emplace_back(totals[id].round(kCurrencyScale));
    return out;
  });

  // Stored: the line's tax, its rounded subtotal times its rate, rounded half up to the cent.
  // Computed from the price (not from the stored subtotal) so that both are filled in the same
  // round of recomputation.
  loader.compute("sale_order_line", "tax", [](Env& env, std::span<const std::int64_t> ids) {
    const auto& price = env.service<sales::LinePrice>(sales::kLinePrice);
    std::map<std::int64_t, Decimal> taxes;
    for_each_referring(
        env, "sale_order_line", "id", "id,order,product,quantity,unit_price,tax_rate", ids,
        [&](const Record& line) {
          Decimal subtotal = price(env, line).round(kCurrencyScale);
          taxes[line.id()] =
              (subtotal * line.get("tax_rate").as_decimal()).divide(Decimal(100), kCurrencyScale);
        });
    std::vector<Value> out;
    for (auto id : ids)
      out.emplace_back(taxes[id]);
    return out;
  });

  // Stored: the sum of the lines' taxes (each already rounded), and the order's total.
  loader.compute("sale_order", "amount_tax", [](Env& env, std::span<const std::int64_t> ids) {
    std::map<std::int64_t, Decimal> totals;
    for_each_referring(env, "sale_order_line", "order", "order,tax", ids, [&](const Record& line) {
      totals[line.get("order").as_int()] += line.get("tax").as_decimal();
    });
    std::vector<Value> out;
    for (auto id : ids)
      out.emplace_back(totals[id].round(kCurrencyScale));
    return out;
  });
  loader.compute("sale_order", "amount_total", [](Env& env, std::span<const std::int64_t> ids) {
    std::map<std::int64_t, Decimal> totals;
    for_each_referring(env, "sale_order_line", "order", "order,subtotal,tax", ids,
                       [&](const Record& line) {
                         totals[line.get("order").as_int()] +=
                             line.get("subtotal").as_decimal() + line.get("tax").as_decimal();
                       });
    std::vector<Value> out;
    for (auto id : ids)
      out.emplace_back(totals[id].round(kCurrencyScale));
    return out;
  });

  loader.compute("contact", "sale_count", [](Env& env, std::span<const std::int64_t> ids) {
    std::map<std::int64_t, std::int64_t> counts;
    for_each_referring(env, "sale_order", "partner", "partner", ids,
                       [&](const Record& order) { ++counts[order.get("partner").as_int()]; });
    std::vector<Value> out;
    for (auto id : ids)
      out.emplace_back(counts[id]);
    return out;
  });

  loader.validate("sale_order", check_state);
  loader.before_create("sale_order_line", default_from_product);
  loader.validate("sale_order_line", check_line_order);
  loader.before_delete("sale_order_line", [](Env& env, Change& change) {
    if (change.old) check_line_order(env, change);
  });

  // What GET /api/v1/openapi.json says of the route (docs/native.md, "Describing a route").
  keel::sdk::RouteDoc summary_doc{
      .summary = "An order's totals and line count",
      .operation_id = "order_summary",
      .tags = {"sale_order"},
      .parameters =
          {{.name = "id", .in = "path", .description = "The order's id", .type = "integer"}},
      .responses = {{.status = "200",
                     .description = "id, name, state, amount, amount_tax, amount_total, "
                                    "line_count (decimals as strings)",
                     .schema = R"({"type":"object","required":["id","name","state"]})"},
                    {.status = "401", .ref = "Unauthorized"},
                    {.status = "404", .ref = "NotFound"}}};
  loader.route("GET", "/orders/{id}/summary", std::move(summary_doc),
               [](Env& env, const keel::sdk::HttpRequest& req) {
                 std::int64_t id = 0;
                 try {
                   id = std::stoll(req.param("id"));
                 } catch (const std::exception&) {
                   throw keel::sdk::Error(keel::sdk::ErrorKind::kNotFound, "records.not_found",
                                          "no sale_order " + req.param("id"));
                 }
                 Record order = env.records().read(
                     "sale_order", id, "name,state,amount,amount_tax,amount_total,lines");
                 Record summary{
                     {"id", id},
                     {"name", order.get("name")},
                     {"state", order.get("state")},
                     {"amount", order.get("amount")},
                     {"amount_tax", order.get("amount_tax")},
                     {"amount_total", order.get("amount_total")},
                     {"line_count", static_cast<std::int64_t>(order.get("lines").as_ids().size())}};
                 return keel::sdk::HttpResponse::json(200, keel::sdk::to_json(summary));
               });
}
