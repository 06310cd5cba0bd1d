#!/usr/bin/env bash
# Finds the most concurrent calls each target carries within a p99 latency SLO with nothing lost, on this
# machine, with `patchbay bench` as the Voice API (docs/QUALITY.md "Gateway"; issue 4):
#
#   bare-echo      a bare SwiftNIO websocket echo (benchmarks/Sources/bare-echo): the I/O limit
#   echo           `patchbay serve`, route /echo (the leg hears itself, frame for frame); tagged frames
#   conversation   `patchbay serve`, two-leg conversations, one 16 kHz and one 8 kHz leg each (the direct
#                  route: each frame resampled and passed on as it arrives, DTMF detection on every
#                  leg); burst probes
#   conversation-mp3-dtmf
#                  the same with an mp3 stream mixed into every leg (so every leg takes the 20 ms mixing
#                  tick) and an in-band DTMF digit every 2 s from every leg, reported back as
#                  websocket:dtmf events (dtmf_events)
#   trio-mp3       three-leg conversations (one 16 kHz and two 8 kHz legs) with the mp3 mixed into every
#                  leg: the mixing tick, timed to follow the legs' arrivals; each leg listens for the next
#                  leg's bursts in its mix (calls are rounded down to a multiple of three)
#   forward        each caller forwarded to a speech service (route "connect", protocol voice-api, both at
#                  16 kHz) that `patchbay bench --service` plays itself: an echo. Two legs on the gateway per
#                  call (the caller's and the service's), so "calls" legs are calls/2 callers; the judged
#                  latency is the caller's probe round trip through the gateway, the service and back,
#                  split in the result into caller -> service and service -> caller
#   forward-burst  the same with the service answering every 200 ms in one message, faster than real
#                  time: the gateway's playout paces it (its round trip includes the 200 ms held back;
#                  not in the default set)
#
# "calls" counts websocket legs. For each target and count it starts the server afresh, runs `patchbay
# bench` for DURATION, and records the latency, loss, the generator's own lateness and CPU, and the
# server's CPU per frame (utime+stime from /proc over the run, over frames in + out). The latency judged
# is the p99 round trip for echo targets and the p99 one-way probe latency for conversations (it
# includes libspeexdsp's 5 ms filter delay on the 8 kHz leg, and on the mixing tick the wait for it;
# STRUCTURAL_MS, default 0, subtracts a fixed amount from it). A count passes an SLO when that figure is
# within it and no frame, probe, digit or call is lost.
#
# Results: .build/capacity/<target>-<calls>.json and .svg, a summary on stdout, and a plot of p99 against
# calls (.build/capacity/capacity.svg).
#
# Environment: CALLS ("50 100 150 200 300 400 500 600"), DURATION (20s), SLOS_MS ("2 5 10 15"),
# TARGETS (the six above but forward-burst), STRUCTURAL_MS (0), SKIP_BUILD (set: use the release binaries
# as they are).
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd .. && pwd)
CALLS=${CALLS:-"50 100 150 200 300 400 500 600"}
DURATION=${DURATION:-20s}
SLOS_MS=${SLOS_MS:-"2 5 10 15"}
TARGETS=${TARGETS:-"bare-echo echo conversation conversation-mp3-dtmf trio-mp3 forward"}
export STRUCTURAL_MS=${STRUCTURAL_MS:-0}
OUT=.build/capacity
mkdir -p "$OUT"

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "== patchbay $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo ' (with local changes)')"
[ -n "${SKIP_BUILD:-}" ] || swift build --package-path "$root" -c release --product patchbay 2>&1 | grep -E 'error:' || true
[ -n "${SKIP_BUILD:-}" ] || swift build --package-path . -c release --product bare-echo 2>&1 | grep -E 'error:' || true
patchbay=$root/.build/release/patchbay
bare=.build/release/bare-echo
ulimit -n 65536 2>/dev/null || true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
service_port=$(free_port)

