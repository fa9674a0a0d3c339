// sched_server.cc -- the sched application: a LevelDB service on one worker core with green
// threads preempted by Compiler Interrupts (or timer signals), fed by an open-loop Poisson load
// generator process on the other core over a shared-memory ring; and a CPU-bound batch job that
// hosts the dataplane in its CI handler.
//
// Built with ci-c++ and linked with LevelDB built by ci-c++ with the same design (ci/naive for
// the CI policies, none for the baselines).  One invocation runs one policy at one or more
// offered loads and prints one JSON object per load point on stdout.
//
//   sched_server --db DIR --load                 create the database (NKEYS keys)
//   sched_server --db DIR --calibrate            mean service time of GET / SCAN, capacity
//   sched_server --db DIR --exp A --policy P [--quantum-us Q] --rates R1,R2,.. --ms D
//       P = fcfs | ci | signal.  Requests run on per-request green threads (a pool of
//       contexts); fcfs runs each to completion; ci registers a CI handler (IR mode, about
//       every quantum/4) that preempts the running request when it has used its quantum and
//       other work is waiting; signal does the same from a periodic per-thread POSIX timer.
//   sched_server --db DIR --exp B --variant V --rate R --ms D
//       V = solo | ci | dedicated | dedicated-spin | coarse (see run.py).
//   sched_server --selftest NAME                 correctness checks used by the tests.
//   sched_server --noise MS                      stalls of both cores (TSC gaps > 10 us).
//
// Preemption by CI.  The handler (ci_tick) only decides: when the running request has used its
// quantum and other work waits, it registers ci_preempt_after with ci_after_handler().  The
// runtime calls that function once it is done with the interrupt (handler returned, budget
// re-armed, no longer "in handler"), on the green thread's stack, just before the probe
// returns; it saves the thread's callee-saved state with sched_switch (ctx_switch.S) and
// switches to the scheduler.  Everything else the interrupted code had live is saved by the
// slow path itself (a preserve_all call, or an ordinary call whose caller spilled); errno is
// restored by the runtime when the thread is resumed and the function returns.  Other green
// threads run meanwhile with interrupts armed as usual.
//
// Preemption by timer signal.  The signal handler cannot switch stacks either (the kernel's
// signal frame is on the thread's stack, and the handler may have interrupted anything), so it
// rewrites the RIP of the signal's ucontext to sched_preempt_tramp (ctx_switch.S), keeping the
// original in the green thread; after sigreturn the trampoline saves every register and the
// extended state and switches to the scheduler.  Signals are ignored while the thread runs
// outside this executable (libc: malloc's locks).
//
// Both: preemption is deferred while the thread holds a pthread mutex (LevelDB's DB and cache
// mutexes; counted by --wrap'ed lock functions) and happens at the outermost unlock.
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <fenv.h>
#include <cpuid.h>
#include <math.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "leveldb/cache.h"
#include "leveldb/db.h"
#include "leveldb/iterator.h"
#include "leveldb/options.h"
#include "leveldb/write_batch.h"

#include <ci_lib.h>

extern "C" {
void sched_switch(void **save_sp, void *new_sp);
void sched_ctx_entry(void);
void sched_preempt_tramp(void);
int sched_test_callee_saved(void **save_sp, void *new_sp);
void sched_preempted(uint64_t *slot);
extern char __executable_start[];
extern char etext[];
}

// ------------------------------------------------------------------------------------------
// small utilities

static inline uint64_t rdtsc(void) {
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}
#define FENCE() __atomic_signal_fence(__ATOMIC_SEQ_CST)
static inline void cpu_relax(void) { __asm__ __volatile__("pause" ::: "memory"); }

static double g_tsc_hz;

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void calibrate_tsc(void) {
    const char *env = getenv("CI_TSC_HZ");
    if (env && *env) {
        g_tsc_hz = atof(env);
        return;
    }
    double t0 = mono_s();
    uint64_t c0 = rdtsc();
    while (mono_s() - t0 < 0.02) {
    }
    double t1 = mono_s();
    uint64_t c1 = rdtsc();
    g_tsc_hz = (c1 - c0) / (t1 - t0);
}

static double proc_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sched_server: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static int pin_cpu(int cpu) {
    if (cpu < 0) return 0;
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    return sched_setaffinity(0, sizeof s, &s);
}

static inline uint64_t splitmix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// Checksum of a value read from the database (every byte counts).  Eight bytes per multiply: a
// byte-wise FNV-1a (one dependent multiply per byte) cost ~0.4 us per 100-byte value, 60% of a
// 1,000-key SCAN (120 us instead of LevelDB's ~47 us).
static inline uint64_t value_hash(const char *p, size_t n) {
    uint64_t h = n * 0x9e3779b97f4a7c15ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 29;
    }
    if (i < n) {
        uint64_t w = 0;
        memcpy(&w, p + i, n - i);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 29;
    }
    return splitmix(h);
}

// ------------------------------------------------------------------------------------------
// the database: NKEYS keys "%010u", values of VALUE_LEN bytes derived from the key

static uint32_t g_nkeys = 100000;
static const int VALUE_LEN = 100;
static int g_scan_len = 1000;
static leveldb::DB *g_db;

static void make_key(uint32_t k, char *buf) { snprintf(buf, 16, "%010u", k); }

static void make_value(uint32_t k, char *v) {
    uint64_t s = splitmix(k * 0x100000001b3ull + 7);
    for (int i = 0; i < VALUE_LEN; i += 8) {
        s = splitmix(s);
        for (int j = 0; j < 8 && i + j < VALUE_LEN; j++) v[i + j] = 'a' + (char)((s >> (8 * j)) % 26);
    }
}

static uint64_t expect_get(uint32_t k) {
    char v[VALUE_LEN];
    make_value(k, v);
    return value_hash(v, VALUE_LEN);
}

static inline uint64_t scan_mix(uint64_t h, uint64_t item) { return splitmix(h ^ item); }

static uint64_t expect_scan(uint32_t k) {
    uint64_t h = 0x5ca9;
    uint32_t n = 0;
    for (uint32_t i = k; i < g_nkeys && n < (uint32_t)g_scan_len; i++, n++) h = scan_mix(h, expect_get(i));
    return h ^ n;
}

static void db_open(const char *dir, bool create) {
    leveldb::Options o;
    o.create_if_missing = create;
    o.compression = leveldb::kNoCompression;
    o.block_cache = leveldb::NewLRUCache(256 << 20);
    o.write_buffer_size = 16 << 20;
    leveldb::Status st = leveldb::DB::Open(o, dir, &g_db);
    if (!st.ok()) die("open %s: %s", dir, st.ToString().c_str());
}

static void db_load(const char *dir) {
    db_open(dir, true);
    char k[16], v[VALUE_LEN];
    leveldb::WriteOptions wo;
    for (uint32_t base = 0; base < g_nkeys; base += 1000) {
        leveldb::WriteBatch b;
        for (uint32_t i = base; i < base + 1000 && i < g_nkeys; i++) {
            make_key(i, k);
            make_value(i, v);
            b.Put(leveldb::Slice(k, 10), leveldb::Slice(v, VALUE_LEN));
        }
        leveldb::Status st = g_db->Write(wo, &b);
        if (!st.ok()) die("write: %s", st.ToString().c_str());
    }
    g_db->CompactRange(nullptr, nullptr);
    delete g_db;
    g_db = nullptr;
}

