/*
 * C reference for Patchbay's per-call DSP (docs/QUALITY.md: "within 1.2x of the same steps written in C
 * against the same libraries"). A faithful port of Sources/PatchbayDSP: SampleRing (SPSC ring with the
 * same atomics), PCM16 little-endian decode/encode, DTMFDetector as of commit 01ea2c0 (GoertzelBank: 16
 * Goertzel filters, the 8 tones and their second harmonics, plus 4 for the rows' third harmonics, on half
 * blocks combined into half-overlapping blocks; the same classify step with its harmonic checks, run
 * bookkeeping, phase-advance frequency estimates and float/double types),
 * libspeexdsp resampling at quality 5 via speex_resampler_process_int, MixBus (int32 sum, same limiter
 * arithmetic) and Level (Q16). The input is generated exactly as benchmarks/Sources/PatchbayBenchSupport/
 * Fixture.swift does, and the verify line prints the same checksums as `pipeline-driver`.
 *
 * Timing: per step and for the whole pipeline, 500 warm-up frames, then RUNS runs of FRAMES frames timed
 * with CLOCK_MONOTONIC; prints ns per frame (median, p90 and min over the runs).
 *
 * Build: see Makefile (cc -std=c99 -O2 ... -lspeexdsp -lm).
 * Usage: pipeline [--frames N] [--runs R] [--only NAME]
 */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <speex/speex_resampler.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PI 3.14159265358979323846 /* == Double.pi */

/* ---------------------------------------------------------------- fixture (Fixture.swift) */

enum { FRAME_COUNT = 100, SPF16 = 320, SPF8 = 160, BPF16 = 640 };

static int16_t pcm(double v) {
    double r = round(v);
    if (r >= 32767) return 32767;
    if (r <= -32768) return -32768;
    return (int16_t)r;
}

static void speech(int rate, int count, uint32_t seed, double peak, double *out) {
    uint32_t x = seed;
    double lp = 0.0;
    for (int n = 0; n < count; n++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        double noise = (double)((int32_t)x >> 16) / 32768;
        lp += 0.25 * (noise - lp);
        double t = (double)n / (double)rate;
        double env = sin(2 * PI * 3 * t);
        if (env < 0) env = 0;
        out[n] = 3 * peak * env * lp;
    }
}

static void add_digit(double row, double column, int rate, double seconds, int ms, double *samples) {
    double amplitude = 32767 * pow(10, (-10 - 3.14) / 20);
    long start = (long)(seconds * (double)rate);
    int count = ms * rate / 1000;
    for (int i = 0; i < count; i++) {
        double w = 2 * PI * (double)i / (double)rate;
        samples[start + i] += amplitude * sin(w * row) + amplitude * sin(w * column);
    }
}

typedef struct {
    uint8_t inbound_bytes[FRAME_COUNT * BPF16];
    int16_t inbound16k[FRAME_COUNT * SPF16];
    int16_t peer8k[FRAME_COUNT * SPF8];
    int16_t player16k[FRAME_COUNT * SPF16];
    int16_t second16k[FRAME_COUNT * SPF16];
} fixture;

static void fixture_init(fixture *f) {
    enum { N16 = FRAME_COUNT * SPF16, N8 = FRAME_COUNT * SPF8 };
    static double tmp[N16];
    speech(16000, N16, 0x12345678u, 6000, tmp);
    add_digit(697, 1209, 16000, 0.30, 100, tmp);
    add_digit(852, 1477, 16000, 1.30, 100, tmp);
    for (int i = 0; i < N16; i++) {
        int16_t s = pcm(tmp[i]);
        f->inbound16k[i] = s;
        f->inbound_bytes[2 * i] = (uint8_t)((uint16_t)s & 0xff);
        f->inbound_bytes[2 * i + 1] = (uint8_t)((uint16_t)s >> 8);
    }
    speech(8000, N8, 0x0BADF00Du, 8000, tmp);
    for (int i = 0; i < N8; i++) f->peer8k[i] = pcm(tmp[i]);
    speech(16000, N16, 0x00C0FFEEu, 5000, tmp);
    for (int i = 0; i < N16; i++) f->second16k[i] = pcm(tmp[i]);
    for (int i = 0; i < N16; i++) {
        double t = (double)i / 16000;
        tmp[i] = 16000 * (0.3 * sin(2 * PI * 220 * t) + 0.2 * sin(2 * PI * 330 * t) + 0.1 * sin(2 * PI * 550 * t));
    }
    for (int i = 0; i < N16; i++) f->player16k[i] = pcm(tmp[i]);
}

/* ---------------------------------------------------------------- PCM16 LE (PCM16LittleEndian.swift) */

static inline int16_t le16_load(const uint8_t *p) { return (int16_t)(uint16_t)(p[0] | (p[1] << 8)); }

