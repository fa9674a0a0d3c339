/* Runtime of Compiler Interrupts for Numba-jitted code.
 *
 * Numba's JIT (MCJIT) cannot define thread_local variables, so this small shared library, loaded
 * with ctypes, owns the per-thread state:
 *
 *   - ci_nb_budget: the countdown the probes decrement, an initial-exec TLS variable. Jitted code
 *     reaches it %fs-relative: `ci_nb_tls_off` holds its offset from the thread pointer (the
 *     same in every thread), so a probe is `sub $cost, %fs:(off)` (or a register, see the pass).
 *   - struct ci_nb_state, one per thread (heap, freed at thread exit): interval, deadline, cancel
 *     token, progress callback, user handler, counters; mirrored by a ctypes Structure in
 *     state.py (keep the two in sync).
 *
 * ci_nb_slow() is the probe slow path. Probes in functions that follow Numba's calling convention
 * call it with can_fail=1: a non-zero result makes the function return Numba's "Python error
 * set" status (-1), which callers propagate up to the CPython wrapper. Other probes pass
 * can_fail=0; a stop they detect is deferred (budget 0) to the next probe that can fail.
 *
 * No Python headers are needed: the few C-API functions used are declared here and resolved
 * against the running interpreter when the library is loaded.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define IE __attribute__((tls_model("initial-exec")))

/* ---- the Python C-API subset we call (stable ABI functions) ---- */
typedef struct _object PyObject;
typedef int PyGILState_STATE;
typedef struct _ts PyThreadState;
extern PyThreadState *PyEval_SaveThread(void);
extern void PyEval_RestoreThread(PyThreadState *);
extern int PyGILState_Check(void);
extern PyGILState_STATE PyGILState_Ensure(void);
extern void PyGILState_Release(PyGILState_STATE);
extern int PyErr_CheckSignals(void);
extern void PyErr_SetString(PyObject *, const char *);
extern void PyErr_SetNone(PyObject *);
extern PyObject *PyErr_Occurred(void);
extern void PyErr_Clear(void);
extern PyObject *PyObject_CallNoArgs(PyObject *);
extern int PyObject_IsTrue(PyObject *);
extern void Py_DecRef(PyObject *);

/* ---- reasons an interrupt stops the jitted code ---- */
enum {
    CI_NB_NONE = 0,
    CI_NB_CANCEL = 1,   /* a cancel token was set */
    CI_NB_DEADLINE = 2, /* deadline() expired */
    CI_NB_PYERR = 3,    /* a Python signal handler or the progress callback raised */
    CI_NB_HANDLER = 4,  /* the user handler asked to stop */
    CI_NB_SIGINT = 5,   /* a parallel worker saw SIGINT: the owner raises KeyboardInterrupt */
};

/* handler kinds (low bits) */
enum { CI_NB_H_VOID = 1, CI_NB_H_I32 = 2, CI_NB_H_I64 = 3 };
/* enter() flags */
enum { CI_NB_F_NOGIL = 1, CI_NB_F_PARALLEL = 2 };

/* One active cancel scope: the token's flag (owned by a Python CancelToken, any thread may set
 * it) and the enclosing scope on this thread. */
typedef struct ci_nb_token {
    volatile int32_t *flag;
    struct ci_nb_token *parent;
} ci_nb_token;

typedef struct ci_nb_state ci_nb_state;
struct ci_nb_state {
    int64_t interval;          /* budget at each refill (IR instructions) */
    int64_t refill;            /* budget value at the last refill */
    int64_t instructions;      /* IR instructions counted in the current outermost call */
    int64_t last_instructions; /* ... in the last finished outermost call */
    int64_t slow_calls;        /* slow-path entries (all time) */
    int64_t handler_calls;     /* user handler calls (all time) */
    int64_t deadline_ns;       /* CLOCK_MONOTONIC; INT64_MAX: none */
    int64_t progress_period_ns; /* 0: no progress callback */
    int64_t progress_next_ns;
    PyObject *progress_cb;     /* borrowed: the Python side keeps it alive */
    ci_nb_token *token;        /* innermost active cancel scope (chain via parent) */
    void *handler;             /* native user handler, called with the instruction count */
    int32_t handler_kind;
    int32_t depth;             /* nesting of CPython-wrapper entries */
    int32_t pending;           /* reason of the interrupt being delivered (sticky until leave) */
    int32_t deferred;          /* reason found where the code could not fail (atomic) */
    int64_t sigint_seen;       /* g_sigint_count when last looked at */
    int32_t is_main;           /* the process's main thread */
    int32_t interrupts;        /* interrupts delivered (all time) */
    ci_nb_state *owner;        /* parallel worker: the state of the thread that launched us */
    int64_t par_sigint;        /* g_sigint_count when this thread launched a parallel region */
    int64_t yield_ns;          /* allow_threads(): let other Python threads run this often */
    int64_t yield_next_ns;
    int64_t yields;            /* GIL hand-overs made (all time) */
};

