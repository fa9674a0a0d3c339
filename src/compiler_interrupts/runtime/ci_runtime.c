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
 * Cycles mode.  The clock (TSC, or CLOCK_MONOTONIC_RAW ns) is read only in the slow path:
 * once (ordered, rdtscp) when the budget runs out, once more (unordered) after a handler call.
 * The thread's IR instructions per tick (ipt) is learned online: each slow-path interval that
 * contains neither handler time nor time while disabled gives a sample di/dt, blended into an
 * EWMA with weight 1/4 scaled by the interval's length relative to a full period (so the very
 * short intervals near a deadline, dominated by slow-path overhead, barely move it); samples are
 * clipped to [ipt/8, 8*ipt] against preemption and long uninstrumented calls.  Each period aims
 * at `aim` = target - lead, where `lead` is learned by an integral controller on the firing
 * error.  At each slow path: left = aim - (now - period start); the handler fires when left is
 * under 1/32 of the target or its budget equivalent left*ipt is under half the probe's cost
 * (so it fires at the probe nearest the aim); otherwise budget = left*ipt clamped to
 * [1, 1<<30].  After the handler returns the runtime re-arms from a fresh clock read (no
 * catching up on missed deadlines), budget = aim*ipt.  The common slow path costs one division
 * and no library call; errno is saved only around the handler.
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

/* Field order: what every slow path touches comes first, the rest after. */
struct ci_state {
    int64_t armed;   /* budget value last written by the runtime */
    int64_t count;   /* cumulative IR instructions, up to `armed` */
    int64_t entries; /* slow-path entries (diagnostic) */
    volatile int in_progress; /* slow path / delivery on the stack */
    int registered;
    int disable_depth;
    int pending; /* an interrupt became due while disabled */
    int64_t target; /* cycles mode: clock ticks between handler calls; 0 = IR mode */

    /* cycles mode */
    uint64_t last_fire; /* clock when the current period started */
    uint64_t seg_start; /* calibration segment: clock ... */
    int64_t seg_count;  /* ... and count at its start */
    double ipt;         /* learned IR instructions per clock tick, 0 = unknown */
    double inv_target;  /* 1 / target */
    int64_t aim;        /* target - lead */
    int64_t slack;      /* target / 32: fire when less than this is left */
    int64_t full_budget; /* budget for a full period: aim * ipt */
    double lead;        /* how much earlier than the target to aim (learned) */
    int seg_valid;
    unsigned gen; /* bumped by every register/deregister */

    /* IR mode (target == 0) */
    int64_t ir_interval;
    int64_t ir_base;
    int64_t ir_next; /* absolute count at which the next interrupt is due */

