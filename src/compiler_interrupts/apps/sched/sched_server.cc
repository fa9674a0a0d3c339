// sched_server.cc -- the sched application: a LevelDB service on one worker core with green
// threads preempted by Compiler Interrupts (or timer signals), fed by open-loop Poisson
// arrivals: either computed in the worker itself (--arrivals local, the default of experiment A:
// the worker admits every request whose scheduled arrival time has passed, so only its core
// spins) or sent by a load generator process on the other core over a shared-memory ring
// (--arrivals ring; always for experiment B); and a CPU-bound batch job that hosts the
// dataplane in its CI handler.
//
// Built with ci-c++ and linked with LevelDB built by ci-c++ with the same design (ci/naive for
// the CI policies, none for the baselines).  One invocation runs one policy at one or more
// offered loads and prints one JSON object per load point on stdout.
//
//   sched_server --db DIR --load                 create the database (NKEYS keys)
//   sched_server --db DIR --calibrate            mean service time of GET / SCAN, capacity
//   sched_server --db DIR --exp A --policy P [--quantum-us Q] --rates R1,R2,.. --ms D
//       [--arrivals local|ring] [--warm-ms W] [--stall-us G] [--scan-allow-us S] [--dump F]
//       P = fcfs | ci | signal.  Requests run on per-request green threads (a pool of
//       contexts); fcfs runs each to completion; ci registers a CI handler (IR mode, about
//       every quantum/4) that preempts the running request when it has used its quantum and
//       other work is waiting; signal does the same from a periodic per-thread POSIX timer.
//   sched_server --db DIR --exp B --variant V --rate R --ms D
//       V = solo | ci | dedicated | dedicated-spin | coarse (see run.py).
//   sched_server --selftest NAME                 correctness checks used by the tests.
//   sched_server --noise MS [--noise-cpus 1|2]   stalls of the worker's core (and of the load
//                                                generator's: 2) spinning (TSC gaps > 10 us).
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

// Room for schedules of up to `cap` requests (shared with the load generator, if any).
static void sched_alloc(uint64_t cap) {
    g_sched_cap = cap;
    size_t bytes = cap * (8 + 8 + 1 + 4) + 4096;
    char *p = (char *)mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) die("mmap schedule");
    g_schedule.off = (uint64_t *)p;
    g_schedule.key = (uint32_t *)(p + cap * 8);
    g_schedule.sent = (uint64_t *)(p + cap * 12);
    g_schedule.type = (uint8_t *)(p + cap * 20);
}

