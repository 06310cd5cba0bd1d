#!/usr/bin/env bash
# Builds and runs Patchbay's DSP benchmarks and the C reference, and prints the Swift/C ratio for the
# per-call pipeline (docs/QUALITY.md "Speed and memory": <= 10 us per frame, <= 1.2x C, zero allocations per frame).
#
#   1. the C reference (reference/: gcc -O2 official; gcc -O3 -march=native and, if installed, clang -O2 for
#      information) and the Swift driver
#      (release) must produce bit-identical output and detections (the `verify:` lines);
#   2. package-benchmark (Benchmarks/DSP): every step and the pipeline per 20 ms frame, and the malloc count
#      at 1 and at 100 frames per iteration (the slope must be zero);
#   3. the Swift driver and the C reference timed the same way (ContinuousClock / CLOCK_MONOTONIC, median of
#      RUNS runs of FRAMES frames), interleaved for ROUNDS rounds so both see the same machine load;
#   4. with CALLGRIND=1, instructions per pipeline frame of both under valgrind (independent of load).
#
# Environment: ROUNDS (5), FRAMES (20000), RUNS (15), SKIP_PACKAGE_BENCHMARK=1, CHECK_THRESHOLDS=1 (also run
# `benchmark thresholds check` against Thresholds/swift-X.Y), CALLGRIND=1, PATCHBAY_PACKAGE_PATH (see Package.swift).
set -euo pipefail
cd "$(dirname "$0")"

ROUNDS=${ROUNDS:-5}
FRAMES=${FRAMES:-20000}
RUNS=${RUNS:-15}
OUT=.build/run-results
mkdir -p "$OUT"

swift_minor=$(swift --version 2>/dev/null | sed -n 's/.*Swift version \([0-9]*\.[0-9]*\).*/\1/p' | head -1)

echo "== machine"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "nproc: $(nproc)"
echo "cpu: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
echo "swift: $(swift --version 2>/dev/null | head -1)"
echo "cc: $(${CC:-cc} --version | head -1)"
echo "speexdsp: $(pkg-config --modversion speexdsp 2>/dev/null || echo unknown)"
echo "patchbay: ${PATCHBAY_PACKAGE_PATH:-..} $(git -C "${PATCHBAY_PACKAGE_PATH:-..}" rev-parse --short HEAD 2>/dev/null || echo "(not a git checkout)")"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "== build"
make -s -C reference all native
have_clang=0
if command -v clang >/dev/null 2>&1 && make -s -C reference clang; then have_clang=1; fi
swift build --package-path . -c release --product pipeline-driver 2>&1 | grep -E 'error|warning: |Compiling|Build' || true
driver=.build/release/pipeline-driver
[ -x "$driver" ] || { echo "pipeline-driver did not build" >&2; exit 1; }

echo
echo "== verify (Swift and C must do identical work)"
v_swift=$("$driver" --verify-only | sed 's/^verify: //')
v_c2=$(reference/pipeline-O2 --verify-only | sed 's/^verify: //')
v_cn=$(reference/pipeline-O3-native --verify-only | sed 's/^verify: //')
echo "swift      $v_swift"
echo "c -O2      $v_c2"
echo "c -O3 nat  $v_cn"
v_cc=$v_c2
if [ "$have_clang" = 1 ]; then
    v_cc=$(reference/pipeline-clang-O2 --verify-only | sed 's/^verify: //')
    echo "clang -O2  $v_cc"
fi
if [ "$v_swift" != "$v_c2" ] || [ "$v_swift" != "$v_cn" ] || [ "$v_swift" != "$v_cc" ]; then
    echo "MISMATCH: the C reference no longer matches Sources/PatchbayDSP; port the change to reference/pipeline.c" >&2
    exit 1
fi

if [ "${SKIP_PACKAGE_BENCHMARK:-0}" != 1 ]; then
    echo
    echo "== package-benchmark (Benchmarks/DSP; scaled (*) figures are per frame, except the allocation-slope pair)"
    status=0
    swift package --package-path . benchmark --no-progress >"$OUT/package-benchmark.txt" 2>&1 || status=$?
    grep -v -E '^\[[0-9]+/[0-9]+\]|^Building|^Build |Write swift-version|Compiling|Linking' "$OUT/package-benchmark.txt" || true
    [ "$status" = 0 ] || { echo "package-benchmark failed (exit $status)" >&2; exit 1; }
    echo
    echo "malloc count per iteration (p50 / p90 / p100):"
    awk -F'│' '
        /^[A-Za-z]/ { name = $0 }
        /Malloc \(total\)/ { gsub(/ /, "", $5); gsub(/ /, "", $7); gsub(/ /, "", $9); printf "  %-55s %s / %s / %s\n", name, $5, $7, $9 }
    ' "$OUT/package-benchmark.txt"
    if [ "${CHECK_THRESHOLDS:-0}" = 1 ]; then
        echo
        echo "== thresholds check (Thresholds/swift-$swift_minor)"
        set +e
        swift package --package-path . benchmark thresholds check --path "Thresholds/swift-$swift_minor" --no-progress 2>&1 |
            grep -v -E '^\[[0-9]+/[0-9]+\]|^Building|^Build |Write swift-version|Compiling|Linking'
        echo "thresholds check exit code: ${PIPESTATUS[0]} (0 = every p90 within its tolerance; non-zero = a deviation, see the tables above)"
        set -e
    fi
