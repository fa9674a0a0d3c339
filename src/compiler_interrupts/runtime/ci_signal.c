/*
 * ci_signal.c -- the timer-interrupt baseline ("--ci-design=signal").
 *
 * Same public API as ci_runtime.c (ci_lib.h), but interrupts come from a per-thread POSIX
 * timer instead of compiler-inserted probes.  This is the like-for-like comparison of
 * Compiler Interrupts (Basu et al., PLDI 2021, section 6) with timer/hardware interrupts: same
 * handler, same registration, only the delivery mechanism differs.
 *
 * Mechanism.  register_ci() on a thread creates (once) a timer
 *
 *     timer_create(CLOCK_MONOTONIC, {SIGEV_THREAD_ID, CI_SIGNAL_SIGNO, tid = gettid()})
 *
 * and arms it (see "period" below).  The signal (SIGRTMIN+3) is caught by a process-wide
 * SA_SIGINFO|SA_RESTART handler installed at the first registration; it calls the thread's
 * user handler with a running count of timer expirations.  A signal queued by an earlier
 * arming of the timer (it expired while the handler ran) is recognised (the one-shot timer is
 * armed again by then) and ignored, so a long handler is not followed by a back-to-back call.
 *
 *  - cycles_interval > 0: period = cycles_interval TSC cycles, converted to nanoseconds with
 *    the TSC frequency calibrated once per process (rdtsc against CLOCK_MONOTONIC_RAW over
 *    ~10 ms at the first cycles-mode registration; env CI_TSC_HZ=<hz> skips the calibration).
 *    ir_interval is ignored (there is no instruction budget to seed).  On architectures
 *    without a TSC the runtime clock is in ns and the period is cycles_interval ns.
 *  - cycles_interval <= 0 (IR mode, no probes to count instructions): the period is
 *    ir_interval NANOSECONDS (1 IR instruction == 1 ns).
 *  Diagnostics: __ci_tsc_hz() (ticks per second used) and __ci_signal_period_ns() (this
 *  thread's period after the floor, 0 when unregistered); declare them yourself.
 *  - both <= 0: an error line on stderr, nothing registered (as ci_runtime.c).
 *
 * Period.  The period runs from the end of one handler call to the next expiry, as the interval of
 * ci_runtime.c's cycles mode does: the timer is one-shot and re-armed (timer_settime) when the
 * handler returns.  A periodic timer would livelock a thread whose period is shorter than the
 * cost of one timer signal, since the kernel re-arms a periodic timer when its signal is
 * delivered and the next one would be due before any user instruction ran.  For the same
 * reason the period is never shorter than CI_SIGNAL_MIN_NS (env, default 50000 ns = 50 us;
 * 0 disables the floor).  On the virtual machines this project is measured on, a timer signal
 * takes ~15 us from expiry to handler entry and costs 30-45 us of the thread's time in all;
 * periods below ~10 us stop the program from making progress at all, and a 20 us period
 * already makes a program 5x slower.  A target of 5,000 cycles (~2 us) is therefore served at
 * the floor; the recorded intervals show what was actually achieved.
 *
 * Env CI_SIGNAL_CLOCK=cpu uses CLOCK_THREAD_CPUTIME_ID instead (the thread's CPU time; Linux
 * checks CPU-time timers only at scheduler ticks, so periods below ~1-4 ms are not honoured);
 * the default CLOCK_MONOTONIC also interrupts blocked threads (SA_RESTART restarts most
 * interrupted system calls).
 *
 * Guarantees, as in ci_runtime.c: the handler is never re-entered (a tick that arrives while it
 * runs is dropped); ci_disable()/ci_enable() nest, a tick while disabled is remembered once and
 * delivered at the outermost ci_enable(); disable/enable hooks; deregister_ci() disarms and
 * deletes the timer; a thread that exits deletes its timer (pthread key destructor); after
 * fork() the child re-creates the timer of the forking thread if it was registered.
 * Handlers run in signal context: they should be async-signal-safe.
 *
 * Probe ABI stubs.  __ci_budget, __ci_slow_path (and, built with clang on x86-64,
 * __ci_slow_path_pa, the preserve_all entry probes call) are defined so that objects instrumented
 * with probes still link against this library: the budget starts at 1<<62 and the slow path
 * only folds it back, so probes stay on their fast path; ci_instruction_count() reports the
 * IR instructions counted by such probes (0 in a probe-free program).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ci_lib.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

#define CI_IDLE_BUDGET ((int64_t)1 << 62)
#define CI_CALIBRATE_NS 10000000LL /* 10 ms */
#define CI_DEFAULT_MIN_NS 50000LL   /* floor of the period, see above */
#define CI_SIGNAL_SIGNO (SIGRTMIN + 3)

