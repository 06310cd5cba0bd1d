#!/usr/bin/env bash
# The control API and its event webhooks measured while legs stream, and the media latency with and
# without them.
#
# Three runs against a fresh `patchbay serve` (release) each; `patchbay bench` plays CALLS legs (default 300: 150
# two-leg conversations, one 16 kHz and one 8 kHz leg each, an mp3 mixed into every leg and an in-band
# DTMF digit from every leg every 2 s, as the capacity target conversation-mp3-dtmf):
#   media-only   the bench alone: the media baseline
#   api-only     the API load below with no legs: the API baseline
#   with-api     the bench, while benchmarks/api_load.py drives the control API at RATE requests per second
#                (fresh RS256 JWTs; lists, gets and no-op PUTs) and every leg's events (start, answer,
#                each detected digit: about CALLS/2 per second, end) go as signed webhooks to a receiver
#                that verifies each (Tests/python/webhook_receiver.py)
# It prints the bench's latency for both runs, the API's latency percentiles, and the webhooks' count
# and delivery latency (the event's timestamp to its arrival at the receiver).
#
# The API runs on plain http here (the same listener as the media, as by default), so the figures are the
# API's and not TLS's. The receiver checks the signature of one event in 20 (all of them in the tests), so
# that Python verifying JWTs does not take the cores the gateway is measured on; the load generator and
# the receiver still run on the same two cores as the gateway and the bench. Environment: CALLS (300),
# DURATION (30s), RATE (20), SKIP_BUILD (set: use the release binary as it is).
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd .. && pwd)
CALLS=${CALLS:-300}
DURATION=${DURATION:-30s}
RATE=${RATE:-20}
OUT=.build/api-load
rm -rf "$OUT"
mkdir -p "$OUT"

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "== patchbay $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo ' (with local changes)')"
[ -n "${SKIP_BUILD:-}" ] || swift build --package-path "$root" -c release --product patchbay 2>&1 | grep -E 'error:' || true
patchbay=$root/.build/release/patchbay
ulimit -n 65536 2>/dev/null || true
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$OUT/app.key" 2>/dev/null
openssl pkey -in "$OUT/app.key" -pubout -out "$OUT/app.pub.pem"
secret=benchmark-signature-secret-of-32-bytes
receiver_port=$(free_port)

write_config() { # database with-api
    local api=""
    [ "$2" = no ] || api='"api": { "applications": [{ "application_id": "bench", "public_key": "'$root/benchmarks/$OUT/app.pub.pem'",
                              "event_url": "http://127.0.0.1:'$receiver_port'/events", "signature_secret": "'$secret'" }] },'
    cat >"$OUT/patchbay.json" <<EOF
{
  "log_level": "warning",
  "limits": { "max_legs": 100000 },
  "storage": { "database": "$1" },
  $api
  "routes": [
    { "path": "/pair-mp3", "mode": "conversation", "conversation_header": "conversation", "dtmf_events": true,
      "stream": { "stream_url": "$root/testdata/sine1k-xing.mp3", "loop": 0, "level": -0.5 } }
  ]
}
EOF
}

run() { # name with-media with-api
    local name=$1 with_media=$2 with_api=$3 port pid receiver= bench=
    port=$(free_port)
    # The API-only run reads the records the media-only run left (300 completed calls).
    write_config "$root/benchmarks/$OUT/$([ "$name" = api-only ] && echo media-only || echo "$name").sqlite" "$with_api"
    if [ "$with_api" = yes ]; then
        python3 "$root/Tests/python/webhook_receiver.py" --secret "$secret" --application-id bench --port "$receiver_port" \
            --verify-every 20 --quiet \
            >"$OUT/$name-webhooks.jsonl" 2>&1 &
        receiver=$!
    fi
    PATCHBAY_LISTEN=127.0.0.1:$port "$patchbay" serve --config "$OUT/patchbay.json" >"$OUT/$name-serve.log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.1)" 2>/dev/null && break
        sleep 0.1
    done
    if [ "$with_media" = yes ]; then
        "$patchbay" bench "ws://127.0.0.1:$port/pair-mp3" --pair-rate 8000 --inband-dtmf-every 2s --calls "$CALLS" --rate 16000 \
            --duration "$DURATION" --ramp 100/s --json "$OUT/$name-bench.json" >"$OUT/$name-bench.txt" 2>&1 &
        bench=$!
    fi
    if [ "$with_api" = yes ]; then
        # From when every leg streams (the ramp: CALLS at 100/s) to just before the bench ends.
        local ramp=$(((CALLS + 99) / 100 + 2))
        sleep "$ramp"
        python3 api_load.py --host 127.0.0.1 --port "$port" --application-id bench --private-key "$OUT/app.key" \
            --seconds "$(($(echo "$DURATION" | tr -d s) - ramp - 2))" --rate "$RATE" >"$OUT/$name-api.json"
    fi
    [ -z "$bench" ] || wait "$bench" || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if [ -n "$receiver" ]; then
        kill "$receiver" 2>/dev/null || true
        wait "$receiver" 2>/dev/null || true
    fi
}

run media-only yes no
run api-only no yes
run with-api yes yes
python3 api_load_report.py "$OUT"
