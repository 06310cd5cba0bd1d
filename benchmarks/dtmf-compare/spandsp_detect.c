/*
 * spandsp_detect: print the DTMF digits spandsp's detector finds in a 16-bit mono 8 kHz wav.
 *
 * Usage: spandsp_detect FILE.wav
 *
 * Runs spandsp's dtmf_rx with its default settings (dtmf_rx_init, no dtmf_rx_parms call). In
 * spandsp 0.0.6 those are: dial-tone filter off, normal twist 8 dB, reverse twist 4 dB, threshold
 * about -42 dBm0 per tone, 102-sample Goertzel blocks. The audio is fed in 160-sample (20 ms)
 * chunks; digits arrive through the digits callback and are printed on one line (an empty line
 * when there are none). spandsp works at 8 kHz only: other rates and multi-channel files are
 * rejected (resample/mix first, e.g. with sox).
 *
 * spandsp.h pulls in tiffio.h (for the fax modules), so only the headers dtmf.h needs are included.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sndfile.h>

#include <spandsp/telephony.h>
#include <spandsp/logging.h>
#include <spandsp/super_tone_rx.h> /* tone_report_func_t, used by dtmf.h */
#include <spandsp/dtmf.h>

#define CHUNK 160

struct digits {
    char *text;
    size_t len;
    size_t cap;
};

static void on_digits(void *user_data, const char *digits, int len)
{
    struct digits *d = user_data;
    if (len <= 0)
        return;
    if (d->len + (size_t) len + 1 > d->cap) {
        size_t cap = d->cap ? d->cap : 64;
        while (d->len + (size_t) len + 1 > cap)
            cap *= 2;
        char *text = realloc(d->text, cap);
        if (text == NULL) {
            fprintf(stderr, "spandsp_detect: out of memory\n");
            exit(1);
        }
        d->text = text;
        d->cap = cap;
    }
    memcpy(d->text + d->len, digits, (size_t) len);
    d->len += (size_t) len;
    d->text[d->len] = '\0';
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.wav  (16-bit mono 8 kHz)\n", argv[0]);
        return 2;
    }
    SF_INFO info;
    memset(&info, 0, sizeof(info));
    SNDFILE *file = sf_open(argv[1], SFM_READ, &info);
    if (file == NULL) {
        fprintf(stderr, "spandsp_detect: %s: %s\n", argv[1], sf_strerror(NULL));
        return 1;
    }
    if (info.samplerate != 8000 || info.channels != 1) {
        fprintf(stderr, "spandsp_detect: %s: need mono 8000 Hz, got %d channel(s) at %d Hz\n",
                argv[1], info.channels, info.samplerate);
        sf_close(file);
        return 1;
    }

    struct digits found = { NULL, 0, 0 };
    dtmf_rx_state_t *rx = dtmf_rx_init(NULL, on_digits, &found);
    if (rx == NULL) {
        fprintf(stderr, "spandsp_detect: dtmf_rx_init failed\n");
        sf_close(file);
        return 1;
    }

    int16_t chunk[CHUNK];
    sf_count_t n;
    while ((n = sf_read_short(file, chunk, CHUNK)) > 0)
        dtmf_rx(rx, chunk, (int) n);
    int err = sf_error(file);
    sf_close(file);
    dtmf_rx_free(rx);
    if (err != SF_ERR_NO_ERROR) {
        fprintf(stderr, "spandsp_detect: %s: read error: %s\n", argv[1], sf_error_number(err));
        free(found.text);
        return 1;
    }

    printf("%s\n", found.text ? found.text : "");
    free(found.text);
    return 0;
}
