#!/usr/bin/env python3
"""Acts as the Voice API against a Patchbay gateway, using Python's `websockets` library.

A websocket client nobody on the team wrote checks Patchbay's wire format (docs/PROTOCOL.md section 1):
the upgrade, the `websocket:connected` text message, 20 ms binary frames of 16-bit little-endian
PCM, `websocket:dtmf`, and the close handshake.

    python3 Tests/python/voice_api_peer.py --port 8080 --scenario echo

Scenarios:
  echo          /echo at 16 kHz: 50 random 640-byte frames, paced at 20 ms, come back bit-exact, in order.
  conversation  two legs on /socket in conversation "py-1", 8 kHz (1000 Hz) and 16 kHz (2500 Hz):
                each receives only frames of its size, about one per 20 ms, hears the other's tone
                and not its own.
  dtmf          /socket at 8 kHz: a `websocket:dtmf` event, then audio carrying DTMF digits; the
                server keeps the connection and keeps sending frames (the server's DTMF events are
                checked in-process by the Swift test that runs this script).

Prints one line per check; exits 0 when every check passes, 1 at the first failure, 3 when
`websockets` is missing (run scripts/setup).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import math
import os
import struct
import sys
import time

try:
    import websockets
    from websockets.exceptions import ConnectionClosed
except ImportError:  # pragma: no cover - depends on the machine
    print("FAIL: python3 cannot import websockets: run scripts/setup", flush=True)
    sys.exit(3)

try:  # websockets >= 13: the new asyncio implementation (the default `connect` from 14 on).
    from websockets.asyncio.client import connect as ws_connect
except ImportError:  # websockets 12: the legacy implementation.
    from websockets.client import connect as ws_connect  # type: ignore[no-redef]


class CheckFailed(Exception):
    pass


def ok(message: str) -> None:
    print(f"ok:   {message}", flush=True)


def info(message: str) -> None:
    print(f"      {message}", flush=True)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)
    ok(message)


FRAME_SECONDS = 0.020


def frame_bytes(rate: int) -> int:
    return 2 * rate // 50


def content_type(rate: int) -> str:
    return f"audio/l16;rate={rate}"


def pcm16le(samples: list[int]) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def from_pcm16le(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 2}h", data))


def sine(frequency: float, amplitude: float, rate: int, count: int, offset: int = 0) -> list[int]:
    return [round(amplitude * math.sin(2 * math.pi * frequency * (i + offset) / rate)) for i in range(count)]


def tone_amplitude(samples: list[int], frequency: float, rate: int) -> float:
    """The amplitude of the component at `frequency` in `samples` (a single-bin DFT)."""
    re = im = 0.0
    w = 2 * math.pi * frequency / rate
    for i, s in enumerate(samples):
        re += s * math.cos(w * i)
        im -= s * math.sin(w * i)
    return 2 * math.hypot(re, im) / len(samples)


DTMF_ROWS = (697.0, 770.0, 852.0, 941.0)
DTMF_COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
DTMF_KEYS = ("123A", "456B", "789C", "*0#D")


def dtmf_samples(digits: str, rate: int, tone_ms: int = 100, gap_ms: int = 100, amplitude: float = 7240) -> list[int]:
    """`digits` as DTMF at -10 dBm0 per tone (docs/PROTOCOL.md section 4), each tone followed by a gap."""
    out: list[int] = []
    for d in digits:
        row = next(r for r, keys in enumerate(DTMF_KEYS) if d in keys)
        column = DTMF_KEYS[row].index(d)
        fl, fh = DTMF_ROWS[row], DTMF_COLUMNS[column]
        n = rate * tone_ms // 1000
        out += [
            round(amplitude * (math.sin(2 * math.pi * fl * i / rate) + math.sin(2 * math.pi * fh * i / rate)))
            for i in range(n)
        ]
        out += [0] * (rate * gap_ms // 1000)
    return out


class Leg:
    """One Voice API leg: a websocket, and everything it received with arrival times."""

    def __init__(self, name: str, port: int, path: str, rate: int):
        self.name = name
        self.url = f"ws://127.0.0.1:{port}{path}"
        self.rate = rate
        self.ws = None
        self.frames: list[tuple[float, bytes]] = []  # (loop time, payload)
        self.texts: list[str] = []
        self.ended: str | None = None  # why the reader stopped, when it did
        self.first_frame = asyncio.Event()
        self._reader: asyncio.Task | None = None

    async def open(self, headers: dict[str, str]) -> None:
        kwargs = dict(open_timeout=5, close_timeout=3, max_size=1 << 20)
        if "proxy" in inspect.signature(ws_connect).parameters:
            kwargs["proxy"] = None  # loopback: never through an environment proxy (websockets >= 15)
        self.ws = await ws_connect(self.url, **kwargs)
        ok(f"{self.name}: websocket upgrade to {self.url} accepted")
        response = getattr(self.ws, "response", None)
        response_headers = response.headers if response is not None else getattr(self.ws, "response_headers", {})
        extensions = response_headers.get("Sec-WebSocket-Extensions")
        check(extensions is None, f"{self.name}: no extension negotiated (client offered permessage-deflate)")
        check(self.ws.subprotocol is None, f"{self.name}: no subprotocol selected")
        message = {"event": "websocket:connected", "content-type": content_type(self.rate)}
        message.update(headers)
        await self.ws.send(json.dumps(message))
        ok(f"{self.name}: sent websocket:connected {json.dumps(message)}")
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for message in self.ws:
                if isinstance(message, bytes):
                    self.frames.append((loop.time(), message))
                    self.first_frame.set()
                else:
                    self.texts.append(message)
        except ConnectionClosed as e:
            self.ended = f"{type(e).__name__}: {e}"
        else:
            # The iterator ends quietly on a normal close (1000/1001), whoever started it.
            self.ended = "closed normally"

    async def send_frames(self, frames: list[bytes], start: float) -> None:
        """Sends `frames`, frame k at `start + k * 20 ms` (an absolute clock: no drift)."""
        loop = asyncio.get_running_loop()
        for k, frame in enumerate(frames):
            delay = start + k * FRAME_SECONDS - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.ws.send(frame)

    def check_open(self) -> None:
        if self.ended is not None or self._reader is None or self._reader.done():
            raise CheckFailed(f"{self.name}: the server closed the connection ({self.ended}; {self.close_text()})")

    def received_close(self):
        """The close frame the server sent, or None (the new implementation keeps it on its protocol
        object, the legacy one on the connection)."""
        protocol = getattr(self.ws, "protocol", None)
        if protocol is not None and hasattr(protocol, "close_rcvd"):
            return protocol.close_rcvd
        return getattr(self.ws, "close_rcvd", None)

    def close_text(self) -> str:
        rcvd = self.received_close()
        if rcvd is None:
            return "no close frame received from the server"
        return f"server's close frame: code {rcvd.code}, reason {rcvd.reason!r}"

    def check_no_text(self) -> None:
        check(not self.texts, f"{self.name}: no unsolicited text message from the server (got {self.texts[:3]})")

    def check_frame_sizes(self) -> None:
        size = frame_bytes(self.rate)
        sizes = sorted({len(f) for _, f in self.frames})
        check(sizes == [size], f"{self.name}: every binary frame is {size} bytes ({len(self.frames)} frames; sizes seen {sizes})")

    async def close(self) -> None:
        """Closes with 1000, as the Voice API's hang-up would, and checks the server completes the handshake."""
        self.check_open()
        await self.ws.close(code=1000)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, timeout=5)
        rcvd = self.received_close()
        check(
            rcvd is not None and rcvd.code == 1000,
            f"{self.name}: close handshake completed, the server answered our 1000 with 1000 ({self.close_text()})",
        )


