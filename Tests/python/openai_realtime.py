#!/usr/bin/env python3
"""A local emulator of OpenAI's Realtime API (the GA websocket interface), written from OpenAI's public
documentation ("Realtime API" guide and the "Realtime server/client events" reference), for Patchbay's
`openai-realtime` protocol tests. One JSON object per line on stdout ({"ev": ...}), the first being
{"ev": "listening", "port": N}.

What it does, as the real service would: `session.created` on connect; `session.update` answered with
`session.updated` (and reported, so the test can check the formats); `input_audio_buffer.append` audio
accumulated, in the session's input format: base64 PCM16 at 24 kHz (`audio/pcm`), or G.711 at 8 kHz
(`audio/pcmu`, `audio/pcma`), expanded with Python's own G.711 (`audioop`) — the answer goes out in the
output format the same way. At the close it reports how much of the caller's audio (its loud 20 ms blocks)
was a --caller-tone sine: a caller's tone should survive the gateway's resampling and G.711 intact. Once --respond-after-ms of caller audio has arrived it answers with
a response: `response.created`, then --seconds of a 440 Hz tone as `response.output_audio.delta` events
for item "item_1" sent all at once (faster than real time, as the service does), then
`response.output_audio.done` and `response.done`. Once --barge-in-after-ms of caller audio has arrived
it sends `input_audio_buffer.speech_started` (the caller spoke over the answer) and then two late deltas
of item_1 that must not be played. `conversation.item.truncate` is checked as the service checks it
(an `audio_end_ms` beyond the item's audio is an error event) and reported.
"""
import argparse
import asyncio
import base64
import json
import math
import struct
import sys
import time
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the standard library's through 3.12; the audioop-lts package from 3.13

import websockets
from websockets.asyncio.server import serve


def report(**fields):
    print(json.dumps(fields, sort_keys=True), flush=True)


def tone(rate, seconds, frequency=440.0, amplitude=8000):
    n = int(rate * seconds)
    return b"".join(struct.pack("<h", int(amplitude * math.sin(2 * math.pi * frequency * i / rate))) for i in range(n))


FORMATS = {  # session format type -> (rate, bytes to PCM16, PCM16 to bytes)
    "audio/pcm": (24000, lambda b: b, lambda b: b),
    "audio/pcmu": (8000, lambda b: audioop.ulaw2lin(b, 2), lambda b: audioop.lin2ulaw(b, 2)),
    "audio/pcma": (8000, lambda b: audioop.alaw2lin(b, 2), lambda b: audioop.lin2alaw(b, 2)),
}


