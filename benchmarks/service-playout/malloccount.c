/*
 * malloccount: counts a process's heap allocations (calls and bytes) for the service-playout benchmark.
 * LD_PRELOAD=./malloccount.so MALLOCCOUNT_FILE=out.json program ...  On SIGUSR1 the counts so far are
 * written to MALLOCCOUNT_FILE (so a run can be measured between two moments); at exit too.
 * glibc's own allocators (__libc_malloc, ...) do the work, so nothing recurses.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_ulong calls, bytes;

static inline void count(size_t n) {
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&bytes, n, memory_order_relaxed);
}

void *malloc(size_t n) { count(n); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { count(a * b); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { count(n); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { count(n); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { count(n); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    count(n);
    void *p = __libc_memalign(a, n);
    if (!p) return 12;
    *out = p;
    return 0;
}

static void dump(void) {
    const char *path = getenv("MALLOCCOUNT_FILE");
    if (!path) return;
    char text[128];
    int len = snprintf(text, sizeof text, "{\"allocations\": %lu, \"bytes\": %lu}\n",
                       atomic_load(&calls), atomic_load(&bytes));
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return;
    if (write(fd, text, (size_t)len) < 0) {}
    close(fd);
}

static void on_signal(int sig) { (void)sig; dump(); }

__attribute__((constructor)) static void start(void) { signal(SIGUSR1, on_signal); }
__attribute__((destructor)) static void finish(void) { dump(); }
