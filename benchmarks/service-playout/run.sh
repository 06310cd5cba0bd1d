#!/usr/bin/env bash
# A service leg with a full playout: what the gateway allocates per frame it releases from a playout
# buffer 60 s deep, against the same call with a playout one frame deep.
#
# A speech service answers a call (16 kHz) in one of two ways — "deep": one message of DEPTH seconds
# (default 60; 1.9 MB queued at once, as a service that sends a whole prompt does) and then one more
# second every second, so the playout stays that deep; "paced": one 20 ms message every 20 ms. The gateway
# runs with malloccount.so preloaded (it counts every heap allocation and its bytes); after WARMUP seconds
# (default 3) of the call and again WINDOW seconds later (default 20) it writes its counts, and the
# difference, divided by the 50 frames a second released, is what one released frame costs the whole
# gateway (reading the caller's frame, the service leg's playout and release, the direct route, writing
# to the caller). The difference between the two modes is what a deep playout adds.
#
#   PATCHBAY=/path/to/patchbay (a release build) benchmarks/service-playout/run.sh deep|paced
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mode=${1:-deep}
patchbay=${PATCHBAY:-$here/../../.build/release/patchbay}
depth=${DEPTH:-60}
warmup=${WARMUP:-3}
window=${WINDOW:-20}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
gcc -O2 -shared -fPIC -o "$tmp/malloccount.so" "$here/malloccount.c"
gw=18591; svc=18592
cat >"$tmp/config.json" <<JSON
{"host": "127.0.0.1", "port": $gw, "log_level": "warning", "storage": {"database": "$tmp/records.sqlite"},
 "routes": [{"path": "/ai", "mode": "conversation",
             "connect": [{"type": "websocket", "uri": "ws://127.0.0.1:$svc/", "content-type": "audio/l16;rate=16000"}]}]}
JSON
python3 "$here/peers.py" service --port $svc --seconds "$depth" --mode "$mode" >"$tmp/service.log" 2>&1 &
LD_PRELOAD="$tmp/malloccount.so" MALLOCCOUNT_FILE="$tmp/counts.jsonl" "$patchbay" serve --config "$tmp/config.json" >"$tmp/gateway.log" 2>&1 &
gateway=$!
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$gw/health" >/dev/null 2>&1 && break
    sleep 0.1
done
python3 "$here/peers.py" caller --port $gw --seconds $((warmup + window + 2)) >"$tmp/caller.json" &
caller=$!
sleep "$warmup"; kill -USR1 $gateway
sleep "$window"; kill -USR1 $gateway
wait $caller
kill -TERM $gateway; wait $gateway || true
python3 - "$tmp/counts.jsonl" "$window" "$mode" "$(cat "$tmp/caller.json")" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
window, mode, caller = float(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
a, b = rows[0], rows[1]
frames = window * 50
print(json.dumps({"mode": mode, "window_s": window, "frames": int(frames), "caller": caller,
                  "allocations_per_frame": round((b["allocations"] - a["allocations"]) / frames, 2),
                  "bytes_per_frame": round((b["bytes"] - a["bytes"]) / frames, 1)}))
PY
