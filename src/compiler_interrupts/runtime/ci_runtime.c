/*
 * ci_runtime.c -- native runtime of Compiler Interrupts.
 *
 * Instrumented code runs probes of the form
 *
 *     __ci_budget -= cost;  if (__ci_budget < 0) __ci_slow_path(cost);
 *
 * This file defines the per-thread countdown __ci_budget and the slow path, and implements the
 * public API of ci_lib.h.  It is compiled by a plain C compiler and is never instrumented.
 * Everything that is not public API is `static` or `__ci_`-prefixed.
 *
 * Accounting.  `armed` is the budget value last written by the runtime.  Whenever the runtime
 * looks at the budget it "folds": count += armed - __ci_budget; armed = __ci_budget.  So
 * `count + armed - __ci_budget` is always this thread's exact cumulative IR instruction count.
 *
 * IR mode.  Interrupts are due at absolute counts base + k*interval, where `base` is the count
 * at registration, shifted forward by the instructions executed inside the handler (those do
 * not count towards the next interval).  The budget is armed so that the slow path is entered
 * at the first probe at or after the deadline, so a loop of N unit-cost probes fires exactly
 * floor(N / interval) times and the handler sees count = k * interval.  Deadlines missed by
 * more than one interval (huge probe costs) are skipped, not delivered in a burst.
 *
 * Cycles mode.  The clock (TSC, or CLOCK_MONOTONIC_RAW ns) is read only in the slow path.
 * The thread's cycles per IR instruction (cpi) is learned online: each slow-path interval that
 * contains neither handler time nor time while disabled gives a sample dt/di, blended into an
 * EWMA with weight 1/4 scaled by the interval's length relative to a full period (so the very
 * short intervals near a deadline, dominated by slow-path overhead, barely move it); samples are
 * clipped to [cpi/8, 8*cpi] against preemption and long uninstrumented calls.  At each slow
 * path: elapsed = now - last_fire; if elapsed + probe_cost*cpi/2 >= target the handler fires
 * (so it fires at the probe nearest the target), otherwise budget = (target - elapsed)/cpi
 * clamped to [1, 1<<30].  After the handler returns the runtime re-arms from a fresh clock read
 * (no catching up on missed deadlines), budget = target/cpi.
 *
 * Re-entrancy.  `in_progress` is set while the slow path (or a handler delivered from
 * ci_enable) is on the stack.  A slow path entered while it is set -- from the handler's own
 * probes, or from a signal handler running instrumented code -- only folds, re-arms and returns.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "ci_lib.h"

#define CI_IDLE_BUDGET ((int64_t)1 << 62)
#define CI_MAX_BUDGET ((int64_t)1 << 30)
#define CI_MIN_BUDGET ((int64_t)1)
/* gain of the controller that learns how early to aim in cycles mode */
#define CI_LEAD_GAIN 0.125

/* cycles per instruction assumed before the first calibration (initial budget = target/4). */
#define CI_DEFAULT_CPI 4.0
#define CI_EWMA_WEIGHT 0.25
#define CI_OUTLIER_FACTOR 8.0

#define CI_TLS __thread __attribute__((tls_model("initial-exec")))
#define CI_SIGNAL_FENCE() __atomic_signal_fence(__ATOMIC_SEQ_CST)

/* The countdown itself: public, initial-exec TLS, starts idle. */
__thread int64_t __ci_budget __attribute__((tls_model("initial-exec"), visibility("default"))) =
    CI_IDLE_BUDGET;

/* Volatile view: a signal handler running probes may change it under our feet. */
#define CI_BUDGET (*(volatile int64_t *)&__ci_budget)

struct ci_state {
    int64_t armed; /* budget value last written by the runtime */
    int64_t count; /* cumulative IR instructions, up to `armed` */
    int64_t calls; /* handler invocations */

    ci_handler handler;
    ci_margin_hook disable_hook;
    ci_margin_hook enable_hook;
    int registered;
    unsigned gen; /* bumped by every register/deregister */

    volatile int in_progress; /* slow path / delivery on the stack */
    int disable_depth;
    int pending; /* an interrupt became due while disabled */

    /* IR mode (target == 0) */
    int64_t ir_interval;
    int64_t ir_base;
    int64_t ir_next; /* absolute count at which the next interrupt is due */

