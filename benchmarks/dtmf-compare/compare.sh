#!/usr/bin/env bash
# Runs Patchbay's DTMF detector and spandsp's (dtmf_rx, default settings) on the same signals and prints
# a markdown comparison (docs/QUALITY.md, DTMF detection: "Reference peers to compare against on the same
# signals: spandsp's detector ... Match them everywhere and beat them where they fail the table").
#
#   1. builds spandsp_detect (Makefile here; needs libspandsp-dev, libsndfile1-dev);
#   2. uses the patchbay binary from `swift build` if present (PATCHBAY=/path overrides), else builds it;
#   3. writes docs/QUALITY.md's signal table with `patchbay dtmf conformance --rate R --write DIR --speech ...`
#      at 8000 Hz and, when sox is installed, 16000 Hz; the speech fixture (raw s16le) is wrapped as wav;
#   4. runs `patchbay dtmf detect` and spandsp_detect on every file. spandsp works at 8 kHz only, so the
#      16 kHz files are resampled to 8 kHz for it (sox `rate -v`, no dither); Patchbay reads them at 16 kHz;
#   5. also runs both on `patchbay dtmf generate 0123456789*#ABCD` at 8 kHz, at the default level
#      (-10 dBm0) and at -30 dBm0 (docs/QUALITY.md: generated digits must be detected by spandsp's detector).
#
# "pass" means the detected digit string equals the expected one exactly ("" for must-not-detect cases).
# Output: one table per rate (one row per manifest condition), the generated-digits table, and every
# signal where either detector fails. Environment: PATCHBAY (binary), KEEP=1 (keep the temp dir).
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)
root=$(cd ../.. && pwd)

make -s spandsp_detect >&2
spandsp="$here/spandsp_detect"

patchbay=${PATCHBAY:-$root/.build/debug/patchbay}
if [ ! -x "$patchbay" ]; then
    echo "building patchbay (swift build --product patchbay)" >&2
    swift build --package-path "$root" --product patchbay >&2
    patchbay="$(swift build --package-path "$root" --show-bin-path)/patchbay"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dtmf-compare.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
    echo "keeping $tmp" >&2
else
    trap 'rm -rf "$tmp"' EXIT
fi

have_sox=0
command -v sox >/dev/null 2>&1 && have_sox=1

# The speech fixture is raw 16-bit little-endian mono at 8 kHz; wrap it as wav for `--speech`.
speech_raw="$root/testdata/speech-en-us-8k.s16le"
speech_args=()
if [ -f "$speech_raw" ]; then
    if [ "$have_sox" = 1 ]; then
        sox -t raw -r 8000 -e signed-integer -b 16 -c 1 "$speech_raw" "$tmp/speech-en-us-8k.wav"
        speech_args=(--speech "$tmp/speech-en-us-8k.wav")
    else
        echo "sox not found: skipping the speech talk-off case" >&2
    fi
fi

rates=(8000)
if [ "$have_sox" = 1 ]; then
    rates+=(16000)
else
    echo "sox not found: comparing at 8000 Hz only (spandsp needs 8 kHz input)" >&2
fi

results="$tmp/results.tsv"   # rate, file, condition, signal, expected, patchbay, spandsp
: >"$results"
notes=()

# run_pair RATE CONDITION SIGNAL EXPECTED FILE: runs both detectors on FILE and appends a results row.
run_pair() {
    local rate=$1 condition=$2 signal=$3 expected=$4 file=$5 input pb sd
    input=$file
    if [ "$rate" != 8000 ]; then
        input="${file%.wav}.8k.wav"
        sox -V1 -D "$file" -r 8000 "$input" rate -v
    fi
    pb=$("$patchbay" dtmf detect "$file")
    sd=$("$spandsp" "$input")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rate" "$(basename "$file")" "$condition" "$signal" "$expected" "$pb" "$sd" >>"$results"
}

