/*
 * ci_autostart.c -- register a built-in Compiler Interrupts handler on every thread.
 *
 * Link this object (not part of libci_rt.a) into an executable together with
 * `-Wl,--wrap=pthread_create` (required; works with -static too).  Configuration, resolved
 * once at startup:
 *
 *   -DCI_AUTOSTART_CYCLES=N  cycles mode, N TSC cycles between handler calls.  0 or absent:
 *                            read the environment variable CI_AUTOSTART_CYCLES instead.
 *   -DCI_AUTOSTART_IR=N      IR mode with N IR instructions (or, together with cycles mode, the
 *                            initial budget).  0 or absent: read env CI_AUTOSTART_IR.
 *   If the resulting cycles and IR values are both <= 0, autostart does nothing at all.
 *
 * A constructor registers the handler on the main thread; __wrap_pthread_create wraps every new
 * thread's start routine so it registers the same handler before running user code.
 *
 * The built-in handler counts its calls and records, per thread, the clock delta (TSC ticks;
 * ns on non-x86) between the end of its previous call (or registration) and the start of this
 * one, so its own time is excluded.  Samples go to a preallocated per-thread buffer of
 * CI_AUTOSTART_MAX_SAMPLES (1<<20) entries, allocated only when CI_INTERVAL_LOG is set; beyond
 * that, calls are still counted but not recorded.  Deltas above 0xffffffff saturate.
 *
 * Reporting happens at thread exit (pthread key destructor) and process exit (main thread):
 *
 *   CI_STATS (any value)   one line per thread on stderr:
 *       ci: thread N handler_calls=C instructions=I cycles_per_instr=F slow_paths=E
 *
 *   CI_INTERVAL_LOG=path   appended per thread, under a mutex and an flock on the file:
 *       one ASCII header line
 *           ci-intervals v1 thread=N tid=T pid=P samples=S handler_calls=C instructions=I
 *               cycles_per_instr=F mode=cycles|ir interval=X\n      (all on one line)
 *       followed immediately by exactly S*4 bytes: the samples, little-endian uint32.
 *   (compiler_interrupts.runtime.build.read_interval_log parses this.)
 *
 * Thread N is 0 for the main thread, then 1, 2, ... in order of registration.  Threads still
 * running at process exit are not reported.  None of this code is on the probe fast path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ci_lib.h"

#ifndef CI_AUTOSTART_CYCLES
#define CI_AUTOSTART_CYCLES 0
#endif
#ifndef CI_AUTOSTART_IR
#define CI_AUTOSTART_IR 0
#endif
#ifndef CI_AUTOSTART_MAX_SAMPLES
#define CI_AUTOSTART_MAX_SAMPLES (1u << 20)
#endif

struct ci_auto_thread {
    int id;
    uint64_t start;   /* clock at registration */
    uint64_t last;    /* clock at the end of the previous handler call */
    long calls;
    uint32_t *samples; /* NULL unless CI_INTERVAL_LOG is set */
    size_t nsamples;
    int reported;
};

static int ci_auto_enabled;
static long ci_auto_cycles;
static long ci_auto_ir;
static const char *ci_auto_log_path;
static int ci_auto_stats;
static int ci_auto_next_id;
static pthread_key_t ci_auto_key;
static pthread_mutex_t ci_auto_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ci_auto_thread ci_auto_main;

static __thread struct ci_auto_thread *ci_auto_self __attribute__((tls_model("initial-exec")));

/* Cheap clock read for the handler: unfenced (the runtime's own reads order the interval's
 * end against earlier work; this one only dates the handler's start). */
static inline uint64_t ci_auto_now(void) {
#if defined(__x86_64__) || defined(__i386__)
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
#else
    return __ci_timestamp();
#endif
}

/* The handler costs what a minimal user handler costs unless intervals are recorded: then one
 * unfenced clock read in cycles mode (the interval's start is the runtime's own clock reading
 * at the end of the previous call, __ci_period_start), two where the runtime reads no clock at
 * the start of a period (IR mode, the signal design). */
static void ci_auto_handler(long count) {
    (void)count;
    struct ci_auto_thread *th = ci_auto_self;
    if (!th)
        return;
    th->calls++;
    if (th->samples && th->nsamples < CI_AUTOSTART_MAX_SAMPLES) {
        uint64_t t0 = ci_auto_now();
        uint64_t start = __ci_period_start();
        int own = (start == 0); /* IR mode, or a runtime that reads no clock (signal design) */
        if (own)
            start = th->last;
        uint64_t d = t0 - start;
        if ((int64_t)d < 0)
            d = 0;
        th->samples[th->nsamples++] = d > 0xffffffffull ? 0xffffffffu : (uint32_t)d;
        if (own)
            th->last = ci_auto_now();
    }
}

static long ci_auto_env_long(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    return strtol(v, NULL, 0);
}

static void ci_auto_register(struct ci_auto_thread *th) {
    th->id = __atomic_fetch_add(&ci_auto_next_id, 1, __ATOMIC_RELAXED);
    if (ci_auto_log_path)
        th->samples = (uint32_t *)malloc(sizeof(uint32_t) * CI_AUTOSTART_MAX_SAMPLES);
    ci_auto_self = th;
    th->start = th->last = __ci_timestamp();
    int ir = (int)(ci_auto_ir > 0x7fffffffL ? 0x7fffffffL : ci_auto_ir);
    int cyc = (int)(ci_auto_cycles > 0x7fffffffL ? 0x7fffffffL : ci_auto_cycles);
    register_ci(ir, cyc, ci_auto_handler);
}

