#!/usr/bin/env bash
# The call flow under arrivals: calls arriving at RATE a second (default 50) on a route with an
# answer_url on loopback (arrivals.py app: a one-talk NCCO), each timed from its websocket:connected to
# the greeting's first audible frame; and, to see that it does not move the media path, the one-way
# latency of LEGS conversation legs (default 200, 16 kHz <-> 8 kHz pairs, `patchbay bench`) measured
# alone and then while the arrivals run.
#
#   PATCHBAY=/path/to/patchbay (a release build) benchmarks/call-flow/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
patchbay=${PATCHBAY:-$here/../../.build/release/patchbay}
rate=${RATE:-50}
legs=${LEGS:-200}
seconds=${SECONDS_ARRIVING:-15}
duration=$((seconds + 8))s
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
app=$(free_port); gw=$(free_port)
cat >"$tmp/config.json" <<JSON
{"host": "127.0.0.1", "port": $gw, "log_level": "warning", "limits": {"max_legs": 100000},
 "storage": {"database": "$tmp/records.sqlite"},
 "routes": [{"path": "/ivr", "mode": "conversation", "answer_url": "http://127.0.0.1:$app/answer"},
            {"path": "/pair", "mode": "conversation", "conversation_header": "conversation"}]}
JSON
python3 "$here/arrivals.py" app --port "$app" &
"$patchbay" serve --config "$tmp/config.json" >"$tmp/gateway.log" 2>&1 &
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$gw/health" >/dev/null 2>&1 && break
    sleep 0.1
done
bench() { # json
    "$patchbay" bench "ws://127.0.0.1:$gw/pair" --pair-rate 8000 --calls "$legs" --rate 16000 --duration "$duration" \
        --ramp 100/s --json "$1" >"$1.txt" 2>&1 || { cat "$1.txt" >&2; return 1; }
}
row() { python3 "$here/../capacity_report.py" --row "$1" | awk '{ printf "p50 %.2f ms, p99 %.2f ms, lost %d", $1 / 1000, $2 / 1000, $4 }'; }
bench "$tmp/alone.json"
echo "$legs legs alone:            $(row "$tmp/alone.json")"
bench "$tmp/during.json" &
during=$!
sleep 5
python3 "$here/arrivals.py" calls --port "$gw" --rate "$rate" --seconds "$seconds" --hold 3 >"$tmp/arrivals.json"
wait "$during" || true
echo "$legs legs during arrivals:  $(row "$tmp/during.json")"
echo "arrivals at $rate/s for $seconds s, websocket:connected -> first greeting frame: $(cat "$tmp/arrivals.json")"
{ grep -ciE "error|critical" "$tmp/gateway.log" || true; } | xargs -I{} echo "gateway log lines with error: {}"
