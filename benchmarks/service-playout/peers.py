#!/usr/bin/env python3
"""The two peers of the service-playout benchmark (benchmarks/service-playout/run.sh).

service: a speech service in the Voice API's protocol. On the gateway's websocket:connected it answers, in
         mode "deep", with one message of --seconds of 16 kHz audio (a 440 Hz tone) and then one more
         second of it every second, so the playout stays --seconds deep; in mode "paced", with one 20 ms
         message every 20 ms (the playout stays a frame deep).
caller:  a Voice API call to the gateway's route: websocket:connected, then --seconds of silent 20 ms
         frames paced in real time; prints how many frames it heard and how many were not silent.
"""
import argparse, asyncio, json, math, struct, time
import websockets

RATE = 16000
FRAME = 2 * RATE // 50

def tone(seconds, start=0):
    n = int(seconds * RATE)
    return b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * (start + i) / RATE))) for i in range(n))

async def service(port, seconds, mode):
    second = tone(1)
    async def handle(ws):
        await ws.recv()  # websocket:connected
        async def drain():
            async for _ in ws:
                pass
        reader = asyncio.create_task(drain())
        start = time.monotonic()
        if mode == "deep":
            await ws.send(second * int(seconds))
            i = 1
            while True:
                await asyncio.sleep(max(0, start + i - time.monotonic()))
                await ws.send(second)
                i += 1
        else:
            frames = [second[k:k + FRAME] for k in range(0, len(second), FRAME)]
            i = 0
            while True:
                await asyncio.sleep(max(0, start + i * 0.02 - time.monotonic()))
                await ws.send(frames[i % len(frames)])
                i += 1
        reader.cancel()
    async with websockets.serve(handle, "127.0.0.1", port, max_size=None):
        print("service ready", flush=True)
        await asyncio.Future()

async def caller(port, seconds):
    heard = audible = 0
    async with websockets.connect(f"ws://127.0.0.1:{port}/ai", max_size=None) as ws:
        await ws.send(json.dumps({"event": "websocket:connected", "content-type": "audio/l16;rate=16000"}))
        async def listen():
            nonlocal heard, audible
            async for message in ws:
                if isinstance(message, bytes):
                    heard += 1
                    if any(message):
                        audible += 1
        listener = asyncio.create_task(listen())
        silence = bytes(FRAME)
        start = time.monotonic()
        for i in range(int(seconds * 50)):
            await asyncio.sleep(max(0, start + i * 0.02 - time.monotonic()))
            await ws.send(silence)
        listener.cancel()
    print(json.dumps({"frames_heard": heard, "audible_frames": audible}), flush=True)

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["service", "caller"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--mode", choices=["deep", "paced"], default="deep")
    a = p.parse_args()
    asyncio.run(service(a.port, a.seconds, a.mode) if a.role == "service" else caller(a.port, a.seconds))