for rate in "${rates[@]}"; do
    dir="$tmp/$rate"
    status=0
    "$patchbay" dtmf conformance --rate "$rate" --write "$dir" "${speech_args[@]}" >"$tmp/conformance-$rate.txt" || status=$?
    notes+=("\`patchbay dtmf conformance --rate $rate\`: $(tail -n 1 "$tmp/conformance-$rate.txt") (exit $status)")
    # manifest.tsv: file, condition, signal, expected (empty for must-not-detect cases). Tabs become
    # \037 first: tab is IFS whitespace, so `read` would merge adjacent tabs and drop empty fields.
    while IFS=$'\037' read -r file condition signal expected; do
        run_pair "$rate" "$condition" "$signal" "$expected" "$dir/$file"
    done < <(tail -n +2 "$dir/manifest.tsv" | tr '\t' '\037')
done

digits='0123456789*#ABCD'
"$patchbay" dtmf generate "$digits" -o "$tmp/generated-default.wav"
"$patchbay" dtmf generate "$digits" --level -30 -o "$tmp/generated-30.wav"
run_pair 8000 "generated, default level (-10 dBm0 per tone)" "dtmf generate $digits" "$digits" "$tmp/generated-default.wav"
run_pair 8000 "generated, --level -30 (-30 dBm0 per tone)" "dtmf generate $digits --level -30" "$digits" "$tmp/generated-30.wav"

# table RATE|generated: one row per condition (manifest order) and a total, for one rate or the generated files.
table() {
    awk -F'\t' -v want="$1" '
        function keep() { return (want == "generated") ? ($2 ~ /^generated-/) : ($1 == want && $2 !~ /^generated-/) }
        keep() {
            if (!($3 in n)) { order[++k] = $3 }
            n[$3]++; pb[$3] += ($6 == $5); sd[$3] += ($7 == $5)
            tn++; tpb += ($6 == $5); tsd += ($7 == $5)
        }
        END {
            print "| condition | signals | Patchbay pass | spandsp pass |"
            print "|---|---:|---:|---:|"
            for (i = 1; i <= k; i++) { c = order[i]; printf "| %s | %d | %d/%d | %d/%d |\n", c, n[c], pb[c], n[c], sd[c], n[c] }
            if (k > 1) printf "| **total** | %d | %d/%d | %d/%d |\n", tn, tpb, tn, tsd, tn
        }' "$results"
}

pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }
echo "## DTMF detection: Patchbay vs spandsp $(pkg-config --modversion spandsp) (dtmf_rx, default settings)"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- patchbay: $("$patchbay" --version) ($patchbay; checkout $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown))"
echo "- spandsp: $(pkg-config --modversion spandsp) (libspandsp2 $(pkgver libspandsp2)); libsndfile $(pkg-config --modversion sndfile)"
echo "- sox: $(if [ "$have_sox" = 1 ]; then sox --version | sed 's/^.*SoX v//'; else echo "not installed (8000 Hz only)"; fi)"
echo "- cc: $(${CC:-cc} --version | head -n 1)"
echo
for rate in "${rates[@]}"; do
    if [ "$rate" = 8000 ]; then
        echo "### 8000 Hz (both detectors read the same files)"
    else
        echo "### $rate Hz (Patchbay reads the $rate Hz files; spandsp reads them resampled to 8000 Hz by sox \`rate -v\`)"
    fi
    echo
    table "$rate"
    echo
done
echo "### Generated digits, 8000 Hz (\`patchbay dtmf generate $digits\`)"
echo
table generated
echo
echo "### Signals where either detector fails"
echo
awk -F'\t' '
    function q(s) { return s == "" ? "(none)" : "`" s "`" }
    function mark(got, want) { return got == want ? "pass" : "**FAIL**" }
    $6 != $5 || $7 != $5 {
        if (!found++) {
            print "| rate | file | condition | signal | expected | Patchbay got | spandsp got |"
            print "|---:|---|---|---|---|---|---|"
        }
        printf "| %s | %s | %s | %s | %s | %s %s | %s %s |\n", $1, $2, $3, $4, q($5), q($6), mark($6, $5), q($7), mark($7, $5)
    }
    END { if (!found) print "None." }' "$results"
echo
for note in "${notes[@]}"; do echo "- $note"; done