static int ci_auto_write_all(int fd, const void *buf, size_t len) {
    const char *p = (const char *)buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static void ci_auto_report(struct ci_auto_thread *th) {
    if (!th || th->reported)
        return;
    th->reported = 1;
    deregister_ci(); /* no handler calls (and no writes to the buffer) after this point */

    long instr = ci_instruction_count();
    double cpi = __ci_cycles_per_instr();
    if (cpi <= 0.0 && instr > 0) /* IR mode learns nothing: use wall clock over count */
        cpi = (double)(__ci_timestamp() - th->start) / (double)instr;

    if (ci_auto_stats)
        fprintf(stderr,
                "ci: thread %d handler_calls=%ld instructions=%ld cycles_per_instr=%.4f "
                "slow_paths=%ld\n",
                th->id, th->calls, instr, cpi, __ci_slow_path_entries());

    if (ci_auto_log_path) {
        size_t n = th->samples ? th->nsamples : 0;
        char hdr[512];
        int hl = snprintf(hdr, sizeof hdr,
                          "ci-intervals v1 thread=%d tid=%ld pid=%ld samples=%zu "
                          "handler_calls=%ld instructions=%ld cycles_per_instr=%.6f "
                          "mode=%s interval=%ld\n",
                          th->id, (long)syscall(SYS_gettid), (long)getpid(), n, th->calls, instr,
                          cpi, ci_auto_cycles > 0 ? "cycles" : "ir",
                          ci_auto_cycles > 0 ? ci_auto_cycles : ci_auto_ir);
        pthread_mutex_lock(&ci_auto_lock);
        int fd = open(ci_auto_log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            flock(fd, LOCK_EX); /* other processes may append to the same log */
            if (hl > 0)
                ci_auto_write_all(fd, hdr, (size_t)hl);
            if (n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
                for (size_t i = 0; i < n; i++)
                    th->samples[i] = __builtin_bswap32(th->samples[i]);
#endif
                ci_auto_write_all(fd, th->samples, n * sizeof(uint32_t));
            }
            flock(fd, LOCK_UN);
            close(fd);
        } else {
            fprintf(stderr, "ci: cannot open CI_INTERVAL_LOG=%s\n", ci_auto_log_path);
        }
        pthread_mutex_unlock(&ci_auto_lock);
    }
}

static void ci_auto_thread_exit(void *p) {
    struct ci_auto_thread *th = (struct ci_auto_thread *)p;
    ci_auto_report(th);
    ci_auto_self = NULL;
    free(th->samples);
    free(th);
}

__attribute__((constructor(101))) static void ci_auto_init(void) {
    ci_auto_cycles = CI_AUTOSTART_CYCLES;
    if (ci_auto_cycles <= 0)
        ci_auto_cycles = ci_auto_env_long("CI_AUTOSTART_CYCLES");
    ci_auto_ir = CI_AUTOSTART_IR;
    if (ci_auto_ir <= 0)
        ci_auto_ir = ci_auto_env_long("CI_AUTOSTART_IR");
    if (ci_auto_cycles <= 0 && ci_auto_ir <= 0)
        return;
    const char *log = getenv("CI_INTERVAL_LOG");
    ci_auto_log_path = (log && *log) ? strdup(log) : NULL;
    const char *stats = getenv("CI_STATS");
    ci_auto_stats = stats != NULL && *stats != '\0' && strcmp(stats, "0") != 0;
    if (pthread_key_create(&ci_auto_key, ci_auto_thread_exit) != 0)
        return;
    ci_auto_enabled = 1;
    ci_auto_register(&ci_auto_main);
}

__attribute__((destructor(101))) static void ci_auto_fini(void) {
    if (ci_auto_enabled && ci_auto_self == &ci_auto_main)
        ci_auto_report(&ci_auto_main);
}

/* ------------------------------------------------------------------------------------------ */
/* pthread_create wrapper (-Wl,--wrap=pthread_create)                                         */

struct ci_auto_start {
    void *(*fn)(void *);
    void *arg;
};

static void *ci_auto_trampoline(void *p) {
    struct ci_auto_start st = *(struct ci_auto_start *)p;
    free(p);
    struct ci_auto_thread *th = (struct ci_auto_thread *)calloc(1, sizeof *th);
    if (th) {
        pthread_setspecific(ci_auto_key, th);
        ci_auto_register(th);
    }
    return st.fn(st.arg);
}

/* Resolved by the linker's --wrap=pthread_create to the real pthread_create.  Deliberately a
 * strong reference: a weak one would not pull pthread_create out of libc.a in -static links.
 * Linking this object without --wrap=pthread_create therefore fails with an undefined
 * reference to __real_pthread_create: add the flag. */
extern int __real_pthread_create(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                          void *(*start_routine)(void *), void *arg) {
    if (!ci_auto_enabled)
        return __real_pthread_create(thread, attr, start_routine, arg);
    struct ci_auto_start *p = (struct ci_auto_start *)malloc(sizeof *p);
    if (!p)
        return __real_pthread_create(thread, attr, start_routine, arg);
    p->fn = start_routine;
    p->arg = arg;
    int rc = __real_pthread_create(thread, attr, ci_auto_trampoline, p);
    if (rc != 0)
        free(p);
    return rc;
}