async def wait_first_frame(leg: Leg, timeout: float = 3.0) -> None:
    try:
        await asyncio.wait_for(leg.first_frame.wait(), timeout)
    except asyncio.TimeoutError:
        leg.check_open()
        raise CheckFailed(f"{leg.name}: no binary frame within {timeout} s of websocket:connected")
    ok(f"{leg.name}: the server started sending audio frames")


# MARK: Scenarios


async def scenario_echo(port: int) -> None:
    rate = 16000
    size = frame_bytes(rate)
    leg = Leg("echo", port, "/echo", rate)
    await leg.open({"caller": "447700900001"})
    sent = [os.urandom(size) for _ in range(50)]
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    await leg.send_frames(sent, start)
    ok(f"echo: sent 50 random frames of {size} bytes, one per 20 ms")
    deadline = loop.time() + 3
    while len(leg.frames) < len(sent) and loop.time() < deadline and not leg._reader.done():
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # anything extra would show up now
    leg.check_open()
    got = [f for _, f in leg.frames]
    check(len(got) == len(sent), f"echo: received exactly {len(sent)} frames back (got {len(got)})")
    leg.check_frame_sizes()
    for k, (s, g) in enumerate(zip(sent, got)):
        if s != g:
            where = next(i for i in range(min(len(s), len(g))) if s[i] != g[i]) if len(s) == len(g) else None
            index = next((j for j, x in enumerate(sent) if x == g), None)
            raise CheckFailed(
                f"echo: frame {k} differs from what was sent (first differing byte {where}; "
                f"it equals sent frame {index})"
            )
    ok("echo: every frame came back bit-identical and in order")
    latencies = [t - (start + k * FRAME_SECONDS) for k, (t, _) in enumerate(leg.frames)]
    info(f"echo latency: median {sorted(latencies)[len(latencies) // 2] * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms")
    leg.check_no_text()
    await leg.close()


