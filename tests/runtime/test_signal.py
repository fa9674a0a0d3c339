"""Tests of the timer-interrupt runtime variant (``ci_signal.c``, ``--ci-design=signal``).

The C programs are built directly against the library that ``build.runtime_paths(...,
variant="signal")`` produces; no compiler pass is involved.  Timing assertions are loose: the
machine has 2 cores and is shared.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

try:
    from compiler_interrupts.runtime import build
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
    from compiler_interrupts.runtime import build


def _find_cc() -> str | None:
    for name in (os.environ.get("CC"), "gcc", "cc", "clang", "clang-19"):
        if name and shutil.which(name):
            return name
    return None


CC = _find_cc()
pytestmark = [
    pytest.mark.skipif(CC is None, reason="no C compiler (apt-get install -y clang)"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX timers: Linux only"),
]

# Shared prelude of the test programs.
PRELUDE = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "ci_lib.h"
extern double __ci_tsc_hz(void);
extern long __ci_signal_period_ns(void);

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
/* This thread's CPU time: on a loaded machine the thread runs (and takes ticks) only part of
 * the wall time, so expected tick counts are computed from it. */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
/* Busy loop for `secs` seconds of wall time. */
static void spin(double secs) {
    double t0 = now_s();
    volatile unsigned long x = 0;
    while (now_s() - t0 < secs)
        for (int i = 0; i < 1000; i++)
            x += (unsigned long)i;
}
"""