#define CI_TLS __thread __attribute__((tls_model("initial-exec")))
#define CI_SIGNAL_FENCE() __atomic_signal_fence(__ATOMIC_SEQ_CST)

/* Probe ABI stubs (see the header comment). */
__thread int64_t __ci_budget __attribute__((tls_model("initial-exec"), visibility("default"))) =
    CI_IDLE_BUDGET;
#define CI_BUDGET (*(volatile int64_t *)&__ci_budget)

struct ci_sstate {
    int64_t probe_count; /* IR instructions folded from __ci_budget */
    int64_t ticks;       /* timer expirations seen while registered (overruns included) */
    int64_t calls;       /* handler invocations */
    int64_t entries;     /* probe slow-path entries (diagnostic) */

    ci_handler handler;
    ci_margin_hook disable_hook;
    ci_margin_hook enable_hook;
    volatile int registered;

    volatile int in_progress; /* handler / registration update on the stack */
    volatile int disable_depth;
    volatile int pending; /* a tick arrived while disabled */

    timer_t timer;
    int timer_valid;
    int epoch;        /* sigev_value of the current timer: stale signals are ignored */
    int64_t period_ns; /* current period (for fork re-creation) */
    int key_set;
};

static CI_TLS struct ci_sstate ci_st;

static pthread_once_t ci_once = PTHREAD_ONCE_INIT;
static pthread_key_t ci_key;
static int ci_key_ok;
static int ci_sig_ok;
static int ci_epoch_counter;
static clockid_t ci_timer_clock = CLOCK_MONOTONIC;
static int64_t ci_min_ns = CI_DEFAULT_MIN_NS;

static pthread_once_t ci_tsc_once = PTHREAD_ONCE_INIT;
static double ci_tsc_hz_value;

/* ------------------------------------------------------------------------------------------ */
/* clock                                                                                      */

static inline uint64_t ci_now(void) {
#if defined(__x86_64__) || defined(__i386__)
    uint32_t lo, hi;
    __asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return ((uint64_t)hi << 32) | lo;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
#endif
}

uint64_t __ci_timestamp(void) { return ci_now(); }

static int64_t ci_mono_raw_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void ci_tsc_calibrate(void) {
    const char *env = getenv("CI_TSC_HZ");
    if (env && *env) {
        double v = strtod(env, NULL);
        if (v > 1e6) {
            ci_tsc_hz_value = v;
            return;
        }
    }
#if defined(__x86_64__) || defined(__i386__)
    int64_t t0 = ci_mono_raw_ns();
    uint64_t c0 = ci_now();
    int64_t t1;
    do {
        t1 = ci_mono_raw_ns();
    } while (t1 - t0 < CI_CALIBRATE_NS);
    uint64_t c1 = ci_now();
    int64_t t2 = ci_mono_raw_ns();
    double ns = (double)(t1 - t0 + t2 - t0) * 0.5; /* c1 was read between t1 and t2 */
    ci_tsc_hz_value = ns > 0 ? (double)(c1 - c0) * 1e9 / ns : 1e9;
    if (!(ci_tsc_hz_value > 1e6))
        ci_tsc_hz_value = 1e9;
#else
    ci_tsc_hz_value = 1e9; /* the clock is already in ns */
#endif
}

/* Diagnostics: the period (ns) this thread's timer is armed with, 0 if not registered. */
__attribute__((visibility("default"))) long __ci_signal_period_ns(void) {
    return ci_st.registered ? (long)ci_st.period_ns : 0;
}

/* Diagnostics: TSC ticks per second used to convert cycles to ns (calibrates if needed). */
__attribute__((visibility("default"))) double __ci_tsc_hz(void) {
    pthread_once(&ci_tsc_once, ci_tsc_calibrate);
    return ci_tsc_hz_value;
}

/* ------------------------------------------------------------------------------------------ */
/* probe ABI stubs                                                                            */

__attribute__((cold, noinline, visibility("default"))) void __ci_slow_path(int64_t probe_cost) {
    (void)probe_cost;
    int64_t b = CI_BUDGET;
    ci_st.entries++;
    ci_st.probe_count += CI_IDLE_BUDGET - b;
    CI_SIGNAL_FENCE();
    CI_BUDGET = CI_IDLE_BUDGET;
}

#if defined(__clang__) && defined(__x86_64__)
/* What probes call (preserve_all calling convention, as in ci_runtime.c). */
__attribute__((cold, noinline, visibility("default"), preserve_all)) void
__ci_slow_path_pa(int64_t probe_cost) {
    __ci_slow_path(probe_cost);
}
#endif

/* ------------------------------------------------------------------------------------------ */
/* timer                                                                                      */

