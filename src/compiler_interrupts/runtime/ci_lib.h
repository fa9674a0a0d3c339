/*
 * ci_lib.h -- public API of the Compiler Interrupts runtime.
 *
 * Compiler Interrupts (Basu et al., PLDI 2021): a compiler pass inserts cheap probes into a
 * program.  Each probe does
 *
 *     __ci_budget -= cost;
 *     if (__ci_budget < 0) __ci_slow_path(cost);
 *
 * where __ci_budget is a per-thread countdown of IR instructions.  This runtime owns the
 * countdown: it decides when the next slow path is due, keeps per-thread accounting, and calls
 * the user's handler roughly every N IR instructions (IR mode) or every N TSC cycles (cycles
 * mode).
 *
 * Every piece of state here is PER THREAD: a thread that never calls register_ci() never runs a
 * handler, and threads created by a registered thread do not inherit its registration (use
 * ci_autostart.o for "every thread" behaviour).
 *
 * Link against libci_rt.a (static) or libci_rt.so (one shared counter per thread across many
 * instrumented shared objects); see compiler_interrupts.runtime.build.
 */
#ifndef CI_LIB_H
#define CI_LIB_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CI_API __attribute__((visibility("default")))
#else
#define CI_API
#endif

/* Handler: receives this thread's cumulative IR instruction count (all instrumented code this
 * thread has executed so far, including earlier handler runs). */
typedef void (*ci_handler)(long);

/* Margin hook for ci_disable/ci_enable: receives the cumulative IR instruction count. */
typedef void (*ci_margin_hook)(long);

/*
 * Register `handler` for the calling thread (replacing any previous registration).
 *
 *  - cycles_interval <= 0: IR mode.  The handler fires each time `ir_interval` IR instructions
 *    have been executed since registration (instructions executed inside the handler itself do
 *    not count towards the next interval).
 *  - cycles_interval > 0: cycles mode.  Target `cycles_interval` TSC cycles (nanoseconds on
 *    architectures without a TSC) between the end of one handler call and the start of the
 *    next.  `ir_interval > 0` is the initial budget in IR instructions; `ir_interval <= 0` lets
 *    the runtime choose (it learns the thread's cycles per IR instruction online).
 *  - both <= 0: a one-line error is printed to stderr and nothing is registered (an existing
 *    registration is left untouched).
 *
 * The handler is never re-entered.  It may call any function of this API (deregister_ci() from
 * inside the handler stops further calls; register_ci() from inside replaces the handler for
 * subsequent calls).
 */
CI_API void register_ci(int ir_interval, int cycles_interval, ci_handler handler);

/* Stop calling the handler on this thread.  Instruction accounting continues. */
CI_API void deregister_ci(void);

/*
 * Disable/enable interrupt delivery on this thread.  Calls nest (a counter).  While disabled,
 * an interrupt that becomes due is remembered as pending (not lost, not repeated) and delivered
 * exactly once when the outermost ci_enable() runs.  ci_enable() without a matching
 * ci_disable() is ignored.
 */
CI_API void ci_disable(void);
CI_API void ci_enable(void);

/* Hook run (with the cumulative count) at the outermost ci_disable(), after delivery has been
 * disabled.  Per thread; NULL removes it. */
CI_API void register_ci_disable_hook(ci_margin_hook hook);

/* Hook run (with the cumulative count) at the outermost ci_enable(), just before delivery is
 * re-enabled and any pending interrupt is delivered.  Per thread; NULL removes it. */
CI_API void register_ci_enable_hook(ci_margin_hook hook);

/*
 * From inside the handler only: ask for fn(arg) to be called once the runtime is done with
 * this interrupt -- after the handler has returned, the next deadline is armed and the thread
 * is no longer "in the handler" -- on the same stack, just before control returns to the
 * interrupted code.  fn may switch stacks (a user-level thread scheduler preempting the
 * running thread): other code run meanwhile receives interrupts as usual, and when the
 * interrupted context is resumed, fn returns and so does the probe.  errno is restored after
 * fn returns.  At most one per handler call (a second call replaces the first).  Returns 0, or
 * -1 (nothing registered) when called outside a handler or with fn == NULL.
 */
CI_API int ci_after_handler(void (*fn)(void *), void *arg);

/* This thread's cumulative IR instruction count so far (exact, including the part of the
 * current budget already consumed). */
CI_API long ci_instruction_count(void);

/* Number of times this thread's handler has been invoked. */
CI_API long ci_handler_calls(void);

/* ---------------------------------------------------------------------------------------
 * ABI shared with instrumented code.  Users normally never touch these directly.
 * --------------------------------------------------------------------------------------- */

/* Per-thread countdown of IR instructions (initial-exec TLS).  Holds a huge value (1<<62)
 * while no handler is registered. */
extern __thread int64_t __ci_budget __attribute__((tls_model("initial-exec")));

/* Called by a probe after it subtracted `probe_cost` and the budget went negative.  Safe to
 * call from any instrumented code at any time, including signal handlers; preserves errno. */
CI_API void __ci_slow_path(int64_t probe_cost);

/* A hand-written probe, exactly what the compiler pass emits. */
#define CI_PROBE(cost)                                        \
    do {                                                      \
        __ci_budget -= (cost);                                \
        if (__builtin_expect(__ci_budget < 0, 0))             \
            __ci_slow_path(cost);                             \
    } while (0)

/* Diagnostics (runtime-internal names, stable enough for ci_autostart.o and tests). */

/* The runtime's clock: TSC on x86-64 (lfence; rdtsc), else CLOCK_MONOTONIC_RAW in ns. */
CI_API uint64_t __ci_timestamp(void);

/* Number of times this thread entered the slow path (every probe whose countdown went
 * negative), handler deliveries included: a measure of the runtime's own overhead. */
CI_API long __ci_slow_path_entries(void);

/* Cycles mode: the runtime's clock reading at the start of the current period (registration,
 * or the end of the previous handler call), so a handler can time its interval with one clock
 * read of its own.  0 in IR mode. */
CI_API uint64_t __ci_period_start(void);

/* This thread's learned cycles per IR instruction (0.0 until calibrated; only learned in
 * cycles mode). */
CI_API double __ci_cycles_per_instr(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CI_LIB_H */