PROGRAMS = {
    # ./rate MODE(cycles|ir) PERIOD_US SECONDS
    "rate": r"""
static volatile long calls;
static volatile long last_arg, bad_args;
static void handler(long count) {
    if (count <= last_arg) bad_args++;
    last_arg = count;
    calls++;
}
int main(int argc, char **argv) {
    int ir = argv[1][0] == 'i';
    double us = atof(argv[2]), secs = atof(argv[3]);
    if (ir)
        register_ci((int)(us * 1000.0), 0, handler);  /* IR mode: 1 "instruction" == 1 ns */
    else
        register_ci(0, (int)(us * 1e-6 * __ci_tsc_hz()), handler);
    long period = __ci_signal_period_ns();
    double t0 = now_s(), c0 = cpu_s();
    spin(secs);
    double dt = now_s() - t0, cpu = cpu_s() - c0;
    deregister_ci();
    long after = calls;
    spin(0.02);
    printf("hz=%.0f\nperiod_ns=%ld\ncalls=%ld\napi_calls=%ld\nsecs=%.4f\ncpu=%.4f\n"
           "bad_args=%ld\nafter_dereg=%ld\nperiod_after_dereg=%ld\n",
           __ci_tsc_hz(), period, after, ci_handler_calls(), dt, cpu, bad_args, calls - after,
           __ci_signal_period_ns());
    return 0;
}
""",
    # ./floor CYCLES: the period the runtime chose for a cycles-mode request.  The timer signal
    # is blocked throughout: a period of a few us without the floor would livelock the thread.
    "floor": r"""
#include <signal.h>
static void handler(long count) { (void)count; }
int main(int argc, char **argv) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN + 3);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    register_ci(0, atoi(argv[1]), handler);
    long period = __ci_signal_period_ns();
    deregister_ci();
    pthread_sigmask(SIG_UNBLOCK, &set, NULL); /* the stale pending tick is ignored */
    printf("hz=%.0f\nperiod_ns=%ld\n", __ci_tsc_hz(), period);
    return 0;
}
""",
    # ./disable: nesting, pending delivery at the outermost enable, hooks
    "disable": r"""
static volatile long calls, hook_dis, hook_en, calls_in_enable_hook = -1;
static void handler(long count) { (void)count; calls++; }
static void on_disable(long c) { (void)c; hook_dis++; }
static void on_enable(long c) { (void)c; hook_en++; calls_in_enable_hook = calls; }
int main(void) {
    register_ci_disable_hook(on_disable);
    register_ci_enable_hook(on_enable);
    register_ci(1000000, 0, handler); /* 1 ms */
    ci_disable();
    ci_disable();
    spin(0.05);                 /* ~50 ticks due, none delivered */
    long while_disabled = calls;
    ci_enable();                /* inner: still disabled */
    long after_inner = calls;
    ci_enable();                /* outermost: exactly one pending delivery, right now */
    long after_outer = calls;
    ci_enable();                /* unmatched: ignored */
    spin(0.05);                 /* enabled again: ticks flow */
    long later = calls;
    deregister_ci();
    printf("while_disabled=%ld\nafter_inner=%ld\nafter_outer=%ld\nlater=%ld\n"
           "hook_dis=%ld\nhook_en=%ld\ncalls_in_enable_hook=%ld\n",
           while_disabled, after_inner, after_outer, later, hook_dis, hook_en,
           calls_in_enable_hook);
    return 0;
}
""",
    # ./reentry: a handler longer than the period is never re-entered; API calls inside it
    "reentry": r"""
static volatile int depth, max_depth;
static volatile long calls, replaced_calls;
static void replaced(long c) { (void)c; replaced_calls++; }
static void handler(long count) {
    (void)count;
    if (++depth > max_depth) max_depth = depth;
    calls++;
    spin(0.003);                         /* 3 periods */
    if (calls == 5)
        register_ci(2000000, 0, replaced); /* replace from inside: 2 ms from now */
    depth--;
}
int main(void) {
    register_ci(1000000, 0, handler);
    spin(0.15);
    deregister_ci();
    printf("calls=%ld\nmax_depth=%d\nreplaced_calls=%ld\n", calls, max_depth, replaced_calls);
    return 0;
}
""",
    # ./threads: per-thread timers and thread-exit cleanup
    "threads": r"""
#define NT 3
static __thread long my_calls;
static void thread_handler(long c) { (void)c; my_calls++; }
struct arg { long period_us; int reg; long calls; double cpu; };
static void *worker(void *p) {
    struct arg *a = (struct arg *)p;
    if (a->reg)
        register_ci((int)(a->period_us * 1000), 0, thread_handler);
    double c0 = cpu_s();
    spin(0.2);
    a->cpu = cpu_s() - c0;
    a->calls = my_calls;
    return NULL;  /* exits registered: the key destructor deletes the timer */
}
static void *short_lived(void *p) {
    (void)p;
    register_ci(100000, 0, thread_handler);
    spin(0.001);
    return NULL;
}
int main(void) {
    pthread_t t[NT];
    struct arg a[NT] = {{1000, 1, 0, 0}, {4000, 1, 0, 0}, {1000, 0, 0, 0}};
    for (int i = 0; i < NT; i++)
        pthread_create(&t[i], NULL, worker, &a[i]);
    for (int i = 0; i < NT; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 200; i++) {   /* would exhaust nothing, and crash nothing */
        pthread_t s;
        pthread_create(&s, NULL, short_lived, NULL);
        pthread_join(s, NULL);
    }
    spin(0.02);
    printf("calls1ms=%ld\ncalls4ms=%ld\ncalls_unreg=%ld\nmain_calls=%ld\ncpu1ms=%.4f\n"
           "cpu4ms=%.4f\n", a[0].calls, a[1].calls, a[2].calls, ci_handler_calls(), a[0].cpu,
           a[1].cpu);
    return 0;
}
""",
    # ./probes: objects with probes link and count, the budget stub never interrupts
    "probes": r"""
#define PROBE(c) do { __ci_budget -= (c); if (__ci_budget < 0) __ci_slow_path(c); } while (0)
static volatile long calls;
static void handler(long c) { (void)c; calls++; }
int main(void) {
    register_ci(0, (int)(0.001 * __ci_tsc_hz()), handler);
    for (long i = 0; i < 3000000; i++)
        PROBE(3);
    long n = ci_instruction_count();
    spin(0.02);
    deregister_ci();
    printf("count=%ld\ncalls=%ld\ncpi=%.1f\n", n, calls, __ci_cycles_per_instr());
    return 0;
}
""",
    # ./autostart THREADS SECONDS: no registration in the program itself
    "autostart": r"""
static void *work(void *p) { spin(*(double *)p); return NULL; }
int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    double secs = atof(argv[2]);
    pthread_t t[8];
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], NULL, work, &secs);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    printf("done=1\n");
    return 0;
}
""",
}


