// Native code of `sale_stock`, the deliveries of sales orders:
// - confirming an order creates one draft move per line of goods (not services), from the stock
//   location of the order's warehouse (the first warehouse when it names none) to the first
//   customer location;
// - cancelling the order cancels its draft moves (an order with a done move cannot be
//   cancelled: what left the warehouse did);
// - completing the order (done) validates the moves still draft: the stock drops;
// - POST /api/v1/x/sale_stock/orders/{id}/deliver validates them with the caller's rights;
// - sale_order.delivery_state, stored, follows the states of the moves.
// Moves are created and changed through RecordService, so inventory's hooks (state machine,
// stock on hand) apply to them in the same transaction.

#include <map>
#include <string>
#include <vector>

#include <keel/keel.hpp>

namespace {

using keel::sdk::Change;
using keel::sdk::Env;
using keel::sdk::Query;
using keel::sdk::Record;
using keel::sdk::Records;
using keel::sdk::Value;

std::string text_of(const Value& v) {
  return v.is_string() ? v.as_string() : std::string();
}

// The first record (by id) of `entity` matching `filter`, or 0.
std::int64_t first_id(Records& records, const char* entity, const std::string& filter) {
  Query q;
  q.filter = filter;
  q.fields = "id";
  q.sort = "id";
  q.limit = 1;
  auto page = records.list(entity, q);
  return page.records.empty() ? 0 : page.records.front().id();
}

// Every record of `entity` matching `filter` (pages of 1000).
std::vector<Record> all_of(Records& records, const char* entity, const std::string& filter,
                           const char* fields) {
  std::vector<Record> out;
  Query q;
  q.filter = filter;
  q.fields = fields;
  q.sort = "id";
  q.limit = 1000;
  for (;;) {
    auto page = records.list(entity, q);
    for (auto& r : page.records)
      out.push_back(std::move(r));
    q.offset += static_cast<std::int64_t>(page.records.size());
    if (page.records.empty() || q.offset >= page.total) break;
  }
  return out;
}

std::string order_filter(std::int64_t order, const char* states) {
  return "{\"sale_order\": " + std::to_string(order) + ", \"state\": {\"in\": " + states + "}}";
}

// An order being confirmed without a warehouse gets the first one.
void default_warehouse(Env& env, Change& change) {
  if (text_of(change.values.get("state")) != "confirmed") return;
  if (!change.values.get("warehouse").is_null()) return;
  if (change.old && !change.old->get("warehouse").is_null()) return;
  auto& sys = env.elevated("the warehouse of a confirmed order");
  if (std::int64_t wh = first_id(sys, "warehouse", "{}")) change.values.set("warehouse", wh);
}

// What has left the warehouse did: an order with a done move is not cancelled.
void check_cancel(Env& env, Change& change) {
  if (!change.old || text_of(change.values.get("state")) != "cancelled") return;
  auto& sys = env.elevated("the deliveries of an order being cancelled");
  if (first_id(sys, "stock_move", order_filter(change.id, "[\"done\"]")))
    change.errors.push_back(
        {"state", "goods of this order were delivered: it cannot be cancelled"});
}

// Creates the delivery moves of a confirmed order (unless it has some that are not cancelled).
void create_deliveries(Records& sys, const Record& order) {
  std::int64_t id = order.id();
  if (first_id(sys, "stock_move", order_filter(id, "[\"draft\", \"done\"]"))) return;
  const Value& warehouse = order.get("warehouse");
  if (!warehouse.is_int())
    throw keel::sdk::ValidationError("there is no warehouse to deliver from",
                                     {{"warehouse", "create a warehouse first"}});
  std::int64_t from = first_id(
      sys, "stock_location",
      "{\"warehouse\": " + std::to_string(warehouse.as_int()) + ", \"usage\": \"internal\"}");
  std::int64_t to = first_id(sys, "stock_location", "{\"usage\": \"customer\"}");
  if (!from || !to)
    throw keel::sdk::ValidationError(
        "the warehouse has no stock location, or there is no customer location",
        {{"warehouse", "needs an internal location (and a customer location must exist)"}});
  auto lines = all_of(sys, "sale_order_line", "{\"order\": " + std::to_string(id) + "}",
                      "id,product,quantity");
  if (lines.empty()) return;
  Value::Ids product_ids;
  for (const auto& line : lines)
    product_ids.push_back(line.get("product").as_int());
  std::map<std::int64_t, std::string> kinds;
  for (const auto& p :
       all_of(sys, "product", "{\"id\": {\"in\": " + keel::sdk::to_json(Value(product_ids)) + "}}",
              "id,kind"))
    kinds[p.id()] = text_of(p.get("kind"));
  std::string name = text_of(order.get("name"));
  for (const auto& line : lines) {
    const Value& product = line.get("product");
    if (kinds[product.as_int()] == "service") continue;
    sys.create("stock_move", Record{{"name", name},
                                    {"product", product},
                                    {"quantity", line.get("quantity")},
                                    {"from_location", from},
                                    {"to_location", to},
                                    {"sale_order", id},
                                    {"sale_line", line.id()}});
  }
}

// Sets every move of `order` in state `from` to `to` (as `records` may).
void move_all(Records& records, std::int64_t order, const char* to) {
  for (const auto& move : all_of(records, "stock_move", order_filter(order, "[\"draft\"]"), "id"))
    records.update("stock_move", move.id(), Record{{"state", to}});
}

// After an order is written: its deliveries follow its state.
void follow_state(Env& env, Change& change) {
  std::string state = text_of(change.values.get("state"));
  if (state != "confirmed" && state != "cancelled" && state != "done") return;
  auto& sys = env.elevated("the deliveries follow the order's state");
  if (state == "confirmed") {
    Record order = sys.read("sale_order", change.id, "id,name,warehouse");
    create_deliveries(sys, order);
  } else {
    move_all(sys, change.id, state == "done" ? "done" : "cancelled");
  }
}

}  // namespace

