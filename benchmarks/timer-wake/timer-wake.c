/* How late a sleeping thread wakes on this machine: clock_nanosleep to an absolute deadline every PERIOD
 * microseconds, 2000 times, and print the lateness percentiles. The floor under every latency figure that
 * needs a thread to wake (the generator's send clock, an idle server's read).
 *
 *   gcc -O2 -o /tmp/timer-wake timer-wake.c && /tmp/timer-wake 20000
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long ns(struct timespec t) { return t.tv_sec * 1000000000L + t.tv_nsec; }
static int compare(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const int n = 2000;
    long period = (argc > 1 ? atol(argv[1]) : 20000) * 1000;
    long *late = malloc(n * sizeof(long));
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    for (int i = 0; i < n; i++) {
        t.tv_nsec += period;
        while (t.tv_nsec >= 1000000000) { t.tv_nsec -= 1000000000; t.tv_sec++; }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        late[i] = ns(now) - ns(t);
    }
    qsort(late, n, sizeof(long), compare);
    printf("period %ld us: wake-up lateness p50 %ld us, p90 %ld us, p99 %ld us, max %ld us\n", period / 1000,
           late[n / 2] / 1000, late[n * 9 / 10] / 1000, late[n * 99 / 100] / 1000, late[n - 1] / 1000);
    free(late);
    return 0;
}