// The requests.  Both return a hash of what they read (checked against expect_*).
static uint64_t do_get(uint32_t key) {
    char k[16];
    make_key(key, k);
    std::string v;
    leveldb::Status st = g_db->Get(leveldb::ReadOptions(), leveldb::Slice(k, 10), &v);
    if (!st.ok()) return 0;
    return value_hash(v.data(), v.size());
}

static uint64_t do_scan(uint32_t key) {
    char k[16];
    make_key(key, k);
    leveldb::Iterator *it = g_db->NewIterator(leveldb::ReadOptions());
    uint64_t h = 0x5ca9;
    uint32_t n = 0;
    for (it->Seek(leveldb::Slice(k, 10)); it->Valid() && n < (uint32_t)g_scan_len; it->Next(), n++) {
        leveldb::Slice v = it->value();
        h = scan_mix(h, value_hash(v.data(), v.size()));
    }
    delete it;
    return h ^ n;
}

enum { REQ_GET = 0, REQ_SCAN = 1 };

static inline uint64_t do_request(int type, uint32_t key) {
    return type == REQ_SCAN ? do_scan(key) : do_get(key);
}

// ------------------------------------------------------------------------------------------
// shared memory between the worker and the load generator

static const uint32_t RING = 4096;  // power of two

struct Slot {
    uint32_t id, type, key, pad;
};

struct alignas(64) Shm {
    alignas(64) std::atomic<uint64_t> tail;  // published by the load generator
    alignas(64) std::atomic<uint64_t> head;  // consumed by the worker (for the full check)
    alignas(64) std::atomic<uint32_t> sleeping;  // exp B dedicated: futex word
    alignas(64) std::atomic<uint32_t> cmd;   // bumped by the worker: run the schedule
    std::atomic<uint32_t> quit;
    std::atomic<int> lg_done;
    std::atomic<uint64_t> t0;  // TSC of the schedule's origin (set by the load generator)
    uint64_t n;                // requests in the schedule
    int wake;                  // load generator wakes a sleeping dataplane thread
    uint64_t full_spins;
    alignas(64) Slot ring[RING];
};

static Shm *g_shm;
static uint64_t g_head;  // worker's private copy of head

// The schedule of one load point: in shared memory, written by the worker before it starts
// the load generator (which was forked at start-up, while the address space was small: a
// fork after the database and the stacks are mapped makes every later write of the worker a
// copy-on-write fault, milliseconds of stalls).
struct Schedule {
    uint64_t n;
    uint64_t *off;  // arrival offsets (TSC ticks) from t0
    uint8_t *type;
    uint32_t *key;
    uint64_t *sent;  // TSC at which the load generator actually published it
};
static uint64_t g_sched_cap;
static Schedule g_schedule;

static Schedule make_schedule(double rate, double seconds, double scan_frac, uint64_t seed) {
    Schedule s = g_schedule;
    uint64_t n = (uint64_t)(rate * seconds);
    if (n < 1) n = 1;
    if (n > g_sched_cap) die("schedule of %" PRIu64 " requests > capacity %" PRIu64, n, g_sched_cap);
    s.n = n;
    uint64_t r = seed * 0x9e3779b97f4a7c15ull + 12345;
    double t = 0;
    for (uint64_t i = 0; i < n; i++) {
        r = splitmix(r);
        double u = ((r >> 11) + 0.5) * (1.0 / 9007199254740992.0);
        t += -log(u) / rate;
        s.off[i] = (uint64_t)(t * g_tsc_hz);
        r = splitmix(r);
        s.type[i] = ((r >> 11) * (1.0 / 9007199254740992.0)) < scan_frac ? REQ_SCAN : REQ_GET;
        r = splitmix(r);
        s.key[i] = (uint32_t)((r >> 16) % g_nkeys);
    }
    return s;
}

static void lg_run(void) {
    Shm *m = g_shm;
    const Schedule &s = g_schedule;
    uint64_t n = m->n;
    uint64_t t0 = rdtsc() + (uint64_t)(100e-6 * g_tsc_hz);
    m->t0.store(t0, std::memory_order_release);
    uint64_t tail = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t due = t0 + s.off[i];
        while (rdtsc() < due) cpu_relax();
        s.sent[i] = rdtsc();  // lateness of the generator itself (a full ring is not counted)
        while (tail - m->head.load(std::memory_order_acquire) >= RING) {
            m->full_spins++;
            cpu_relax();
            if (m->quit.load(std::memory_order_relaxed)) return;
        }
        Slot &sl = m->ring[tail & (RING - 1)];
        sl.id = (uint32_t)i;
        sl.type = s.type[i];
        sl.key = s.key[i];
        tail++;
        m->tail.store(tail, std::memory_order_release);
        if (m->wake) {
            std::atomic_thread_fence(std::memory_order_seq_cst);
            if (m->sleeping.load(std::memory_order_relaxed)) {
                m->sleeping.store(0, std::memory_order_relaxed);
                syscall(SYS_futex, (uint32_t *)&m->sleeping, FUTEX_WAKE, 1, nullptr, nullptr, 0);
            }
        }
    }
}

static int g_lg_cpu = 1, g_worker_cpu = 0;
static pid_t g_lg_pid = -1;

// Fork the load generator (call early: small address space).
static void lg_fork(uint64_t cap) {
    g_sched_cap = cap;
    size_t bytes = cap * (8 + 8 + 1 + 4) + 4096;
    char *p = (char *)mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) die("mmap schedule");
    g_schedule.off = (uint64_t *)p;
    g_schedule.key = (uint32_t *)(p + cap * 8);
    g_schedule.sent = (uint64_t *)(p + cap * 12);
    g_schedule.type = (uint8_t *)(p + cap * 20);
    fflush(stdout);
    fflush(stderr);
    pid_t ppid = getpid();
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != ppid) _exit(1);
        pin_cpu(g_lg_cpu);
        uint32_t seen = 0;
        for (;;) {
            uint32_t c = g_shm->cmd.load(std::memory_order_acquire);
            if (g_shm->quit.load(std::memory_order_acquire)) _exit(0);
            if (c == seen) {
                usleep(50);
                continue;
            }
            seen = c;
            lg_run();
            g_shm->lg_done.store(1, std::memory_order_release);
        }
    }
    g_lg_pid = pid;
}

static void lg_quit(void) {
    if (g_lg_pid <= 0) return;
    g_shm->quit.store(1, std::memory_order_release);
    int st;
    for (int i = 0; i < 200; i++) {
        if (waitpid(g_lg_pid, &st, WNOHANG) == g_lg_pid) {
            g_lg_pid = -1;
            return;
        }
        usleep(1000);
    }
    kill(g_lg_pid, SIGKILL);
    waitpid(g_lg_pid, &st, 0);
    g_lg_pid = -1;
}

