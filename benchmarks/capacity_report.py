#!/usr/bin/env python3
"""Summarises a capacity sweep (capacity.sh): the most calls each target carried within each p99 SLO
with nothing lost, the ratio of each to the bare echo, and a plot of the judged p99 against calls
(capacity.svg, plain SVG: any browser shows it).

usage: capacity_report.py OUT_DIR "2 5 10" target...
       capacity_report.py --row RESULT.json   (one step's figures, for capacity.sh)
"""
import glob
import json
import os
import re
import sys



def server_cpu_per_frame(json_path, r):
    """The server's CPU time (us) per frame in + out over the run, from the .cpu file capacity.sh
    writes beside the result ("ticks clock_ticks_per_second"); None when there is none."""
    try:
        ticks, hz = open(json_path[: -len(".json")] + ".cpu").read().split()
    except (OSError, ValueError):
        return None
    frames = r["framesSent"] + r["framesReceived"]
    if r.get("forward"):
        # The service's legs: their frames in and out of the gateway too.
        frames += r["forward"]["framesIn"] + r["forward"]["framesOut"]
    return round(int(ticks) / int(hz) * 1e6 / frames, 1) if frames else None


def measure(r, json_path=None):
    """The figures one step is judged by, from a `patchbay bench --json` result. Judged latency: the
    p99 round trip, or for burst probes (conversations) the one-way p99 less STRUCTURAL_MS (see
    capacity.sh). lost: frames, calls, wrongly sized frames and DTMF digits; missed: burst probes never
    found."""
    rt, gen = r["roundTripMicroseconds"], r["sendLatenessMicroseconds"]
    burst = r.get("probe") == "burst"
    judged = max(0, rt["p99"] - 1000 * int(os.environ.get("STRUCTURAL_MS", "0"))) if burst else rt["p99"]
    return {
        "p50": rt["p50"], "p99": rt["p99"], "judged": judged,
        "lost": r["framesLost"] + r["callsFailed"] + r["framesWrongSize"] + r.get("dtmfMissed", 0)
        + (r.get("forward") or {}).get("callsNeverForwarded", 0),
        "missed": r.get("probesMissed", 0) + (r.get("forward") or {}).get("probesMissed", 0),
        "trimmed": int((r.get("targetCounters") or {}).get("patchbay_frames_trimmed_total", -1)),
        "genp99": gen["p99"], "gencpu": round(r["generatorCPUPercent"]),
        "servercpu": (server_cpu_per_frame(json_path, r) if json_path else None),
    }


if sys.argv[1] == "--row":
    # capacity.sh's line per step: p50 p99 judged lost missed trimmed generator-p99 generator-cpu
    m = measure(json.load(open(sys.argv[2])), sys.argv[2])
    m["servercpu"] = "-" if m["servercpu"] is None else m["servercpu"]
    print(*(m[k] for k in ["p50", "p99", "judged", "lost", "missed", "trimmed", "genp99", "gencpu", "servercpu"]))
    sys.exit(0)

