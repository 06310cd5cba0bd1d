#!/usr/bin/env python3
"""Checks Patchbay's recordings from the outside, with decoders and clients that are not Patchbay's own.
One JSON object on stdout per command.

  analyze FILE [--freq HZ ...]   decodes FILE with soundfile (PyPI; its wheel brings its own libsndfile):
                                 rate, channels, frames, duration, and per channel its RMS, the RMS of
                                 each 20 ms window (levels), and for each --freq the times (s) of the
                                 20 ms windows where that tone dominates
  get URL --app ID --key PEM     GET with the application's JWT (made by the Vonage SDK's Auth); --range,
                                 --out FILE; prints status, headers, byte count
  delete URL --app ID --key PEM  DELETE, likewise
  sdk-download URL FILE --app ID --key PEM
                                 the SDK's own voice.download_recording(url, file), unchanged (it needs a
                                 vonage.com or nexmo.com URL: the test sends it through HTTP_PROXY)
"""
import argparse
import json
import sys

import numpy as np


def analyze(args):
    import soundfile
    data, rate = soundfile.read(args.file, dtype="float64", always_2d=True)
    info = soundfile.info(args.file)
    window = rate // 50
    channels = []
    for c in range(data.shape[1]):
        x = data[:, c]
        entry = {"rms": float(np.sqrt(np.mean(x * x))) if len(x) else 0.0, "tones": {}}
        # Sample-exact onsets: the first sample above -46 dBFS after at least 100 ms below it.
        loud = np.flatnonzero(np.abs(x) > 0.005)
        quiet = rate // 10
        entry["onsets"] = [int(i) for k, i in enumerate(loud) if (i if k == 0 else i - loud[k - 1]) > quiet]
        n = len(x) // window
        entry["levels"] = [round(float(np.sqrt(np.mean(x[k * window:(k + 1) * window] ** 2))), 5) for k in range(n)]
        for hz in args.freq or []:
            times = []
            t = np.arange(window) / rate
            probe = np.exp(-2j * np.pi * hz * t)
            for k in range(n):
                w = x[k * window:(k + 1) * window]
                energy = float(np.sum(w * w))
                if energy < window * (10 ** (-40 / 20)) ** 2:
                    continue
                power = abs(np.sum(w * probe)) ** 2 * 2 / window
                if power > 0.5 * energy:
                    times.append(round(k * 0.02, 3))
            entry["tones"][str(int(hz))] = times
        channels.append(entry)
    print(json.dumps({"rate": rate, "channels": data.shape[1], "frames": data.shape[0],
                      "duration": data.shape[0] / rate, "format": info.format, "subtype": info.subtype,
                      "per_channel": channels}))


def token(args):
    from vonage import Auth
    jwt = Auth(application_id=args.app, private_key=args.key).generate_application_jwt()
    return jwt.decode() if isinstance(jwt, bytes) else jwt


def get(args):
    import requests
    headers = {"Authorization": "Bearer " + token(args)}
    if args.range:
        headers["Range"] = args.range
    r = requests.request(args.method, args.url, headers=headers, timeout=30)
    if args.out and r.status_code < 300:
        with open(args.out, "wb") as f:
            f.write(r.content)
    body = None
    if r.headers.get("content-type", "").startswith("application/json") and r.content:
        body = r.json()
    print(json.dumps({"status": r.status_code, "bytes": len(r.content), "headers": {k.lower(): v for k, v in r.headers.items()},
                      "json": body}))


def sdk_download(args):
    from vonage import Auth, HttpClientOptions, Vonage
    client = Vonage(Auth(application_id=args.app, private_key=args.key), HttpClientOptions(timeout=30))
    try:
        client.voice.download_recording(args.url, args.file)
        print(json.dumps({"ok": True}))
    except Exception as e:  # noqa: BLE001 - the error is the report
        print(json.dumps({"ok": False, "error": type(e).__name__, "detail": str(e)}))


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyze")
    a.add_argument("file")
    a.add_argument("--freq", type=float, action="append")
    for name in ["get", "delete"]:
        g = sub.add_parser(name)
        g.add_argument("url")
        g.add_argument("--app", required=True)
        g.add_argument("--key", required=True)
        g.add_argument("--range")
        g.add_argument("--out")
        g.set_defaults(method="GET" if name == "get" else "DELETE")
    d = sub.add_parser("sdk-download")
    d.add_argument("url")
    d.add_argument("file")
    d.add_argument("--app", required=True)
    d.add_argument("--key", required=True)
    args = parser.parse_args()
    if args.command == "analyze":
        analyze(args)
    elif args.command in ("get", "delete"):
        get(args)
    else:
        sdk_download(args)


if __name__ == "__main__":
    sys.exit(main())