// Start the load generator on schedule `s`; returns t0 once it has chosen it.
static uint64_t lg_start(const Schedule &s, int wake) {
    Shm *m = g_shm;
    m->tail.store(0);
    m->head.store(0);
    m->sleeping.store(0);
    m->lg_done.store(0);
    m->t0.store(0);
    m->full_spins = 0;
    m->n = s.n;
    m->wake = wake;
    g_head = 0;
    m->cmd.fetch_add(1, std::memory_order_acq_rel);
    uint64_t give_up = rdtsc() + (uint64_t)(2 * g_tsc_hz);
    while (!m->t0.load(std::memory_order_acquire)) {
        cpu_relax();
        if (rdtsc() > give_up) die("the load generator does not answer");
    }
    return m->t0.load();
}

static void lg_finish(void) {
    uint64_t give_up = rdtsc() + (uint64_t)(5 * g_tsc_hz);
    while (!g_shm->lg_done.load(std::memory_order_acquire) && rdtsc() < give_up) usleep(100);
}

static inline bool ring_pending(void) {
    return g_shm->tail.load(std::memory_order_acquire) != g_head;
}

static inline bool ring_pop(Slot *out) {
    if (g_shm->tail.load(std::memory_order_acquire) == g_head) return false;
    *out = g_shm->ring[g_head & (RING - 1)];
    g_head++;
    g_shm->head.store(g_head, std::memory_order_release);
    return true;
}

// ------------------------------------------------------------------------------------------
// per-load-point results

static std::vector<uint64_t> g_done;  // completion TSC per request id
static std::vector<uint64_t> g_res;   // result hash per request id
static uint64_t g_completed;

static inline void complete(uint32_t id, uint64_t res) {
    g_res[id] = res;
    g_done[id] = rdtsc();
    g_completed++;
}

// ------------------------------------------------------------------------------------------
// green threads

enum { GT_IDLE = 0, GT_RUNNABLE, GT_PREEMPTED, GT_DONE };

struct GThread {
    void *sp;
    volatile int preemptible;  // running request code: a tick/signal may preempt it
    int state;
    uint32_t id, type, key;
    uint64_t slice_start;
    uint64_t resume_rip;
    uint64_t preemptions;
    char *stack;
    size_t stack_size;
};

static const int NGT = 256;
static const size_t STACK_SIZE = 256 << 10;
static GThread g_gt[NGT];
static GThread *g_free[NGT];
static int g_nfree;
static GThread *g_runq[NGT + 1];  // circular FIFO (at most NGT entries)
static unsigned g_rq_head, g_rq_tail;

static __thread GThread *g_cur;  // running green thread of this OS thread (NULL: scheduler)
static __thread void *g_sched_sp;
static __thread int g_lock_depth __attribute__((tls_model("initial-exec")));
static __thread int g_defer __attribute__((tls_model("initial-exec")));

static uint64_t g_quantum;          // TSC ticks
static uint64_t g_preemptions, g_deferred, g_after_fail, g_after_runs, g_ticks, g_signals,
    g_sig_unsafe;
static uint64_t g_switches;

static inline void rq_push(GThread *t) {
    g_runq[g_rq_tail % (NGT + 1)] = t;
    g_rq_tail++;
}
static inline GThread *rq_pop(void) {
    if (g_rq_head == g_rq_tail) return nullptr;
    GThread *t = g_runq[g_rq_head % (NGT + 1)];
    g_rq_head++;
    return t;
}
static inline bool rq_empty(void) { return g_rq_head == g_rq_tail; }

static void ctx_init(GThread *t, void (*fn)(void *), void *arg) {
    uint64_t *top = (uint64_t *)(t->stack + t->stack_size);
    uint64_t *sp = top - 3;  // sched_ctx_entry starts with rsp 16-aligned
    *sp = (uint64_t)sched_ctx_entry;
    *--sp = 0;               // rbp
    *--sp = 0;               // rbx
    *--sp = (uint64_t)fn;    // r12
    *--sp = (uint64_t)arg;   // r13
    *--sp = 0;               // r14
    *--sp = 0;               // r15
    *--sp = 0x1f80;          // mxcsr (8(%rsp))
    *--sp = 0x037f;          // x87 control word ((%rsp))
    t->sp = sp;
}

static void gt_main(void *arg) {
    GThread *t = (GThread *)arg;
    for (;;) {
        FENCE();
        t->preemptible = 1;
        FENCE();
        uint64_t r = do_request(t->type, t->key);
        FENCE();
        t->preemptible = 0;
        FENCE();
        complete(t->id, r);
        t->state = GT_DONE;
        sched_switch(&t->sp, g_sched_sp);
    }
}

