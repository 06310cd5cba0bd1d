#!/usr/bin/env python3
"""api-under-load.sh's summary: the bench's media latency in both runs, the control API's latency,
and the webhooks' delivery. Usage: api_load_report.py OUT_DIRECTORY"""
import json
import sys
from datetime import datetime

out = sys.argv[1]
for name in ("media-only", "with-api"):
    r = json.load(open(f"{out}/{name}-bench.json"))
    rt = r["roundTripMicroseconds"]
    lost = r["framesLost"] + r["callsFailed"] + r["framesWrongSize"] + r.get("dtmfMissed", 0)
    print(f"== {name:10s} media: probe p50 {rt['p50'] / 1000:.2f} ms, p99 {rt['p99'] / 1000:.2f} ms, "
          f"max {rt['max'] / 1000:.2f} ms; lost {lost}, probes missed {r.get('probesMissed', 0)}, "
          f"generator p99 lateness {r['sendLatenessMicroseconds']['p99']} us")
for name, what in (("api-only", "no legs"), ("with-api", "while the legs stream")):
    api = json.load(open(f"{out}/{name}-api.json"))
    print(f"== control API, {what} ({name}), ms:")
    for op, r in sorted(api.items()):
        print(f"   {op:10s} count {r['count']:6d} errors {r['errors']:3d} p50 {r['p50_ms'] or 0:7.2f} "
              f"p99 {r['p99_ms'] or 0:7.2f} max {r['max_ms'] or 0:7.2f}")


def parse(line):
    try:
        return json.loads(line)
    except ValueError:
        return None


events = [e for e in map(parse, open(f"{out}/with-api-webhooks.jsonl")) if e and e.get("ev") == "event"]
lat = sorted((e["t"] - datetime.fromisoformat(e["body"]["timestamp"].replace("Z", "+00:00")).timestamp()) * 1000
             for e in events if e.get("body") and e["body"].get("timestamp"))
kinds = {}
for e in events:
    body = e.get("body") or {}
    k = body.get("status") or body.get("type")
    kinds[k] = kinds.get(k, 0) + 1


def pct(p):
    return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] if lat else 0


print(f"== webhooks: {len(events)} delivered {kinds}, {sum(1 for e in events if not e['valid'])} of "
      f"{sum(1 for e in events if e['n'] % 20 == 1)} checked with a bad signature; delivery p50 {pct(50):.1f} ms, p99 {pct(99):.1f} ms, max {(lat[-1] if lat else 0):.1f} ms")