fi

echo
echo "== Swift driver vs C reference, ns per frame ($ROUNDS interleaved rounds of $RUNS runs x $FRAMES frames)"
: >"$OUT/timing.txt"
for r in $(seq 1 "$ROUNDS"); do
    reference/pipeline-O2 --frames "$FRAMES" --runs "$RUNS" | grep ns/frame | sed 's/^c /c-O2 /' >>"$OUT/timing.txt"
    "$driver" --frames "$FRAMES" --runs "$RUNS" | grep ns/frame >>"$OUT/timing.txt"
    reference/pipeline-O3-native --frames "$FRAMES" --runs "$RUNS" | grep ns/frame | sed 's/^c /c-native /' >>"$OUT/timing.txt"
    if [ "$have_clang" = 1 ]; then
        reference/pipeline-clang-O2 --frames "$FRAMES" --runs "$RUNS" | grep ns/frame | sed 's/^c /c-clang /' >>"$OUT/timing.txt"
    fi
done
# For each implementation and step: the median over rounds of each round's median, and the best round's min.
awk '
    function median(list,   n, a, i, j, t) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
        impl = $1; step = $2
        for (i = 4; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        med[impl, step] = med[impl, step] " " v["median"]
        p90[impl, step] = p90[impl, step] " " v["p90"]
        if (!((impl, step) in mn) || v["min"] + 0 < mn[impl, step]) mn[impl, step] = v["min"] + 0
        if (!(step in seen)) { seen[step] = 1; order[++steps] = step }
    }
    END {
        printf "%-9s %23s %23s %23s %18s %13s\n", "step", "swift p50 / p90 / min", "c -O2 p50 / p90 / min", "c -O3 native p50 / min", "clang -O2 p50 / min", "swift / c-O2"
        for (s = 1; s <= steps; s++) {
            st = order[s]
            sw = median(med["swift", st]); c2 = median(med["c-O2", st]); cn = median(med["c-native", st]); cc = median(med["c-clang", st])
            if (c2 == "" || c2 == 0) { ratio = "-" } else { ratio = sprintf("%.2f", sw / c2) }
            printf "%-9s %8.0f / %5.0f / %5.0f %8.0f / %5.0f / %5.0f %13.0f / %6.0f %10.0f / %5.0f %13s\n", st,
                sw, median(p90["swift", st]), mn["swift", st],
                c2, median(p90["c-O2", st]), mn["c-O2", st], cn, mn["c-native", st], cc, mn["c-clang", st], ratio
            if (st == "pipeline") { psw = sw; pc = c2; pcc = cc; pswmin = mn["swift", st]; pcmin = mn["c-O2", st] }
        }
        print ""
        printf "pipeline: Swift %.2f us per frame (target <= 10 us: %s)\n", psw / 1000, psw <= 10000 ? "met" : "NOT met"
        printf "pipeline: Swift / C -O2 = %.2f on medians, %.2f on best runs (target <= 1.2: %s)\n",
            psw / pc, pswmin / pcmin, psw / pc <= 1.2 ? "met" : "NOT met"
        if (pcc > 0) printf "pipeline: Swift / clang -O2 = %.2f on medians (information)\n", psw / pcc
    }
' "$OUT/timing.txt" | tee "$OUT/summary.txt"
echo "(generation is Swift-only: the C reference ports the pipeline steps, not the DTMF generator)"

if [ "${CALLGRIND:-0}" = 1 ]; then
    echo
    echo "== callgrind: instructions per pipeline frame (difference of 1000- and 5000-frame runs / 4000)"
    ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
    impls="swift c-O2 c-native"
    [ "$have_clang" = 1 ] && impls="$impls c-clang"
    for impl in $impls; do
        case $impl in
            swift) bin=$driver ;;
            c-O2) bin=reference/pipeline-O2 ;;
            c-native) bin=reference/pipeline-O3-native ;;
            c-clang) bin=reference/pipeline-clang-O2 ;;
        esac
        a=$(ir "$bin" --only pipeline --runs 1 --frames 1000)
        b=$(ir "$bin" --only pipeline --runs 1 --frames 5000)
        echo "$impl $(( (b - a) / 4000 ))"
    done | tee "$OUT/callgrind.txt"
    awk '{ v[$1] = $2 } END { printf "instructions: Swift / C -O2 = %.2f\n", v["swift"] / v["c-O2"] }' "$OUT/callgrind.txt"
fi
