#!/usr/bin/env bash
# Regenerates the audio fixtures used by Tests/PatchbayCodecsTests.
#
# Needs the Debian packages: sox (sox, with libsox-fmt-base), lame, coreutils (head, cat).
# Run from anywhere: ./testdata/make-fixtures.sh
# The output is deterministic (sox -R: repeatable; -D: no dither), so re-running leaves the committed
# files unchanged unless a tool's version changes how it encodes.
#
# Every audio fixture carries a known signal (mostly a 1 kHz sine) so the tests can check the decoded
# audio itself: frequency, level and duration, not just that decoding "worked".
set -euo pipefail

cd "$(dirname "$0")"

for tool in sox lame head cat; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install sox lame)" >&2; exit 1; }
done

SOX="sox -R -D -V1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Writes an unsigned little-endian integer of $2 bytes.
le() {
    local value=$1 bytes=$2 i out=""
    for ((i = 0; i < bytes; i++)); do
        out+=$(printf '\\%03o' $(((value >> (8 * i)) & 255)))
    done
    printf "$out"
}

# 1 kHz sine at half scale (-6 dBFS), 16-bit mono, 16 kHz, 1 s (32 KB).
$SOX -n -r 16000 -c 1 -b 16 -e signed-integer sine1k-s16-mono-16k.wav synth 1 sine 1000 vol 0.5

# 1 kHz sine, 24-bit stereo, 44.1 kHz, 0.2 s (53 KB); sox writes it as WAVE_FORMAT_EXTENSIBLE. Left at 0.8, right at 0.2 (in phase), so a
# correct mono downmix (the average) is 0.5; taking one channel or the sum would give 0.8, 0.2 or 1.0.
$SOX -n -r 44100 -c 2 -b 24 -e signed-integer sine1k-s24-stereo-44k1.wav \
    synth 0.2 sine 1000 sine 1000 remix 1v0.8 2v0.2

# 1 kHz sine at half scale, 8-bit unsigned mono, 8 kHz, 1 s (8 KB).
$SOX -n -r 8000 -c 1 -b 8 -e unsigned-integer sine1k-u8-mono-8k.wav synth 1 sine 1000 vol 0.5

# 1 kHz sine at half scale, G.711 u-law mono, 8 kHz, 1 s (8 KB).
$SOX -n -r 8000 -c 1 -e mu-law sine1k-ulaw-mono-8k.wav synth 1 sine 1000 vol 0.5

# 1 kHz sine, 32-bit float (WAVE_FORMAT_IEEE_FLOAT), 3 channels, 16 kHz, 0.25 s (48 KB).
# Channels at 0.9, 0.3 and 0.3: their average is 0.5.
$SOX -n -r 16000 -c 3 -b 32 -e floating-point sine1k-f32-3ch-16k.wav \
    synth 0.25 sine 1000 sine 1000 sine 1000 remix 1v0.9 2v0.3 3v0.3

# RF64 (EBU Tech 3306): the same 16-bit samples as a 0.25 s, 8 kHz mono wav, behind an RF64 header with
# a ds64 chunk (sox cannot write RF64, so the header is written here byte by byte).
$SOX -n -r 8000 -c 1 -b 16 -e signed-integer -t raw "$tmp/rf64.pcm" synth 0.25 sine 1000 vol 0.5
data_bytes=$(wc -c <"$tmp/rf64.pcm")
{
    printf 'RF64'; le 4294967295 4; printf 'WAVE'
    printf 'ds64'; le 28 4; le $((80 + data_bytes - 8)) 8; le "$data_bytes" 8; le $((data_bytes / 2)) 8; le 0 4
    printf 'fmt '; le 16 4; le 1 2; le 1 2; le 8000 4; le 16000 4; le 2 2; le 16 2
    printf 'data'; le 4294967295 4
    cat "$tmp/rf64.pcm"
} >sine1k-s16-mono-8k-rf64.wav

# mp3 WITH a Xing/LAME header (VBR: the tag is spelt "Xing"): 1 kHz sine at half scale, 44.1 kHz mono, 1 s.
$SOX -n -r 44100 -c 1 -b 16 "$tmp/sine44k.wav" synth 1 sine 1000 vol 0.5
lame --quiet -V 4 "$tmp/sine44k.wav" sine1k-xing.mp3

# mp3 WITHOUT a Xing/LAME header (lame -t), CBR 64 kbit/s, same signal. Decoders then see the encoder
# delay and padding as extra samples and can only estimate the length from the file size.
lame --quiet -t -b 64 "$tmp/sine44k.wav" sine1k-noxing.mp3

# A VBR mp3 WITHOUT a Xing header whose first frames are dense: 0.5 s of white noise (at 0.5), then
# 2.5 s of a 1 kHz sine at half scale; 16 kHz mono, 3 s. Estimating its length from the file size and
# the first frame's bitrate gives about 0.7 s: a decoder that trusts that estimate loses most of it.
$SOX -n -r 16000 -c 1 -b 16 "$tmp/noise.wav" synth 0.5 whitenoise vol 0.5
$SOX -n -r 16000 -c 1 -b 16 "$tmp/sine16k.wav" synth 2.5 sine 1000 vol 0.5
$SOX "$tmp/noise.wav" "$tmp/sine16k.wav" "$tmp/noise-then-sine.wav"
lame --quiet -t -V 6 "$tmp/noise-then-sine.wav" noise-then-sine1k-vbr-noxing.mp3

# A hot mp3: a 1 kHz square wave normalised to full scale, encoded 25% louder (lame --scale 1.25), as a
# loudly mastered mp3 is. 44.1 kHz mono, 1 s. Decoded as float its plateaus sit near 1.25 and the
# ringing at its edges reaches about 1.3: well past full scale (|x| > 1.0).
$SOX -n -r 44100 -c 1 -b 16 "$tmp/square44k.wav" synth 1 square 1000 gain -n 0
lame --quiet -b 128 --scale 1.25 "$tmp/square44k.wav" square1k-hot.mp3

# An mp3 cut in the middle of a frame (the Xing mp3 minus its last 300 bytes).
size=$(wc -c <sine1k-xing.mp3)
head -c $((size - 300)) sine1k-xing.mp3 >truncated.mp3

# A wav whose data chunk claims 32000 bytes but holds only 12000 (the file was cut short).
head -c $((44 + 12000)) sine1k-s16-mono-16k.wav >truncated.wav

# A FLAC file: libsndfile reads it, Patchbay must refuse it (only wav and mp3 are accepted).
$SOX -n -r 8000 -c 1 -b 16 sine1k.flac synth 0.25 sine 1000 vol 0.5

# Not audio at all: 4000 bytes of white noise without any header, named .wav.
$SOX -n -r 8000 -c 1 -b 16 -e signed-integer -t raw broken.wav synth 0.25 whitenoise

# A zero-byte file.
: >empty.wav

# A text file named .mp3.
printf 'This is not an mp3 file.\nIt is a text file that a misconfigured server returned.\n' >not-audio.mp3

ls -l