    ci_handler handler;
    int64_t calls; /* handler invocations */
    int in_handler;             /* the handler is on the stack */
    void (*after_fn)(void *);   /* ci_after_handler: run once the slow path is done */
    void *after_arg;
    ci_margin_hook disable_hook;
    ci_margin_hook enable_hook;
    int64_t ir_initial; /* cycles mode: user-supplied initial budget, 0 = choose */
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

/* Cycles mode: instructions per clock tick, learned or assumed. */
static inline double ci_ipt_or_default(const struct ci_state *s) {
    return s->ipt > 0.0 ? s->ipt : 1.0 / CI_DEFAULT_CPI;
}

/* Cycles mode: recompute what depends on `lead` and `ipt` (after a handler call). */
static inline void ci_cycles_plan(struct ci_state *s) {
    int64_t aim = s->target - (int64_t)s->lead;
    if (aim < 1)
        aim = 1;
    s->aim = aim;
    s->full_budget = ci_clamp_budget((double)aim * ci_ipt_or_default(s));
}

/* IR mode: arm so that the slow path runs at the first probe reaching `ir_next`. */
static inline void ci_ir_arm(struct ci_state *s) {
    int64_t left = s->ir_next - s->count - 1; /* budget < 0  <=>  consumed >= left + 1 */
    if (left < 0)
        left = 0;
    ci_set_budget(s, left);
}

/* IR mode: first deadline strictly after count `c` (skips missed ones).  The common case, one
 * interval past the current deadline, needs no division. */
static inline int64_t ci_ir_next_after(const struct ci_state *s, int64_t c) {
    int64_t next = s->ir_next + s->ir_interval;
    if (s->ir_next <= c && next > c)
        return next;
    return s->ir_base + ((c - s->ir_base) / s->ir_interval + 1) * s->ir_interval;
}

/* Cycles mode: start a calibration segment at `now`. */
static inline void ci_seg_restart(struct ci_state *s, uint64_t now) {
    s->seg_start = now;
    s->seg_count = s->count;
    s->seg_valid = (s->disable_depth == 0);
}

/* Cycles mode: close the current calibration segment at `now` and learn from it (one division:
 * this runs at every cycles-mode slow path). */
static inline void ci_calibrate(struct ci_state *s, uint64_t now) {
    if (s->seg_valid && s->disable_depth == 0) {
        int64_t di = s->count - s->seg_count;
        int64_t dt = (int64_t)(now - s->seg_start);
        if (di > 0 && dt > 0) {
            double sample = (double)di / (double)dt;
            double ipt = s->ipt;
            if (ipt > 0.0) {
                double lo = ipt * (1.0 / CI_OUTLIER_FACTOR), hi = ipt * CI_OUTLIER_FACTOR;
                if (sample < lo)
                    sample = lo;
                if (sample > hi)
                    sample = hi;
                double w = (double)dt * s->inv_target; /* share of a full period */
                if (w > 1.0)
                    w = 1.0;
                s->ipt = ipt + CI_EWMA_WEIGHT * w * (sample - ipt);
            } else {
                s->ipt = sample;
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
        s->inv_target = 1.0 / (double)s->target;
        s->slack = s->target >> 5;
        ci_cycles_plan(s);
        ci_seg_restart(s, now);
        ci_set_budget(s, s->ir_initial > 0 ? ci_clamp_budget((double)s->ir_initial)
                                           : s->full_budget);
    }
}

/* Call the handler once.  Precondition: in_progress set, registered, budget folded.
 * Leaves the budget armed for whatever the registration is after the handler returned. */
__attribute__((noinline)) static void ci_deliver(struct ci_state *s) {
    ci_handler h = s->handler;
    unsigned gen = s->gen;
    int64_t c0 = s->count;
    int saved_errno = errno; /* the handler may be interrupting code between a call and its
                                errno check */

    s->pending = 0;
    s->calls++;
    ci_set_budget(s, CI_IDLE_BUDGET); /* the handler's own probes stay on the fast path */
    s->in_handler = 1;
    h((long)c0);
    s->in_handler = 0;
    ci_fold(s);
    errno = saved_errno;

    if (!s->registered) { /* deregistered from inside the handler */
        ci_set_budget(s, CI_IDLE_BUDGET);
        return;
    }
    if (s->gen != gen) { /* re-registered from inside the handler: fresh start from now */
        ci_start(s);
        return;
    }
    if (s->target == 0) {
        int64_t next = ci_ir_next_after(s, c0);
        int64_t inside = s->count - c0; /* handler instructions do not count */
        s->ir_base += inside;
        s->ir_next = next + inside;
        ci_ir_arm(s);
    } else {
        uint64_t now = ci_now_unfenced(); /* re-arm from now: never catch up */
        s->last_fire = now;
        ci_seg_restart(s, now);
        ci_cycles_plan(s);
        ci_set_budget(s, s->full_budget);
    }
}

/* Cycles mode: a deadline is reached (the probe at `elapsed` is the one nearest the aim). */
static void ci_cycles_due(struct ci_state *s, int64_t elapsed) {
    if (s->disable_depth > 0) {
        s->pending = 1; /* remembered once; delivered at the outermost ci_enable */
        ci_set_budget(s, s->full_budget);
        return;
    }
    /* `lead`: how much earlier than the target to aim.  The handler starts a little after the
     * probe that fires (the slow path's own work), and a probe fires only once the budget is
     * exhausted; a small integral controller on the firing error centres firing times on the
     * target. */
    double err = (double)(elapsed - s->target);
    double lim = (double)s->target * 0.25;
    if (err > lim)
        err = lim; /* a preempted or long uninstrumented stretch: don't overreact */
    double lead = s->lead + CI_LEAD_GAIN * err;
    if (lead < 0.0)
        lead = 0.0;
    if (lead > lim)
        lead = lim;
    s->lead = lead;
    ci_deliver(s);
}

/* Work of the slow path proper; in_progress is set and the budget folded. */
static inline __attribute__((always_inline)) void ci_slow_path_body(struct ci_state *s,
                                                                    int64_t probe_cost) {
    if (__builtin_expect(!s->registered, 0)) {
        ci_set_budget(s, CI_IDLE_BUDGET);
        return;
    }
    if (s->pending && s->disable_depth == 0) {
        if (s->target > 0)
            ci_calibrate(s, ci_now());
        ci_deliver(s);
        return;
    }
    if (s->target == 0) { /* IR mode */
        if (s->count >= s->ir_next) {
            if (s->disable_depth > 0) {
                s->pending = 1;
                s->ir_next = ci_ir_next_after(s, s->count);
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
    int64_t elapsed = (int64_t)(now - s->last_fire);
    int64_t left = s->aim - elapsed;
    /* Fire at the probe nearest the aim: when what is left is under half this probe's cost,
     * or under 1/32 of the period (scheduling one more slow path for it would cost more than
     * the error it saves; the lead controller keeps the median on target either way). */
    double rest = (double)left * ci_ipt_or_default(s);
    if (left <= s->slack || rest <= 0.5 * (double)probe_cost)
        ci_cycles_due(s, elapsed);
    else
        ci_set_budget(s, ci_clamp_budget(rest));
}

/* ci_after_handler: the function the handler asked for, once the runtime is done (budget
 * armed, in_progress cleared).  It may switch stacks; errno is this frame's again when it
 * returns here. */
__attribute__((noinline)) static void ci_run_after(struct ci_state *s) {
    void (*fn)(void *) = s->after_fn;
    void *arg = s->after_arg;
    s->after_fn = NULL;
    s->after_arg = NULL;
    int saved_errno = errno;
    fn(arg);
    errno = saved_errno;
}

static inline __attribute__((always_inline)) void ci_slow_path_entry(int64_t probe_cost) {
    struct ci_state *s = &ci_st;

    s->entries++;
    if (s->in_progress) {
        /* Nested (handler's own probes, or a signal handler): account, re-arm, return.  Re-arm
         * to the last armed value: if the outer slow path already armed, this keeps its plan;
         * otherwise the outer one will overwrite it. */
        int64_t keep = s->armed;
        if (keep < 0)
            keep = 0;
        ci_set_budget(s, keep);
        return;
    }
    s->in_progress = 1;
    CI_SIGNAL_FENCE();
    ci_fold(s);
    ci_slow_path_body(s, probe_cost);
    CI_SIGNAL_FENCE();
    s->in_progress = 0;
    if (__builtin_expect(s->after_fn != NULL, 0))
        ci_run_after(s);
}

/* errno: nothing on the way to the handler touches it; ci_deliver saves it around the
 * handler. */
__attribute__((cold, noinline, visibility("default"))) void __ci_slow_path(int64_t probe_cost) {
    ci_slow_path_entry(probe_cost);
}

#if defined(__clang__) && defined(__x86_64__)
/* The entry probes call: the same, with the preserve_all calling convention, so the caller
 * keeps every register live across the (rarely taken) call and its fast path needs no spills.
 * Clang-only; the driver always builds the runtime with clang. */
__attribute__((cold, noinline, visibility("default"), preserve_all)) void
__ci_slow_path_pa(int64_t probe_cost) {
    ci_slow_path_entry(probe_cost);
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
            if (s->after_fn != NULL)
                ci_run_after(s);
        }
        /* else: enabled from inside the handler; the next slow path delivers it. */
    }
    errno = saved_errno;
}

int ci_after_handler(void (*fn)(void *), void *arg) {
    struct ci_state *s = &ci_st;
    if (!s->in_handler || fn == NULL)
        return -1;
    s->after_fn = fn;
    s->after_arg = arg;
    return 0;
}

void register_ci_disable_hook(ci_margin_hook hook) { ci_st.disable_hook = hook; }

void register_ci_enable_hook(ci_margin_hook hook) { ci_st.enable_hook = hook; }

long ci_instruction_count(void) {
    struct ci_state *s = &ci_st;
    return (long)(s->count + s->armed - CI_BUDGET);
}

long ci_handler_calls(void) { return (long)ci_st.calls; }

long __ci_slow_path_entries(void) { return (long)ci_st.entries; }

double __ci_cycles_per_instr(void) { return ci_st.ipt > 0.0 ? 1.0 / ci_st.ipt : 0.0; }

uint64_t __ci_period_start(void) { return ci_st.target > 0 ? ci_st.last_fire : 0; }