EXPORT __thread int64_t ci_nb_budget IE = INT64_MAX / 4;
static __thread ci_nb_state *tls_state IE;
EXPORT int64_t ci_nb_tls_off;
EXPORT int64_t ci_nb_default_interval = 50000;

static pthread_key_t g_key;
static pid_t g_main_tid;
static PyObject *g_exc_timeout, *g_exc_cancelled, *g_exc_keyboard;
static PyObject *g_sigint_is_default; /* callable -> bool: Python's SIGINT handler is the default */
static volatile int64_t g_sigint_count;
static struct sigaction g_prev_sigint;
static volatile int g_hook_installed;

static inline char *thread_pointer(void) {
    char *tp;
#if defined(__x86_64__)
    __asm__("mov %%fs:0, %0" : "=r"(tp));
#elif defined(__aarch64__)
    __asm__("mrs %0, tpidr_el0" : "=r"(tp));
#else
    tp = (char *)__builtin_thread_pointer();
#endif
    return tp;
}

static void free_state(void *p) { free(p); }

__attribute__((constructor)) static void ci_nb_init(void) {
    ci_nb_tls_off = (int64_t)((char *)&ci_nb_budget - thread_pointer());
    pthread_key_create(&g_key, free_state);
    g_main_tid = getpid();
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

EXPORT int64_t ci_nb_now(void) { return now_ns(); }

static ci_nb_state *new_state(void) {
    ci_nb_state *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->interval = ci_nb_default_interval;
    s->refill = ci_nb_budget = s->interval;
    s->deadline_ns = INT64_MAX;
    s->is_main = (pid_t)syscall(SYS_gettid) == g_main_tid;
    s->sigint_seen = g_sigint_count;
    tls_state = s;
    pthread_setspecific(g_key, s);
    return s;
}

static inline ci_nb_state *state(void) {
    ci_nb_state *s = tls_state;
    return s ? s : new_state();
}

EXPORT ci_nb_state *ci_nb_state_ptr(void) { return state(); }
EXPORT int64_t ci_nb_get_budget(void) { return ci_nb_budget; }
EXPORT void ci_nb_set_budget(int64_t b) { state()->refill = ci_nb_budget = b; }
EXPORT int32_t ci_nb_state_size(void) { return (int32_t)sizeof(ci_nb_state); }

EXPORT void ci_nb_configure(PyObject *timeout, PyObject *cancelled, PyObject *keyboard,
                            PyObject *sigint_is_default) {
    g_exc_timeout = timeout;
    g_exc_cancelled = cancelled;
    g_exc_keyboard = keyboard;
    g_sigint_is_default = sigint_is_default;
}

/* ---- SIGINT: count signals so that threads without the GIL notice Ctrl-C ---- */

static void sigint_hook(int sig, siginfo_t *info, void *uc) {
    __atomic_add_fetch(&g_sigint_count, 1, __ATOMIC_SEQ_CST);
    if (g_prev_sigint.sa_flags & SA_SIGINFO) {
        if (g_prev_sigint.sa_sigaction) g_prev_sigint.sa_sigaction(sig, info, uc);
    } else if (g_prev_sigint.sa_handler != SIG_DFL && g_prev_sigint.sa_handler != SIG_IGN) {
        g_prev_sigint.sa_handler(sig);
    }
}

static int hook_active(void) {
    struct sigaction cur;
    if (sigaction(SIGINT, NULL, &cur) != 0) return 0;
    return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == sigint_hook;
}

/* Chain our counter in front of CPython's C-level SIGINT handler, but only while Python's
 * handler is the default one (so a counted signal means KeyboardInterrupt). Python's
 * signal.signal() replaces the hook; it is re-checked at the next nogil/parallel entry.
 * Needs the GIL (calls g_sigint_is_default). Returns 1 if the hook is active. */
EXPORT int ci_nb_ensure_sigint_hook(void) {
    if (hook_active()) return 1;
    if (!g_sigint_is_default) return 0;
    PyObject *r = PyObject_CallNoArgs(g_sigint_is_default);
    if (!r) {
        PyErr_Clear();
        return 0;
    }
    int is_default = PyObject_IsTrue(r) == 1;
    Py_DecRef(r);
    if (!is_default) return 0;
    struct sigaction cur, hook;
    if (sigaction(SIGINT, NULL, &cur) != 0) return 0;
    memset(&hook, 0, sizeof hook);
    hook.sa_sigaction = sigint_hook;
    hook.sa_mask = cur.sa_mask;
    hook.sa_flags = (cur.sa_flags | SA_SIGINFO) & ~SA_RESETHAND;
    g_prev_sigint = cur;
    if (sigaction(SIGINT, &hook, NULL) != 0) return 0;
    g_hook_installed = 1;
    return 1;
}

EXPORT int64_t ci_nb_sigint_count(void) { return g_sigint_count; }

/* ---- the slow path ---- */

static int token_set(ci_nb_token *t) {
    for (; t; t = t->parent)
        if (t->flag && __atomic_load_n(t->flag, __ATOMIC_RELAXED)) return 1;
    return 0;
}

static void set_error(int reason) {
    switch (reason) {
    case CI_NB_DEADLINE:
        PyErr_SetString(g_exc_timeout, "deadline exceeded in jitted code");
        break;
    case CI_NB_CANCEL:
        PyErr_SetString(g_exc_cancelled, "jitted code cancelled");
        break;
    case CI_NB_HANDLER:
        PyErr_SetString(g_exc_cancelled, "stopped by the interrupt handler");
        break;
    default: /* CI_NB_PYERR whose error was cleared, CI_NB_SIGINT */
        PyErr_SetNone(g_exc_keyboard);
        break;
    }
}

/* Deliver `reason` as a Python exception (the GIL is taken if needed) and make every later probe
 * on this thread fail too until the CPython wrapper returns. */
static int32_t fail(ci_nb_state *s, int reason) {
    int gil = PyGILState_Check();
    PyGILState_STATE g = 0;
    if (!gil) g = PyGILState_Ensure();
    if (reason == CI_NB_SIGINT) {
        /* A worker aborted its chunk on SIGINT: the results are incomplete, so we must raise. */
        if (PyErr_CheckSignals() < 0) reason = CI_NB_PYERR;
    }
    if (reason != CI_NB_PYERR || !PyErr_Occurred()) {
        if (!PyErr_Occurred()) set_error(reason);
    }
    if (!gil) PyGILState_Release(g);
    s->pending = reason;
    s->interrupts++;
    __atomic_store_n(&s->deferred, 0, __ATOMIC_RELAXED);
    ci_nb_budget = s->refill = 0;
    return -1;
}

/* The interrupt is being delivered: fail again (the error may have been caught and cleared by a
 * Numba try/except in between; then set it again). */
static int32_t fail_again(ci_nb_state *s) {
    int gil = PyGILState_Check();
    PyGILState_STATE g = 0;
    if (!gil) g = PyGILState_Ensure();
    if (!PyErr_Occurred()) set_error(s->pending);
    if (!gil) PyGILState_Release(g);
    ci_nb_budget = s->refill = 0;
    return -1;
}

static void defer(ci_nb_state *target, int reason) {
    int32_t zero = 0;
    __atomic_compare_exchange_n(&target->deferred, &zero, reason, 0, __ATOMIC_RELAXED,
                                __ATOMIC_RELAXED);
}

/* A parallel worker: stop the chunk when the launching thread will raise anyway. Workers never
 * call handlers or Python. */
static int32_t worker_slow(ci_nb_state *s, ci_nb_state *o, int32_t can_fail) {
    int reason = __atomic_load_n(&o->deferred, __ATOMIC_RELAXED);
    if (!reason) reason = o->pending;
    if (!reason && token_set(o->token)) reason = CI_NB_CANCEL;
    if (!reason && o->deadline_ns != INT64_MAX && now_ns() >= o->deadline_ns)
        reason = CI_NB_DEADLINE;
    if (!reason && o->is_main && g_hook_installed &&
        __atomic_load_n(&g_sigint_count, __ATOMIC_RELAXED) != o->par_sigint)
        reason = CI_NB_SIGINT;
    if (!reason) return 0;
    defer(o, reason);
    ci_nb_budget = s->refill = 0; /* keep failing fast until the chunk is left */
    return can_fail ? -1 : 0;
}

static int call_handler(ci_nb_state *s) {
    s->handler_calls++;
    int64_t ic = s->instructions;
    switch (s->handler_kind) {
    case CI_NB_H_VOID:
        ((void (*)(int64_t))s->handler)(ic);
        return 0;
    case CI_NB_H_I32:
        return ((int32_t(*)(int64_t))s->handler)(ic) != 0;
    case CI_NB_H_I64:
        return ((int64_t(*)(int64_t))s->handler)(ic) != 0;
    }
    return 0;
}

EXPORT int32_t ci_nb_slow(int64_t cost, int32_t can_fail) {
    (void)cost;
    ci_nb_state *s = state();
    int64_t b = ci_nb_budget;
    s->instructions += s->refill - b;
    s->slow_calls++;
    if (s->pending) {
        if (!can_fail) {
            ci_nb_budget = s->refill = 0;
            return 0;
        }
        return fail_again(s);
    }
    ci_nb_budget = s->refill = s->interval;
    ci_nb_state *o = s->owner;
    if (o) return worker_slow(s, o, can_fail);

    int reason = __atomic_load_n(&s->deferred, __ATOMIC_RELAXED);
    if (!reason && s->handler && call_handler(s)) reason = CI_NB_HANDLER;
    if (!reason && s->token && token_set(s->token)) reason = CI_NB_CANCEL;
    int64_t now = 0;
    if (!reason && (s->deadline_ns != INT64_MAX || s->progress_period_ns || s->yield_ns)) {
        now = now_ns();
        if (now >= s->deadline_ns) reason = CI_NB_DEADLINE;
    }
    if (!reason && s->yield_ns && now >= s->yield_next_ns) {
        s->yield_next_ns = now + s->yield_ns;
        if (PyGILState_Check()) {
            /* Like the interpreter's switch interval: a thread waiting for the GIL gets it. */
            PyThreadState *ts = PyEval_SaveThread();
            PyEval_RestoreThread(ts);
            s->yields++;
            if (s->deadline_ns != INT64_MAX || s->progress_period_ns) now = now_ns();
            if (s->token && token_set(s->token)) reason = CI_NB_CANCEL;
        }
    }
    if (!can_fail) {
        if (reason) {
            defer(s, reason);
            ci_nb_budget = s->refill = 0;
        }
        return 0;
    }
    if (reason) return fail(s, reason);

    /* Python-level checks: pending signals (Ctrl-C) and the progress callback. */
    int gil = PyGILState_Check();
    if (gil) {
        if (PyErr_CheckSignals() < 0) return fail(s, CI_NB_PYERR);
    } else if (s->is_main) {
        int64_t c = __atomic_load_n(&g_sigint_count, __ATOMIC_RELAXED);
        if (c != s->sigint_seen) {
            s->sigint_seen = c;
            PyGILState_STATE g = PyGILState_Ensure();
            int r = PyErr_CheckSignals();
            PyGILState_Release(g);
            if (r < 0) return fail(s, CI_NB_PYERR);
        }
    }
    if (s->progress_period_ns && now >= s->progress_next_ns) {
        s->progress_next_ns += s->progress_period_ns;
        if (s->progress_next_ns <= now) s->progress_next_ns = now + s->progress_period_ns;
        PyGILState_STATE g = 0;
        if (!gil) g = PyGILState_Ensure();
        PyObject *r = PyObject_CallNoArgs(s->progress_cb);
        if (r) Py_DecRef(r);
        if (!gil) PyGILState_Release(g);
        if (!r) return fail(s, CI_NB_PYERR);
    }
    return 0;
}

/* ---- hooks inserted into the CPython wrappers and parallel kernels ---- */

EXPORT void ci_nb_enter(int32_t flags) {
    ci_nb_state *s = state();
    if (s->depth++ == 0) {
        s->pending = 0;
        s->deferred = 0;
        s->instructions = 0;
        ci_nb_budget = s->refill = s->interval;
    }
    if ((flags & (CI_NB_F_NOGIL | CI_NB_F_PARALLEL)) && s->is_main && !hook_active())
        ci_nb_ensure_sigint_hook();
    s->sigint_seen = g_sigint_count;
}

EXPORT void ci_nb_leave(void) {
    ci_nb_state *s = state();
    s->pending = 0;
    if (s->depth > 0 && --s->depth == 0) {
        s->instructions += s->refill - ci_nb_budget;
        s->refill = ci_nb_budget;
        s->last_instructions = s->instructions;
        s->deferred = 0;
    }
}

/* Around numba_parallel_for in a parfor kernel (the launching thread): the returned pointer is
 * passed to the workers as the gufunc's `data` argument. */
EXPORT ci_nb_state *ci_nb_par_begin(void) {
    ci_nb_state *s = state();
    s->par_sigint = g_sigint_count;
    return s;
}

EXPORT void ci_nb_par_end(ci_nb_state *s) {
    /* A worker stopped early: make the next probe of this thread take the slow path. */
    if (__atomic_load_n(&s->deferred, __ATOMIC_RELAXED)) ci_nb_budget = s->refill = 0;
}

/* At entry / exit of the parfor gufunc (any thread, launching thread included). */
EXPORT void ci_nb_worker_enter(ci_nb_state *owner) {
    ci_nb_state *s = state();
    if (owner && owner != s) {
        s->owner = owner;
        s->interval = owner->interval;
        ci_nb_budget = s->refill = s->interval;
    }
}

EXPORT void ci_nb_worker_leave(void) {
    ci_nb_state *s = state();
    if (s->owner) {
        s->owner = NULL;
        ci_nb_budget = s->refill = s->interval;
    }
}
