"""Tests of the native runtime (ci_lib.h / ci_runtime.c / ci_autostart.c) and its builder.

No compiler pass is involved: the C programs under ``tests/runtime/c/`` run hand-written probes
(``PROBE(c)``: ``__ci_budget -= c; if (__ci_budget < 0) __ci_slow_path(c);``).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

try:
    from compiler_interrupts.emit import abi
    from compiler_interrupts.runtime import build
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
    from compiler_interrupts.emit import abi
    from compiler_interrupts.runtime import build

C_DIR = Path(__file__).resolve().parent / "c"
RUNTIME_DIR = Path(build.__file__).resolve().parent


def _find_cc() -> str | None:
    for name in (os.environ.get("CC"), "gcc", "cc", "clang", "clang-19"):
        if name and shutil.which(name):
            return name
    return None


CC = _find_cc()
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler (apt-get install -y clang)")


# ------------------------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    d = tmp_path_factory.mktemp("ci-cache")
    old = os.environ.get("CI_CACHE_DIR")
    os.environ["CI_CACHE_DIR"] = str(d)
    yield d
    if old is None:
        os.environ.pop("CI_CACHE_DIR", None)
    else:
        os.environ["CI_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def rt(cache):
    return build.runtime_paths(CC)


@pytest.fixture(scope="module")
def rt_shared(cache):
    return build.runtime_paths(CC, shared=True)


@pytest.fixture(scope="module")
def bindir(tmp_path_factory):
    return tmp_path_factory.mktemp("ci-bin")


def compile_prog(
    bindir: Path,
    rt: build.RuntimeArtifacts,
    name: str,
    sources: list[str],
    *,
    autostart: bool = False,
    extra: list[str] | None = None,
    out: str | None = None,
) -> Path:
    exe = bindir / (out or name)
    cmd = [
        CC,
        "-O2",
        "-g",
        "-I",
        str(build.header_dir()),
        "-I",
        str(C_DIR),
        *(str(C_DIR / s) for s in sources),
        *(extra or []),
        "-o",
        str(exe),
        *rt.link_args(autostart=autostart),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stderr}"
    return exe


def run(exe: Path, *args, env: dict | None = None, timeout: float = 20) -> tuple[dict, str]:
    e = dict(os.environ)
    for k in ("CI_AUTOSTART_CYCLES", "CI_AUTOSTART_IR", "CI_INTERVAL_LOG", "CI_STATS"):
        e.pop(k, None)
    e.update(env or {})
    r = subprocess.run(
        [str(exe), *map(str, args)], capture_output=True, text=True, env=e, timeout=timeout
    )
    assert r.returncode == 0, f"{exe.name} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    vals = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition("=")
        vals[k] = v
    return vals, r.stderr


def ints(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x]


# ------------------------------------------------------------------------------------------
# ABI / build


def test_abi_names_in_sources_and_archive(rt):
    header = (RUNTIME_DIR / "ci_lib.h").read_text()
    source = (RUNTIME_DIR / "ci_runtime.c").read_text()
    names = [*abi.PUBLIC_API, abi.BUDGET, abi.SLOW_PATH]
    for n in names:
        assert re.search(rf"\b{n}\b", header), n
        assert re.search(rf"\b{n}\b", source), n
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm not installed")
    out = subprocess.run([nm, str(rt.library)], capture_output=True, text=True, check=True).stdout
    defined = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            defined[parts[2]] = parts[1]
    for n in names:
        assert n in defined and defined[n] != "U", f"{n} not defined in {rt.library}"
    # the budget is TLS, the functions are text
    assert defined[abi.SLOW_PATH] in "Tt"
    # every global symbol of the runtime has a runtime prefix
    for sym, kind in defined.items():
        if kind.isupper() and kind != "U":
            assert sym.startswith(abi.RUNTIME_PREFIXES), sym
    assert abi.IDLE_BUDGET == 1 << 62 and "1 << 62" in source


def test_build_cache_is_reused(rt, cache):
    again = build.runtime_paths(CC)
    assert again == rt
    assert rt.library.name == build.STATIC_LIB and rt.library.is_file()
    assert rt.autostart.is_file()
    assert (build.header_dir() / abi.HEADER).is_file()
    other = build.runtime_paths(CC, ["-DCI_TEST_FLAG=1"])
    assert other.directory != rt.directory
    assert not list(cache.glob(".runtime-*")), "temporary build dirs left behind"


def test_build_concurrent(tmp_path):
    env = dict(os.environ, CI_CACHE_DIR=str(tmp_path))
    src = str(RUNTIME_DIR.parents[1])
    code = (
        f"import sys; sys.path.insert(0, {src!r});"
        "from compiler_interrupts.runtime import build;"
        f"print(build.runtime_paths({CC!r}, ['-DCONCURRENT=1']).library)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env, text=True)
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(outs)) == 1 and Path(outs[0]).is_file()
    assert len([p for p in tmp_path.glob("runtime-*") if p.is_dir()]) == 1
    assert not list(tmp_path.glob(".runtime-*"))


def test_build_errors(cache):
    with pytest.raises(build.RuntimeBuildError, match="apt-get install -y clang"):
        build.runtime_paths("definitely-not-a-compiler-xyz")
    with pytest.raises(build.RuntimeBuildError, match="ci_runtime.c") as ei:
        build.runtime_paths(CC, ["-DCI_BROKEN=1", "-include", "/nonexistent/broken.h"])
    assert "broken.h" in str(ei.value)  # the compiler's stderr is in the message


def test_cache_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("CI_CACHE_DIR", str(tmp_path / "a"))
    assert build.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("CI_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert build.cache_dir() == tmp_path / "x" / "compiler-interrupts"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert build.cache_dir() == tmp_path / "h" / ".cache" / "compiler-interrupts"


def test_header_is_cxx_safe(tmp_path):
    cxx = shutil.which("g++") or shutil.which("clang++") or shutil.which("clang++-19")
    if cxx is None:
        pytest.skip("no C++ compiler")
    src = tmp_path / "t.cc"
    src.write_text('#include "ci_lib.h"\n#include "ci_lib.h"\nint main() { CI_PROBE(1); }\n')
    r = subprocess.run(
        [cxx, "-Wall", "-I", str(build.header_dir()), "-c", str(src), "-o", str(tmp_path / "t.o")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    nm = subprocess.run(["nm", str(tmp_path / "t.o")], capture_output=True, text=True).stdout
    assert re.search(r"U __ci_slow_path$", nm, re.M), nm  # not mangled


# ------------------------------------------------------------------------------------------
# IR mode


@pytest.mark.parametrize(
    "interval,iters,cost", [(100, 100000, 1), (1000, 250000, 1), (100, 33334, 3), (7, 5000, 2)]
)
def test_ir_mode_exact(rt, bindir, interval, iters, cost):
    exe = compile_prog(bindir, rt, "ir_mode", ["ir_mode.c"])
    v, err = run(exe, interval, iters, cost)
    total = iters * cost
    assert int(v["budget_before"]) == abi.IDLE_BUDGET
    assert int(v["count"]) == total
    calls = int(v["calls"])
    assert abs(calls - total // interval) <= 1
    assert calls == total // interval  # our runtime is exact for probe costs <= interval
    assert int(v["api_calls"]) == calls
    args = ints(v["args"])
    # handler gets the cumulative count: the first probe at/after each multiple of interval
    expected = [-(-k * interval // cost) * cost for k in range(1, min(calls, 256) + 1)]
    assert args == expected
    assert int(v["budget_after_dereg"]) == abi.IDLE_BUDGET
    assert int(v["calls_after_dereg"]) == 0
    assert int(v["count_end"]) == 2 * total
    assert err == ""


def test_register_nothing_when_both_intervals_nonpositive(rt, bindir):
    exe = compile_prog(bindir, rt, "ir_mode", ["ir_mode.c"])
    v, err = run(exe, 100, 10000, 1, "bad")
    assert int(v["calls"]) == 0
    assert int(v["count"]) == 10000  # accounting still works unregistered
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "register_ci" in lines[0] and "nothing registered" in lines[0]


# ------------------------------------------------------------------------------------------
# cycles mode


@pytest.mark.parametrize("interval,initial", [(100000, 0), (30000, 0), (100000, 50)])
def test_cycles_mode(rt, bindir, interval, initial):
    exe = compile_prog(bindir, rt, "cycles_mode", ["cycles_mode.c"])
    duration = 300 * interval  # a few hundred handler calls, ~10-30 ms
    # Timing test on a possibly shared machine: a run where this thread was mostly preempted
    # says nothing about the runtime, so retry a few times.
    for attempt in range(4):
        v, _ = run(exe, interval, duration, initial)
        calls, elapsed, oncpu = int(v["calls"]), int(v["elapsed"]), float(v["oncpu"])
        # compare with the cycles the thread actually ran (preemption eats whole intervals)
        ratio = calls * interval / (elapsed * min(1.0, oncpu))
        median = int(v["median"])
        ok = 0.5 <= ratio <= 2.0 and abs(median - interval) <= 0.10 * interval
        if ok or attempt == 3:
            break
    assert calls > 0
    assert 0.5 <= ratio <= 2.0, v
    assert abs(median - interval) <= 0.10 * interval, v
    assert float(v["cpi"]) > 0


# ------------------------------------------------------------------------------------------
# disable / enable


def test_disable_enable_ir(rt, bindir):
    exe = compile_prog(bindir, rt, "disable", ["disable.c"])
    v, _ = run(exe, "ir")
    assert int(v["calls_disabled"]) == 0
    assert int(v["calls_inner_enable"]) == 0
    assert v["hooks_after_inner"] == "1,0"
    assert int(v["calls_outer_enable"]) == 1  # exactly one pending interrupt
    assert int(v["dis_hooks"]) == 1 and int(v["en_hooks"]) == 1
    assert int(v["dis_arg"]) == 0
    assert int(v["en_arg"]) == 1000
    # delivered after the enable hook (which ran 500 probes itself)
    assert int(v["pending_arg"]) == 1500
    assert int(v["calls_extra_enable"]) == 1
    # regular delivery resumes: deadlines at multiples of 100 after 1500 -> 1600..2500
    assert int(v["calls_after"]) == 10
    assert int(v["count"]) == 2500


def test_disable_enable_cycles(rt, bindir):
    exe = compile_prog(bindir, rt, "disable", ["disable.c"])
    v, _ = run(exe, "cycles")
    assert int(v["calls_disabled"]) == 0
    assert int(v["calls_inner_enable"]) == 0
    assert int(v["calls_outer_enable"]) == 1
    assert int(v["calls_extra_enable"]) == 1
    assert int(v["dis_hooks"]) == 1 and int(v["en_hooks"]) == 1


# ------------------------------------------------------------------------------------------
# re-entry and (de)registration from the handler


def test_no_reentry_when_handler_runs_probes(rt, bindir):
    exe = compile_prog(bindir, rt, "reentry", ["reentry.c"])
    v, _ = run(exe, "nested")
    assert int(v["max_depth"]) == 1
    # instructions executed inside the handler do not count towards the next interval
    assert int(v["calls_a"]) == 1000
    assert int(v["count"]) == 100000 + 1000 * 5500


def test_deregister_from_handler(rt, bindir):
    exe = compile_prog(bindir, rt, "reentry", ["reentry.c"])
    v, _ = run(exe, "dereg")
    assert int(v["calls_a"]) == 3
    assert int(v["budget_idle"]) == 1
    assert int(v["count"]) == 100000 + 3 * 500


def test_register_from_handler(rt, bindir):
    exe = compile_prog(bindir, rt, "reentry", ["reentry.c"])
    v, _ = run(exe, "rereg")
    assert int(v["calls_a"]) == 1
    assert abs(int(v["calls_b"]) - (100000 - 100) // 1000) <= 1
    args = ints(v["args_b"])
    # B counts from the end of A's run (count 100 + 5000 handler instructions)
    assert args[:3] == [6100, 7100, 8100]
    assert int(v["api_calls"]) == 1 + int(v["calls_b"])


def test_signal_handler_probes(rt, bindir):
    exe = compile_prog(bindir, rt, "signal_prog", ["signal_prog.c"])
    v, _ = run(exe)
    assert int(v["max_depth"]) == 1
    assert int(v["calls"]) > 0
    assert int(v["signals"]) > 0


def test_errno_preserved(rt, bindir):
    exe = compile_prog(bindir, rt, "errno_prog", ["errno_prog.c"])
    v, _ = run(exe)
    assert int(v["calls"]) > 1000
    assert int(v["bad"]) == 0


# ------------------------------------------------------------------------------------------
# threads


def test_threads_are_independent(rt, bindir):
    exe = compile_prog(bindir, rt, "threads", ["threads.c"], extra=["-pthread"])
    v, _ = run(exe)
    for i in range(5):
        registered, interval, calls, api_calls, count, last_arg = ints(v[f"thread{i}"])
        assert count == 200000
        if registered:
            assert calls == 200000 // interval
            assert api_calls == calls
            assert last_arg == calls * interval
        else:
            assert calls == 0 and api_calls == 0
    assert int(v["main_calls"]) == 10


# ------------------------------------------------------------------------------------------
# autostart


def test_autostart_env_cycles_and_log(rt, bindir, tmp_path):
    exe = compile_prog(
        bindir, rt, "autostart_prog", ["autostart_prog.c"], autostart=True, extra=["-pthread"]
    )
    log = tmp_path / "intervals.bin"
    interval = 50000
    v, err = run(
        exe,
        200 * interval,
        env={"CI_AUTOSTART_CYCLES": str(interval), "CI_INTERVAL_LOG": str(log), "CI_STATS": "1"},
    )
    assert int(v["main_calls"]) > 0
    recs = build.read_interval_log(log)
    assert sorted(r.thread for r in recs) == [0, 1, 2]
    for r in recs:
        assert r.mode == "cycles" and r.interval == interval
        assert r.handler_calls > 0 and len(r.samples) == r.handler_calls
        assert r.instructions > 0
        # 3 spinning threads on possibly fewer cores: only a loose check here
        assert 0.5 * interval <= statistics.median(r.samples) <= 2 * interval
    stats = [ln for ln in err.splitlines() if ln.startswith("ci: thread ")]
    assert len(stats) == 3
    for ln in stats:
        assert re.fullmatch(
            r"ci: thread \d+ handler_calls=\d+ instructions=\d+ cycles_per_instr=[\d.]+ slow_paths=\d+", ln
        ), ln
    # appending: a second run adds three more records
    run(exe, 20 * interval, env={"CI_AUTOSTART_CYCLES": str(interval), "CI_INTERVAL_LOG": str(log)})
    assert len(build.read_interval_log(log)) == 6


def test_autostart_off_without_config(rt, bindir, tmp_path):
    exe = compile_prog(
        bindir, rt, "autostart_prog", ["autostart_prog.c"], autostart=True, extra=["-pthread"]
    )
    log = tmp_path / "none.bin"
    v, err = run(exe, 1000000, env={"CI_INTERVAL_LOG": str(log), "CI_STATS": "1"})
    assert int(v["main_calls"]) == 0
    assert not log.exists() and "ci: thread" not in err


def test_autostart_compiled_ir_define(cache, bindir, tmp_path):
    rt_ir = build.runtime_paths(CC, autostart_define="CI_AUTOSTART_IR=1000")
    exe = compile_prog(
        bindir,
        rt_ir,
        "autostart_prog",
        ["autostart_prog.c"],
        autostart=True,
        extra=["-pthread"],
        out="autostart_ir",
    )
    log = tmp_path / "ir.bin"
    v, _ = run(exe, 3000000, env={"CI_INTERVAL_LOG": str(log)})
    assert int(v["main_calls"]) == int(v["main_count"]) // 1000
    recs = build.read_interval_log(log)
    assert len(recs) == 3
    for r in recs:
        assert r.mode == "ir" and r.interval == 1000
        assert r.handler_calls == r.instructions // 1000


def test_autostart_static_link(rt, bindir):
    try:
        exe = compile_prog(
            bindir,
            rt,
            "autostart_prog",
            ["autostart_prog.c"],
            autostart=True,
            extra=["-pthread", "-static"],
            out="autostart_static",
        )
    except AssertionError as e:  # no static libc installed
        pytest.skip(f"static linking unavailable: {str(e)[-200:]}")
    v, err = run(exe, 2000000, env={"CI_AUTOSTART_IR": "5000", "CI_STATS": "1"})
    assert int(v["main_calls"]) == int(v["main_count"]) // 5000
    assert len([ln for ln in err.splitlines() if ln.startswith("ci: thread ")]) == 3


# ------------------------------------------------------------------------------------------
# shared variant


def test_shared_runtime(rt_shared, bindir):
    assert rt_shared.library.name == build.SHARED_LIB
    lib = bindir / "libcitestwork.so"
    r = subprocess.run(
        [
            CC,
            "-O2",
            "-fPIC",
            "-shared",
            "-I",
            str(build.header_dir()),
            "-I",
            str(C_DIR),
            str(C_DIR / "shared_lib.c"),
            "-o",
            str(lib),
            f"-L{rt_shared.directory}",
            "-lci_rt",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    exe = compile_prog(
        bindir,
        rt_shared,
        "shared_main",
        ["shared_main.c"],
        extra=[f"-L{bindir}", f"-Wl,-rpath,{bindir}", "-lcitestwork"],
    )
    ldd = subprocess.run(["ldd", str(exe)], capture_output=True, text=True).stdout
    assert build.SHARED_LIB in ldd
    v, _ = run(exe)
    # one counter per thread across the executable and the instrumented .so
    assert int(v["count"]) == 50000 + 5000 * 3
    assert int(v["calls"]) == 65
    assert int(v["last_arg"]) == 65000


# ------------------------------------------------------------------------------------------
# ci_after_handler: preempting a user-level thread from the handler


def test_after_handler_switches_contexts(rt, bindir):
    exe = compile_prog(bindir, rt, "after_handler", ["after_handler.c"])
    v, _ = run(exe)
    assert int(v["outside"]) == -1  # only from inside a handler
    assert int(v["in_handler_seen"]) == 0  # the hook runs after the handler returned
    # both computations complete with the right results although they were interleaved
    assert int(v["sum_a"]) == sum(i % 7 for i in range(2000000))
    assert int(v["sum_b"]) == sum(i % 11 for i in range(1000000))
    # interrupts keep coming in whichever context runs: 6M + 5M IR / 10000 per interval
    assert int(v["calls"]) >= 1000
    assert int(v["switches"]) >= int(v["calls"]) // 2
    assert int(v["errno_a"]) == 7  # errno is the interrupted code's again when it resumes
