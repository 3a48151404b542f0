// A front-end component declared by sale_stock (components: in views/sale_stock.yaml).
export default function deliveryBadge(record) {
  const el = document.createElement("span");
  el.className = "badge";
  el.textContent = record.warehouse ? "to deliver" : "no warehouse";
  return el;
}