    /* cycles mode (target > 0) */
    int64_t target;     /* clock ticks between handler calls */
    int64_t ir_initial; /* user-supplied initial budget, 0 = choose */
    uint64_t last_fire; /* clock when the current period started */
    uint64_t seg_start; /* calibration segment: clock ... */
    int64_t seg_count;  /* ... and count at its start */
    int seg_valid;
    double cpi; /* learned cycles per IR instruction, 0 = unknown */
    double lead; /* cycles mode: how much earlier than the target to aim (learned) */
};

static CI_TLS struct ci_state ci_st = {.armed = CI_IDLE_BUDGET};

/* ------------------------------------------------------------------------------------------ */
/* clock                                                                                      */

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
/* 1: the CPU has rdtscp; 0: it does not; -1: not checked yet. */
static int ci_have_rdtscp = -1;

static int ci_check_rdtscp(void) {
    unsigned a, b, c, d;
    int have = __get_cpuid(0x80000001u, &a, &b, &c, &d) && (d & (1u << 27));
    __atomic_store_n(&ci_have_rdtscp, have, __ATOMIC_RELAXED);
    return have;
}
#endif

static inline uint64_t ci_now(void) {
#if defined(__x86_64__) || defined(__i386__)
    uint32_t lo, hi;
    int have = __atomic_load_n(&ci_have_rdtscp, __ATOMIC_RELAXED);
    if (__builtin_expect(have < 0, 0))
        have = ci_check_rdtscp();
    if (have) {
        /* rdtscp waits for the instructions before it to execute (what an lfence;rdtsc pair
         * is for) but lets later ones start: cheaper on the slow path. */
        uint32_t aux;
        __asm__ __volatile__("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux) : : "memory");
        (void)aux;
    } else {
        __asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    }
    return ((uint64_t)hi << 32) | lo;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
#endif
}

/* Unfenced read: for points where ordering against earlier instructions does not matter
 * (right after a call into the handler has returned). */
static inline uint64_t ci_now_unfenced(void) {
#if defined(__x86_64__) || defined(__i386__)
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return ((uint64_t)hi << 32) | lo;
#else
    return ci_now();
#endif
}

uint64_t __ci_timestamp(void) { return ci_now(); }

/* ------------------------------------------------------------------------------------------ */
/* budget accounting                                                                          */

static inline void ci_fold(struct ci_state *s) {
    int64_t b = CI_BUDGET;
    s->count += s->armed - b;
    s->armed = b;
}

static inline void ci_set_budget(struct ci_state *s, int64_t v) {
    ci_fold(s);
    s->armed = v;
    CI_SIGNAL_FENCE();
    CI_BUDGET = v;
}

static inline int64_t ci_clamp_budget(double b) {
    if (!(b >= (double)CI_MIN_BUDGET)) /* also catches NaN */
        return CI_MIN_BUDGET;
    if (b >= (double)CI_MAX_BUDGET)
        return CI_MAX_BUDGET;
    return (int64_t)b;
}

static inline double ci_cpi_or_default(const struct ci_state *s) {
    return s->cpi > 0.0 ? s->cpi : CI_DEFAULT_CPI;
}

/* Budget for a full cycles-mode period. */
static inline int64_t ci_full_period_budget(const struct ci_state *s) {
    return ci_clamp_budget(((double)s->target - s->lead) / ci_cpi_or_default(s));
}

/* IR mode: arm so that the slow path runs at the first probe reaching `ir_next`. */
static inline void ci_ir_arm(struct ci_state *s) {
    int64_t left = s->ir_next - s->count - 1; /* budget < 0  <=>  consumed >= left + 1 */
    if (left < 0)
        left = 0;
    ci_set_budget(s, left);
}

/* IR mode: first deadline strictly after the current count (skips missed ones). */
static inline void ci_ir_advance(struct ci_state *s) {
    int64_t k = (s->count - s->ir_base) / s->ir_interval;
    s->ir_next = s->ir_base + (k + 1) * s->ir_interval;
}

/* Cycles mode: start a calibration segment at `now`. */
static inline void ci_seg_restart(struct ci_state *s, uint64_t now) {
    s->seg_start = now;
    s->seg_count = s->count;
    s->seg_valid = (s->disable_depth == 0);
}

/* Cycles mode: close the current calibration segment at `now` and learn from it. */
static void ci_calibrate(struct ci_state *s, uint64_t now) {
    if (s->seg_valid && s->disable_depth == 0) {
        int64_t di = s->count - s->seg_count;
        int64_t dt = (int64_t)(now - s->seg_start);
        if (di > 0 && dt > 0) {
            double sample = (double)dt / (double)di;
            if (s->cpi > 0.0) {
                double lo = s->cpi / CI_OUTLIER_FACTOR, hi = s->cpi * CI_OUTLIER_FACTOR;
                if (sample < lo)
                    sample = lo;
                if (sample > hi)
                    sample = hi;
                double full = (double)s->target / s->cpi; /* instructions in a full period */
                double w = full > 0.0 ? (double)di / full : 1.0;
                if (w > 1.0)
                    w = 1.0;
                s->cpi += CI_EWMA_WEIGHT * w * (sample - s->cpi);
            } else {
                s->cpi = sample;
            }
        }
    }
    ci_seg_restart(s, now);
}

/* (Re)start the current registration from scratch: called by register_ci and after a
 * handler that re-registered. */
static void ci_start(struct ci_state *s) {
    ci_fold(s);
    s->pending = 0;
    if (s->target == 0) {
        s->ir_base = s->count;
        s->ir_next = s->count + s->ir_interval;
        ci_ir_arm(s);
    } else {
        uint64_t now = ci_now();
        s->last_fire = now;
        ci_seg_restart(s, now);
        ci_set_budget(s, s->ir_initial > 0 ? ci_clamp_budget((double)s->ir_initial)
                                           : ci_full_period_budget(s));
    }
}

/* Call the handler once.  Precondition: in_progress set, registered, budget folded.
 * Leaves the budget armed for whatever the registration is after the handler returned. */
static void ci_deliver(struct ci_state *s) {
    ci_handler h = s->handler;
    unsigned gen = s->gen;
    int64_t c0 = s->count;

    s->pending = 0;
    s->calls++;
    ci_set_budget(s, CI_IDLE_BUDGET); /* the handler's own probes stay on the fast path */
    h((long)c0);
    ci_fold(s);

    if (!s->registered) { /* deregistered from inside the handler */
        ci_set_budget(s, CI_IDLE_BUDGET);
        return;
    }
    if (s->gen != gen) { /* re-registered from inside the handler: fresh start from now */
        ci_start(s);
        return;
    }
    if (s->target == 0) {
        int64_t k = (c0 - s->ir_base) / s->ir_interval;
        s->ir_base += s->count - c0; /* handler instructions do not count */
        s->ir_next = s->ir_base + (k + 1) * s->ir_interval;
        ci_ir_arm(s);
    } else {
        uint64_t now = ci_now_unfenced(); /* re-arm from now: never catch up */
        s->last_fire = now;
        ci_seg_restart(s, now);
        ci_set_budget(s, ci_full_period_budget(s));
    }
}

/* Work of the slow path proper; in_progress is set and the budget folded. */
static void ci_slow_path_body(struct ci_state *s, int64_t probe_cost) {
    if (!s->registered) {
        ci_set_budget(s, CI_IDLE_BUDGET);
        return;
    }
    if (s->target == 0) { /* IR mode */
        if (s->pending && s->disable_depth == 0) {
            ci_deliver(s);
        } else if (s->count >= s->ir_next) {
            if (s->disable_depth > 0) {
                s->pending = 1;
                ci_ir_advance(s);
                ci_ir_arm(s);
            } else {
                ci_deliver(s);
            }
        } else {
            ci_ir_arm(s);
        }
        return;
    }

    /* cycles mode */
    uint64_t now = ci_now();
    ci_calibrate(s, now);
    if (s->pending && s->disable_depth == 0) {
        ci_deliver(s);
        return;
    }
    double cpi = ci_cpi_or_default(s);
    double elapsed = (double)(int64_t)(now - s->last_fire);
    /* Aim `lead` cycles early: the handler starts a little after the probe that fires (the
     * slow path's own work), and a probe fires only once the budget is exhausted. `lead` is
     * learned with a small integral controller so that firing times centre on the target. */
    double target = (double)s->target - s->lead;
    if (probe_cost < 0)
        probe_cost = 0;
    /* Fire at the probe nearest the target, and also when what is left is under 1/32 of the
     * period: scheduling one more slow path for it would cost more than the error it saves
     * (the lead controller keeps the median on target either way). */
    double slack = (double)probe_cost * cpi * 0.5;
    if (slack < (double)s->target * (1.0 / 32.0))
        slack = (double)s->target * (1.0 / 32.0);
    if (elapsed + slack >= target) {
        if (s->disable_depth == 0) {
            double err = elapsed - (double)s->target;
            double lim = (double)s->target * 0.25;
            if (err > lim)
                err = lim; /* a preempted or long uninstrumented stretch: don't overreact */
            s->lead += CI_LEAD_GAIN * err;
            if (s->lead < 0.0)
                s->lead = 0.0;
            if (s->lead > lim)
                s->lead = lim;
        }
        if (s->disable_depth > 0) {
            s->pending = 1; /* remembered once; delivered at the outermost ci_enable */
            ci_set_budget(s, ci_full_period_budget(s));
        } else {
            ci_deliver(s);
        }
    } else {
        ci_set_budget(s, ci_clamp_budget((target - elapsed) / cpi));
    }
}

__attribute__((cold, noinline, visibility("default"))) void __ci_slow_path(int64_t probe_cost) {
    int saved_errno = errno;
    struct ci_state *s = &ci_st;

    if (s->in_progress) {
        /* Nested (handler's own probes, or a signal handler): account, re-arm, return.  Re-arm
         * to the last armed value: if the outer slow path already armed, this keeps its plan;
         * otherwise the outer one will overwrite it. */
        int64_t keep = s->armed;
        if (keep < 0)
            keep = 0;
        ci_set_budget(s, keep);
        errno = saved_errno;
        return;
    }
    s->in_progress = 1;
    CI_SIGNAL_FENCE();
    ci_fold(s);
    ci_slow_path_body(s, probe_cost);
    CI_SIGNAL_FENCE();
    s->in_progress = 0;
    errno = saved_errno;
}

#if defined(__clang__) && defined(__x86_64__)
/* The entry probes call: same work, but with the preserve_all calling convention, so the
 * caller keeps every register live across the (rarely taken) call and its fast path needs no
 * spills. Clang-only; the driver always builds the runtime with clang. */
__attribute__((cold, noinline, visibility("default"), preserve_all)) void
__ci_slow_path_pa(int64_t probe_cost) {
    __ci_slow_path(probe_cost);
}
#endif

/* ------------------------------------------------------------------------------------------ */
/* public API                                                                                 */

void register_ci(int ir_interval, int cycles_interval, ci_handler handler) {
    struct ci_state *s = &ci_st;
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
    int prev = s->in_progress;
    s->in_progress = 1;
    CI_SIGNAL_FENCE();
    s->handler = handler;
    s->registered = 1;
    s->gen++;
    if (cycles_interval > 0) {
        s->target = cycles_interval;
        s->ir_initial = ir_interval > 0 ? ir_interval : 0;
    } else {
        s->target = 0;
        s->ir_interval = ir_interval;
    }
    ci_start(s);
    CI_SIGNAL_FENCE();
    s->in_progress = prev;
}

void deregister_ci(void) {
    struct ci_state *s = &ci_st;
    int prev = s->in_progress;
    s->in_progress = 1;
    CI_SIGNAL_FENCE();
    s->registered = 0;
    s->handler = NULL;
    s->pending = 0;
    s->gen++;
    ci_set_budget(s, CI_IDLE_BUDGET);
    CI_SIGNAL_FENCE();
    s->in_progress = prev;
}

void ci_disable(void) {
    struct ci_state *s = &ci_st;
    int saved_errno = errno;
    if (++s->disable_depth == 1) {
        s->seg_valid = 0; /* time while disabled never feeds calibration */
        if (s->disable_hook)
            s->disable_hook(ci_instruction_count());
    }
    errno = saved_errno;
}

void ci_enable(void) {
    struct ci_state *s = &ci_st;
    int saved_errno = errno;
    if (s->disable_depth <= 0) {
        errno = saved_errno;
        return;
    }
    if (s->disable_depth == 1 && s->enable_hook) {
        /* Still disabled while the hook runs: anything due during it becomes pending. */
        s->enable_hook(ci_instruction_count());
    }
    if (s->disable_depth > 0)
        s->disable_depth--;
    if (s->disable_depth == 0 && s->pending) {
        if (!s->registered) {
            s->pending = 0;
        } else if (!s->in_progress) {
            s->in_progress = 1;
            CI_SIGNAL_FENCE();
            ci_fold(s);
            ci_deliver(s);
            CI_SIGNAL_FENCE();
            s->in_progress = 0;
        }
        /* else: enabled from inside the handler; the next slow path delivers it. */
    }
    errno = saved_errno;
}

void register_ci_disable_hook(ci_margin_hook hook) { ci_st.disable_hook = hook; }

void register_ci_enable_hook(ci_margin_hook hook) { ci_st.enable_hook = hook; }

long ci_instruction_count(void) {
    struct ci_state *s = &ci_st;
    return (long)(s->count + s->armed - CI_BUDGET);
}

long ci_handler_calls(void) { return (long)ci_st.calls; }

double __ci_cycles_per_instr(void) { return ci_st.cpi; }