static void gt_pool_init(void) {
    static bool done;
    if (!done) {
        for (int i = 0; i < NGT; i++) {
            GThread *t = &g_gt[i];
            t->stack_size = STACK_SIZE;
            char *p = (char *)mmap(nullptr, STACK_SIZE + 4096, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (p == MAP_FAILED) die("mmap stack");
            mprotect(p, 4096, PROT_NONE);  // guard page
            t->stack = p + 4096;
        }
        done = true;
    }
    g_nfree = 0;
    for (int i = NGT - 1; i >= 0; i--) {
        GThread *t = &g_gt[i];
        t->state = GT_IDLE;
        t->preemptible = 0;
        ctx_init(t, gt_main, t);
        g_free[g_nfree++] = t;
    }
    g_rq_head = g_rq_tail = 0;
}

// move arrivals from the ring to green threads (FIFO), as long as contexts are free
static inline void admit(void) {
    Slot s;
    while (g_nfree > 0 && ring_pop(&s)) {
        GThread *t = g_free[--g_nfree];
        t->id = s.id;
        t->type = s.type;
        t->key = s.key;
        t->state = GT_RUNNABLE;
        rq_push(t);
    }
}

static inline bool work_waiting(void) { return !rq_empty() || ring_pending(); }

// Called from sched_preempt_tramp on the preempted thread's stack, after the interrupt (CI
// handler or signal handler) has fully returned.
extern "C" void sched_preempted(uint64_t *slot) {
    GThread *t = g_cur;
    int saved_errno = errno;  // errno is per OS thread: the next green thread may change it
    *slot = t->resume_rip;
    t->state = GT_PREEMPTED;
    t->preemptions++;
    sched_switch(&t->sp, g_sched_sp);
    errno = saved_errno;
    FENCE();
    t->preemptible = 1;
    FENCE();
}

// A preemption that fell due while a lock was held, taken at the outermost unlock (a call
// boundary: a plain switch is enough).
static void yield_deferred(void) {
    GThread *t = g_cur;
    if (!t || !t->preemptible) return;
    t->preemptible = 0;
    FENCE();
    g_deferred++;
    int saved_errno = errno;
    t->state = GT_PREEMPTED;
    t->preemptions++;
    sched_switch(&t->sp, g_sched_sp);
    errno = saved_errno;
    FENCE();
    t->preemptible = 1;
    FENCE();
}

extern "C" int __real_pthread_mutex_lock(pthread_mutex_t *m);
extern "C" int __real_pthread_mutex_trylock(pthread_mutex_t *m);
extern "C" int __real_pthread_mutex_unlock(pthread_mutex_t *m);

extern "C" int __wrap_pthread_mutex_lock(pthread_mutex_t *m) {
    g_lock_depth++;
    FENCE();
    int r = __real_pthread_mutex_lock(m);
    if (r) g_lock_depth--;
    return r;
}
extern "C" int __wrap_pthread_mutex_trylock(pthread_mutex_t *m) {
    g_lock_depth++;
    FENCE();
    int r = __real_pthread_mutex_trylock(m);
    if (r) g_lock_depth--;
    return r;
}
extern "C" int __wrap_pthread_mutex_unlock(pthread_mutex_t *m) {
    int r = __real_pthread_mutex_unlock(m);
    FENCE();
    if (--g_lock_depth == 0 && g_defer) {
        g_defer = 0;
        yield_deferred();
    }
    return r;
}

// The scheduler: runs on the OS thread's own stack until `n` requests completed or deadline.
static void dispatch_loop(uint64_t n, uint64_t deadline) {
    while (g_completed < n) {
        admit();
        GThread *t = rq_pop();
        if (!t) {
            if (rdtsc() > deadline) break;
            cpu_relax();
            continue;
        }
        g_cur = t;
        t->slice_start = rdtsc();
        g_switches++;
        sched_switch(&g_sched_sp, t->sp);
        g_cur = nullptr;
        if (t->state == GT_DONE) {
            t->state = GT_IDLE;
            g_free[g_nfree++] = t;
        } else {  // preempted: the arrivals of its slice go first
            g_preemptions++;
            admit();
            rq_push(t);
        }
    }
}

// ------------------------------------------------------------------------------------------
// preemption by CI

// Run by the CI runtime after ci_tick returned and the interrupt is over (ci_after_handler), on
// the preempted thread's stack: an ordinary call, so saving the callee-saved state is enough.
static void ci_preempt_after(void *arg) {
    GThread *t = (GThread *)arg;
    t->state = GT_PREEMPTED;
    t->preemptions++;
    g_after_runs++;
    sched_switch(&t->sp, g_sched_sp);
    FENCE();
    t->preemptible = 1;
    FENCE();
}

static void (*g_preempt_fn)(void *) = ci_preempt_after;  // (the selftest wraps it)

__attribute__((noinline)) static void ci_tick(long) {
    g_ticks++;
    GThread *t = g_cur;
    if (!t || !t->preemptible) return;
    if (!work_waiting()) return;
    if (rdtsc() - t->slice_start < g_quantum) return;
    if (g_lock_depth > 0) {
        g_defer = 1;
        return;
    }
    if (ci_after_handler(g_preempt_fn, t) != 0) {
        g_after_fail++;  // (a runtime without it, e.g. the signal design's)
        return;
    }
    t->preemptible = 0;
    FENCE();
}

// ------------------------------------------------------------------------------------------
// preemption by timer signals

static const int SIGNO_OFFSET = 5;
static timer_t g_timer;
static bool g_timer_ok;

static void on_timer_signal(int, siginfo_t *, void *ucv) {
    int saved = errno;
    g_signals++;
    GThread *t = g_cur;
    ucontext_t *uc = (ucontext_t *)ucv;
    if (t && t->preemptible && work_waiting() &&
        rdtsc() - t->slice_start >= g_quantum / 2) {
        uintptr_t rip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
        if (rip < (uintptr_t)__executable_start || rip >= (uintptr_t)etext) {
            g_sig_unsafe++;  // in libc/libstdc++ (malloc's locks...): let it run
        } else if (g_lock_depth > 0) {
            g_defer = 1;
        } else {
            t->resume_rip = rip;
            t->preemptible = 0;
            uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)sched_preempt_tramp;
        }
    }
    errno = saved;
}

static void timer_setup(uint64_t period_ns) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_timer_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGRTMIN + SIGNO_OFFSET, &sa, nullptr);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGRTMIN + SIGNO_OFFSET;
    sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    if (!g_timer_ok) {
        if (timer_create(CLOCK_MONOTONIC, &sev, &g_timer) != 0) die("timer_create");
        g_timer_ok = true;
    }
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_nsec = period_ns;
    its.it_interval.tv_nsec = period_ns;
    timer_settime(g_timer, 0, &its, nullptr);
}

static void timer_stop(void) {
    if (!g_timer_ok) return;
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    timer_settime(g_timer, 0, &its, nullptr);
}

// ------------------------------------------------------------------------------------------
// statistics

struct Pct {
    uint64_t n;
    double mean, p50, p90, p99, p999, max;
};

static Pct pct(std::vector<double> &v) {
    Pct p{};
    p.n = v.size();
    if (v.empty()) return p;
    std::sort(v.begin(), v.end());
    double s = 0;
    for (double x : v) s += x;
    p.mean = s / v.size();
    auto q = [&](double f) {
        size_t i = (size_t)(f * (v.size() - 1) + 0.5);
        return v[std::min(i, v.size() - 1)];
    };
    p.p50 = q(0.5);
    p.p90 = q(0.9);
    p.p99 = q(0.99);
    p.p999 = q(0.999);
    p.max = v.back();
    return p;
}

static void print_pct(const char *name, const Pct &p, bool comma = true) {
    printf("\"%s\": {\"n\": %" PRIu64 ", \"mean_us\": %.3f, \"p50_us\": %.3f, \"p90_us\": %.3f, "
           "\"p99_us\": %.3f, \"p999_us\": %.3f, \"max_us\": %.3f}%s",
           name, p.n, p.mean, p.p50, p.p90, p.p99, p.p999, p.max, comma ? ", " : "");
}

// latencies (us) per type from arrival (intended time) to completion; verifies every result.
struct PointStats {
    Pct get, scan, all, lag;
    uint64_t completed, mismatches;
    double span_s;
};

static PointStats point_stats(const Schedule &s, uint64_t t0) {
    PointStats ps{};
    std::vector<double> g, sc, a, lag;
    uint64_t last = t0, n = s.n;
    for (uint64_t i = 0; i < n; i++) {
        if (!g_done[i]) continue;
        double us = ((double)g_done[i] - (double)(t0 + s.off[i])) / g_tsc_hz * 1e6;
        (s.type[i] == REQ_SCAN ? sc : g).push_back(us);
        a.push_back(us);
        lag.push_back(((double)s.sent[i] - (double)(t0 + s.off[i])) / g_tsc_hz * 1e6);
        if (g_done[i] > last) last = g_done[i];
        uint64_t want = s.type[i] == REQ_SCAN ? expect_scan(s.key[i]) : expect_get(s.key[i]);
        if (g_res[i] != want) ps.mismatches++;
    }
    ps.completed = a.size();
    ps.span_s = (double)(last - t0) / g_tsc_hz;
    ps.get = pct(g);
    ps.scan = pct(sc);
    ps.all = pct(a);
    ps.lag = pct(lag);
    return ps;
}

// ------------------------------------------------------------------------------------------
// options

struct Opts {
    const char *db = nullptr;
    const char *exp = nullptr;
    const char *policy = "fcfs";
    const char *variant = "solo";
    const char *selftest = nullptr;
    bool load = false, calibrate = false;
    double quantum_us = 5;
    double check_frac = 0.25;  // CI handler period = quantum * check_frac
    std::vector<double> rates;
    double ms = 300;
    double scan_frac = 0.005;
    uint64_t seed = 1;
    double b_period_us = 2.0;
    double coarse_us = 500;
    double cpi = 0;  // cycles per IR instruction (0: measure)
    double noise_ms = 0;
};
static Opts O;