KEEL_MODULE(sale_stock) {
  loader.before_update("sale_order", default_warehouse);
  loader.validate("sale_order", check_cancel);
  loader.after_update("sale_order", follow_state);

  loader.compute("sale_order", "delivery_state", [](Env& env, std::span<const std::int64_t> ids) {
    struct Count {
      int draft = 0, done = 0, cancelled = 0;
    };
    std::map<std::int64_t, Count> counts;
    std::string in = keel::sdk::to_json(Value(Value::Ids(ids.begin(), ids.end())));
    for (const auto& move : all_of(env.records(), "stock_move",
                                   "{\"sale_order\": {\"in\": " + in + "}}", "sale_order,state")) {
      auto& c = counts[move.get("sale_order").as_int()];
      std::string s = text_of(move.get("state"));
      (s == "done" ? c.done : s == "cancelled" ? c.cancelled : c.draft)++;
    }
    std::vector<Value> out;
    for (auto id : ids) {
      const Count& c = counts[id];
      out.emplace_back(c.draft + c.done == 0 ? (c.cancelled ? "cancelled" : "nothing")
                       : c.draft == 0        ? "delivered"
                       : c.done == 0         ? "waiting"
                                             : "partial");
    }
    return out;
  });

  // Validates the draft deliveries of an order with the caller's rights (a stock user's).
  loader.route("POST", "/orders/{id}/deliver", [](Env& env, const keel::sdk::HttpRequest& req) {
    std::int64_t id = 0;
    try {
      id = std::stoll(req.param("id"));
    } catch (const std::exception&) {
      throw keel::sdk::Error(keel::sdk::ErrorKind::kNotFound, "records.not_found",
                             "no sale_order " + req.param("id"));
    }
    Record order = env.records().read("sale_order", id, "id,state");
    if (text_of(order.get("state")) != "confirmed")
      throw keel::sdk::Error(
          keel::sdk::ErrorKind::kConflict, "sale_stock.not_confirmed",
          "order " + std::to_string(id) + " is " + text_of(order.get("state")) + ", not confirmed",
          "confirm the order first");
    move_all(env.records(), id, "done");
    Record after = env.records().read("sale_order", id, "id,delivery_state");
    return keel::sdk::HttpResponse::json(200, keel::sdk::to_json(after));
  });
}
