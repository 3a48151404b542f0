// Native code of the `inventory` module:
// - the state machine of a stock move (draft -> done, draft -> cancelled; done and cancelled
//   moves never change and a done move is never deleted);
// - a move that becomes done changes the stock on hand (stock_quant) of its two locations in
//   the move's transaction, refusing to take a location below zero unless it allows it;
// - product.qty_available, the stock on hand in internal locations.

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <keel/keel.hpp>

namespace {

using keel::sdk::Change;
using keel::sdk::Decimal;
using keel::sdk::Env;
using keel::sdk::Query;
using keel::sdk::Record;
using keel::sdk::Records;
using keel::sdk::Value;

constexpr int kQuantityScale = 3;

// The value a write leaves: the written one, else the record's before.
const Value& after(const Change& change, const char* field) {
  if (change.values.has(field) || !change.old) return change.values.get(field);
  return change.old->get(field);
}

std::string text_of(const Value& v) {
  return v.is_string() ? v.as_string() : std::string();
}

// The quant of (product, location), created empty when there is none. Its unique `key` makes a
// concurrent creation of the same quant fail rather than count twice.
Record quant_of(Records& sys, std::int64_t product, std::int64_t location) {
  std::string key = std::to_string(product) + "/" + std::to_string(location);
  Query q;
  q.filter = "{\"key\": " + keel::sdk::to_json(Value(key)) + "}";
  q.fields = "id,quantity,revision";
  auto page = sys.list("stock_quant", q);
  if (!page.records.empty()) return page.records.front();
  return sys.create("stock_quant", Record{{"product", product},
                                          {"location", location},
                                          {"quantity", Decimal::from_mantissa(0, kQuantityScale)},
                                          {"key", key}});
}

// Moves `quantity` of `product` from one location to the other: both quants are locked (an
// UPDATE of their revision, in location order so that two moves never wait for each other),
// then read again (PostgreSQL's read committed: the value another transaction committed while
// this one waited), checked and written. Adds an error and changes nothing when the source
// would go below zero and does not allow it.
void apply_move(Env& env, Change& change, std::int64_t product, const Decimal& quantity,
                std::int64_t from, std::int64_t to) {
  Records& sys = env.elevated("stock on hand follows the moves that are done");
  struct Side {
    std::int64_t location;
    Decimal delta;
    std::int64_t quant = 0;
    Decimal on_hand;
  };
  std::vector<Side> sides = {{from, -quantity, 0, {}}, {to, quantity, 0, {}}};
  std::sort(sides.begin(), sides.end(),
            [](const Side& a, const Side& b) { return a.location < b.location; });
  for (auto& s : sides) {
    Record quant = quant_of(sys, product, s.location);
    s.quant = quant.id();
    sys.update("stock_quant", s.quant, Record{{"revision", quant.get("revision").as_int() + 1}});
    s.on_hand = sys.read("stock_quant", s.quant, "quantity").get("quantity").as_decimal();
  }
  for (const auto& s : sides) {
    Decimal next = s.on_hand + s.delta;
    if (next.sign() >= 0) continue;
    Record location = sys.read("stock_location", s.location, "name,allow_negative");
    if (location.get("allow_negative").is_bool() && location.get("allow_negative").as_bool())
      continue;
    std::string name = text_of(sys.read("product", product, "name").get("name"));
    change.errors.push_back(
        {"quantity", "not enough " + name + " in " + text_of(location.get("name")) + ": " +
                         s.on_hand.to_string() + " on hand, " + quantity.to_string() + " needed"});
    return;
  }
  for (const auto& s : sides)
    sys.update("stock_quant", s.quant,
               Record{{"quantity", (s.on_hand + s.delta).round(kQuantityScale)}});
}

// Which states a move may go to from which.
bool allowed(const std::string& from, const std::string& to) {
  return from == to || (from == "draft" && (to == "done" || to == "cancelled"));
}

void check_move(Env& env, Change& change) {
  std::string from_state = change.old ? text_of(change.old->get("state")) : "draft";
  std::string to_state = text_of(after(change, "state"));
  if (to_state.empty()) to_state = from_state;
  if (!change.old && to_state == "cancelled")
    change.errors.push_back({"state", "a new move is draft or done"});
  if (change.old && from_state != "draft") {
    for (const char* f : {"product", "quantity", "from_location", "to_location", "state"})
      if (change.values.has(f) && !(change.values.get(f) == change.old->get(f)))
        change.errors.push_back({f, "the move is " + from_state + ": it cannot change"});
    return;
  }
  if (!allowed(from_state, to_state)) {
    change.errors.push_back({"state", "cannot go from " + from_state + " to " + to_state});
    return;
  }
  const Value& quantity = after(change, "quantity");
  const Value& product = after(change, "product");
  const Value& from = after(change, "from_location");
  const Value& to = after(change, "to_location");
  if (quantity.is_null() || !product.is_int() || !from.is_int() || !to.is_int())
    return;  // Keel reports what is required or malformed
  Decimal qty;
  if (quantity.is_int()) {
    qty = Decimal(quantity.as_int());
  } else if (!quantity.is_string() || !Decimal::try_parse(quantity.as_string(), qty)) {
    change.errors.push_back({"quantity", "must be a decimal such as \"2.5\""});
    return;
  }
  if (qty.sign() <= 0) change.errors.push_back({"quantity", "must be more than zero"});
  if (from.as_int() == to.as_int())
    change.errors.push_back({"to_location", "must differ from the source location"});
  if (!change.errors.empty() || to_state != "done" || from_state == "done") return;
  apply_move(env, change, product.as_int(), qty, from.as_int(), to.as_int());
}

}  // namespace

KEEL_MODULE(inventory) {
  loader.validate("stock_move", check_move);
  loader.before_delete("stock_move", [](Env&, Change& change) {
    if (change.old && text_of(change.old->get("state")) == "done")
      change.errors.push_back({"state", "a done move is history: it cannot be deleted"});
  });

  loader.compute("product", "qty_available", [](Env& env, std::span<const std::int64_t> ids) {
    std::map<std::int64_t, Decimal> on_hand;
    Query q;
    q.filter =
        "{\"product\": {\"in\": " + keel::sdk::to_json(Value(Value::Ids(ids.begin(), ids.end()))) +
        "}, \"location.usage\": \"internal\"}";
    q.fields = "product,quantity";
    q.sort = "id";
    q.limit = 1000;
    for (;;) {
      auto page = env.records().list("stock_quant", q);
      for (const auto& r : page.records)
        on_hand[r.get("product").as_int()] += r.get("quantity").as_decimal();
      q.offset += static_cast<std::int64_t>(page.records.size());
      if (page.records.empty() || q.offset >= page.total) break;
    }
    std::vector<Value> out;
    for (auto id : ids)
      out.emplace_back(on_hand[id].round(kQuantityScale));
    return out;
  });
}
