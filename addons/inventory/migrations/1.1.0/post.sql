-- 1.1.0 keeps the stock on hand in stock_quant, which only moves that become done change. A
-- database upgraded from 1.0.0 has done moves and no quants: sum them once here.
INSERT INTO stock_quant (product, location, quantity, key)
SELECT product, location, sum(quantity), product || '/' || location
FROM (SELECT product, to_location AS location, quantity FROM stock_move WHERE state = 'done'
      UNION ALL
      SELECT product, from_location, -quantity FROM stock_move WHERE state = 'done') m
GROUP BY product, location
ON CONFLICT (key) DO NOTHING;
-- The partner and adjustment locations may go below zero (data/locations.yaml sets it for the
-- ones it declares; this covers the others).
UPDATE stock_location SET allow_negative = true WHERE usage <> 'internal' AND allow_negative IS NOT TRUE;