def tone_fraction(pcm, rate, frequency):
    """How much of the energy of the loud 20 ms blocks of `pcm` (PCM16) a sine at `frequency` holds: the
    median over the blocks, each measured on its own (a block holds whole cycles of 1 kHz at 8, 16 or 24 kHz,
    and a frame lost on the way breaks the phase only between blocks)."""
    samples = struct.unpack("<%dh" % (len(pcm) // 2), pcm[: len(pcm) // 2 * 2])
    block = rate // 50
    w = 2 * math.pi * frequency / rate
    fractions = []
    for i in range(0, len(samples) - block + 1, block):
        b = samples[i:i + block]
        energy = sum(x * x for x in b) / block
        if energy <= 1000 ** 2:
            continue
        re = sum(x * math.cos(w * n) for n, x in enumerate(b))
        im = sum(x * math.sin(w * n) for n, x in enumerate(b))
        amplitude = 2 * math.hypot(re, im) / block
        fractions.append((amplitude ** 2 / 2) / energy)
    # The median: a block the tone starts or stops in, or a frame lost on the way, is only partly tone.
    return sorted(fractions)[len(fractions) // 2] if fractions else 0.0


def format_of(session, direction):
    fmt = ((session.get("audio") or {}).get(direction) or {}).get("format") or {}
    return fmt.get("type", "audio/pcm")


async def handle(ws, args):
    report(ev="open", path=ws.request.path, authorization=ws.request.headers.get("Authorization"))
    await ws.send(json.dumps({"type": "session.created", "session": {"id": "sess_1", "type": "realtime"}}))
    caller_ms = 0.0
    responded = False
    barged = False
    item_ms = args.seconds * 1000
    appends = 0
    in_format = out_format = "audio/pcm"
    heard = bytearray()
    try:
        async for message in ws:
            event = json.loads(message)
            kind = event.get("type")
            if kind == "input_audio_buffer.append":
                appends += 1
                in_rate, expand, _ = FORMATS[in_format]
                audio = expand(base64.b64decode(event["audio"]))
                caller_ms += len(audio) / 2 / in_rate * 1000
                if len(heard) < 10 * 2 * in_rate:
                    heard += audio
                if not responded and caller_ms >= args.respond_after_ms:
                    responded = True
                    await ws.send(json.dumps({"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}))
                    out_rate, _, compress = FORMATS[out_format]
                    pcm = tone(out_rate, args.seconds)
                    step = out_rate * 2 // 5  # 200 ms per delta
                    for i in range(0, len(pcm), step):
                        await ws.send(json.dumps({"type": "response.output_audio.delta", "response_id": "resp_1",
                                                  "item_id": "item_1", "output_index": 0, "content_index": 0,
                                                  "delta": base64.b64encode(compress(pcm[i:i + step])).decode()}))
                    await ws.send(json.dumps({"type": "response.output_audio.done", "item_id": "item_1"}))
                    await ws.send(json.dumps({"type": "response.done", "response": {"id": "resp_1", "status": "completed"}}))
                    report(ev="sent", what="response", t=time.monotonic(), caller_ms=caller_ms)
                if responded and not barged and caller_ms >= args.barge_in_after_ms:
                    barged = True
                    await ws.send(json.dumps({"type": "input_audio_buffer.speech_started", "audio_start_ms": int(caller_ms),
                                              "item_id": "item_2"}))
                    out_rate, _, compress = FORMATS[out_format]
                    late = base64.b64encode(compress(tone(out_rate, 0.2, frequency=440))).decode()
                    for _ in range(2):
                        await ws.send(json.dumps({"type": "response.output_audio.delta", "response_id": "resp_1",
                                                  "item_id": "item_1", "output_index": 0, "content_index": 0,
                                                  "delta": late}))
                    report(ev="sent", what="speech_started", t=time.monotonic(), caller_ms=caller_ms)
                continue
            report(ev="text", msg=event, t=time.monotonic())
            if kind == "session.update":
                in_format = format_of(event.get("session", {}), "input")
                out_format = format_of(event.get("session", {}), "output")
                if in_format not in FORMATS or out_format not in FORMATS:
                    await ws.send(json.dumps({"type": "error", "error": {"type": "invalid_request_error",
                                                                          "message": "unsupported audio format"}}))
                    in_format = out_format = "audio/pcm"
                    continue
                await ws.send(json.dumps({"type": "session.updated", "session": event.get("session", {})}))
            elif kind == "conversation.item.truncate":
                end = event.get("audio_end_ms", -1)
                if event.get("item_id") != "item_1" or end < 0 or end > item_ms:
                    await ws.send(json.dumps({"type": "error", "error": {"type": "invalid_request_error",
                                                                          "message": "audio_end_ms out of range"}}))
                else:
                    await ws.send(json.dumps({"type": "conversation.item.truncated", "item_id": "item_1",
                                              "content_index": 0, "audio_end_ms": end}))
    except websockets.ConnectionClosed:
        pass
    report(ev="close", code=ws.close_code, appends=appends, caller_ms=caller_ms,
           caller_tone=tone_fraction(bytes(heard), FORMATS[in_format][0], args.caller_tone))


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--respond-after-ms", type=float, default=400)
    parser.add_argument("--barge-in-after-ms", type=float, default=1400)
    parser.add_argument("--lifetime", type=float, default=60.0)
    parser.add_argument("--caller-tone", type=float, default=1000.0)
    args = parser.parse_args()
    async with serve(lambda ws: handle(ws, args), "127.0.0.1", 0, max_size=16 << 20) as server:
        report(ev="listening", port=server.sockets[0].getsockname()[1])
        await asyncio.sleep(args.lifetime)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
