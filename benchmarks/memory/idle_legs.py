#!/usr/bin/env python3
"""Memory per idle connected leg (docs/QUALITY.md: at most 64 KiB beyond the socket's own buffers).

Starts `patchbay serve` on a free loopback port, reads its resident memory (VmRSS) and heap use, opens N
websocket legs that each send `websocket:connected` and then stay idle, reads the memory again, and
prints the difference per leg. Each leg is a real client connection (Python `websockets`); the server
is given time to settle before each reading, and the reading is repeated for N and 2N legs so the
per-leg figure is a slope, not a one-off.

Socket buffers live in the kernel, not in the server's resident memory, so VmRSS already excludes them.
"""
import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import websockets


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def legs_active(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
        return json.loads(r.read())["legs"]


async def open_legs(port: int, count: int, rate: int, keep: list) -> None:
    async def one(i: int) -> None:
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/socket", max_size=None, ping_interval=None)
        await ws.send(json.dumps({"event": "websocket:connected", "content-type": f"audio/l16;rate={rate}",
                                  "conversation": f"idle-{len(keep)}-{i}"}))
        keep.append(ws)

    for start in range(0, count, 100):
        await asyncio.gather(*(one(i) for i in range(start, min(count, start + 100))))


async def drain_incoming(conns: list) -> None:
    # Legs receive a frame every 20 ms; read them so the server's writes never back up.
    async def reader(ws):
        try:
            async for _ in ws:
                pass
        except websockets.ConnectionClosed:
            pass

    for ws in conns:
        asyncio.ensure_future(reader(ws))


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--legs", type=int, default=500)
    ap.add_argument("--rate", type=int, default=16000)
    args = ap.parse_args()

    port = free_port()
    env = dict(os.environ, PATCHBAY_LISTEN=f"127.0.0.1:{port}", PATCHBAY_LOG_LEVEL="warning",
               PATCHBAY_MAX_LEGS=str(4 * args.legs + 10))
    server = subprocess.Popen([args.binary, "serve"], env=env, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                legs_active(port)
                break
            except OSError:
                time.sleep(0.05)
        conns: list = []
        # Warm up the server's pools with a few legs, then close them, so the baseline includes them.
        await open_legs(port, 20, args.rate, conns)
        await drain_incoming(conns)
        await asyncio.sleep(1)
        for ws in conns:
            await ws.close()
        conns.clear()
        await asyncio.sleep(1)

        readings = [(0, rss_kib(server.pid))]
        for target in (args.legs, 2 * args.legs):
            await open_legs(port, target - len(conns), args.rate, conns)
            await drain_incoming(conns[len(conns) - (target - readings[-1][0]):])
            for _ in range(100):
                if legs_active(port) == target:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(2)
            readings.append((legs_active(port), rss_kib(server.pid)))

        print(f"rate {args.rate} Hz, binary {args.binary}")
        for legs, kib in readings:
            print(f"legs {legs:5d}  VmRSS {kib:8d} KiB")
        (l0, r0), (l1, r1), (l2, r2) = readings
        print(f"per leg, 0 -> {l1}: {(r1 - r0) / (l1 - l0):.1f} KiB")
        print(f"per leg, {l1} -> {l2}: {(r2 - r1) / (l2 - l1):.1f} KiB")
        for ws in conns:
            await ws.close()
        return 0
    finally:
        server.terminate()
        server.wait(timeout=40)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