# ------------------------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    d = tmp_path_factory.mktemp("ci-cache-signal")
    old = os.environ.get("CI_CACHE_DIR")
    os.environ["CI_CACHE_DIR"] = str(d)
    yield d
    if old is None:
        os.environ.pop("CI_CACHE_DIR", None)
    else:
        os.environ["CI_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def rt(cache):
    return build.runtime_paths(CC, variant="signal")


@pytest.fixture(scope="module")
def bindir(tmp_path_factory):
    return tmp_path_factory.mktemp("ci-signal-bin")


def compile_prog(bindir: Path, rt: build.RuntimeArtifacts, name: str, *,
                 autostart: bool = False, out: str | None = None) -> Path:
    src = bindir / f"{name}.c"
    src.write_text(PRELUDE + textwrap.dedent(PROGRAMS[name]))
    exe = bindir / (out or name)
    cmd = [CC, "-O2", "-g", "-I", str(build.header_dir()), str(src), "-o", str(exe),
           *rt.link_args(autostart=autostart)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stderr}"
    return exe


def run(exe: Path, *args, env: dict | None = None, timeout: float = 30) -> dict[str, str]:
    e = dict(os.environ)
    for k in ("CI_AUTOSTART_CYCLES", "CI_AUTOSTART_IR", "CI_INTERVAL_LOG", "CI_STATS",
              "CI_SIGNAL_MIN_NS", "CI_SIGNAL_CLOCK", "CI_TSC_HZ"):
        e.pop(k, None)
    e.update(env or {})
    r = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, env=e,
                       timeout=timeout)
    assert r.returncode == 0, f"{exe.name} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    vals = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition("=")
        vals[k] = v
    vals["_stderr"] = r.stderr
    return vals


# ------------------------------------------------------------------------------------------
# builder


def test_signal_variant_has_its_own_cache_entry(rt, cache):
    probes = build.runtime_paths(CC)
    assert rt.variant == "signal" and probes.variant == "probes"
    assert rt.directory != probes.directory
    assert rt.library.is_file() and rt.autostart.is_file()
    assert "-lrt" in rt.link_args() and "-lrt" not in probes.link_args()
    assert build.runtime_paths(CC, variant="signal") == rt  # cached


def test_unknown_variant_is_rejected(cache):
    with pytest.raises(ValueError, match="variant"):
        build.runtime_paths(CC, variant="hardware")


def test_signal_library_defines_the_probe_abi_and_the_public_api(rt):
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("no nm")
    out = subprocess.run([nm, str(rt.library)], capture_output=True, text=True).stdout
    for sym in ("__ci_budget", "__ci_slow_path", "register_ci", "deregister_ci", "ci_disable",
                "ci_enable", "register_ci_disable_hook", "register_ci_enable_hook",
                "ci_instruction_count", "ci_handler_calls", "__ci_timestamp"):
        assert f" {sym}\n" in out, sym


# ------------------------------------------------------------------------------------------
# timer rate


def test_tsc_calibration_is_plausible(rt, bindir):
    v = run(compile_prog(bindir, rt, "floor"), 100_000_000)
    hz = float(v["hz"])
    assert 1e8 < hz < 1e10
    # 100M cycles -> 100M/hz seconds
    assert int(v["period_ns"]) == pytest.approx(1e17 / hz, rel=1e-3)


def test_tsc_frequency_from_the_environment(rt, bindir):
    v = run(compile_prog(bindir, rt, "floor"), 3_000_000, env={"CI_TSC_HZ": "3e9"})
    assert float(v["hz"]) == 3e9
    assert int(v["period_ns"]) == 1_000_000


