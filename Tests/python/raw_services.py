#!/usr/bin/env python3
"""Local emulators of speech/AI services that speak their own websocket protocols, written from their
public documentation, for Patchbay's `raw` protocol tests. One JSON object per line on stdout
({"ev": ...}), the first being {"ev": "listening", "port": N}.

  deepgram    Deepgram live transcription, `wss://api.deepgram.com/v1/listen?encoding=linear16&sample_rate=R`
              (Deepgram docs: "Live Audio" API reference, and "Audio Keep Alive" / "Close Stream" guides):
              binary linear16 audio; `{"type":"KeepAlive"}` keeps an idle stream open (the server closes
              with 1011 after 10 s without audio or KeepAlive; --idle-seconds shortens that here);
              `{"type":"CloseStream"}` makes it send its final results and close; results are
              `{"type":"Results","is_final":...,"channel":{"alternatives":[{"transcript":...}]}}`, one
              here per second of audio received.
  assemblyai  AssemblyAI Universal Streaming v3, `wss://streaming.assemblyai.com/v3/ws?sample_rate=R&encoding=pcm_s16le`
              (AssemblyAI docs: "Streaming API" reference): `{"type":"Begin"}` first; every binary message
              must hold 50-1000 ms of audio, else the session closes (code 3007 "Input duration violation");
              `{"type":"Turn","transcript":...,"end_of_turn":...}` results; `{"type":"Terminate"}` ends it with
              `{"type":"Termination"}`.
  agent       A voice agent in the manner of Deepgram's Voice Agent API (docs: "Voice Agent" reference):
              `{"type":"Welcome"}` first; `{"type":"Settings",...}` must come before any audio (audio first
              closes with 1008) and is answered `{"type":"SettingsApplied"}`; then it answers each second of
              caller audio with one second of its own audio (a 440 Hz tone) in one binary message, and
              --interrupt-after-ms after its first answer sends `{"type":"UserStartedSpeaking"}` (the rest of
              that answer, still queued, must not play).
  opus-echo   Decodes nothing: echoes every binary message back as it came (Opus packets in, Opus out).
"""
import argparse
import asyncio
import json
import math
import struct
import sys
import time
from urllib.parse import urlparse, parse_qs

import websockets
from websockets.asyncio.server import serve


def report(**fields):
    print(json.dumps(fields, sort_keys=True), flush=True)


def tone(rate, seconds, frequency=440.0, amplitude=8000):
    n = int(rate * seconds)
    return b"".join(struct.pack("<h", int(amplitude * math.sin(2 * math.pi * frequency * i / rate))) for i in range(n))


class Session:
    def __init__(self, args, ws):
        self.args = args
        self.ws = ws
        query = parse_qs(urlparse(ws.request.path).query)
        self.query = {k: v[0] for k, v in query.items()}
        self.rate = int(self.query.get("sample_rate", "16000"))
        self.audio_bytes = 0
        self.messages = 0
        self.sizes = []
        self.last_activity = time.monotonic()

    async def deepgram(self):
        async def idle_watch():
            while True:
                await asyncio.sleep(0.1)
                if time.monotonic() - self.last_activity > self.args.idle_seconds:
                    report(ev="idle-timeout")
                    await self.ws.close(1011, "NET-0001: no audio received within the timeout")
                    return
        watch = asyncio.create_task(idle_watch())
        sent_results = 0
        try:
            async for message in self.ws:
                self.last_activity = time.monotonic()
                if isinstance(message, bytes):
                    self.count(message)
                    while self.audio_bytes >= (sent_results + 1) * 2 * self.rate:
                        sent_results += 1
                        await self.ws.send(json.dumps({"type": "Results", "is_final": True, "channel": {
                            "alternatives": [{"transcript": f"second {sent_results}"}]}}))
                    continue
                event = json.loads(message)
                report(ev="text", msg=event)
                if event.get("type") == "CloseStream":
                    await self.ws.send(json.dumps({"type": "Results", "is_final": True, "from_finalize": True,
                                                   "channel": {"alternatives": [{"transcript": "final words"}]}}))
                    await self.ws.send(json.dumps({"type": "Metadata", "duration": self.audio_bytes / 2 / self.rate}))
                    await self.ws.close(1000)
        finally:
            watch.cancel()

    async def assemblyai(self):
        await self.ws.send(json.dumps({"type": "Begin", "id": "session-1", "expires_at": int(time.time()) + 3600}))
        turns = 0
        async for message in self.ws:
            if isinstance(message, bytes):
                self.count(message)
                ms = len(message) / 2 / self.rate * 1000
                if ms < 50 or ms > 1000:
                    report(ev="violation", ms=ms)
                    await self.ws.close(3007, "Input duration violation: %.0f ms" % ms)
                    return
                if self.audio_bytes >= (turns + 1) * 2 * self.rate:
                    turns += 1
                    await self.ws.send(json.dumps({"type": "Turn", "turn_order": turns, "end_of_turn": True,
                                                   "transcript": f"turn {turns}"}))
                continue
            event = json.loads(message)
            report(ev="text", msg=event)
            if event.get("type") == "Terminate":
                await self.ws.send(json.dumps({"type": "Termination", "audio_duration_seconds": self.audio_bytes / 2 / self.rate}))
                await self.ws.close(1000)

    async def agent(self):
        await self.ws.send(json.dumps({"type": "Welcome", "request_id": "r-1"}))
        settings = False
        answered = 0
        started = None
        async for message in self.ws:
            if isinstance(message, bytes):
                if not settings:
                    report(ev="audio-before-settings")
                    await self.ws.close(1008, "audio before Settings")
                    return
                self.count(message)
                while self.audio_bytes >= (answered + 1) * 2 * self.rate:
                    answered += 1
                    await self.ws.send(tone(self.rate, 1.0))
                    report(ev="sent", what="agent-audio", n=answered, t=time.monotonic())
                    if started is None:
                        started = time.monotonic()
                        asyncio.create_task(self.interrupt())
                continue
            event = json.loads(message)
            report(ev="text", msg=event)
            if event.get("type") == "Settings":
                settings = True
                await self.ws.send(json.dumps({"type": "SettingsApplied"}))

    async def interrupt(self):
        await asyncio.sleep(self.args.interrupt_after_ms / 1000)
        await self.ws.send(json.dumps({"type": "UserStartedSpeaking"}))
        report(ev="sent", what="UserStartedSpeaking", t=time.monotonic())

    async def opus_echo(self):
        async for message in self.ws:
            if isinstance(message, bytes):
                self.count(message)
                await self.ws.send(message)

    def count(self, message):
        self.messages += 1
        self.audio_bytes += len(message)
        if len(self.sizes) < 5:
            self.sizes.append(len(message))


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", required=True, choices=["deepgram", "assemblyai", "agent", "opus-echo"])
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--interrupt-after-ms", type=int, default=400)
    parser.add_argument("--lifetime", type=float, default=60.0)
    args = parser.parse_args()

    async def handle(ws):
        session = Session(args, ws)
        report(ev="open", path=ws.request.path, query=session.query,
               authorization=ws.request.headers.get("Authorization"))
        try:
            await getattr(session, args.mode.replace("-", "_"))()
        except websockets.ConnectionClosed:
            pass
        report(ev="close", code=ws.close_code, reason=ws.close_reason, audio_bytes=session.audio_bytes,
               audio_messages=session.messages, first_sizes=session.sizes)

    async with serve(handle, "127.0.0.1", 0, max_size=8 << 20) as server:
        report(ev="listening", port=server.sockets[0].getsockname()[1])
        await asyncio.sleep(args.lifetime)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
