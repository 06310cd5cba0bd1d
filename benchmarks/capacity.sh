#!/usr/bin/env bash
# Finds the most concurrent 16 kHz calls each target carries at p99 round trip <= 2 ms with no frame lost,
# on this machine, with `patchbay bench` as the Voice API (QUALITY.md "Gateway"; issue 4):
#
#   bare-echo   a bare SwiftNIO websocket echo (benchmarks/Sources/bare-echo): the I/O limit
#   echo        `patchbay serve`, route /echo (the leg hears itself, frame for frame)
#
# For each target and each call count it starts the server afresh, runs `patchbay bench` for DURATION and
# records p99 round trip, loss, generator lateness and CPU. A step passes when p99 <= 2 ms, nothing is lost,
# no call fails and the generator is not itself late (p99 send lateness <= 250 us). Results:
# .build/capacity/<target>-<calls>.json and .svg, and a summary table on stdout.
#
# Environment: CALLS ("100 200 300 400 500 600 800"), DURATION (20s), RATE (16000), TARGETS ("bare-echo echo").
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd .. && pwd)
CALLS=${CALLS:-"100 200 300 400 500 600 800"}
DURATION=${DURATION:-20s}
RATE=${RATE:-16000}
TARGETS=${TARGETS:-"bare-echo echo"}
OUT=.build/capacity
mkdir -p "$OUT"

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "== patchbay $(git -C "$root" rev-parse --short HEAD)"
swift build --package-path "$root" -c release --product patchbay 2>&1 | grep -E 'error|warning: ' || true
swift build --package-path . -c release --product bare-echo 2>&1 | grep -E 'error|warning: ' || true
patchbay=$root/.build/release/patchbay
bare=.build/release/bare-echo
ulimit -n 65536 2>/dev/null || true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_target() {  # target port -> pid
    case $1 in
        bare-echo) "$bare" "$2" >/dev/null 2>&1 & ;;
        echo | conversation)
            PATCHBAY_LISTEN=127.0.0.1:$2 PATCHBAY_LOG_LEVEL=warning PATCHBAY_MAX_LEGS=100000 "$patchbay" serve >/dev/null 2>&1 &
            ;;
    esac
    echo $!
}

url_for() {  # target port
    case $1 in
        bare-echo) echo "ws://127.0.0.1:$2/echo" ;;
        echo) echo "ws://127.0.0.1:$2/echo" ;;
    esac
}

printf "\n%-10s %6s %10s %10s %10s %7s %7s %10s %8s  %s\n" target calls p50 p99 max lost failed gen-p99 gen-cpu verdict
summary=()
for target in $TARGETS; do
    best=0
    for calls in $CALLS; do
        port=$(free_port)
        pid=$(start_target "$target" "$port")
        for _ in $(seq 50); do
            python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.1)" 2>/dev/null && break
            sleep 0.1
        done
        json=$OUT/$target-$calls.json
        set +e
        "$patchbay" bench "$(url_for "$target" "$port")" --calls "$calls" --rate "$RATE" --duration "$DURATION" \
            --ramp 100/s --json "$json" --plot "$OUT/$target-$calls.svg" --max-p99 2ms --max-lost 0 >/dev/null 2>&1
        set -e
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        line=$(python3 - "$json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rt, gen = r["roundTripMicroseconds"], r["sendLatenessMicroseconds"]
ok = rt["p99"] <= 2000 and r["framesLost"] == 0 and r["callsFailed"] == 0 and r["framesWrongSize"] == 0 and gen["p99"] <= 250
print(rt["p50"], rt["p99"], rt["max"], r["framesLost"], r["callsFailed"], gen["p99"], round(r["generatorCPUPercent"]), "pass" if ok else "FAIL")
PY
)
        read -r p50 p99 max lost failed genp99 gencpu verdict <<<"$line"
        printf "%-10s %6d %8dus %8dus %8dus %7d %7d %8dus %7d%%  %s\n" "$target" "$calls" "$p50" "$p99" "$max" "$lost" "$failed" "$genp99" "$gencpu" "$verdict"
        if [ "$verdict" = pass ]; then best=$calls; else break; fi
    done
    summary+=("$target $best")
done
echo
echo "capacity (most calls passing, of those tried):"
for s in "${summary[@]}"; do echo "  $s"; done