def test_short_periods_are_raised_to_the_floor(rt, bindir):
    exe = compile_prog(bindir, rt, "floor")
    assert int(run(exe, 5000)["period_ns"]) == 50_000  # default CI_SIGNAL_MIN_NS
    assert int(run(exe, 5000, env={"CI_SIGNAL_MIN_NS": "20000"})["period_ns"]) == 20_000
    v = run(exe, 5000, env={"CI_SIGNAL_MIN_NS": "0", "CI_TSC_HZ": "2.5e9"})
    assert int(v["period_ns"]) == 2000


@pytest.mark.parametrize("mode", ["cycles", "ir"])
def test_handler_fires_at_roughly_the_timer_rate(rt, bindir, mode):
    v = run(compile_prog(bindir, rt, "rate"), mode, 2000, 0.4)  # 2 ms period, 0.4 s
    assert int(v["period_ns"]) == pytest.approx(2_000_000, rel=0.01)
    # The period runs from the handler's end, and a thread that is not running takes no tick:
    # at most one per period of wall time, about one per period of the thread's CPU time.
    calls = int(v["calls"])
    assert calls <= 1.05 * float(v["secs"]) / 0.002 + 1, v
    assert calls >= 0.5 * float(v["cpu"]) / 0.002, v
    assert int(v["api_calls"]) == calls
    assert v["bad_args"] == "0"  # the running count strictly increases


def test_deregister_disarms_the_timer(rt, bindir):
    v = run(compile_prog(bindir, rt, "rate"), "ir", 1000, 0.1)
    assert int(v["calls"]) > 10
    assert v["after_dereg"] == "0"
    assert v["period_after_dereg"] == "0"


# ------------------------------------------------------------------------------------------
# guarantees


def test_disable_enable_nesting_delivers_one_pending_interrupt(rt, bindir):
    v = run(compile_prog(bindir, rt, "disable"))
    assert v["while_disabled"] == "0"
    assert v["after_inner"] == "0"
    assert v["after_outer"] == "1"
    assert int(v["later"]) > 5
    assert v["hook_dis"] == "1" and v["hook_en"] == "1"
    assert v["calls_in_enable_hook"] == "0"  # the hook runs before the pending delivery


def test_handler_is_never_reentered(rt, bindir):
    v = run(compile_prog(bindir, rt, "reentry"))
    assert v["max_depth"] == "1"
    assert int(v["calls"]) == 5  # replaced after the 5th call
    assert int(v["replaced_calls"]) > 3


def test_timers_are_per_thread_and_deleted_at_thread_exit(rt, bindir):
    v = run(compile_prog(bindir, rt, "threads"))
    c1, c4 = int(v["calls1ms"]), int(v["calls4ms"])
    cpu1, cpu4 = float(v["cpu1ms"]), float(v["cpu4ms"])  # of 0.2 s wall time each
    assert 0.5 * cpu1 / 0.001 <= c1 <= 210, v
    assert 0.5 * cpu4 / 0.004 <= c4 <= 55, v
    assert c1 / cpu1 > 2 * c4 / cpu4, v
    assert v["calls_unreg"] == "0"
    assert v["main_calls"] == "0"


def test_objects_with_probes_link_and_never_take_interrupts_from_the_budget(rt, bindir):
    v = run(compile_prog(bindir, rt, "probes"))
    assert int(v["count"]) == 9_000_000  # 3M probes of cost 3, counted exactly
    assert float(v["cpi"]) == 0.0


