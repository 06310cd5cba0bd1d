#!/usr/bin/env python3
"""A speech/AI service built for the Voice API, as people write them with Python's `websockets`: the
server side of the Voice API's websocket protocol (docs/PROTOCOL.md "Patchbay as the Voice API"). The
tests start it, point a Patchbay route's `connect` at it and read what it saw: one JSON object per line
on stdout ({"ev": ...}), the first being {"ev": "listening", "port": N}.

Modes (--mode), per connection:
  echo      send every binary message back as it came
  burst     on websocket:connected, send --seconds of a 440 Hz tone in one message, then a notify;
            report when websocket:notify comes back (it must wait for playout, not for queueing)
  clear     send 5 s of tone and a notify, and 300 ms later {"action":"clear"}: the notify and
            websocket:cleared must come back at once
  hostile   an odd-length message, text that is not JSON, a transcript-like JSON message, a 2-byte
            message; then echo
  drop      close the first connection with --close-code after --after-ms; later ones echo
  refuse    answer the first --refusals upgrades with HTTP 503; later ones echo
Options: --jwt-secret S verifies an `Authorization: Bearer <JWT>` (HS256) and reports the result;
--certificate/--private-key serve wss.
"""
import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import math
import ssl
import struct
import sys
import time

import websockets
from websockets.asyncio.server import serve
from websockets.http11 import Response
from websockets.datastructures import Headers


def report(**fields):
    print(json.dumps(fields, sort_keys=True), flush=True)


def tone(rate, seconds, frequency=440.0, amplitude=8000):
    n = int(rate * seconds)
    return b"".join(struct.pack("<h", int(amplitude * math.sin(2 * math.pi * frequency * i / rate))) for i in range(n))


def verify_jwt(header, secret):
    if not header or not header.startswith("Bearer "):
        return "missing"
    token = header[len("Bearer "):]
    parts = token.split(".")
    if len(parts) != 3:
        return "malformed"
    signed = (parts[0] + "." + parts[1]).encode()
    pad = lambda s: s + "=" * (-len(s) % 4)
    signature = base64.urlsafe_b64decode(pad(parts[2]))
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        return "bad signature"
    claims = json.loads(base64.urlsafe_b64decode(pad(parts[1])))
    if abs(time.time() - claims.get("iat", 0)) > 60:
        return "stale iat"
    return "valid"


class Service:
    def __init__(self, args):
        self.args = args
        self.connections = 0
        self.upgrades = 0

    def process_request(self, connection, request):
        self.upgrades += 1
        report(ev="upgrade", n=self.upgrades, path=request.path,
               authorization=request.headers.get("Authorization"),
               content_length=request.headers.get("Content-Length"))
        if self.args.mode == "refuse" and self.upgrades <= self.args.refusals:
            return Response(503, "Service Unavailable", Headers([("Content-Length", "0")]), b"")
        return None

    async def handle(self, ws):
        self.connections += 1
        n = self.connections
        auth = ws.request.headers.get("Authorization")
        jwt = verify_jwt(auth, self.args.jwt_secret) if self.args.jwt_secret else None
        report(ev="open", n=n, path=ws.request.path, authorization=auth, jwt=jwt)
        rate = 16000
        audio_messages = 0
        audio_bytes = 0
        sizes = []
        tasks = []
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    audio_messages += 1
                    audio_bytes += len(message)
                    if len(sizes) < 5:
                        sizes.append(len(message))
                    if self.args.mode in ("echo", "hostile", "refuse") or (self.args.mode == "drop" and n > 1):
                        await ws.send(message)
                    continue
                event = json.loads(message)
                report(ev="text", n=n, msg=event, t=time.monotonic())
                if event.get("event") == "websocket:connected":
                    rate = int(event["content-type"].split("rate=")[1])
                    tasks.append(asyncio.create_task(self.on_connected(ws, n, rate)))
        except websockets.ConnectionClosed:
            pass
        finally:
            for t in tasks:
                t.cancel()
            report(ev="close", n=n, code=ws.close_code, reason=ws.close_reason, audio_messages=audio_messages,
                   audio_bytes=audio_bytes, first_sizes=sizes)

    async def on_connected(self, ws, n, rate):
        mode = self.args.mode
        if mode == "burst":
            # Timed before the sends: a loaded machine may take a while to write 64 KB, and the gateway
            # can start playing it as soon as its first bytes arrive.
            started = time.monotonic()
            await ws.send(tone(rate, self.args.seconds))
            await ws.send(json.dumps({"action": "notify", "payload": {"mark": "end", "n": n}}))
            report(ev="sent", n=n, what="burst+notify", t=started)
        elif mode == "clear":
            await ws.send(tone(rate, 5.0))
            await ws.send(json.dumps({"action": "notify", "payload": {"mark": "after-5s"}}))
            await asyncio.sleep(0.3)
            await ws.send(json.dumps({"action": "clear"}))
            report(ev="sent", n=n, what="clear", t=time.monotonic())
        elif mode == "hostile":
            await ws.send(b"\x01" * 321)
            await ws.send("this is not json")
            await ws.send(json.dumps({"type": "Results", "transcript": "hello world", "is_final": True}))
            await ws.send(b"\x00\x10")
            report(ev="sent", n=n, what="hostile")
        elif mode == "drop" and n == 1:
            await asyncio.sleep(self.args.after_ms / 1000)
            await ws.close(self.args.close_code, "test drop")
            report(ev="sent", n=n, what="drop")


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="echo", choices=["echo", "burst", "clear", "hostile", "drop", "refuse"])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--after-ms", type=int, default=500)
    parser.add_argument("--close-code", type=int, default=1011)
    parser.add_argument("--refusals", type=int, default=2)
    parser.add_argument("--jwt-secret")
    parser.add_argument("--certificate")
    parser.add_argument("--private-key")
    parser.add_argument("--lifetime", type=float, default=60.0, help="exit after this many seconds")
    args = parser.parse_args()
    service = Service(args)
    context = None
    if args.certificate:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certificate, args.private_key)
    async with serve(service.handle, "127.0.0.1", 0, process_request=service.process_request, ssl=context,
                     max_size=8 << 20) as server:
        port = server.sockets[0].getsockname()[1]
        report(ev="listening", port=port, websockets=websockets.__version__)
        await asyncio.sleep(args.lifetime)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
