#!/usr/bin/env bash
# Builds the fuzz targets (libFuzzer and AddressSanitizer) and runs each for SECONDS (default 600) from the
# committed seed corpus (fuzz/Corpus/TARGET), on a copy so the repository's seeds stay as they are; prints
# one line per target — executions per second, coverage (libFuzzer's cov: and ft:) and what was found —
# and keeps crashes and the grown corpora under fuzz/out/. JOBS targets run at once (default 2).
#   fuzz/run.sh [TARGET ...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
seconds=${SECONDS_PER_TARGET:-600}
jobs=${JOBS:-2}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(FuzzPeerMessage FuzzVoiceAPIDialect FuzzRawDialect FuzzRealtimeDialect FuzzNCCO FuzzConfiguration FuzzJWT)
# --sanitize=fuzzer alone links libFuzzer but (Swift 6.3 on Linux) leaves the Swift code without coverage
# counters ("no interesting inputs ... Is the code instrumented?"): the coverage libFuzzer reads is asked for.
flags=(-c debug --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp)
swift build "${flags[@]}" >&2
bin=$(swift build "${flags[@]}" --show-bin-path)
mkdir -p out
[ -f out/app.pub.pem ] || {
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out out/app.key 2>/dev/null
    openssl pkey -in out/app.key -pubout -out out/app.pub.pem
}
export FUZZ_JWT_KEY="$here/out/app.pub.pem"
run() {
    local target=$1
    rm -rf "out/$target" && mkdir -p "out/$target/corpus" "out/$target/crashes"
    cp Corpus/"$target"/* "out/$target/corpus/"
    set +e
    "$bin/$target" "out/$target/corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="out/$target/crashes/" >"out/$target/log" 2>&1
    local status=$?
    set -e
    local execs cov ft crashes
    execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "out/$target/log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "out/$target/log" | tail -1 | grep -oE '[0-9]+' || true)
    ft=$(grep -oE 'ft: [0-9]+' "out/$target/log" | tail -1 | grep -oE '[0-9]+' || true)
    crashes=$(find "out/$target/crashes" -type f | wc -l)
    printf '%s: %s executions in %s s (%s/s), cov %s, ft %s, corpus %s, exit %s, crashes %s\n' "$target" "${execs:-0}" "$seconds" \
        "$(( ${execs:-0} / seconds ))" "${cov:-?}" "${ft:-?}" "$(ls "out/$target/corpus" | wc -l)" "$status" "$crashes"
}
running=0
for target in "${targets[@]}"; do
    run "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait
