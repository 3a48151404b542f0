#!/usr/bin/env python3
"""Sales benchmark (issue 14), through the REST API of a running `keel serve`.

1. Orders: each client creates an order, adds 10 lines (prices from the products), and confirms
   it (with sale_stock installed, that creates its 10 delivery moves): 12 requests per order.
   Prints orders/s and requests/s over all clients.
2. Stored computed recomputation: the mean latency of changing one line's quantity (recomputes
   the line's subtotal and tax and the order's untaxed amount, tax and total in the request's
   transaction) on orders of 10 and of 100 lines, next to the mean latency of a write that
   recomputes nothing (a contact's name): the difference is the cost of the recomputation.

Money goes as strings only (exact decimals); no float touches an amount.

Usage: bench/sales_bench.py --port PORT --token TOKEN [--seconds S] [--clients N]
(bench/sales_bench.sh starts a server and runs it.)
"""
import argparse
import http.client
import json
import statistics
import threading
import time


class Client:
    def __init__(self, port, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", port)
        self.headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

    def call(self, method, path, body=None):
        self.conn.request(method, "/api/v1" + path, body=json.dumps(body) if body is not None else None,
                          headers=self.headers)
        r = self.conn.getresponse()
        data = r.read()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
        return json.loads(data) if data else None


def make_order(c, name, partner, products, lines):
    order = c.call("POST", "/records/sale_order", {"name": name, "partner": partner})["id"]
    for i in range(lines):
        c.call("POST", "/records/sale_order_line",
               {"order": order, "product": products[i % len(products)], "quantity": str(1 + i % 5)})
    return order


def orders_load(port, token, partner, products, seconds, clients):
    counts = [0] * clients
    stop = time.monotonic() + seconds
    errors = []

    def run(k):
        c = Client(port, token)
        n = 0
        try:
            while time.monotonic() < stop:
                order = make_order(c, f"B{k}-{n}-{time.monotonic_ns()}", partner, products, 10)
                c.call("PATCH", f"/records/sale_order/{order}", {"state": "confirmed"})
                n += 1
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(str(e))
        counts[k] = n

    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    if errors:
        raise RuntimeError(errors[0])
    orders = sum(counts)
    print(f"orders of 10 lines, created and confirmed: {orders} in {elapsed:.1f} s with {clients} "
          f"clients: {orders / elapsed:.1f} orders/s, {orders * 12 / elapsed:.0f} req/s")


def latency(c, method, path, bodies, rounds):
    samples = []
    for i in range(rounds):
        t = time.perf_counter()
        c.call(method, path, bodies[i % len(bodies)])
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.mean(samples), samples[len(samples) // 2]


def recompute_cost(port, token, partner, products, rounds):
    c = Client(port, token)
    plain = latency(c, "PATCH", f"/records/contact/{partner}",
                    [{"name": "Bench partner A"}, {"name": "Bench partner B"}], rounds)
    print(f"PATCH contact name (nothing recomputed): mean {plain[0]:.2f} ms, p50 {plain[1]:.2f} ms")
    for lines in (10, 100):
        order = make_order(c, f"R{lines}-{time.monotonic_ns()}", partner, products, lines)
        line = c.call("GET", f"/records/sale_order_line?filter=%7B%22order%22%3A{order}%7D&limit=1&fields=id")["data"][0]["id"]
        mean, p50 = latency(c, "PATCH", f"/records/sale_order_line/{line}",
                            [{"quantity": "2"}, {"quantity": "3"}], rounds)
        print(f"PATCH a line's quantity, order of {lines} lines (5 stored fields recomputed): "
              f"mean {mean:.2f} ms, p50 {p50:.2f} ms; recomputation ~{mean - plain[0]:.2f} ms")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--rounds", type=int, default=300)
    a = p.parse_args()
    c = Client(a.port, a.token)
    partner = c.call("POST", "/records/contact", {"name": "Bench partner"})["id"]
    uom = c.call("GET", "/records/uom?limit=1&fields=id")["data"][0]["id"]
    products = [c.call("POST", "/records/product",
                       {"name": f"Bench product {i}", "uom": uom, "kind": "service" if i == 9 else "goods",
                        "list_price": f"{i + 1}.99", "tax_rate": "20.00"})["id"] for i in range(10)]
    recompute_cost(a.port, a.token, partner, products, a.rounds)
    orders_load(a.port, a.token, partner, products, a.seconds, a.clients)


if __name__ == "__main__":
    main()