async def scenario_conversation(port: int) -> None:
    narrow = Leg("8 kHz leg", port, "/socket", 8000)
    wide = Leg("16 kHz leg", port, "/socket", 16000)
    tones = {8000: 1000.0, 16000: 2500.0}
    await narrow.open({"conversation": "py-1", "caller": "447700900002"})
    await wide.open({"conversation": "py-1", "caller": "447700900003"})
    await asyncio.gather(wait_first_frame(narrow), wait_first_frame(wide))
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    frames = 50  # one second

    def signal(leg: Leg) -> list[bytes]:
        n = leg.rate // 50
        return [pcm16le(sine(tones[leg.rate], 8192, leg.rate, n, offset=n * k)) for k in range(frames)]

    await asyncio.gather(narrow.send_frames(signal(narrow), start), wide.send_frames(signal(wide), start))
    ok("both legs streamed 1 s of their tone (1000 Hz at 8 kHz, 2500 Hz at 16 kHz), amplitude 8192, one frame per 20 ms")
    await asyncio.sleep(0.3)  # the path's delay: the last of the other's tone is still on its way
    for leg in (narrow, wide):
        leg.check_open()
    for leg, other in ((narrow, wide), (wide, narrow)):
        leg.check_frame_sizes()
        in_second = sum(1 for t, _ in leg.frames if start <= t < start + 1.0)
        check(45 <= in_second <= 55, f"{leg.name}: {in_second} frames arrived in the 1 s of talk (45...55)")
        arrivals = [t for t, _ in leg.frames if start <= t < start + 1.0]
        if len(arrivals) > 1:
            gaps = [(b - a) * 1000 for a, b in zip(arrivals, arrivals[1:])]
            info(f"{leg.name}: inter-arrival {min(gaps):.1f}...{max(gaps):.1f} ms, mean {sum(gaps) / len(gaps):.1f} ms")
        samples: list[int] = []
        for t, f in leg.frames:
            if t >= start:
                samples += from_pcm16le(f)
        middle = samples[leg.rate * 300 // 1000 : leg.rate * 700 // 1000]
        check(
            len(middle) == leg.rate * 400 // 1000,
            f"{leg.name}: received at least 700 ms of audio after the talk began ({len(samples)} samples)",
        )
        heard = tone_amplitude(middle, tones[other.rate], leg.rate)
        itself = tone_amplitude(middle, tones[leg.rate], leg.rate)
        db = 20 * math.log10(heard / 8192) if heard > 0 else float("-inf")
        check(abs(db) < 1.0, f"{leg.name}: hears the other's {tones[other.rate]:.0f} Hz at {heard:.0f} ({db:+.2f} dB re 8192; within 1 dB)")
        check(itself < 0.01 * 8192, f"{leg.name}: does not hear its own {tones[leg.rate]:.0f} Hz ({itself:.1f} < 81.9)")
        leg.check_no_text()
    await narrow.close()
    await wide.close()


async def scenario_dtmf(port: int, digits: str) -> None:
    rate = 8000
    leg = Leg("dtmf leg", port, "/socket", rate)
    await leg.open({"caller": "447700900004"})
    await wait_first_frame(leg)
    event = {"event": "websocket:dtmf", "digit": "5", "duration": 260}
    await leg.ws.send(json.dumps(event))
    ok(f"dtmf: sent {json.dumps(event)}")
    n = rate // 50
    audio = [0] * (rate // 10) + dtmf_samples(digits, rate) + [0] * (rate // 5)
    audio += [0] * (-len(audio) % n)  # zero-pad the last frame
    frames = [pcm16le(audio[i : i + n]) for i in range(0, len(audio), n)]
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.02
    await leg.send_frames(frames, start)
    seconds = len(frames) * FRAME_SECONDS
    ok(f"dtmf: streamed {seconds:.2f} s of audio carrying DTMF {digits!r} (100 ms tones, 100 ms gaps, -10 dBm0)")
    await asyncio.sleep(0.1)
    leg.check_open()
    ok("dtmf: the server kept the connection open")
    during = sum(1 for t, _ in leg.frames if start <= t < start + seconds)
    expected = len(frames)
    check(
        abs(during - expected) <= max(5, expected // 10),
        f"dtmf: the server kept sending frames while we streamed ({during} in {seconds:.2f} s, expected about {expected})",
    )
    leg.check_frame_sizes()
    leg.check_no_text()
    await leg.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="the gateway's port on 127.0.0.1")
    parser.add_argument("--scenario", choices=("echo", "conversation", "dtmf"), required=True)
    parser.add_argument("--digits", default="1*9#", help="DTMF digits the dtmf scenario plays (default 1*9#)")
    args = parser.parse_args()
    if any(d not in "".join(DTMF_KEYS) for d in args.digits) or not args.digits:
        parser.error(f"--digits: {args.digits!r} is not 0-9 * # A-D")
    print(f"voice_api_peer: websockets {websockets.__version__} ({ws_connect.__module__}), python {sys.version.split()[0]}", flush=True)
    scenarios = {
        "echo": lambda: scenario_echo(args.port),
        "conversation": lambda: scenario_conversation(args.port),
        "dtmf": lambda: scenario_dtmf(args.port, args.digits),
    }
    began = time.monotonic()
    try:
        asyncio.run(scenarios[args.scenario]())
    except CheckFailed as e:
        print(f"FAIL: {e}", flush=True)
        return 1
    except (OSError, ConnectionClosed, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as e:
        print(f"FAIL: {type(e).__name__}: {e}", flush=True)
        return 1
    print(f"PASS: {args.scenario} ({time.monotonic() - began:.2f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
