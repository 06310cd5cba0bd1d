#!/usr/bin/env python3
"""Call arrivals for the call flow benchmark, and the application they call.

  arrivals.py app --port P            the answer_url: GET /answer answers a one-talk NCCO (the greeting)
  arrivals.py calls --port G --rate R --seconds S --hold H
      opens R calls a second for S seconds on ws://127.0.0.1:G/ivr, each as the Voice API does
      (websocket:connected, then a 20 ms frame of silence every 20 ms), and times from sending
      websocket:connected to the first audible frame of the greeting; each call hangs up after H
      seconds. Prints one JSON line: calls, answered, failed, p50/p90/p99/max in ms.
"""
import argparse
import asyncio
import json
import struct
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import websockets


def app(port):
    ncco = json.dumps([{"action": "talk", "text": "Welcome to Patchbay."}]).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(ncco)))
            self.end_headers()
            self.wfile.write(ncco)

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


def audible(frame):
    n = len(frame) // 2
    return any(abs(s) > 64 for s in struct.unpack("<%dh" % n, frame[: n * 2]))


async def call(port, hold, results):
    silence = bytes(640)
    try:
        async with websockets.connect("ws://127.0.0.1:%d/ivr" % port, max_size=None, open_timeout=10) as ws:
            start = time.perf_counter()
            await ws.send(json.dumps({"event": "websocket:connected", "content-type": "audio/l16;rate=16000"}))
            first = None
            deadline = start + hold
            next_send = start

            async def sender():
                nonlocal next_send
                try:
                    while time.perf_counter() < deadline:
                        await ws.send(silence)
                        next_send += 0.02
                        await asyncio.sleep(max(0, next_send - time.perf_counter()))
                except websockets.ConnectionClosed:
                    pass  # the NCCO ran out: the gateway hung up

            task = asyncio.create_task(sender())
            try:
                while time.perf_counter() < deadline:
                    try:
                        msg = await asyncio.wait_for(ws.recv(), timeout=max(0.01, deadline - time.perf_counter()))
                    except asyncio.TimeoutError:
                        break
                    except websockets.ConnectionClosed:
                        break  # the greeting is over and the NCCO with it: closed with 1000
                    if first is None and isinstance(msg, bytes) and audible(msg):
                        first = time.perf_counter()
            finally:
                task.cancel()
            results.append(None if first is None else (first - start) * 1000)
    except Exception as e:  # a refused or dropped call counts as failed
        print("call failed: %s" % e, file=sys.stderr)
        results.append(None)


async def calls(port, rate, seconds, hold):
    results = []
    tasks = []
    start = time.perf_counter()
    n = int(rate * seconds)
    for i in range(n):
        await asyncio.sleep(max(0, start + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(call(port, hold, results)))
    await asyncio.gather(*tasks)
    times = sorted(t for t in results if t is not None)

    def pct(p):
        return round(times[min(len(times) - 1, int(p * len(times)))], 1) if times else None

    print(json.dumps({"calls": n, "answered": len(times), "failed": n - len(times), "p50_ms": pct(0.5), "p90_ms": pct(0.9),
                      "p99_ms": pct(0.99), "max_ms": round(times[-1], 1) if times else None}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["app", "calls"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--hold", type=float, default=3)
    a = parser.parse_args()
    if a.what == "app":
        app(a.port)
    else:
        asyncio.run(calls(a.port, a.rate, a.seconds, a.hold))


if __name__ == "__main__":
    main()