/* Arm the one-shot timer for the next tick, period_ns from now. */
static void ci_timer_rearm(struct ci_sstate *s) {
    if (!s->registered || !s->timer_valid)
        return;
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = s->period_ns / 1000000000LL;
    its.it_value.tv_nsec = s->period_ns % 1000000000LL;
    timer_settime(s->timer, 0, &its, NULL);
}

/* Call the handler once (in_progress set), then re-arm from the end of the handler. */
static void ci_deliver(struct ci_sstate *s) {
    ci_handler h = s->handler;
    s->pending = 0;
    s->calls++;
    h((long)s->ticks);
    ci_timer_rearm(s);
}

static void ci_on_signal(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)uc;
    int saved_errno = errno;
    struct ci_sstate *s = &ci_st;
    if (si == NULL || si->si_code != SI_TIMER || !s->registered || !s->timer_valid ||
        si->si_value.sival_int != s->epoch) {
        errno = saved_errno; /* stale tick of a deleted/replaced timer, or a foreign signal */
        return;
    }
    /* A one-shot timer is disarmed when it expires: if it is armed now, this signal was queued
     * before the last re-arm (it expired while the handler ran, with the signal blocked). */
    struct itimerspec cur;
    if (timer_gettime(s->timer, &cur) == 0 && (cur.it_value.tv_sec | cur.it_value.tv_nsec)) {
        errno = saved_errno;
        return;
    }
    s->ticks++;
    if (s->in_progress) {
        /* Inside the handler or an API update: dropped, the timer keeps going (a delivery in
         * progress re-arms it again when the handler returns). */
        ci_timer_rearm(s);
        errno = saved_errno;
        return;
    }
    if (s->disable_depth > 0) {
        /* Remembered once; the timer stays idle until the outermost ci_enable() delivers. */
        s->pending = 1;
        errno = saved_errno;
        return;
    }
    s->in_progress = 1;
    CI_SIGNAL_FENCE();
    ci_deliver(s);
    CI_SIGNAL_FENCE();
    s->in_progress = 0;
    errno = saved_errno;
}

static void ci_thread_exit(void *p) {
    (void)p;
    deregister_ci();
}

static int ci_timer_create(struct ci_sstate *s);
static void ci_timer_arm(struct ci_sstate *s, int64_t ns);

static void ci_after_fork_child(void) {
    struct ci_sstate *s = &ci_st;
    s->timer_valid = 0; /* timers are not inherited */
    if (s->registered && s->period_ns > 0 && ci_timer_create(s) == 0)
        ci_timer_arm(s, s->period_ns);
}

static void ci_init_once(void) {
    const char *clk = getenv("CI_SIGNAL_CLOCK");
    if (clk && strcmp(clk, "cpu") == 0)
        ci_timer_clock = CLOCK_THREAD_CPUTIME_ID;
    const char *min = getenv("CI_SIGNAL_MIN_NS");
    if (min && *min)
        ci_min_ns = strtoll(min, NULL, 0);
    ci_key_ok = pthread_key_create(&ci_key, ci_thread_exit) == 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = ci_on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(CI_SIGNAL_SIGNO, &sa, NULL) == 0)
        ci_sig_ok = 1;
    else
        fprintf(stderr, "ci: sigaction(SIGRTMIN+3) failed: %s\n", strerror(errno));
    pthread_atfork(NULL, NULL, ci_after_fork_child);
}

static int ci_timer_create(struct ci_sstate *s) {
    if (s->timer_valid)
        return 0;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = CI_SIGNAL_SIGNO;
    sev.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
    int epoch = __atomic_add_fetch(&ci_epoch_counter, 1, __ATOMIC_RELAXED);
    sev.sigev_value.sival_int = epoch;
    /* CLOCK_THREAD_CPUTIME_ID names the calling thread's CPU clock. */
    if (timer_create(ci_timer_clock, &sev, &s->timer) != 0) {
        fprintf(stderr, "ci: timer_create failed: %s\n", strerror(errno));
        return -1;
    }
    s->epoch = epoch;
    CI_SIGNAL_FENCE();
    s->timer_valid = 1;
    return 0;
}

static void ci_timer_arm(struct ci_sstate *s, int64_t ns) {
    if (ns < 1)
        ns = 1;
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = ns / 1000000000LL;
    its.it_value.tv_nsec = ns % 1000000000LL;
    s->period_ns = ns;
    if (timer_settime(s->timer, 0, &its, NULL) != 0)
        fprintf(stderr, "ci: timer_settime failed: %s\n", strerror(errno));
}

static void ci_timer_delete(struct ci_sstate *s) {
    if (!s->timer_valid)
        return;
    s->timer_valid = 0;
    CI_SIGNAL_FENCE();
    timer_delete(s->timer);
}