static std::vector<double> parse_list(const char *s) {
    std::vector<double> v;
    const char *p = s;
    while (*p) {
        char *e;
        double x = strtod(p, &e);
        if (e == p) die("bad list %s", s);
        v.push_back(x);
        p = e;
        if (*p == ',') p++;
    }
    return v;
}

// Warm the block cache (a full scan) and measure cycles per IR instruction of requests.
static double warm_up(void) {
    leveldb::Iterator *it = g_db->NewIterator(leveldb::ReadOptions());
    uint64_t n = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) n++;
    delete it;
    if (n != g_nkeys) die("database has %" PRIu64 " keys, expected %u", n, g_nkeys);
    long i0 = ci_instruction_count();
    uint64_t c0 = rdtsc();
    uint64_t r = 1, sink = 0;
    for (int i = 0; i < 4000; i++) {
        r = splitmix(r);
        sink += do_request(i % 200 == 0 ? REQ_SCAN : REQ_GET, (uint32_t)(r % g_nkeys));
    }
    uint64_t c1 = rdtsc();
    long i1 = ci_instruction_count();
    if (sink == 42) printf(" ");
    return i1 > i0 ? (double)(c1 - c0) / (double)(i1 - i0) : 0.0;
}

static void print_common(const char *exp) {
    printf("{\"exp\": \"%s\", \"tsc_hz\": %.0f, \"nkeys\": %u, \"scan_len\": %d, ", exp, g_tsc_hz,
           g_nkeys, g_scan_len);
}

// ------------------------------------------------------------------------------------------
// experiment A

static int run_exp_a(void) {
    double cpi = O.cpi > 0 ? O.cpi : warm_up();
    if (O.cpi > 0) warm_up();
    const char *pol = O.policy;
    bool ci = !strcmp(pol, "ci"), sig = !strcmp(pol, "signal"), fcfs = !strcmp(pol, "fcfs");
    if (!ci && !sig && !fcfs) die("unknown policy %s", pol);
    g_quantum = ci || sig ? (uint64_t)(O.quantum_us * 1e-6 * g_tsc_hz) : UINT64_MAX;
    long ir_interval = 0;
    if (ci) {
        if (cpi <= 0) die("policy ci needs a build with probes (no instructions counted)");
        double period = O.quantum_us * O.check_frac * 1e-6 * g_tsc_hz;
        ir_interval = std::max(50L, (long)(period / cpi));
    }
    pin_cpu(g_worker_cpu);
    for (double rate : O.rates) {
        Schedule s = make_schedule(rate, O.ms / 1e3, O.scan_frac, O.seed);
        uint64_t n = s.n;
        g_done.assign(n, 0);
        g_res.assign(n, 0);
        g_completed = 0;
        g_preemptions = g_deferred = g_after_fail = g_after_runs = g_ticks = g_signals = 0;
        g_sig_unsafe = 0;
        g_switches = 0;
        gt_pool_init();
        long calls0 = ci_handler_calls();
        if (ci) register_ci((int)ir_interval, 0, ci_tick);
        if (sig) timer_setup((uint64_t)(O.quantum_us * 1e3));
        uint64_t t0 = lg_start(s, 0);
        double cpu0 = proc_cpu_s(), w0 = mono_s();
        uint64_t deadline = t0 + s.off[n - 1] + (uint64_t)((1.0 + O.ms / 1e3) * g_tsc_hz);
        dispatch_loop(n, deadline);
        double cpu_frac = (proc_cpu_s() - cpu0) / (mono_s() - w0);
        if (ci) deregister_ci();
        if (sig) timer_stop();
        long calls = ci_handler_calls() - calls0;
        lg_finish();
        // drain: threads still running at the deadline are abandoned (reported incomplete)
        PointStats ps = point_stats(s, t0);
        double offered = n / ((double)s.off[n - 1] / g_tsc_hz);
        print_common("A");
        printf("\"policy\": \"%s\", \"quantum_us\": %.3f, \"rate\": %.1f, \"offered_rps\": %.1f, "
               "\"n\": %" PRIu64 ", \"completed\": %" PRIu64 ", \"span_s\": %.6f, "
               "\"throughput_rps\": %.1f, \"cpu_frac\": %.4f, ",
               pol, fcfs ? 0.0 : O.quantum_us, rate, offered, n, ps.completed, ps.span_s,
               ps.completed / ps.span_s, cpu_frac);
        print_pct("get", ps.get);
        print_pct("scan", ps.scan);
        print_pct("all", ps.all);
        print_pct("lg_lag", ps.lag);
        printf("\"preemptions\": %" PRIu64 ", \"deferred\": %" PRIu64 ", \"after_fail\": %" PRIu64
               ", \"handler_calls\": %ld, \"ir_interval\": %ld, \"cpi\": %.4f, \"signals\": %" PRIu64
               ", \"signals_unsafe\": %" PRIu64 ", \"switches\": %" PRIu64
               ", \"ring_full_spins\": %" PRIu64 ", \"mismatches\": %" PRIu64
               ", \"after_runs\": %" PRIu64 ", \"check\": \"%s\"}\n",
               g_preemptions, g_deferred, g_after_fail, ci ? calls : 0L, ir_interval, cpi,
               g_signals, g_sig_unsafe, g_switches, g_shm->full_spins, ps.mismatches, g_after_runs,
               ps.mismatches == 0 && ps.completed == n ? "ok" : "FAILED");
        fflush(stdout);
    }
    return 0;
}

// ------------------------------------------------------------------------------------------
// experiment B: a hashing "miner" hosts the dataplane

static volatile int g_stop;
static uint64_t g_hashes;
static uint64_t g_found;

static inline uint64_t hash_once(uint64_t x) {
    for (int r = 0; r < 4; r++) {
        x ^= x >> 31;
        x *= 0x7fb5d329728ea185ull;
        x ^= x >> 27;
        x *= 0x81dadef4bc2dd44dull;
    }
    return x ^ (x >> 33);
}

// serve every request waiting in the ring (run to completion, on the calling stack)
static uint64_t serve_ring_inline(void) {
    Slot s;
    uint64_t k = 0;
    while (ring_pop(&s)) {
        complete(s.id, do_request(s.type, s.key));
        k++;
    }
    return k;
}

__attribute__((noinline)) static void miner(uint64_t block, uint64_t coarse_block) {
    uint64_t nonce = 0x1234, found = 0, since_poll = 0;
    while (!g_stop) {
        for (uint64_t i = 0; i < block; i++) {
            uint64_t h = hash_once(nonce++);
            found += (h >> 50) == 0;
        }
        g_hashes += block;
        if (coarse_block) {
            since_poll += block;
            if (since_poll >= coarse_block) {
                since_poll = 0;
                serve_ring_inline();
            }
        }
    }
    g_found += found;
}

static void b_tick(long) {
    g_ticks++;
    serve_ring_inline();
}

static volatile int g_dp_stop;
static int g_dp_spin;
static uint64_t g_dp_sleeps;