static inline void le16_encode(const int16_t *samples, int count, uint8_t *dst) {
    for (int i = 0; i < count; i++) {
        uint16_t v = (uint16_t)samples[i];
        dst[2 * i] = (uint8_t)(v & 0xff);
        dst[2 * i + 1] = (uint8_t)(v >> 8);
    }
}

/* ---------------------------------------------------------------- SampleRing.swift */

typedef struct {
    long capacity, mask;
    int16_t *storage;
    long write_index, read_index, dropped; /* accessed only through __atomic builtins */
} sample_ring;

static void ring_init(sample_ring *r, long minimum_capacity) {
    long c = 1;
    while (c < minimum_capacity) c <<= 1;
    r->capacity = c;
    r->mask = c - 1;
    r->storage = calloc((size_t)c, sizeof(int16_t));
    r->write_index = r->read_index = r->dropped = 0;
}

/* write(_ frame: PCM16LittleEndian): decode each sample straight from the frame's bytes. */
static void ring_write_le(sample_ring *r, const uint8_t *bytes, long byte_count) {
    long total = byte_count / 2;
    if (total <= 0) return;
    long skip = total - r->capacity > 0 ? total - r->capacity : 0;
    if (skip > 0) __atomic_fetch_add(&r->dropped, skip, __ATOMIC_RELAXED);
    long n = total - skip;
    long w = __atomic_load_n(&r->write_index, __ATOMIC_RELAXED);
    long rd = __atomic_load_n(&r->read_index, __ATOMIC_ACQUIRE);
    while (w + n - rd > r->capacity) {
        long new_read = w + n - r->capacity;
        long expected = rd;
        if (__atomic_compare_exchange_n(&r->read_index, &expected, new_read, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            __atomic_fetch_add(&r->dropped, new_read - rd, __ATOMIC_RELAXED);
            break;
        }
        rd = expected;
    }
    for (long i = 0; i < n; i++) r->storage[(w + i) & r->mask] = le16_load(bytes + 2 * (skip + i));
    __atomic_store_n(&r->write_index, w + n, __ATOMIC_RELEASE);
}

static long ring_read(sample_ring *r, int16_t *dst, long count) {
    for (;;) {
        long rd = __atomic_load_n(&r->read_index, __ATOMIC_ACQUIRE);
        long w = __atomic_load_n(&r->write_index, __ATOMIC_ACQUIRE);
        long n = count < w - rd ? count : w - rd;
        if (n <= 0) return 0;
        long start = rd & r->mask;
        long first = n < r->capacity - start ? n : r->capacity - start;
        memcpy(dst, r->storage + start, (size_t)first * sizeof(int16_t));
        if (first < n) memcpy(dst + first, r->storage, (size_t)(n - first) * sizeof(int16_t));
        long expected = rd;
        if (__atomic_compare_exchange_n(&r->read_index, &expected, rd + n, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return n;
    }
}

static long ring_read_frame(sample_ring *r, int16_t *dst, long count) {
    long n = ring_read(r, dst, count);
    if (n < count) memset(dst + n, 0, (size_t)(count - n) * sizeof(int16_t));
    return n;
}

/* ---------------------------------------------------------------- GoertzelBank.swift, DTMFDetector.swift */

/* GoertzelBank<Lanes>: one Goertzel filter per lane; DFT per block referenced to the block's first sample. */
typedef struct {
    int lanes;
    float coefficient[16], output_cos[16], output_sin[16], final_re[16], final_im[16], shift_re[16], shift_im[16];
    double omega_block[16];
    float s1[16], s2[16];
} goertzel_bank;

static void bank_init(goertzel_bank *g, const double *frequencies, int lanes, int sample_rate, int block_length) {
    memset(g, 0, sizeof *g);
    g->lanes = lanes;
    double l = (double)block_length;
    for (int i = 0; i < lanes; i++) {
        double w = 2 * PI * frequencies[i] / (double)sample_rate;
        g->coefficient[i] = (float)(2 * cos(w));
        g->output_cos[i] = (float)cos(w);
        g->output_sin[i] = (float)sin(w);
        g->final_re[i] = (float)cos(-w * (l - 1));
        g->final_im[i] = (float)sin(-w * (l - 1));
        g->shift_re[i] = (float)cos(-w * l);
        g->shift_im[i] = (float)sin(-w * l);
        g->omega_block[i] = w * l;
    }
}

/* update(_:) for the two lane counts the detector uses (SIMD16 and SIMD4), with fixed trip counts as the
 * Swift generic specialisations have. */
static inline void bank16_update(goertzel_bank *g, const int16_t *samples, int count) {
    float a[16], b[16], c[16];
    memcpy(a, g->s1, sizeof a);
    memcpy(b, g->s2, sizeof b);
    memcpy(c, g->coefficient, sizeof c);
    for (int j = 0; j < count; j++) {
        float x = (float)samples[j];
        for (int k = 0; k < 16; k++) {
            float s0 = c[k] * a[k] - b[k] + x;
            b[k] = a[k];
            a[k] = s0;
        }
    }
    memcpy(g->s1, a, sizeof a);
    memcpy(g->s2, b, sizeof b);
}

static inline void bank4_update(goertzel_bank *g, const int16_t *samples, int count) {
    float a[4], b[4], c[4];
    memcpy(a, g->s1, sizeof a);
    memcpy(b, g->s2, sizeof b);
    memcpy(c, g->coefficient, sizeof c);
    for (int j = 0; j < count; j++) {
        float x = (float)samples[j];
        for (int k = 0; k < 4; k++) {
            float s0 = c[k] * a[k] - b[k] + x;
            b[k] = a[k];
            a[k] = s0;
        }
    }
    memcpy(g->s1, a, sizeof a);
    memcpy(g->s2, b, sizeof b);
}

static void bank_finish(goertzel_bank *g, float *re, float *im) {
    for (int k = 0; k < g->lanes; k++) {
        float y_re = g->s1[k] - g->output_cos[k] * g->s2[k];
        float y_im = g->output_sin[k] * g->s2[k];
        re[k] = y_re * g->final_re[k] - y_im * g->final_im[k];
        im[k] = y_re * g->final_im[k] + y_im * g->final_re[k];
    }
    memset(g->s1, 0, sizeof g->s1);
    memset(g->s2, 0, sizeof g->s2);
}

typedef struct {
    char digit;
    long start_sample, duration_samples;
    int sample_rate;
} dtmf_detection;

typedef void (*dtmf_report)(void *context, const dtmf_detection *detection);

typedef struct {
    int digit; /* 0...15, -1 = none */
    int hits, misses;
    double amplitude_sum, pending_amplitude_sum, weighted_centre, pending_weighted_centre, maximum_amplitude;
    double row_deviation_sum, column_deviation_sum;
    int deviation_count;
    double strongest_row_deviation, strongest_column_deviation;
} dtmf_run;

enum { MISSES_TO_END = 5 };

typedef struct {
    int sample_rate, hop;
    double maximum_frequency_deviation;
    goertzel_bank bank;           /* lanes 0-3 rows, 4-7 columns, 8-15 their second harmonics */
    goertzel_bank third_harmonics; /* the rows' third harmonics */
    double frequencies[16];
    float minimum_amplitude, normal_twist, reverse_twist, relative_peak, second_harmonic, minimum_energy_ratio;
    uint16_t row_harmonic_is_clear;
    double minimum_duration_samples;
    float half_energy;
    int position;
    long half_index;
    float previous_half_re[16], previous_half_im[16], previous_half_energy;
    float previous_third_re[4], previous_third_im[4];
    float amplitudes1[16], amplitudes2[16];
    float previous_block_re[16], previous_block_im[16], previous_block_amplitude;
    int previous_block_was_hit;
    dtmf_run run;
} dtmf_detector;

static const char keypad[16] = {'1', '2', '3', 'A', '4', '5', '6', 'B', '7', '8', '9', 'C', '*', '0', '#', 'D'};
static const double row_frequencies[4] = {697, 770, 852, 941};
static const double column_frequencies[4] = {1209, 1336, 1477, 1633};

static double dtmf_amplitude_dbm0(double dbm0) { return 32767 * pow(10, (dbm0 - 3.14) / 20); }

static void run_reset(dtmf_run *r) {
    memset(r, 0, sizeof *r);
    r->digit = -1;
}

static void dtmf_init(dtmf_detector *d, int sample_rate) {
    /* Configuration defaults. */
    const double minimum_tone_level_dbm0 = -43, maximum_normal_twist_db = 6, maximum_reverse_twist_db = 10;
    const double relative_peak_db = 8, minimum_energy_ratio = 0.7, second_harmonic_rejection_db = 12;
    const double minimum_duration_ms = 31;
    memset(d, 0, sizeof *d);
    d->sample_rate = sample_rate;
    d->maximum_frequency_deviation = 0.025;
    long h = (long)round(51.0 * (double)sample_rate / 8000); /* max(8, Int((51.0 * rate / 8000).rounded())) */
    if (h < 8) h = 8;
    d->hop = (int)h;
    double rate = (double)sample_rate;
    for (int i = 0; i < 4; i++) {
        d->frequencies[i] = row_frequencies[i];
        d->frequencies[4 + i] = column_frequencies[i];
    }
    for (int i = 0; i < 8; i++) d->frequencies[8 + i] = 2 * d->frequencies[i];
    bank_init(&d->bank, d->frequencies, 16, sample_rate, (int)h);
    double thirds[4];
    for (int i = 0; i < 4; i++) thirds[i] = 3 * row_frequencies[i];
    bank_init(&d->third_harmonics, thirds, 4, sample_rate, (int)h);
    d->minimum_amplitude = (float)dtmf_amplitude_dbm0(minimum_tone_level_dbm0);
    d->normal_twist = (float)pow(10, maximum_normal_twist_db / 10);
    d->reverse_twist = (float)pow(10, maximum_reverse_twist_db / 10);
    d->relative_peak = (float)pow(10, relative_peak_db / 10);
    d->second_harmonic = (float)pow(10, second_harmonic_rejection_db / 10);
    d->minimum_energy_ratio = (float)minimum_energy_ratio;
    double bin_width = rate / (double)(2 * h);
    uint16_t clear = 0;
    for (int digit = 0; digit < 16; digit++)
        if (fabs(2 * row_frequencies[digit / 4] - column_frequencies[digit % 4]) > 3 * bin_width)
            clear |= (uint16_t)(1u << digit);
    d->row_harmonic_is_clear = clear;
    d->minimum_duration_samples = minimum_duration_ms * rate / 1000;
    run_reset(&d->run);
}

static int dtmf_classify(const dtmf_detector *d, const float power[16], const float third_power[4],
                         const float amplitudes[16], float energy, float block_length) {
    int row = 0;
    for (int k = 1; k < 4; k++)
        if (power[k] > power[row]) row = k;
    int column = 4;
    for (int k = 5; k < 8; k++)
        if (power[k] > power[column]) column = k;
    float row_power = power[row], column_power = power[column];
    if (!(amplitudes[row] >= d->minimum_amplitude && amplitudes[column] >= d->minimum_amplitude)) return -1;
    if (!(column_power <= row_power * d->normal_twist && row_power <= column_power * d->reverse_twist)) return -1;
    for (int k = 0; k < 4; k++)
        if (k != row && power[k] * d->relative_peak > row_power) return -1;
    for (int k = 4; k < 8; k++)
        if (k != column && power[k] * d->relative_peak > column_power) return -1;
    int digit = row * 4 + (column - 4);
    if (power[8 + column] * d->second_harmonic > column_power) return -1;
    float row_harmonic = (d->row_harmonic_is_clear & (1u << digit)) != 0 ? power[8 + row] : third_power[row];
    if (row_harmonic * d->second_harmonic > row_power) return -1;
    float tone_power = (amplitudes[row] * amplitudes[row] + amplitudes[column] * amplitudes[column]) / 2;
    if (!(energy > 0 && tone_power >= d->minimum_energy_ratio * energy / block_length)) return -1;
    return digit;
}

static void dtmf_start_run(dtmf_detector *d, int digit, const float amplitudes[16], double centre) {
    run_reset(&d->run);
    d->run.digit = digit;
    d->run.hits = 1;
    int row = digit / 4, column = 4 + digit % 4;
    double amplitude = (double)(amplitudes[row] + amplitudes[column]);
    double before1 = (double)(d->amplitudes1[row] + d->amplitudes1[column]);
    double before2 = (double)(d->amplitudes2[row] + d->amplitudes2[column]);
    double h = (double)d->hop;
    d->run.amplitude_sum = amplitude + before1 + before2;
    d->run.weighted_centre = amplitude * centre + before1 * (centre - h) + before2 * (centre - 2 * h);
    d->run.maximum_amplitude = amplitude;
}

static void dtmf_remember_block(dtmf_detector *d, const float re[16], const float im[16], float amplitude, int hit,
                                const float amplitudes[16]) {
    memcpy(d->previous_block_re, re, sizeof d->previous_block_re);
    memcpy(d->previous_block_im, im, sizeof d->previous_block_im);
    d->previous_block_amplitude = amplitude;
    d->previous_block_was_hit = hit;
    memcpy(d->amplitudes2, d->amplitudes1, sizeof d->amplitudes2);
    memcpy(d->amplitudes1, amplitudes, sizeof d->amplitudes1);
}

/* The relative frequency error of bin k from the phase advance between two DFTs taken one hop apart. */
static double dtmf_deviation(const dtmf_detector *d, int k, const float *a_re, const float *a_im, const float *b_re,
                             const float *b_im) {
    double pr = (double)a_re[k], pi = (double)a_im[k];
    double cr = (double)b_re[k], ci = (double)b_im[k];
    double dv = atan2(ci * pr - cr * pi, cr * pr + ci * pi) - d->bank.omega_block[k];
    dv -= 2 * PI * round(dv / (2 * PI));
    return dv / (double)d->hop * (double)d->sample_rate / (2 * PI) / d->frequencies[k];
}

static void dtmf_measure_frequency(dtmf_detector *d, int row, int column, const float re[16], const float im[16],
                                   float amplitude) {
    float previous = d->previous_block_amplitude;
    if (!(fabsf(amplitude - previous) <= 0.1f * (amplitude > previous ? amplitude : previous))) return;
    d->run.row_deviation_sum += dtmf_deviation(d, row, d->previous_block_re, d->previous_block_im, re, im);
    d->run.column_deviation_sum += dtmf_deviation(d, column, d->previous_block_re, d->previous_block_im, re, im);
    d->run.deviation_count += 1;
}

static void dtmf_end_run(dtmf_detector *d, dtmf_report report, void *context) {
    dtmf_run r = d->run;
    run_reset(&d->run);
    d->previous_block_was_hit = 0;
    double total = r.amplitude_sum + r.pending_amplitude_sum;
    if (!(r.digit >= 0 && r.maximum_amplitude > 0 && total > 0)) return;
    double duration = (double)d->hop * total / r.maximum_amplitude;
    if (!(duration >= d->minimum_duration_samples)) return;
    double pairs = (double)r.deviation_count;
    double row_deviation = pairs > 0 ? r.row_deviation_sum / pairs : r.strongest_row_deviation;
    double column_deviation = pairs > 0 ? r.column_deviation_sum / pairs : r.strongest_column_deviation;
    double limit = d->maximum_frequency_deviation;
    if (!(fabs(row_deviation) <= limit && fabs(column_deviation) <= limit)) return;
    double centre = (r.weighted_centre + r.pending_weighted_centre) / total;
    long start = (long)round(centre - duration / 2);
    if (start < 0) start = 0;
    dtmf_detection det = {keypad[r.digit], start, (long)round(duration), d->sample_rate};
    report(context, &det);
}

static void dtmf_analyse_block(dtmf_detector *d, const float re[16], const float im[16], float energy,
                               const float third_power[4], const float *first_re, const float *first_im,
                               const float *second_re, const float *second_im, dtmf_report report, void *context) {
    float block_length = (float)(2 * d->hop);
    float power[16], amplitudes[16];
    for (int k = 0; k < 16; k++) power[k] = re[k] * re[k] + im[k] * im[k];
    for (int k = 0; k < 16; k++) amplitudes[k] = 2 * sqrtf(power[k]) / block_length;

    int digit = dtmf_classify(d, power, third_power, amplitudes, energy, block_length);
    double centre = (double)(d->half_index * d->hop);

    if (d->run.digit >= 0) {
        int row = d->run.digit / 4, column = 4 + d->run.digit % 4;
        float amplitude = amplitudes[row] + amplitudes[column];
        if (digit == d->run.digit) {
            d->run.amplitude_sum += d->run.pending_amplitude_sum + (double)amplitude;
            d->run.weighted_centre += d->run.pending_weighted_centre + (double)amplitude * centre;
            d->run.pending_amplitude_sum = 0;
            d->run.pending_weighted_centre = 0;
            if ((double)amplitude > d->run.maximum_amplitude) {
                d->run.maximum_amplitude = (double)amplitude;
                d->run.strongest_row_deviation = dtmf_deviation(d, row, first_re, first_im, second_re, second_im);
                d->run.strongest_column_deviation =
                    dtmf_deviation(d, column, first_re, first_im, second_re, second_im);
            }
            d->run.hits += 1;
            d->run.misses = 0;
            if (d->previous_block_was_hit) dtmf_measure_frequency(d, row, column, re, im, amplitude);
            dtmf_remember_block(d, re, im, amplitude, 1, amplitudes);
            return;
        }
        d->run.pending_amplitude_sum += (double)amplitude;
        d->run.pending_weighted_centre += (double)amplitude * centre;
        d->run.misses += 1;
        if (digit >= 0 || d->run.misses >= MISSES_TO_END) {
            dtmf_end_run(d, report, context);
        } else {
            dtmf_remember_block(d, re, im, amplitude, 0, amplitudes);
            return;
        }
    }
    if (digit >= 0) {
        dtmf_start_run(d, digit, amplitudes, centre);
        d->run.strongest_row_deviation = dtmf_deviation(d, digit / 4, first_re, first_im, second_re, second_im);
        d->run.strongest_column_deviation =
            dtmf_deviation(d, 4 + digit % 4, first_re, first_im, second_re, second_im);
        float amplitude = amplitudes[digit / 4] + amplitudes[4 + digit % 4];
        dtmf_remember_block(d, re, im, amplitude, 1, amplitudes);
    } else {
        dtmf_remember_block(d, re, im, 0, 0, amplitudes);
    }
}

static void dtmf_finish_half(dtmf_detector *d, dtmf_report report, void *context) {
    float re[16], im[16], re3[4], im3[4];
    bank_finish(&d->bank, re, im);
    bank_finish(&d->third_harmonics, re3, im3);
    float energy = d->half_energy;
    d->half_energy = 0;
    d->position = 0;
    /* The stream is taken to start after silence: the first block is [-H, H). */
    {
        const goertzel_bank *b = &d->bank, *t = &d->third_harmonics;
        float block_re[16], block_im[16], third_re[4], third_im[4], third_power[4];
        for (int k = 0; k < 16; k++) {
            block_re[k] = d->previous_half_re[k] + (re[k] * b->shift_re[k] - im[k] * b->shift_im[k]);
            block_im[k] = d->previous_half_im[k] + (re[k] * b->shift_im[k] + im[k] * b->shift_re[k]);
        }
        for (int k = 0; k < 4; k++) {
            third_re[k] = d->previous_third_re[k] + (re3[k] * t->shift_re[k] - im3[k] * t->shift_im[k]);
            third_im[k] = d->previous_third_im[k] + (re3[k] * t->shift_im[k] + im3[k] * t->shift_re[k]);
            third_power[k] = third_re[k] * third_re[k] + third_im[k] * third_im[k];
        }
        dtmf_analyse_block(d, block_re, block_im, d->previous_half_energy + energy, third_power,
                           d->previous_half_re, d->previous_half_im, re, im, report, context);
    }
    memcpy(d->previous_half_re, re, sizeof re);
    memcpy(d->previous_half_im, im, sizeof im);
    memcpy(d->previous_third_re, re3, sizeof re3);
    memcpy(d->previous_third_im, im3, sizeof im3);
    d->previous_half_energy = energy;
    d->half_index += 1;
}

static void dtmf_process(dtmf_detector *d, const int16_t *samples, int n, dtmf_report report, void *context) {
    int i = 0;
    while (i < n) {
        int take = d->hop - d->position < n - i ? d->hop - d->position : n - i;
        const int16_t *chunk = samples + i;
        bank16_update(&d->bank, chunk, take);
        bank4_update(&d->third_harmonics, chunk, take);
        float e = d->half_energy;
        for (int j = 0; j < take; j++) {
            float f = (float)chunk[j];
            e += f * f;
        }
        d->half_energy = e;
        d->position += take;
        i += take;
        if (d->position == d->hop) dtmf_finish_half(d, report, context);
    }
}

/* ---------------------------------------------------------------- Level.swift, MixBus.swift */

static int64_t level_q16(double value) {
    double gain = value == 0 ? 1 : pow(10, value);
    return (int64_t)round(gain * 65536);
}

static inline int16_t clamp16(int64_t v) { return v > 32767 ? 32767 : v < -32768 ? -32768 : (int16_t)v; }

static void level_apply(int64_t g, int16_t *samples, int count) {
    if (g == 65536) return;
    for (int i = 0; i < count; i++) samples[i] = clamp16(((int64_t)samples[i] * g + 32768) >> 16);
}

typedef struct {
    int32_t *accumulator;
    int frame_size, limiter_enabled, source_count;
    int64_t limiter_gain_q16, release_per_frame;
    long saturated_samples;
} mix_bus;

static void mix_init(mix_bus *m, int frame_size) {
    m->accumulator = calloc((size_t)frame_size, sizeof(int32_t));
    m->frame_size = frame_size;
    m->limiter_enabled = 1;
    m->limiter_gain_q16 = 65536;
    m->release_per_frame = 3900;
    m->saturated_samples = 0;
    m->source_count = 0;
}

static void mix_add(mix_bus *m, const int16_t *src, int count) {
    int n = count < m->frame_size ? count : m->frame_size;
    for (int i = 0; i < n; i++) m->accumulator[i] = (int32_t)((uint32_t)m->accumulator[i] + (uint32_t)(int32_t)src[i]);
    m->source_count += 1;
}

static void mix_add_level(mix_bus *m, const int16_t *src, int count, int64_t g) {
    if (g == 65536) {
        mix_add(m, src, count);
        return;
    }
    int n = count < m->frame_size ? count : m->frame_size;
    for (int i = 0; i < n; i++) {
        int64_t v = ((int64_t)src[i] * g + 32768) >> 16;
        m->accumulator[i] = (int32_t)((uint32_t)m->accumulator[i] + (uint32_t)(int32_t)v);
    }
    m->source_count += 1;
}

static void mix_render(mix_bus *m, int16_t *out) {
    int32_t peak = 0;
    for (int i = 0; i < m->frame_size; i++) {
        int32_t a = m->accumulator[i];
        int32_t mm = a < 0 ? (a == INT32_MIN ? INT32_MAX : -a) : a;
        peak = mm > peak ? mm : peak;
    }
    int64_t gain = 65536;
    if (m->limiter_enabled) {
        gain = m->limiter_gain_q16 + m->release_per_frame;
        if (gain > 65536) gain = 65536;
        if ((int64_t)peak * gain > ((int64_t)32767 << 16)) gain = ((int64_t)32767 << 16) / (int64_t)peak;
        m->limiter_gain_q16 = gain;
    }
    long saturated = 0;
    if (gain == 65536) {
        for (int i = 0; i < m->frame_size; i++) {
            int32_t a = m->accumulator[i];
            int16_t s = clamp16(a);
            saturated += (int32_t)s != a;
            out[i] = s;
        }
    } else {
        for (int i = 0; i < m->frame_size; i++) {
            int64_t v = ((int64_t)m->accumulator[i] * gain) >> 16;
            int16_t s = clamp16(v);
            saturated += (int64_t)s != v;
            out[i] = s;
        }
    }
    m->saturated_samples += saturated;
    memset(m->accumulator, 0, (size_t)m->frame_size * sizeof(int32_t));
    m->source_count = 0;
}

/* ---------------------------------------------------------------- resampler (Resampler.swift) */

static SpeexResamplerState *resampler(int in_rate, int out_rate) {
    int err = 0;
    SpeexResamplerState *st = speex_resampler_init(1, (spx_uint32_t)in_rate, (spx_uint32_t)out_rate, 5, &err);
    if (!st) {
        fprintf(stderr, "speex_resampler_init: %s\n", speex_resampler_strerror(err));
        exit(1);
    }
    return st;
}

static long resample(SpeexResamplerState *st, const int16_t *in, int in_count, int16_t *out, int out_count) {
    spx_uint32_t in_len = (spx_uint32_t)in_count, out_len = (spx_uint32_t)out_count;
    speex_resampler_process_int(st, 0, in, &in_len, out, &out_len);
    return (long)out_len;
}

/* ---------------------------------------------------------------- steps and the pipeline (Steps.swift) */

static fixture fx;

static void count_digit(void *context, const dtmf_detection *d) {
    (void)d;
    *(long *)context += 1;
}

typedef struct {
    sample_ring ring;
    dtmf_detector detector;
    SpeexResamplerState *down, *up;
    mix_bus bus;
    int64_t prompt_level, leg_level;
    int16_t inbound[SPF16], to_peer[SPF8], upsampled[SPF16], mixed[SPF16];
    uint8_t outbound_bytes[BPF16];
    long frame, digits, produced_to_peer, produced_up;
} call_pipeline;

static void pipeline_init(call_pipeline *p) {
    memset(p, 0, sizeof *p);
    ring_init(&p->ring, 4096);
    dtmf_init(&p->detector, 16000);
    p->down = resampler(16000, 8000);
    p->up = resampler(8000, 16000);
    mix_init(&p->bus, SPF16);
    p->prompt_level = level_q16(-0.3);
    p->leg_level = level_q16(-0.1);
}

static inline void pipeline_frame(call_pipeline *p) {
    long f = p->frame % FRAME_COUNT;
    /* Inbound. */
    ring_write_le(&p->ring, fx.inbound_bytes + f * BPF16, BPF16);
    ring_read_frame(&p->ring, p->inbound, SPF16);
    long found = 0;
    dtmf_process(&p->detector, p->inbound, SPF16, count_digit, &found);
    p->digits += found;
    p->produced_to_peer += resample(p->down, p->inbound, SPF16, p->to_peer, SPF8);
    /* Outbound. */
    p->produced_up += resample(p->up, fx.peer8k + f * SPF8, SPF8, p->upsampled, SPF16);
    mix_add(&p->bus, p->upsampled, SPF16);
    mix_add_level(&p->bus, fx.player16k + f * SPF16, SPF16, p->prompt_level);
    mix_render(&p->bus, p->mixed);
    level_apply(p->leg_level, p->mixed, SPF16);
    le16_encode(p->mixed, SPF16, p->outbound_bytes);
    p->frame += 1;
}

static call_pipeline pipe_state, verify_state;
static sample_ring decode_ring;
static int16_t decode_out[SPF16];
static dtmf_detector detect_state;
static SpeexResamplerState *down_state, *up_state;
static int16_t down_out[SPF8], up_out[SPF16], level_work[SPF16], mix_out[SPF16];
static mix_bus mix_state;
static int64_t level_gain, mix_prompt_level;
static long frame_decode, frame_detect, frame_down, frame_up, frame_level, frame_mix, sink;

static void run_decode(long frames) {
    for (long n = 0; n < frames; n++) {
        long f = frame_decode % FRAME_COUNT;
        ring_write_le(&decode_ring, fx.inbound_bytes + f * BPF16, BPF16);
        sink += ring_read_frame(&decode_ring, decode_out, SPF16) + decode_out[frame_decode & 255];
        frame_decode++;
    }
}

static void run_detect(long frames) {
    long found = 0;
    for (long n = 0; n < frames; n++) {
        dtmf_process(&detect_state, fx.inbound16k + (frame_detect % FRAME_COUNT) * SPF16, SPF16, count_digit, &found);
        frame_detect++;
    }
    sink += found;
}

static void run_down(long frames) {
    for (long n = 0; n < frames; n++) {
        sink += resample(down_state, fx.inbound16k + (frame_down % FRAME_COUNT) * SPF16, SPF16, down_out, SPF8) +
                down_out[frame_down & 127];
        frame_down++;
    }
}

static void run_up(long frames) {
    for (long n = 0; n < frames; n++) {
        sink += resample(up_state, fx.peer8k + (frame_up % FRAME_COUNT) * SPF8, SPF8, up_out, SPF16) +
                up_out[frame_up & 255];
        frame_up++;
    }
}

static void run_level(long frames) {
    for (long n = 0; n < frames; n++) {
        memcpy(level_work, fx.player16k + (frame_level % FRAME_COUNT) * SPF16, sizeof level_work);
        level_apply(level_gain, level_work, SPF16);
        sink += level_work[frame_level & 255];
        frame_level++;
    }
}

static void run_mix(long frames) {
    for (long n = 0; n < frames; n++) {
        long f = frame_mix % FRAME_COUNT;
        mix_add(&mix_state, fx.inbound16k + f * SPF16, SPF16);
        mix_add(&mix_state, fx.second16k + f * SPF16, SPF16);
        mix_add_level(&mix_state, fx.player16k + f * SPF16, SPF16, mix_prompt_level);
        mix_render(&mix_state, mix_out);
        sink += mix_out[frame_mix & 255];
        frame_mix++;
    }
}

static void run_pipeline(long frames) {
    for (long n = 0; n < frames; n++) pipeline_frame(&pipe_state);
}

/* ---------------------------------------------------------------- timing */

static long opt_frames = 20000, opt_runs = 15;
static const char *opt_only = NULL;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void time_step(const char *name, void (*body)(long)) {
    if (opt_only && strcmp(opt_only, name) != 0) return;
    body(500);
    double *r = malloc(sizeof(double) * (size_t)opt_runs);
    for (long i = 0; i < opt_runs; i++) {
        double start = now_ns();
        body(opt_frames);
        r[i] = (now_ns() - start) / (double)opt_frames;
    }
    qsort(r, (size_t)opt_runs, sizeof(double), cmp_double);
    long p90 = (long)ceil((double)opt_runs * 0.9) - 1;
    if (p90 >= opt_runs) p90 = opt_runs - 1;
    printf("c %s ns/frame median=%.1f p90=%.1f min=%.1f runs=%ld frames=%ld\n", name, r[opt_runs / 2], r[p90], r[0],
           opt_runs, opt_frames);
    free(r);
}

typedef struct {
    uint64_t hash;
    char first[64];
} detection_log;

static void hash_detection(void *context, const dtmf_detection *d) {
    detection_log *log = context;
    long v[3] = {(long)d->digit, d->start_sample, d->duration_samples};
    for (int i = 0; i < 3; i++) log->hash = (log->hash ^ (uint64_t)v[i]) * 0x100000001b3ull;
    if (!log->first[0]) snprintf(log->first, sizeof log->first, "%c@%ld+%ld", d->digit, d->start_sample, d->duration_samples);
}

static void verify(void) {
    pipeline_init(&verify_state);
    uint64_t h_peer = 0xcbf29ce484222325ull, h_out = 0xcbf29ce484222325ull;
    for (int n = 0; n < 1000; n++) {
        pipeline_frame(&verify_state);
        for (int i = 0; i < SPF8; i++) h_peer = (h_peer ^ (uint64_t)(uint16_t)verify_state.to_peer[i]) * 0x100000001b3ull;
        for (int i = 0; i < BPF16; i++) h_out = (h_out ^ (uint64_t)verify_state.outbound_bytes[i]) * 0x100000001b3ull;
    }
    /* Every detection's digit, start and duration, from a detector fed the same 1000 inbound frames. */
    static dtmf_detector det;
    dtmf_init(&det, 16000);
    detection_log log = {0xcbf29ce484222325ull, {0}};
    for (int f = 0; f < 1000; f++) dtmf_process(&det, fx.inbound16k + (f % FRAME_COUNT) * SPF16, SPF16, hash_detection, &log);
    printf("verify: frames=1000 digits=%ld toPeer=%ld up=%ld peerHash=%016llx outHash=%016llx detHash=%016llx first=%s\n",
           verify_state.digits, verify_state.produced_to_peer, verify_state.produced_up, (unsigned long long)h_peer,
           (unsigned long long)h_out, (unsigned long long)log.hash, log.first);
}

int main(int argc, char **argv) {
    int verify_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--frames") && i + 1 < argc) opt_frames = atol(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) opt_runs = atol(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) opt_only = argv[++i];
        else if (!strcmp(argv[i], "--verify-only")) verify_only = 1;
        else {
            fprintf(stderr, "usage: pipeline [--frames N] [--runs R] [--only NAME] [--verify-only]\n");
            return 2;
        }
    }
    fixture_init(&fx);
    verify();
    if (verify_only) return 0;

    ring_init(&decode_ring, 4096);
    dtmf_init(&detect_state, 16000);
    down_state = resampler(16000, 8000);
    up_state = resampler(8000, 16000);
    level_gain = level_q16(-0.1);
    mix_init(&mix_state, SPF16);
    mix_prompt_level = level_q16(-0.3);
    pipeline_init(&pipe_state);

    time_step("decode", run_decode);
    time_step("detect", run_detect);
    time_step("down", run_down);
    time_step("up", run_up);
    time_step("level", run_level);
    time_step("mix", run_mix);
    time_step("pipeline", run_pipeline);
    printf("sinks: %ld %ld\n", sink, pipe_state.digits);
    return 0;
}
