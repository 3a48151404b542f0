-- 1.1.0 links a delivery move to its order (stock_move.sale_order, the inverse of
-- sale_order.moves); moves of 1.0.0 knew only their line.
UPDATE stock_move m SET sale_order = l."order"
FROM sale_order_line l
WHERE m.sale_line = l.id AND m.sale_order IS NULL;