def test_autostart_records_intervals_on_every_thread(rt, bindir, tmp_path):
    rt_auto = build.runtime_paths(CC, variant="signal",
                                  autostart_define="CI_AUTOSTART_CYCLES=500000")
    exe = compile_prog(bindir, rt_auto, "autostart", autostart=True, out="autostart_sig")
    log = tmp_path / "intervals.bin"
    v = run(exe, 2, 0.2, env={"CI_INTERVAL_LOG": str(log), "CI_STATS": "1",
                              "CI_TSC_HZ": "2.5e9"})
    assert v["done"] == "1"
    recs = build.read_interval_log(log)
    assert sorted(r.thread for r in recs) == [0, 1, 2]
    workers = [r for r in recs if r.thread != 0]
    for r in workers:
        assert r.mode == "cycles" and r.interval == 500000
        assert r.handler_calls > 50  # 0.2 s / 0.2 ms = 1000 at most
        assert len(r.samples) == r.handler_calls
        # Intervals are TSC ticks; the timer's 200 us is >= 500000 ticks of the real TSC only
        # if the real TSC is >= 2.5 GHz, so check the order of magnitude only.
        med = statistics.median(r.samples)
        assert 1e5 < med < 5e7
    assert "ci: thread 1 handler_calls=" in v["_stderr"]


def test_shared_library_variant(cache, bindir):
    rt_so = build.runtime_paths(CC, shared=True, variant="signal")
    assert rt_so.library.name == build.SHARED_LIB
    exe = compile_prog(bindir, rt_so, "rate", out="rate_shared")
    v = run(exe, "ir", 1000, 0.1)
    assert int(v["calls"]) > 10


def test_driver_signal_design_end_to_end(tmp_path):
    """ci-cc --ci-design=signal links this runtime; the autostart handler fires."""
    try:
        from compiler_interrupts.toolchain.clang import find_clang

        find_clang(False)
    except Exception as exc:  # noqa: BLE001 - no clang: the driver cannot run
        pytest.skip(f"no clang for the driver: {exc}")
    src = tmp_path / "spin.c"
    src.write_text(PRELUDE + "int main(void) { spin(0.1); printf(\"ok=1\\n\"); return 0; }\n")
    exe = tmp_path / "spin"
    cmd = [sys.executable, "-m", "compiler_interrupts", "cc", "-O2", "--ci-design=signal",
           "--ci-autostart=250000", f"-I{build.header_dir()}", str(src), "-o", str(exe)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    v = run(exe, env={"CI_STATS": "1"})
    assert v["ok"] == "1"
    line = [ln for ln in v["_stderr"].splitlines() if ln.startswith("ci: thread 0")][0]
    calls = int(line.split("handler_calls=")[1].split()[0])
    assert calls > 100  # 0.1 s at 250000 cycles raised to the 50 us floor: ~1000 at most


def test_instrumented_objects_link_against_the_signal_runtime(tmp_path, cache):
    """Objects compiled with probes (naive and ci designs) link and run with ci_signal.c."""
    try:
        from compiler_interrupts.toolchain.clang import find_clang

        clang = find_clang(False)
    except Exception as exc:  # noqa: BLE001 - no clang: the driver cannot run
        pytest.skip(f"no clang for the driver: {exc}")
    rt = build.runtime_paths(clang, variant="signal")
    src = tmp_path / "count.c"
    src.write_text(PRELUDE + textwrap.dedent(r"""
        static volatile long calls;
        static void handler(long c) { (void)c; calls++; }
        __attribute__((noinline)) static double work(long n) {
            double x = 0;
            for (long i = 0; i < n; i++) x += (double)i * 0.5;
            return x;
        }
        int main(void) {
            register_ci(1000000, 0, handler);
            double x = work(50000000);
            spin(0.02);
            deregister_ci();
            printf("x=%.0f\ncount=%ld\ncalls=%ld\n", x, ci_instruction_count(), calls);
            return 0;
        }
    """))
    for design in ("naive", "ci"):
        obj = tmp_path / f"count_{design}.o"
        exe = tmp_path / f"count_{design}"
        r = subprocess.run([sys.executable, "-m", "compiler_interrupts", "cc", "-O2",
                            f"--ci-design={design}", f"-I{build.header_dir()}", "-c", str(src),
                            "-o", str(obj)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        r = subprocess.run([clang, str(obj), "-o", str(exe), *rt.link_args(autostart=False)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        v = run(exe)
        assert int(v["count"]) > 50_000_000, (design, v)  # the probes counted the loop
        assert int(v["calls"]) > 5, (design, v)  # the timer fired meanwhile