static void *dataplane_thread(void *) {
    pin_cpu(g_worker_cpu);
    while (!g_dp_stop) {
        if (serve_ring_inline()) continue;
        if (g_dp_spin) {
            cpu_relax();
            continue;
        }
        g_shm->sleeping.store(1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (ring_pending() || g_dp_stop) {
            g_shm->sleeping.store(0, std::memory_order_relaxed);
            continue;
        }
        struct timespec to = {0, 2000000};
        g_dp_sleeps++;
        syscall(SYS_futex, (uint32_t *)&g_shm->sleeping, FUTEX_WAIT, 1, &to, nullptr, 0);
        g_shm->sleeping.store(0, std::memory_order_relaxed);
    }
    return nullptr;
}

struct StopArg {
    uint64_t n;
    uint64_t until;
};

static int run_exp_b(void) {
    double cpi_db = warm_up();
    (void)cpi_db;
    pin_cpu(g_worker_cpu);
    const char *v = O.variant;
    bool solo = !strcmp(v, "solo") || !strcmp(v, "solo-ci"), ci = !strcmp(v, "ci"),
         ded = !strcmp(v, "dedicated"), dspin = !strcmp(v, "dedicated-spin"),
         coarse = !strcmp(v, "coarse");
    if (!solo && !ci && !ded && !dspin && !coarse) die("unknown variant %s", v);
    // calibrate the miner: hashes per TSC tick and cycles per IR instruction
    const uint64_t block = 1024;
    g_stop = 0;
    long i0 = ci_instruction_count();
    uint64_t c0 = rdtsc(), h0 = g_hashes;
    {
        // run ~20 ms
        uint64_t until = c0 + (uint64_t)(0.02 * g_tsc_hz);
        while (rdtsc() < until) {
            for (uint64_t i = 0; i < block; i++) g_found += (hash_once(g_hashes + i) >> 50) == 0;
            g_hashes += block;
        }
    }
    uint64_t c1 = rdtsc();
    long i1 = ci_instruction_count();
    double hashes_per_tick = (double)(g_hashes - h0) / (double)(c1 - c0);
    double cpi = O.cpi > 0 ? O.cpi : (i1 > i0 ? (double)(c1 - c0) / (double)(i1 - i0) : 0);
    uint64_t coarse_block = coarse ? (uint64_t)(O.coarse_us * 1e-6 * g_tsc_hz * hashes_per_tick) : 0;
    if (coarse && coarse_block < block) coarse_block = block;
    long ir_interval = 0;
    if (ci) {
        if (cpi <= 0) die("variant ci needs a build with probes");
        ir_interval = std::max(50L, (long)(O.b_period_us * 1e-6 * g_tsc_hz / cpi));
    }
    double rate = O.rates.empty() ? 20000 : O.rates[0];
    Schedule s = make_schedule(solo ? 1.0 : rate, O.ms / 1e3, 0.0, O.seed);
    uint64_t n = solo ? 0 : s.n;
    g_done.assign(s.n, 0);
    g_res.assign(s.n, 0);
    g_completed = 0;
    g_ticks = 0;
    g_hashes = 0;
    g_stop = 0;
    pthread_t dp;
    g_dp_stop = 0;
    g_dp_spin = dspin;
    if (ded || dspin) pthread_create(&dp, nullptr, dataplane_thread, nullptr);
    long calls0 = ci_handler_calls();
    if (ci) register_ci((int)ir_interval, 0, b_tick);
    uint64_t t0 = solo ? rdtsc() : lg_start(s, ded ? 1 : 0);
    // the miner runs for the whole schedule; a helper thread (sleeping) stops it
    uint64_t until = t0 + (uint64_t)(O.ms / 1e3 * g_tsc_hz);
    StopArg sa{n, until};
    pthread_t stopper;
    pthread_create(
        &stopper, nullptr,
        [](void *a) -> void * {
            StopArg *p = (StopArg *)a;
            pin_cpu(g_lg_cpu);
            while (rdtsc() < p->until) usleep(1000);
            g_stop = 1;
            return nullptr;
        },
        &sa);
    double cpu0 = proc_cpu_s(), w0 = mono_s();
    uint64_t m0 = rdtsc();
    miner(block, coarse_block);
    uint64_t m1 = rdtsc();
    double cpu_frac = (proc_cpu_s() - cpu0) / (mono_s() - w0);
    pthread_join(stopper, nullptr);
    if (ci) deregister_ci();
    long calls = ci_handler_calls() - calls0;
    // serve what is left (not counted in the miner's time)
    uint64_t dl = rdtsc() + (uint64_t)(1.0 * g_tsc_hz);
    while (!solo && g_completed < n && rdtsc() < dl) serve_ring_inline();
    if (ded || dspin) {
        g_dp_stop = 1;
        pthread_join(dp, nullptr);
    }
    if (!solo) lg_finish();
    double secs = (double)(m1 - m0) / g_tsc_hz;
    print_common("B");
    printf("\"variant\": \"%s\", \"rate\": %.1f, \"n\": %" PRIu64 ", \"completed\": %" PRIu64
           ", \"miner_s\": %.6f, \"hashes\": %" PRIu64 ", \"hashes_per_s\": %.1f, "
           "\"solo_calib_hashes_per_s\": %.1f, \"coarse_us\": %.1f, \"ir_interval\": %ld, "
           "\"cpi\": %.4f, \"handler_calls\": %ld, \"dp_sleeps\": %" PRIu64 ", "
           "\"cpu_frac\": %.4f, ",
           v, solo ? 0.0 : rate, n, g_completed, secs, g_hashes, g_hashes / secs,
           hashes_per_tick * g_tsc_hz, coarse ? O.coarse_us : 0.0, ir_interval, cpi,
           ci ? calls : 0L, g_dp_sleeps, cpu_frac);
    uint64_t mism = 0;
    if (!solo) {
        // only the requests that arrived while the miner ran count
        PointStats ps = point_stats(s, t0);
        mism = ps.mismatches;
        print_pct("get", ps.get);
        print_pct("lg_lag", ps.lag);
    }
    printf("\"mismatches\": %" PRIu64 ", \"check\": \"%s\"}\n", mism,
           mism == 0 && g_completed == n ? "ok" : "FAILED");
    fflush(stdout);
    return 0;
}

// ------------------------------------------------------------------------------------------
// self tests (used by tests/apps/test_sched.py)

static void *g_test_main_sp;
static GThread g_tt[2];
static int g_test_round;

static void test_regs_other(void *) {
    for (;;) {
        // clobber every callee-saved register and change the FP control state here
        __asm__ __volatile__("mov $-1, %%rbx\n\tmov $-2, %%r12\n\tmov $-3, %%r13\n\t"
                             "mov $-4, %%r14\n\tmov $-5, %%r15" ::: "rbx", "r12", "r13", "r14",
                             "r15");
        fesetround(FE_TOWARDZERO);
        g_test_round++;
        sched_switch(&g_tt[1].sp, g_tt[0].sp);
    }
}

static int selftest_switch(void) {
    // callee-saved GPRs across sched_switch
    for (int i = 0; i < 2; i++) {
        g_tt[i].stack_size = 64 << 10;
        g_tt[i].stack = (char *)aligned_alloc(64, g_tt[i].stack_size);
    }
    ctx_init(&g_tt[1], test_regs_other, nullptr);
    int bad = 0;
    for (int k = 0; k < 1000; k++) bad |= sched_test_callee_saved(&g_tt[0].sp, g_tt[1].sp);
    // FP control state (rounding mode in x87 CW and MXCSR) is per context
    fesetround(FE_UPWARD);
    volatile double a = 1.0, b = 3.0;
    double up = a / b;
    sched_test_callee_saved(&g_tt[0].sp, g_tt[1].sp);
    int round_kept = fegetround() == FE_UPWARD;
    double up2 = a / b;
    fesetround(FE_TONEAREST);
    // cost of a switch pair
    uint64_t c0 = rdtsc();
    const int N = 200000;
    for (int k = 0; k < N; k++) sched_test_callee_saved(&g_tt[0].sp, g_tt[1].sp);
    uint64_t c1 = rdtsc();
    printf("{\"selftest\": \"switch\", \"callee_saved_bad_mask\": %d, \"rounding_kept\": %s, "
           "\"fp_same\": %s, \"switch_ns\": %.2f, \"check\": \"%s\"}\n",
           bad, round_kept ? "true" : "false", up == up2 ? "true" : "false",
           (double)(c1 - c0) / g_tsc_hz * 1e9 / (2.0 * N),
           bad == 0 && round_kept && up == up2 ? "ok" : "FAILED");
    return 0;
}

// Preemption transparency: several green threads run an FP/integer-heavy kernel with many
// live registers (SSE and, where the compiler chooses, AVX), preempted by CI ticks or signals
// at arbitrary probe points / instructions; results must be bit-identical to a run without
// preemption.
// (Not pure to the compiler: clang -O2 runs before the probes exist and would move a call to a
// pure function out of the preemptible window, or hoist the errno check above it.)
__attribute__((noinline)) static uint64_t kernel(uint64_t seed, int iters) {
    __asm__ __volatile__("" ::: "memory");
    double a0 = seed * 1e-3, a1 = 1.1, a2 = 1.2, a3 = 1.3, a4 = 1.4, a5 = 1.5, a6 = 1.6, a7 = 1.7;
    uint64_t x = seed, y = ~seed, z = seed * 3;
    for (int i = 0; i < iters; i++) {
        a0 = a0 * 0.999 + a1 * 1e-3;
        a1 = a1 * 0.998 + a2 * 2e-3;
        a2 = a2 * 0.997 + a3 * 3e-3;
        a3 = a3 * 0.996 + a4 * 4e-3;
        a4 = a4 * 0.995 + a5 * 5e-3;
        a5 = a5 * 0.994 + a6 * 6e-3;
        a6 = a6 * 0.993 + a7 * 7e-3;
        a7 = a7 * 0.992 + a0 * 8e-3 + (double)(x & 15);
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        y ^= x >> 17;
        z += y * 31 + (x >> 40);
    }
    uint64_t r = x ^ y ^ z;
    double s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    uint64_t bits;
    memcpy(&bits, &s, 8);
    return r ^ bits;
}

static uint64_t g_kern_res[64];
static int g_kern_errno_bad;

static void kern_thread(void *arg) {
    GThread *t = (GThread *)arg;
    errno = 100 + (int)t->id;  // errno is per OS thread: each green thread must keep its own
    FENCE();
    t->preemptible = 1;
    FENCE();
    uint64_t r = kernel(t->key, 200000 + 1000 * t->id);
    FENCE();
    t->preemptible = 0;
    FENCE();
    if (errno != 100 + (int)t->id) g_kern_errno_bad++;
    g_kern_res[t->id] = r;
    g_completed++;
    t->state = GT_DONE;
    sched_switch(&t->sp, g_sched_sp);
    for (;;) abort();
}

// preempt-ci only: the after-handler function must run outside the handler (ci_after_handler
// refuses there) and every green thread must keep receiving interrupts after the first switch.
static uint64_t g_after_in_handler;
static void noop_after(void *) {}
static void ci_preempt_after_checked(void *arg) {
    if (ci_after_handler(noop_after, nullptr) == 0) g_after_in_handler++;
    ci_preempt_after(arg);
}

static int selftest_preempt(bool use_signal) {
    const int K = 6;
    uint64_t want[K];
    for (int i = 0; i < K; i++) want[i] = kernel(1000 + i, 200000 + 1000 * i);
    gt_pool_init();
    g_quantum = (uint64_t)(2e-6 * g_tsc_hz);  // 2 us
    g_completed = 0;
    g_preemptions = g_after_fail = g_after_runs = g_deferred = g_ticks = g_signals = 0;
    g_kern_errno_bad = 0;
    // a ring with nothing in it; work_waiting() sees the run queue
    memset((void *)g_shm, 0, sizeof(Shm));
    g_head = 0;
    GThread *ts[K];
    for (int i = 0; i < K; i++) {
        GThread *t = ts[i] = g_free[--g_nfree];
        t->id = i;
        t->key = 1000 + i;
        t->preemptions = 0;
        ctx_init(t, kern_thread, t);
        rq_push(t);
    }
    long calls0 = ci_handler_calls();
    if (use_signal)
        timer_setup(50000);
    else
        register_ci(200, 0, ci_tick);
    g_preempt_fn = ci_preempt_after_checked;
    dispatch_loop(K, rdtsc() + (uint64_t)(20 * g_tsc_hz));
    if (use_signal)
        timer_stop();
    else
        deregister_ci();
    g_preempt_fn = ci_preempt_after;
    long calls = ci_handler_calls() - calls0;
    int ok = 1;
    for (int i = 0; i < K; i++) ok &= g_kern_res[i] == want[i];
    // every thread preempted more than once: interrupts kept coming after switches
    uint64_t min_pre = UINT64_MAX;
    for (int i = 0; i < K; i++) min_pre = std::min(min_pre, ts[i]->preemptions);
    bool good = ok && g_completed == (uint64_t)K && g_preemptions > 0 && !g_kern_errno_bad &&
                (use_signal || (g_after_in_handler == 0 && g_after_runs == g_preemptions &&
                                min_pre > 1));
    printf("{\"selftest\": \"%s\", \"threads\": %d, \"preemptions\": %" PRIu64
           ", \"min_preemptions_per_thread\": %" PRIu64 ", \"after_fail\": %" PRIu64
           ", \"after_runs\": %" PRIu64 ", \"after_in_handler\": %" PRIu64
           ", \"handler_calls\": %ld, \"signals\": %" PRIu64 ", \"errno_bad\": %d"
           ", \"completed\": %" PRIu64 ", \"results_equal\": %s, \"check\": \"%s\"}\n",
           use_signal ? "preempt-signal" : "preempt-ci", K, g_preemptions, min_pre, g_after_fail,
           g_after_runs, g_after_in_handler, use_signal ? 0L : calls, g_signals,
           g_kern_errno_bad, g_completed, ok ? "true" : "false", good ? "ok" : "FAILED");
    return 0;
}

// ------------------------------------------------------------------------------------------
// --noise MS: the machine's own stalls.  Both cores (worker and load generator) spin reading the
// TSC; every gap between two reads above 10 us is time the core was taken away (interrupts,
// kernel threads, the hypervisor).  A stall of the worker or the generator delays every request
// of the backlog it creates, so this bounds the tail latency any policy can show here.

struct Gaps {
    int cpu;
    uint64_t n10, n100, n500, n1000;
    double max_us, lost_us;
};

static void spin_gaps(Gaps *g, double secs) {
    pin_cpu(g->cpu);
    uint64_t t0 = rdtsc(), prev = t0, end = t0 + (uint64_t)(secs * g_tsc_hz);
    for (;;) {
        uint64_t t = rdtsc();
        double us = (double)(t - prev) / g_tsc_hz * 1e6;
        prev = t;
        if (us > 10) {
            g->n10++;
            g->lost_us += us;
            g->n100 += us > 100;
            g->n500 += us > 500;
            g->n1000 += us > 1000;
            g->max_us = std::max(g->max_us, us);
        }
        if (t > end) break;
    }
}

static int run_noise(double ms) {
    Gaps g[2] = {};
    g[0].cpu = g_worker_cpu;
    g[1].cpu = g_lg_cpu;
    double secs = ms / 1e3;
    struct Arg {
        Gaps *g;
        double secs;
    } a{&g[1], secs};
    pthread_t th;
    pthread_create(
        &th, nullptr,
        [](void *p) -> void * {
            Arg *x = (Arg *)p;
            spin_gaps(x->g, x->secs);
            return nullptr;
        },
        &a);
    spin_gaps(&g[0], secs);
    pthread_join(th, nullptr);
    printf("{\"noise\": true, \"seconds\": %.3f, \"cpus\": [", secs);
    for (int i = 0; i < 2; i++)
        printf("%s{\"cpu\": %d, \"gaps_over_10us\": %" PRIu64 ", \"gaps_over_100us\": %" PRIu64
               ", \"gaps_over_500us\": %" PRIu64 ", \"gaps_over_1ms\": %" PRIu64
               ", \"max_gap_us\": %.1f, \"lost_frac\": %.5f}",
               i ? ", " : "", g[i].cpu, g[i].n10, g[i].n100, g[i].n500, g[i].n1000, g[i].max_us,
               g[i].lost_us / (secs * 1e6));
    printf("]}\n");
    return 0;
}

// ------------------------------------------------------------------------------------------

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto val = [&]() -> const char * {
            if (i + 1 >= argc) die("%s needs a value", a.c_str());
            return argv[++i];
        };
        if (a == "--db") O.db = val();
        else if (a == "--load") O.load = true;
        else if (a == "--calibrate") O.calibrate = true;
        else if (a == "--exp") O.exp = val();
        else if (a == "--policy") O.policy = val();
        else if (a == "--variant") O.variant = val();
        else if (a == "--quantum-us") O.quantum_us = atof(val());
        else if (a == "--check-frac") O.check_frac = atof(val());
        else if (a == "--rates" || a == "--rate") O.rates = parse_list(val());
        else if (a == "--ms") O.ms = atof(val());
        else if (a == "--scan-frac") O.scan_frac = atof(val());
        else if (a == "--scan-len") g_scan_len = atoi(val());
        else if (a == "--nkeys") g_nkeys = (uint32_t)atol(val());
        else if (a == "--seed") O.seed = strtoull(val(), nullptr, 10);
        else if (a == "--b-period-us") O.b_period_us = atof(val());
        else if (a == "--coarse-us") O.coarse_us = atof(val());
        else if (a == "--cpi") O.cpi = atof(val());
        else if (a == "--worker-cpu") g_worker_cpu = atoi(val());
        else if (a == "--lg-cpu") g_lg_cpu = atoi(val());
        else if (a == "--selftest") O.selftest = val();
        else if (a == "--noise") O.noise_ms = atof(val());
        else die("unknown option %s", a.c_str());
    }
    calibrate_tsc();
    unsigned ea, eb, ec, ed;
    if (!__get_cpuid(1, &ea, &eb, &ec, &ed) || !(ec & (1u << 27))) die("no OSXSAVE");
    for (unsigned comp = 2; comp <= 7; comp++) {  // the components sched_preempt_tramp saves
        __cpuid_count(0xd, comp, ea, eb, ec, ed);
        if (ea && eb + ea > 4096) die("XSAVE component %u ends at %u > 4096", comp, eb + ea);
    }
    g_shm = (Shm *)mmap(nullptr, sizeof(Shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                        -1, 0);
    if (g_shm == MAP_FAILED) die("mmap shm");
    if (O.selftest) {
        if (!strcmp(O.selftest, "switch")) return selftest_switch();
        if (!strcmp(O.selftest, "preempt-ci")) return selftest_preempt(false);
        if (!strcmp(O.selftest, "preempt-signal")) return selftest_preempt(true);
        die("unknown selftest %s", O.selftest);
    }
    if (O.noise_ms > 0) return run_noise(O.noise_ms);
    if (!O.db) die("--db DIR needed");
    if (O.load) {
        db_load(O.db);
        printf("{\"loaded\": %u}\n", g_nkeys);
        return 0;
    }
    db_open(O.db, false);
    if (O.calibrate) {
        pin_cpu(g_worker_cpu);
        double cpi = warm_up();
        uint64_t r = 7, sink = 0;
        double tg = 0, ts = 0;
        int ng = 20000, ns = 100;
        uint64_t c0 = rdtsc();
        for (int i = 0; i < ng; i++) {
            r = splitmix(r);
            sink += do_get((uint32_t)(r % g_nkeys));
        }
        uint64_t c1 = rdtsc();
        for (int i = 0; i < ns; i++) {
            r = splitmix(r);
            sink += do_scan((uint32_t)(r % g_nkeys));
        }
        uint64_t c2 = rdtsc();
        tg = (double)(c1 - c0) / g_tsc_hz / ng * 1e6;
        ts = (double)(c2 - c1) / g_tsc_hz / ns * 1e6;
        double mean = (1 - O.scan_frac) * tg + O.scan_frac * ts;
        printf("{\"calibrate\": true, \"tsc_hz\": %.0f, \"get_us\": %.4f, \"scan_us\": %.3f, "
               "\"mean_us\": %.4f, \"capacity_rps\": %.1f, \"cpi\": %.4f, \"sink\": %" PRIu64
               "}\n",
               g_tsc_hz, tg, ts, mean, 1e6 / mean, cpi, sink & 1);
        return 0;
    }
    if (!O.exp) die("--exp A|B, --load, --calibrate or --selftest needed");
    int rc;
    delete g_db;  // reopened after the fork: keep the forked address space small
    g_db = nullptr;
    {
        double maxrate = 1;
        for (double r : O.rates) maxrate = std::max(maxrate, r);
        lg_fork((uint64_t)(maxrate * O.ms / 1e3 * 1.05) + 1000);
    }
    db_open(O.db, false);
    if (!strcmp(O.exp, "A")) {
        if (O.rates.empty()) die("--rates needed");
        rc = run_exp_a();
    } else if (!strcmp(O.exp, "B")) {
        rc = run_exp_b();
    } else {
        die("unknown experiment %s", O.exp);
    }
    lg_quit();
    delete g_db;
    return rc;
}
