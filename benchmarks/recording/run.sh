#!/usr/bin/env bash
# What recording every leg costs the gateway: LEGS conversation legs (default 200; 16 kHz <-> 8 kHz pairs,
# `patchbay bench` as the Voice API) for DURATION (default 20s), three ways, each on a fresh server:
#
#   none       the legs in their conversations, nothing recorded (a route with a fixed NCCO: wait)
#   wav        every leg recorded, `record` with split: conversation, wav (two channels at the leg's rate)
#   ogg        the same in Ogg Opus
#
# For each: the one-way media latency p50/p99 and what was lost (the bench), the server's CPU per frame in
# + out (utime + stime from /proc over the bench run), the recording bytes written per second (the
# folder's size over the run's length), the server's peak resident memory (VmHWM), and the gateway's own
# counter of frames the recordings lost.
#
#   PATCHBAY=/path/to/patchbay (a release build) benchmarks/recording/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
patchbay=${PATCHBAY:-$here/../../.build/release/patchbay}
legs=${LEGS:-200}
duration=${DURATION:-20s}
modes=${MODES:-"none wav ogg"}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
ulimit -n 65536 2>/dev/null || true
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
metric() { # url name -> value
    curl -sf "$1" | awk -v n="$2" '$1 == n { print $2 }' | head -1
}

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "== patchbay $(git -C "$here" rev-parse --short HEAD)$(git -C "$here" diff --quiet || echo ' (with local changes)'), $legs legs, $duration"
printf "%-6s %9s %9s %6s %14s %12s %14s %10s %12s\n" mode p50 p99 lost server/frame "bytes/s" "files (MB)" "peak RSS" "frames lost"
for mode in $modes; do
    gw=$(free_port)
    rm -rf "$tmp/run"
    mkdir -p "$tmp/run"
    case $mode in
        none) ncco='[{"action": "wait", "timeout": 7200}]' ;;
        *) ncco='[{"action": "record", "format": "'$mode'", "split": "conversation"}, {"action": "wait", "timeout": 7200}]' ;;
    esac
    cat >"$tmp/run/config.json" <<JSON
{"host": "127.0.0.1", "port": $gw, "log_level": "warning", "limits": {"max_legs": 100000},
 "storage": {"database": "$tmp/run/records.sqlite", "recordings": "$tmp/run/recordings"},
 "routes": [{"path": "/pair", "mode": "conversation", "conversation_header": "conversation", "ncco": $ncco}]}
JSON
    "$patchbay" serve --config "$tmp/run/config.json" >"$tmp/run/gateway.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$gw/health" >/dev/null 2>&1 && break
        sleep 0.1
    done
    before=$(cpu_ticks "$pid")
    start=$(date +%s.%N)
    "$patchbay" bench "ws://127.0.0.1:$gw/pair" --pair-rate 8000 --calls "$legs" --rate 16000 --duration "$duration" \
        --ramp 100/s --json "$tmp/run/bench.json" >"$tmp/run/bench.txt" 2>&1 || { cat "$tmp/run/bench.txt" >&2; exit 1; }
    end=$(date +%s.%N)
    echo $(($(cpu_ticks "$pid") - before)) "$(getconf CLK_TCK)" >"$tmp/run/bench.cpu"
    # The calls have ended: let the encoders finish their files.
    for _ in $(seq 1 50); do
        ls "$tmp/run/recordings" 2>/dev/null | grep -q '\.part$' || break
        sleep 0.1
    done
    lost=$(metric "http://127.0.0.1:$gw/metrics" patchbay_recording_frames_lost_total)
    peak=$(awk '/^VmHWM:/ { printf "%d MB", $2 / 1024 }' "/proc/$pid/status")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    bytes=$(find "$tmp/run/recordings" -type f -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
    files=$(find "$tmp/run/recordings" -name '*.wav' -o -name '*.ogg' 2>/dev/null | wc -l)
    read -r p50 p99 _ blost _ _ _ _ servercpu <<<"$(python3 "$here/../capacity_report.py" --row "$tmp/run/bench.json")"
    rate=$(python3 -c "print(round($bytes / ($end - $start)))")
    printf "%-6s %7dus %7dus %6d %12sus %12s %7s (%3d) %10s %12s\n" "$mode" "$p50" "$p99" "$blost" "$servercpu" "$rate" \
        "$(python3 -c "print(round($bytes / 1e6, 1))")" "$files" "$peak" "${lost:-0}"
    errors=$(grep -ciE "error|critical" "$tmp/run/gateway.log" || true)
    [ "$errors" -eq 0 ] || echo "  gateway log lines with error: $errors ($tmp/run/gateway.log)"
done