config=$OUT/patchbay.json
cat >"$config" <<EOF
{
  "log_level": "warning",
  "limits": { "max_legs": 100000 },
  "storage": { "database": "$root/benchmarks/$OUT/patchbay.sqlite" },
  "routes": [
    { "path": "/echo", "mode": "echo" },
    { "path": "/pair", "mode": "conversation", "conversation_header": "conversation", "dtmf_events": true },
    { "path": "/pair-mp3", "mode": "conversation", "conversation_header": "conversation", "dtmf_events": true,
      "stream": { "stream_url": "$root/testdata/sine1k-xing.mp3", "loop": 0, "level": -0.5 } },
    { "path": "/forward", "mode": "conversation",
      "connect": [{ "type": "websocket", "uri": "ws://127.0.0.1:$service_port/", "content-type": "audio/l16;rate=16000",
                    "headers": { "bench_call": "{caller.bench_call}" } }] }
  ]
}
EOF

cpu_ticks() { # pid -> utime + stime in clock ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

start_target() { # target port -> pid
    case $1 in
        bare-echo) "$bare" "$2" >/dev/null 2>&1 & ;;
        *) PATCHBAY_LISTEN=127.0.0.1:$2 "$patchbay" serve --config "$config" >"$OUT/serve.log" 2>&1 & ;;
    esac
    echo $!
}

bench_args() { # target port
    case $1 in
        bare-echo | echo) echo "ws://127.0.0.1:$2/echo" ;;
        conversation) echo "ws://127.0.0.1:$2/pair --pair-rate 8000" ;;
        conversation-mp3-dtmf) echo "ws://127.0.0.1:$2/pair-mp3 --pair-rate 8000 --inband-dtmf-every 2s" ;;
        trio-mp3) echo "ws://127.0.0.1:$2/pair-mp3 --pair-rate 8000 --group-size 3" ;;
        forward) echo "ws://127.0.0.1:$2/forward --service 127.0.0.1:$service_port" ;;
        forward-burst) echo "ws://127.0.0.1:$2/forward --service 127.0.0.1:$service_port --service-burst 200ms" ;;
    esac
    # Patchbay's own counters: frames that missed their mixing tick (trimmed a second later).
    [ "$1" = bare-echo ] || echo "--metrics-url http://127.0.0.1:$2/metrics"
}

max_slo_us=$(($(echo "$SLOS_MS" | tr ' ' '\n' | sort -n | tail -1) * 1000))
printf "\n%-22s %6s %9s %9s %12s %6s %7s %8s %9s %7s %11s\n" target calls p50 p99 "judged p99" lost missed trimmed gen-p99 gen-cpu "server/frame"
for target in $TARGETS; do
    rm -f "$OUT/$target"-*.json "$OUT/$target"-*.svg "$OUT/$target"-*.txt
    for calls in $CALLS; do
        [ "$target" = trio-mp3 ] && calls=$((calls - calls % 3))
        # Forwarded calls: two legs each.
        callers=$calls
        case $target in forward*) callers=$((calls / 2)) ;; esac
        port=$(free_port)
        pid=$(start_target "$target" "$port")
        for _ in $(seq 50); do
            python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.1)" 2>/dev/null && break
            sleep 0.1
        done
        json=$OUT/$target-$calls.json
        ticks_before=$(cpu_ticks "$pid")
        # shellcheck disable=SC2046
        "$patchbay" bench $(bench_args "$target" "$port") --calls "$callers" --rate 16000 --duration "$DURATION" \
            --ramp 100/s --json "$json" --plot "$OUT/$target-$calls.svg" >"$OUT/$target-$calls.txt" 2>&1 || true
        echo $(($(cpu_ticks "$pid") - ticks_before)) "$(getconf CLK_TCK)" >"$OUT/$target-$calls.cpu"
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        read -r p50 p99 judged lost missed trimmed genp99 gencpu servercpu <<<"$(python3 capacity_report.py --row "$json")"
        printf "%-22s %6d %7dus %7dus %10dus %6d %7d %8s %7dus %6d%% %9sus\n" "$target" "$calls" "$p50" "$p99" "$judged" "$lost" "$missed" "$([ "$trimmed" -lt 0 ] && echo - || echo "$trimmed")" "$genp99" "$gencpu" "$servercpu"
        # Past every SLO, or losing audio: larger counts only get worse.
        if [ "$judged" -gt $((4 * max_slo_us)) ] || [ "$lost" -gt 0 ] || [ "$missed" -gt 0 ]; then break; fi
    done
done

python3 capacity_report.py "$OUT" "$SLOS_MS" $TARGETS