out, slos = sys.argv[1], [int(s) for s in sys.argv[2].split()]
targets = sys.argv[3:]
colors = ["#444444", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def load(target):
    points = []
    for path in glob.glob(os.path.join(out, f"{target}-*.json")):
        m = re.fullmatch(re.escape(target) + r"-(\d+)\.json", os.path.basename(path))
        if not m:
            continue
        step = measure(json.load(open(path)), path)
        points.append((int(m.group(1)), step["judged"], step["lost"] + step["missed"], step["servercpu"]))
    return sorted(points)


data = {t: load(t) for t in targets}
capacity = {}
print()
print("capacity (most calls with judged p99 within the SLO and nothing lost; counts tried: " +
      ", ".join(sorted({str(c) for t in targets for c, _, _, _ in data[t]}, key=int)) + ")")
print(f"{'target':24}" + "".join(f"{'p99 <= %d ms' % s:>14}" for s in slos))
for t in targets:
    row = []
    for s in slos:
        ok = [c for c, judged, lost, _ in data[t] if judged <= s * 1000 and lost == 0]
        capacity[(t, s)] = max(ok) if ok else 0
        row.append(capacity[(t, s)])
    print(f"{t:24}" + "".join(f"{v:>14}" for v in row))
if "bare-echo" in targets:
    print("\nratio to the bare echo")
    for t in targets:
        if t == "bare-echo":
            continue
        cells = []
        for s in slos:
            base = capacity[("bare-echo", s)]
            cells.append(f"{capacity[(t, s)] / base:.2f}" if base else "n/a")
        print(f"{t:24}" + "".join(f"{c:>14}" for c in cells))
    # Conversation targets: one-way p99 <= 15 ms against the bare echo's round trip p99 <= 10 ms.
    if 15 in slos and 10 in slos and capacity[("bare-echo", 10)]:
        for t in [t for t in targets if t not in ("bare-echo", "echo") and not t.startswith("forward")]:
            print(f"\n{t} legs within one-way p99 15 ms / bare-echo calls within round trip p99 10 ms: "
                  f"{capacity[(t, 15)]} / {capacity[('bare-echo', 10)]} = "
                  f"{capacity[(t, 15)] / capacity[('bare-echo', 10)]:.2f}")

print("\nserver CPU per frame in + out (us), by calls")
for t in targets:
    print(f"{t:24}" + "  ".join(f"{c}: {cpu}" for c, _, _, cpu in data[t] if cpu is not None))

# The plot: judged p99 (log scale) against calls, one line per target, SLOs as dashed lines.
W, H, L, R, T, B = 760, 440, 70, 200, 30, 50
all_calls = [c for t in targets for c, _, _, _ in data[t]] or [1]
xmax = max(all_calls) * 1.05
ymin, ymax = 100, 1_000_000
import math


def x(c):
    return L + (W - L - R) * c / xmax


def y(us):
    us = min(max(us, ymin), ymax)
    return T + (H - T - B) * (1 - (math.log10(us) - math.log10(ymin)) / (math.log10(ymax) - math.log10(ymin)))


svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{L}" y="18" font-size="14">p99 latency (echo, forward: round trip; conversations: one-way probe latency) vs legs</text>']
for us, label in [(100, "0.1 ms"), (1000, "1 ms"), (10_000, "10 ms"), (100_000, "100 ms"), (1_000_000, "1 s")]:
    svg.append(f'<line x1="{L}" x2="{W - R}" y1="{y(us):.1f}" y2="{y(us):.1f}" stroke="#ddd"/>')
    svg.append(f'<text x="{L - 6}" y="{y(us) + 4:.1f}" text-anchor="end">{label}</text>')
for s in slos:
    svg.append(f'<line x1="{L}" x2="{W - R}" y1="{y(s * 1000):.1f}" y2="{y(s * 1000):.1f}" stroke="#999" stroke-dasharray="4 4"/>')
    svg.append(f'<text x="{W - R + 4}" y="{y(s * 1000) + 4:.1f}" fill="#777">SLO {s} ms</text>')
step = 100 if xmax > 400 else 50
for c in range(0, int(xmax) + 1, step):
    svg.append(f'<line x1="{x(c):.1f}" x2="{x(c):.1f}" y1="{T}" y2="{H - B}" stroke="#eee"/>')
    svg.append(f'<text x="{x(c):.1f}" y="{H - B + 16}" text-anchor="middle">{c}</text>')
svg.append(f'<text x="{(L + W - R) / 2}" y="{H - 10}" text-anchor="middle">concurrent legs</text>')
for i, t in enumerate(targets):
    pts = data[t]
    color = colors[i % len(colors)]
    if pts:
        path = " ".join(f"{x(c):.1f},{y(j):.1f}" for c, j, _, _ in pts)
        svg.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for c, j, lost, _ in pts:
            svg.append(f'<circle cx="{x(c):.1f}" cy="{y(j):.1f}" r="3.5" fill="{"white" if lost else color}" stroke="{color}"/>')
    svg.append(f'<text x="{W - R + 4}" y="{T + 60 + 18 * i}" fill="{color}">{t}</text>')
svg.append(f'<text x="{W - R + 4}" y="{T + 60 + 18 * len(targets) + 8}" fill="#777" font-size="11">hollow: audio lost</text>')
svg.append("</svg>")
open(os.path.join(out, "capacity.svg"), "w").write("\n".join(svg) + "\n")
print(f"\nplot: {os.path.join(out, 'capacity.svg')}")