// Fork the load generator (call early: small address space).
static void lg_fork(uint64_t cap) {
    sched_alloc(cap);
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

// Arrivals in this process (--arrivals local, experiment A): no load generator, no ring; the
// worker walks its own precomputed schedule and admits every request whose scheduled arrival
// time (TSC) has passed, wherever the ring mode would poll the ring (the scheduler loop, the CI
// handler's and the signal handler's "work waiting?").  Only the worker's core spins.
static int g_local;
static uint64_t g_ln, g_lnext, g_ldue;  // requests in the schedule, next to admit, its due TSC
static uint64_t g_lt0;                  // the schedule's origin

static void local_start(const Schedule &s, uint64_t t0) {
    g_ln = s.n;
    g_lnext = 0;
    g_lt0 = t0;
    g_ldue = s.n ? t0 + s.off[0] : UINT64_MAX;
}

static inline bool ring_pending(void) {
    if (g_local) return g_lnext < g_ln && rdtsc() >= g_ldue;
    return g_shm->tail.load(std::memory_order_acquire) != g_head;
}

static inline bool ring_pop(Slot *out) {
    if (g_local) {
        if (g_lnext >= g_ln || rdtsc() < g_ldue) return false;
        uint64_t i = g_lnext++;
        out->id = (uint32_t)i;
        out->type = g_schedule.type[i];
        out->key = g_schedule.key[i];
        g_ldue = g_lnext < g_ln ? g_lt0 + g_schedule.off[g_lnext] : UINT64_MAX;
        return true;
    }
    if (g_shm->tail.load(std::memory_order_acquire) == g_head) return false;
    *out = g_shm->ring[g_head & (RING - 1)];
    g_head++;
    g_shm->head.store(g_head, std::memory_order_release);
    return true;
}

// ------------------------------------------------------------------------------------------
// per-load-point results

static std::vector<uint64_t> g_done;   // completion TSC per request id
static std::vector<uint64_t> g_res;    // result hash per request id
static std::vector<uint64_t> g_admit;  // TSC when it got a green thread (left the ring/schedule)
static std::vector<uint64_t> g_start;  // TSC of its first slice
static uint64_t g_completed;

// Stalls seen by the worker itself: gaps between consecutive observation points (every
// iteration of the scheduler loop, every CI tick, every timer signal) that no request explains.
// A gap that ends with the end of a slice may contain that slice's request code, which is not
// observed in between without ticks (fcfs, or a SCAN under signal between two signals): it
// counts as a stall only above the threshold plus an allowance for that request type (GET 0,
// SCAN --scan-allow-us).  A stall's window lasts until the worker is next idle (nothing
// runnable, nothing due): requests whose [arrival, completion] meets a window were delayed by
// the stall or by the backlog it left.
struct Stall {
    uint64_t start, end, recovered;
};
static const size_t MAX_STALLS = 1 << 16;
static std::vector<Stall> g_stalls;
static uint64_t g_stalls_lost;       // more than MAX_STALLS (counted, not stored)
static uint64_t g_stall_open;        // stalls not yet recovered: g_stalls[g_stall_open..]
static uint64_t g_last_obs;          // TSC of the last observation point
static uint64_t g_stall_thresh;      // TSC ticks
static uint64_t g_scan_allow;        // TSC ticks
static const double GAP_US[6] = {10, 20, 50, 100, 500, 1000};
static uint64_t g_gap_ticks[6];
static uint64_t g_gap_hist[6];  // unexplained gaps (minus the allowance) over GAP_US
static uint64_t g_measure_from;  // TSC: gaps before it (the warm-up) are not counted

// (called from the signal handler too: g_stalls never reallocates, see point_reset)
static inline void observe_gap(uint64_t now, uint64_t allow) {
    uint64_t gap = now - g_last_obs, start = g_last_obs;
    g_last_obs = now;
    if (__builtin_expect(gap <= allow + g_gap_ticks[0], 1)) return;
    uint64_t x = gap - allow;
    if (now >= g_measure_from)
        for (int i = 0; i < 6; i++) g_gap_hist[i] += x > g_gap_ticks[i];
    if (x > g_stall_thresh) {
        if (g_stalls.size() < MAX_STALLS)
            g_stalls.push_back(Stall{start, now, 0});
        else
            g_stalls_lost++;
    }
}
static inline void observe(uint64_t now) { observe_gap(now, 0); }
// the worker is idle: every open stall window closes
static inline void observe_idle(uint64_t now) {
    while (g_stall_open < g_stalls.size()) g_stalls[g_stall_open++].recovered = now;
}

static inline void complete(uint32_t id, uint64_t res) {
    g_res[id] = res;
    g_done[id] = rdtsc();
    g_completed++;
}

static void point_reset(uint64_t n) {
    g_done.assign(n, 0);
    g_res.assign(n, 0);
    g_admit.assign(n, 0);
    g_start.assign(n, 0);
    g_completed = 0;
    g_stalls.clear();
    g_stalls.reserve(MAX_STALLS);  // never reallocated (push_back in a signal handler)
    g_stalls_lost = g_stall_open = 0;
    memset(g_gap_hist, 0, sizeof g_gap_hist);
    for (int i = 0; i < 6; i++) g_gap_ticks[i] = (uint64_t)(GAP_US[i] * 1e-6 * g_tsc_hz);
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
static const size_t STACK_PREFAULT = 64 << 10;
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

// Where a preempted request goes (--requeue).  tail: to the tail of the one run queue, after
// the requests that arrived during its slice (Concord/Shinjuku's single queue; with several
// long requests in the system they share the core round-robin, and a new request waits one
// slice of each).  low: to a second FIFO that runs only when no new request waits (two-level
// feedback: a new request waits at most the current slice); a request resumed from it is
// preempted again only for new work.
static int g_requeue_low;
static GThread *g_lowq[NGT + 1];
static unsigned g_lq_head, g_lq_tail;
static inline void lq_push(GThread *t) {
    g_lowq[g_lq_tail % (NGT + 1)] = t;
    g_lq_tail++;
}
static inline GThread *next_runnable(void) {
    GThread *t = rq_pop();
    if (t || g_lq_head == g_lq_tail) return t;
    t = g_lowq[g_lq_head % (NGT + 1)];
    g_lq_head++;
    return t;
}

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
            // fault in the top of the stack now: first touches during a run cost several us
            // each here (a VM), and a backlog puts all NGT contexts to use in the first ms
            memset(t->stack + STACK_SIZE - STACK_PREFAULT, 0, STACK_PREFAULT);
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
    g_lq_head = g_lq_tail = 0;
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
        g_admit[s.id] = rdtsc();
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
    g_last_obs = rdtsc();
    while (g_completed < n) {
        admit();
        GThread *t = next_runnable();
        if (!t) {
            uint64_t now = rdtsc();
            observe(now);
            if (!ring_pending()) observe_idle(now);
            if (now > deadline) break;
            cpu_relax();
            continue;
        }
        uint64_t now = rdtsc();
        observe(now);
        g_cur = t;
        t->slice_start = now;
        if (!g_start[t->id]) g_start[t->id] = now;
        g_switches++;
        sched_switch(&g_sched_sp, t->sp);
        g_cur = nullptr;
        observe_gap(rdtsc(), t->type == REQ_SCAN ? g_scan_allow : 0);
        if (t->state == GT_DONE) {
            t->state = GT_IDLE;
            g_free[g_nfree++] = t;
        } else {  // preempted: the arrivals of its slice go first
            g_preemptions++;
            admit();
            if (g_requeue_low)
                lq_push(t);
            else
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
    if (g_cur) observe(rdtsc());
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
    if (g_cur) observe(rdtsc());
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
// Also: the stalls the worker saw (see observe_gap) and the GETs outside their windows, and
// where the slowest GETs (p99.9 and above) spent their time.
struct Tail {
    uint64_t n;
    double thresh_us, admit_wait_us, runq_wait_us, run_span_us, in_stall_frac, scan_busy_frac;
};

struct PointStats {
    Pct get, scan, all, lag, get_clean;
    uint64_t completed, mismatches, in_stall, get_in_stall;
    double span_s;
    Tail tail;
    uint64_t stalls, stalls_200, stalls_500, stalls_1000;
    double stall_max_us, stall_total_us;
};

// Only requests scheduled at or after `from` (TSC ticks after t0; experiment A's warm-up comes
// before) are measured; every completed request's result is checked.
static PointStats point_stats(const Schedule &s, uint64_t t0, bool lag_known, uint64_t from = 0) {
    PointStats ps{};
    std::vector<double> g, sc, a, lag, gc;
    uint64_t n = s.n, tf = t0 + from, last = tf;
    uint64_t i0 = (uint64_t)(std::lower_bound(s.off, s.off + n, from) - s.off);
    // stall windows [start, recovered] (never recovered: open to the end), merged, in order
    std::vector<std::pair<uint64_t, uint64_t>> win;
    for (const Stall &st : g_stalls) {
        uint64_t e = st.recovered ? st.recovered : UINT64_MAX;
        if (!win.empty() && st.start <= win.back().second)
            win.back().second = std::max(win.back().second, e);
        else
            win.push_back({st.start, e});
        if (st.end < tf) continue;  // (in the warm-up: its window still counts)
        double us = (double)(st.end - st.start) / g_tsc_hz * 1e6;
        ps.stalls++;
        ps.stalls_200 += us > 200;
        ps.stalls_500 += us > 500;
        ps.stalls_1000 += us > 1000;
        ps.stall_max_us = std::max(ps.stall_max_us, us);
        ps.stall_total_us += us;
    }
    auto in_window = [&](uint64_t a0, uint64_t a1) {
        // first window ending at or after a0
        auto it = std::lower_bound(win.begin(), win.end(), a0,
                                   [](const std::pair<uint64_t, uint64_t> &w, uint64_t x) {
                                       return w.second < x;
                                   });
        return it != win.end() && it->first <= a1;
    };
    for (uint64_t i = i0; i < n; i++) {
        if (!g_done[i]) continue;
        uint64_t arr = t0 + s.off[i];
        double us = ((double)g_done[i] - (double)arr) / g_tsc_hz * 1e6;
        bool stalled = in_window(arr, g_done[i]);
        ps.in_stall += stalled;
        if (s.type[i] == REQ_SCAN) {
            sc.push_back(us);
        } else {
            g.push_back(us);
            if (!stalled) gc.push_back(us);
            ps.get_in_stall += stalled;
        }
        a.push_back(us);
        if (lag_known) lag.push_back(((double)s.sent[i] - (double)arr) / g_tsc_hz * 1e6);
        if (g_done[i] > last) last = g_done[i];
    }
    // every result checked after the run (outside the measured latencies)
    for (uint64_t i = 0; i < n; i++) {
        if (!g_done[i]) continue;
        uint64_t want = s.type[i] == REQ_SCAN ? expect_scan(s.key[i]) : expect_get(s.key[i]);
        if (g_res[i] != want) ps.mismatches++;
    }
    ps.completed = a.size();
    ps.span_s = (double)(last - tf) / g_tsc_hz;
    ps.get = pct(g);
    ps.scan = pct(sc);
    ps.all = pct(a);
    ps.lag = pct(lag);
    ps.get_clean = pct(gc);
    // the slowest GETs: where did their time go?  (scan_busy: a SCAN was admitted and not yet
    // done when the GET arrived)
    if (ps.get.n) {
        Tail &t = ps.tail;
        t.thresh_us = ps.get.p999;
        std::vector<std::pair<uint64_t, uint64_t>> scans;  // [admit or arrival, done] of SCANs
        for (uint64_t i = 0; i < n; i++)
            if (s.type[i] == REQ_SCAN && g_done[i]) scans.push_back({t0 + s.off[i], g_done[i]});
        for (uint64_t i = i0; i < n; i++) {
            if (!g_done[i] || s.type[i] == REQ_SCAN) continue;
            uint64_t arr = t0 + s.off[i];
            double us = ((double)g_done[i] - (double)arr) / g_tsc_hz * 1e6;
            if (us < t.thresh_us) continue;
            t.n++;
            uint64_t adm = g_admit[i] ? g_admit[i] : arr, st = g_start[i] ? g_start[i] : adm;
            t.admit_wait_us += ((double)adm - (double)arr) / g_tsc_hz * 1e6;
            t.runq_wait_us += ((double)st - (double)adm) / g_tsc_hz * 1e6;
            t.run_span_us += ((double)g_done[i] - (double)st) / g_tsc_hz * 1e6;
            t.in_stall_frac += in_window(arr, g_done[i]);
            bool busy = false;
            for (auto &x : scans)
                if (x.first <= arr && arr < x.second) {
                    busy = true;
                    break;
                }
            t.scan_busy_frac += busy;
        }
        if (t.n) {
            t.admit_wait_us /= t.n;
            t.runq_wait_us /= t.n;
            t.run_span_us /= t.n;
            t.in_stall_frac /= t.n;
            t.scan_busy_frac /= t.n;
        }
    }
    return ps;
}

static void print_stalls(const PointStats &ps) {
    printf("\"stalls\": {\"n\": %" PRIu64 ", \"over_200us\": %" PRIu64 ", \"over_500us\": %" PRIu64
           ", \"over_1ms\": %" PRIu64 ", \"max_us\": %.1f, \"total_us\": %.1f, \"lost\": %" PRIu64
           ", \"thresh_us\": %.1f, \"scan_allow_us\": %.1f, \"requests_in_windows\": %" PRIu64
           ", \"gets_in_windows\": %" PRIu64 ", \"gaps\": {",
           ps.stalls, ps.stalls_200, ps.stalls_500, ps.stalls_1000, ps.stall_max_us,
           ps.stall_total_us, g_stalls_lost, (double)g_stall_thresh / g_tsc_hz * 1e6,
           (double)g_scan_allow / g_tsc_hz * 1e6, ps.in_stall, ps.get_in_stall);
    for (int i = 0; i < 6; i++)
        printf("%s\"over_%gus\": %" PRIu64, i ? ", " : "", GAP_US[i], g_gap_hist[i]);
    printf("}, \"first\": [");
    for (size_t i = 0; i < g_stalls.size() && i < 20; i++)  // (offsets from the first, us)
        printf("%s[%.1f, %.1f]", i ? ", " : "",
               (double)(g_stalls[i].start - g_stalls[0].start) / g_tsc_hz * 1e6,
               (double)(g_stalls[i].end - g_stalls[i].start) / g_tsc_hz * 1e6);
    printf("]}, ");
    const Tail &t = ps.tail;
    printf("\"get_tail\": {\"n\": %" PRIu64 ", \"thresh_us\": %.3f, \"admit_wait_us\": %.3f, "
           "\"runq_wait_us\": %.3f, \"run_span_us\": %.3f, \"in_stall_frac\": %.4f, "
           "\"scan_busy_frac\": %.4f}, ",
           t.n, t.thresh_us, t.admit_wait_us, t.runq_wait_us, t.run_span_us, t.in_stall_frac,
           t.scan_busy_frac);
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
    int noise_cpus = 2;
    const char *arrivals = "local";  // experiment A: local (in the worker) | ring
    double stall_us = 50;            // unexplained gap that counts as a stall
    double scan_allow_us = 100;      // ... plus this when the gap ends with a SCAN's slice
    const char *dump = nullptr;      // experiment A: per-request times and stalls (TSV) here
    double warm_ms = 100;            // experiment A: unmeasured warm-up before each point
    const char *requeue = "tail";    // experiment A: where a preempted request goes (tail|low)
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

// --dump FILE: one line per request (times in us from the schedule's origin; 0: never) and one
// per stall, appended per load point.
static void dump_point(const Schedule &s, uint64_t t0, double rate) {
    FILE *f = fopen(O.dump, "a");
    if (!f) die("cannot write %s", O.dump);
    auto us = [&](uint64_t t) { return t ? ((double)t - (double)t0) / g_tsc_hz * 1e6 : 0.0; };
    fprintf(f, "# rate %.1f policy %s quantum_us %.3f arrivals %s\n# req id type arrival admit "
            "start done\n", rate, O.policy, O.quantum_us, g_local ? "local" : "ring");
    for (uint64_t i = 0; i < s.n; i++)
        fprintf(f, "req\t%" PRIu64 "\t%d\t%.3f\t%.3f\t%.3f\t%.3f\n", i, s.type[i],
                (double)s.off[i] / g_tsc_hz * 1e6, us(g_admit[i]), us(g_start[i]), us(g_done[i]));
    for (const Stall &st : g_stalls)
        fprintf(f, "stall\t%.3f\t%.3f\t%.3f\n", us(st.start), us(st.end), us(st.recovered));
    fclose(f);
}


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
        // the measured window follows a warm-up at the same rate (O.warm_ms): a fresh process
        // serves GETs ~2x slower for its first ~20 ms here, which is not what we measure
        Schedule s = make_schedule(rate, (O.warm_ms + O.ms) / 1e3, O.scan_frac, O.seed);
        uint64_t n = s.n, from = (uint64_t)(O.warm_ms / 1e3 * g_tsc_hz);
        uint64_t i0 = (uint64_t)(std::lower_bound(s.off, s.off + n, from) - s.off);
        if (i0 >= n) die("empty measured window");
        point_reset(n);
        g_preemptions = g_deferred = g_after_fail = g_after_runs = g_ticks = g_signals = 0;
        g_sig_unsafe = 0;
        g_switches = 0;
        gt_pool_init();
        long calls0 = ci_handler_calls();
        if (ci) register_ci((int)ir_interval, 0, ci_tick);
        if (sig) timer_setup((uint64_t)(O.quantum_us * 1e3));
        uint64_t t0;
        if (g_local) {
            t0 = rdtsc() + (uint64_t)(100e-6 * g_tsc_hz);
            local_start(s, t0);
        } else {
            t0 = lg_start(s, 0);
        }
        g_measure_from = t0 + from;
        double cpu0 = proc_cpu_s(), w0 = mono_s();
        uint64_t deadline = t0 + s.off[n - 1] + (uint64_t)((1.0 + O.ms / 1e3) * g_tsc_hz);
        dispatch_loop(n, deadline);
        double cpu_frac = (proc_cpu_s() - cpu0) / (mono_s() - w0);
        if (ci) deregister_ci();
        if (sig) timer_stop();
        long calls = ci_handler_calls() - calls0;
        if (!g_local) lg_finish();
        // drain: threads still running at the deadline are abandoned (reported incomplete)
        PointStats ps = point_stats(s, t0, !g_local, from);
        if (O.dump) dump_point(s, t0, rate);
        double offered = (n - i0) / ((double)(s.off[n - 1] - from) / g_tsc_hz);
        print_common("A");
        printf("\"arrivals\": \"%s\", ", g_local ? "local" : "ring");
        printf("\"policy\": \"%s\", \"quantum_us\": %.3f, \"rate\": %.1f, \"offered_rps\": %.1f, "
               "\"n\": %" PRIu64 ", \"completed\": %" PRIu64 ", \"span_s\": %.6f, "
               "\"throughput_rps\": %.1f, \"cpu_frac\": %.4f, ",
               pol, fcfs ? 0.0 : O.quantum_us, rate, offered, n - i0, ps.completed, ps.span_s,
               ps.completed / ps.span_s, cpu_frac);
        // (the counters below include the warm-up's requests)
        printf("\"warm_ms\": %.1f, \"warm_n\": %" PRIu64 ", \"completed_all\": %" PRIu64 ", ",
               O.warm_ms, i0, g_completed);
        print_pct("get", ps.get);
        print_pct("scan", ps.scan);
        print_pct("all", ps.all);
        if (!g_local) print_pct("lg_lag", ps.lag);
        print_pct("get_clean", ps.get_clean);
        print_stalls(ps);
        printf("\"preemptions\": %" PRIu64 ", \"deferred\": %" PRIu64 ", \"after_fail\": %" PRIu64
               ", \"handler_calls\": %ld, \"ir_interval\": %ld, \"cpi\": %.4f, \"signals\": %" PRIu64
               ", \"signals_unsafe\": %" PRIu64 ", \"switches\": %" PRIu64
               ", \"ring_full_spins\": %" PRIu64 ", \"mismatches\": %" PRIu64
               ", \"after_runs\": %" PRIu64 ", \"check\": \"%s\"}\n",
               g_preemptions, g_deferred, g_after_fail, ci ? calls : 0L, ir_interval, cpi,
               g_signals, g_sig_unsafe, g_switches, g_local ? 0 : g_shm->full_spins,
               ps.mismatches, g_after_runs,
               ps.mismatches == 0 && g_completed == n && ps.completed == n - i0 ? "ok"
                                                                                : "FAILED");
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
    point_reset(s.n);
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
        PointStats ps = point_stats(s, t0, true);
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
    point_reset(K);
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

static int run_noise(double ms, int ncpus) {
    if (ncpus != 1 && ncpus != 2) die("--noise-cpus 1|2");
    Gaps g[2] = {};
    g[0].cpu = g_worker_cpu;
    g[1].cpu = g_lg_cpu;
    double secs = ms / 1e3;
    struct Arg {
        Gaps *g;
        double secs;
    } a{&g[1], secs};
    pthread_t th;
    if (ncpus == 2)
        pthread_create(
            &th, nullptr,
            [](void *p) -> void * {
                Arg *x = (Arg *)p;
                spin_gaps(x->g, x->secs);
                return nullptr;
            },
            &a);
    spin_gaps(&g[0], secs);
    if (ncpus == 2) pthread_join(th, nullptr);
    printf("{\"noise\": true, \"seconds\": %.3f, \"spinning\": %d, \"cpus\": [", secs, ncpus);
    for (int i = 0; i < ncpus; i++)
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
        else if (a == "--noise-cpus") O.noise_cpus = atoi(val());
        else if (a == "--arrivals") O.arrivals = val();
        else if (a == "--stall-us") O.stall_us = atof(val());
        else if (a == "--scan-allow-us") O.scan_allow_us = atof(val());
        else if (a == "--dump") O.dump = val();
        else if (a == "--warm-ms") O.warm_ms = atof(val());
        else if (a == "--requeue") O.requeue = val();
        else die("unknown option %s", a.c_str());
    }
    calibrate_tsc();
    if (strcmp(O.requeue, "tail") && strcmp(O.requeue, "low")) die("--requeue tail|low");
    g_requeue_low = !strcmp(O.requeue, "low");
    g_stall_thresh = (uint64_t)(O.stall_us * 1e-6 * g_tsc_hz);
    g_scan_allow = (uint64_t)(O.scan_allow_us * 1e-6 * g_tsc_hz);
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
    if (O.noise_ms > 0) return run_noise(O.noise_ms, O.noise_cpus);
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
        // the largest throughput of the fcfs dispatcher itself: a backlog of the request mix
        // (all due at once), served on green threads as in experiment A (admission, switches,
        // a SCAN after GETs with colder caches: ~15% more per request than back to back)
        double sat = 0;
        uint64_t sat_bad = 0;
        {
            const uint64_t sn = 60000;
            sched_alloc(sn + 1000);
            g_local = 1;
            gt_pool_init();
            for (int rep = 0; rep < 2; rep++) {  // the first one warms up
                Schedule s = make_schedule(1e12, sn / 1e12, O.scan_frac, 1000 + rep);
                point_reset(s.n);
                g_quantum = UINT64_MAX;
                uint64_t a0 = rdtsc();
                local_start(s, a0);
                dispatch_loop(s.n, a0 + (uint64_t)(30 * g_tsc_hz));
                uint64_t a1 = rdtsc();
                sat = g_completed / ((double)(a1 - a0) / g_tsc_hz);
                PointStats ps = point_stats(s, a0, false);
                sat_bad = ps.mismatches + (s.n - g_completed);
            }
            g_local = 0;
        }
        printf("{\"calibrate\": true, \"tsc_hz\": %.0f, \"get_us\": %.4f, \"scan_us\": %.3f, "
               "\"mean_us\": %.4f, \"capacity_rps\": %.1f, \"saturation_rps\": %.1f, "
               "\"saturation_bad\": %" PRIu64 ", \"cpi\": %.4f, \"sink\": %" PRIu64 "}\n",
               g_tsc_hz, tg, ts, mean, 1e6 / mean, sat, sat_bad, cpi, sink & 1);
        return 0;
    }
    if (!O.exp) die("--exp A|B, --load, --calibrate or --selftest needed");
    int rc;
    delete g_db;  // reopened after the fork: keep the forked address space small
    g_db = nullptr;
    if (strcmp(O.arrivals, "local") && strcmp(O.arrivals, "ring"))
        die("--arrivals local|ring, not %s", O.arrivals);
    // experiment B always uses the ring (its dedicated thread is woken by the load generator)
    g_local = !strcmp(O.exp, "A") && !strcmp(O.arrivals, "local");
    {
        double maxrate = 1;
        for (double r : O.rates) maxrate = std::max(maxrate, r);
        uint64_t cap = (uint64_t)(maxrate * (O.ms + O.warm_ms) / 1e3 * 1.05) + 1000;
        if (g_local)
            sched_alloc(cap);  // no load generator: the other core stays idle
        else
            lg_fork(cap);
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
