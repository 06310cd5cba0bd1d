#!/usr/bin/env python3
"""Loads Patchbay's control API as an application would, at a steady rate, and reports its latency.

Each request carries a fresh RS256 application JWT (as the Voice API's SDKs make them), over one
keep-alive connection per worker (https with --ca, else http). The mix reads and steers without changing what the legs hear
(so a media benchmark running beside it is not disturbed): half `GET /v1/calls?page_size=10`, a third
`GET /v1/calls/{uuid}` of a live leg, the rest `PUT /v1/calls/{uuid}` with `unmute` or `unearmuff` on
legs that are neither muted nor earmuffed (the whole steering path, a no-op for the audio).

Prints one JSON object: per operation the count, errors and latency percentiles in milliseconds.
"""
import argparse
import http.client
import json
import random
import ssl
import threading
import time
import uuid

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", help="the server's certificate (PEM): https; without it, plain http")
    parser.add_argument("--application-id", required=True)
    parser.add_argument("--private-key", required=True)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=50, help="requests per second, all workers together")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    # Parsed once (as the SDKs do): parsing the PEM for every token costs tens of milliseconds.
    key = load_pem_private_key(open(args.private_key, "rb").read(), password=None)
    context = None
    if args.ca:
        context = ssl.create_default_context(cafile=args.ca)
        context.check_hostname = False

    def connect():
        if context:
            return http.client.HTTPSConnection(args.host, args.port, context=context, timeout=30)
        return http.client.HTTPConnection(args.host, args.port, timeout=30)

    def token():
        now = int(time.time())
        claims = {"application_id": args.application_id, "iat": now, "jti": str(uuid.uuid4()), "exp": now + 900}
        return jwt.encode(claims, key, algorithm="RS256")

    results = {}
    lock = threading.Lock()
    live = []

    def record(op, ms, ok):
        with lock:
            r = results.setdefault(op, {"ms": [], "errors": 0})
            if ok:
                r["ms"].append(ms)
            else:
                r["errors"] += 1

    def request(conn, method, path, body=None):
        headers = {"Authorization": "Bearer " + token()}
        if body is not None:
            headers["Content-Type"] = "application/json"
        start = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, data, (time.perf_counter() - start) * 1000

    def worker(index):
        conn = connect()
        interval = args.workers / args.rate
        next_at = time.perf_counter() + random.random() * interval
        end = time.perf_counter() + args.seconds
        while next_at < end:
            time.sleep(max(0, next_at - time.perf_counter()))
            next_at += interval
            roll = random.random()
            try:
                if roll < 0.5 or not live:
                    status, data, ms = request(conn, "GET", "/v1/calls?page_size=10&order=desc")
                    ok = status == 200
                    if ok:
                        calls = json.loads(data)["_embedded"]["calls"]
                        with lock:
                            live[:] = [c["uuid"] for c in calls if c["status"] == "answered"] or live
                    record("list", ms, ok)
                elif roll < 0.83:
                    status, _, ms = request(conn, "GET", "/v1/calls/" + random.choice(live))
                    record("get", ms, status == 200)
                else:
                    action = random.choice(["unmute", "unearmuff"])
                    status, _, ms = request(conn, "PUT", "/v1/calls/" + random.choice(live), json.dumps({"action": action}))
                    record("put", ms, status in (204, 409))
            except (OSError, http.client.HTTPException):
                record("transport", 0, False)
                conn.close()
                conn = connect()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = {}
    everything = []
    for op, r in sorted(results.items()):
        everything += r["ms"]
        report[op] = {"count": len(r["ms"]), "errors": r["errors"], "p50_ms": percentile(r["ms"], 50),
                      "p99_ms": percentile(r["ms"], 99), "max_ms": max(r["ms"]) if r["ms"] else None}
    report["all"] = {"count": len(everything), "errors": sum(r["errors"] for r in results.values()),
                     "p50_ms": percentile(everything, 50), "p90_ms": percentile(everything, 90),
                     "p99_ms": percentile(everything, 99), "max_ms": max(everything) if everything else None,
                     "rate_per_s": len(everything) / args.seconds}
    print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    main()
