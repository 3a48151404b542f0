// A front-end component declared by sale_stock (components: in views/sale_stock.yaml): the
// order's delivery state (stored by src/sale_stock.cpp) as a badge.
const LABELS = {
  nothing: "nothing to deliver",
  waiting: "to deliver",
  partial: "partly delivered",
  delivered: "delivered",
  cancelled: "delivery cancelled",
};
export default function deliveryBadge(record) {
  const el = document.createElement("span");
  el.className = "badge";
  el.textContent = LABELS[record.delivery_state] ?? (record.warehouse ? "to deliver" : "no warehouse");
  return el;
}
