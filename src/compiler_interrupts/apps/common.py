"""Helpers shared by the applications (``delegation``, ``net``, ``sched``).

Building through ``ci-cc``, describing and sampling the machine (``/proc``), holding the
machine-wide benchmark lock, parsing comma-separated command-line lists and loading matplotlib
for the plots.  Only what the applications do identically lives here; what differs on purpose
(e.g. ``net``'s busy-time measure, which leaves out softirq time) stays in the application.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import platform
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

BENCH_LOCK = "/tmp/ci-bench.lock"


# ---------------------------------------------------------------------------------------------
# building

def ci_cc_command() -> list[str]:
    """The argv prefix that runs ``ci-cc``: the installed script if it is on PATH, otherwise
    ``python -m compiler_interrupts cc`` with this interpreter."""
    cc = shutil.which("ci-cc")
    return [cc] if cc else [sys.executable, "-m", "compiler_interrupts", "cc"]


# ---------------------------------------------------------------------------------------------
# the machine

def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def loadavg() -> list[float] | None:
    """The 1, 5 and 15 minute load averages from /proc/loadavg (None if unavailable)."""
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of the whole machine from /proc/stat (None if unavailable); busy
    is everything but idle and iowait."""
    try:
        f = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = f[3] + (f[4] if len(f) > 4 else 0.0)
    total = sum(f[:8])
    return total - idle, total


def clock_ticks() -> float:
    """Jiffies per second (``SC_CLK_TCK``; 100 where it cannot be read)."""
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError, AttributeError):
        return 100.0


@contextmanager
def file_lock(path: str | Path, on_wait: Callable[[], None] | None = None):
    """Hold an exclusive ``flock`` on ``path`` (created, with its parent, if missing).
    ``on_wait`` is called once if the lock is held elsewhere, before waiting for it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _announce_bench_wait() -> None:
    print(f"waiting for {BENCH_LOCK} (another benchmark holds it; if this command runs under "
          f"flock on it already, set CI_BENCH_LOCK_HELD=1 or pass --no-lock)",
          file=sys.stderr, flush=True)


@contextmanager
def bench_lock(enabled: bool = True):
    """Hold /tmp/ci-bench.lock (shared by every helper that benchmarks on this machine); yields
    the seconds spent waiting for it (0.0 when not ``enabled``: then nothing is locked).

    ``CI_BENCH_LOCK_HELD=1`` in the environment says the caller already holds it (e.g. the whole
    command runs under ``flock /tmp/ci-bench.lock``): taking it again would wait forever.  When
    the lock is busy, the wait is announced on stderr with that hint."""
    if not enabled or os.environ.get("CI_BENCH_LOCK_HELD") == "1":
        yield 0.0
        return
    t0 = time.monotonic()
    with file_lock(BENCH_LOCK, on_wait=_announce_bench_wait):
        yield time.monotonic() - t0


# ---------------------------------------------------------------------------------------------
# command line and plots

def csv_list(kind: Callable[[str], Any], allow_empty: bool = False) -> Callable[[str], list]:
    """An argparse ``type`` for a comma-separated list of ``kind`` values.  An empty list is an
    error unless ``allow_empty`` (then ``""`` and ``"none"`` give ``[]``)."""
    def parse(text: str):
        items = [x.strip() for x in text.split(",") if x.strip()]
        if allow_empty and (not items or items == ["none"]):
            return []
        if not items:
            raise argparse.ArgumentTypeError("empty list")
        try:
            return [kind(x) for x in items]
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad list {text!r}") from None

    return parse


def import_pyplot():
    """``matplotlib.pyplot`` with the non-interactive Agg backend, or None if matplotlib is not
    installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt
