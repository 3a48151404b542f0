-- After the schema change (the column price exists): prices from cents, exactly.
UPDATE product SET price = cents / 100.0;