/* ------------------------------------------------------------------------------------------ */
/* public API                                                                                 */

void register_ci(int ir_interval, int cycles_interval, ci_handler handler) {
    struct ci_sstate *s = &ci_st;
    if (ir_interval <= 0 && cycles_interval <= 0) {
        fprintf(stderr,
                "ci: register_ci(%d, %d, ...): need ir_interval > 0 (IR mode) or "
                "cycles_interval > 0 (cycles mode); nothing registered\n",
                ir_interval, cycles_interval);
        return;
    }
    if (handler == NULL) {
        deregister_ci();
        return;
    }
    int saved_errno = errno;
    pthread_once(&ci_once, ci_init_once);
    int64_t ns;
    if (cycles_interval > 0) {
        double hz = __ci_tsc_hz();
        ns = (int64_t)((double)cycles_interval * 1e9 / hz + 0.5);
    } else {
        ns = ir_interval; /* IR mode: 1 IR instruction == 1 ns */
    }
    if (ns < ci_min_ns)
        ns = ci_min_ns;
    if (ns < 1)
        ns = 1;

    int prev = s->in_progress;
    s->in_progress = 1;
    CI_SIGNAL_FENCE();
    if (!s->key_set && ci_key_ok) {
        pthread_setspecific(ci_key, (void *)s);
        s->key_set = 1;
    }
    s->handler = handler;
    s->pending = 0;
    if (ci_sig_ok && ci_timer_create(s) == 0) {
        s->registered = 1;
        CI_SIGNAL_FENCE();
        ci_timer_arm(s, ns);
    }
    CI_SIGNAL_FENCE();
    s->in_progress = prev;
    errno = saved_errno;
}

void deregister_ci(void) {
    struct ci_sstate *s = &ci_st;
    int saved_errno = errno;
    int prev = s->in_progress;
    s->in_progress = 1;
    CI_SIGNAL_FENCE();
    s->registered = 0;
    s->handler = NULL;
    s->pending = 0;
    ci_timer_delete(s);
    CI_SIGNAL_FENCE();
    s->in_progress = prev;
    errno = saved_errno;
}

void ci_disable(void) {
    struct ci_sstate *s = &ci_st;
    int saved_errno = errno;
    s->disable_depth++;
    CI_SIGNAL_FENCE();
    if (s->disable_depth == 1 && s->disable_hook)
        s->disable_hook(ci_instruction_count());
    errno = saved_errno;
}

void ci_enable(void) {
    struct ci_sstate *s = &ci_st;
    int saved_errno = errno;
    if (s->disable_depth <= 0) {
        errno = saved_errno;
        return;
    }
    if (s->disable_depth == 1 && s->enable_hook) {
        /* Still disabled while the hook runs: a tick during it becomes pending. */
        s->enable_hook(ci_instruction_count());
    }
    if (s->disable_depth > 1) {
        s->disable_depth--;
        errno = saved_errno;
        return;
    }
    if (s->in_progress) {
        /* Enabled from inside the handler: the next tick delivers a pending interrupt. */
        s->disable_depth = 0;
        errno = saved_errno;
        return;
    }
    /* Outermost enable: block ticks (in_progress) while re-enabling and delivering. */
    s->in_progress = 1;
    CI_SIGNAL_FENCE();
    s->disable_depth = 0;
    CI_SIGNAL_FENCE();
    if (s->pending) {
        if (s->registered)
            ci_deliver(s);
        else
            s->pending = 0;
    }
    CI_SIGNAL_FENCE();
    s->in_progress = 0;
    errno = saved_errno;
}

void register_ci_disable_hook(ci_margin_hook hook) { ci_st.disable_hook = hook; }

void register_ci_enable_hook(ci_margin_hook hook) { ci_st.enable_hook = hook; }

long ci_instruction_count(void) {
    struct ci_sstate *s = &ci_st;
    return (long)(s->probe_count + (CI_IDLE_BUDGET - CI_BUDGET));
}

long ci_handler_calls(void) { return (long)ci_st.calls; }

/* No instruction budget is learned: always 0.0. */
double __ci_cycles_per_instr(void) { return 0.0; }

long __ci_slow_path_entries(void) { return (long)ci_st.entries; }

/* Not supported by the timer design (the handler runs in a signal handler, with the timer's
 * signal blocked until it returns): always -1. */
int ci_after_handler(void (*fn)(void *), void *arg) {
    (void)fn;
    (void)arg;
    return -1;
}

/* The runtime reads no clock at the start of a period (the kernel times it): 0, so that a
 * handler times intervals with its own clock reads. */
uint64_t __ci_period_start(void) { return 0; }
