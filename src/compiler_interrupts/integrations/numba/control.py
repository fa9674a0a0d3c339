"""Per-thread controls of instrumented Numba code: deadlines, cancellation, progress, handlers.

All of them act on the calling thread's runtime state (``ci_numba_rt.c``): they apply to the
jitted calls made by this thread inside the ``with`` block, and are restored on exit.
"""

from __future__ import annotations

import ctypes
import inspect
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from . import native as _nat
from .compiler import Cancelled, _ensure_configured, resolve_handler

__all__ = [
    "deadline",
    "CancelToken",
    "progress",
    "ProgressInfo",
    "interrupt_handler",
    "allow_threads",
    "set_interval",
    "get_interval",
    "stats",
    "Cancelled",
]


def _state():
    _ensure_configured()
    return _nat.native().state()


@contextmanager
def deadline(seconds: float):
    """Jitted code called in this block raises :class:`TimeoutError` once ``seconds`` have passed
    (measured from entering the block). Nested deadlines: the earliest wins."""
    if seconds < 0:
        raise ValueError("seconds must be >= 0")
    st = _state()
    when = _nat.native().now_ns() + int(seconds * 1e9)
    old = st.deadline_ns
    st.deadline_ns = min(old, when)
    try:
        yield
    finally:
        st.deadline_ns = old


class CancelToken:
    """A flag that any thread may set with :meth:`cancel`; jitted code running inside
    ``with token:`` (on any thread that entered it) then raises :class:`Cancelled`."""

    def __init__(self) -> None:
        self._flag = ctypes.c_int32(0)
        self._scopes = threading.local()

    def cancel(self) -> None:
        self._flag.value = 1

    def reset(self) -> None:
        self._flag.value = 0

    @property
    def cancelled(self) -> bool:
        return bool(self._flag.value)

    def __enter__(self) -> CancelToken:
        st = _state()
        node = _nat.Token(ctypes.addressof(self._flag), st.token)
        stack = getattr(self._scopes, "stack", None)
        if stack is None:
            stack = self._scopes.stack = []
        stack.append((node, st.token))
        st.token = ctypes.addressof(node)
        return self

    def __exit__(self, *exc) -> None:
        node, parent = self._scopes.stack.pop()
        _state().token = parent
        del node

    def __repr__(self) -> str:
        return f"<CancelToken cancelled={self.cancelled}>"


@dataclass
class ProgressInfo:
    """What a progress callback receives."""

    instructions: int
    """IR instructions run by jitted code on this thread since the ``progress`` block began."""
    elapsed: float
    """Seconds since the block began."""
    calls: int
    """Progress callbacks so far (this one included)."""
    total: int | None = None

    @property
    def fraction(self) -> float | None:
        """``instructions / total`` when a total was given (capped at 1)."""
        if not self.total:
            return None
        return min(1.0, self.instructions / self.total)


@contextmanager
def progress(callback, rate: float = 10.0, total: int | None = None):
    """Call ``callback`` at most ``rate`` times per second while jitted code runs in this block.

    ``callback`` is either a callable taking a :class:`ProgressInfo`, or a tqdm-style bar (an
    object with ``update(n)``), which is advanced by the IR instructions run since its last
    update (give the bar ``total=`` an instruction count, e.g. ``stats().last_instructions``
    of a previous run, for a percentage). An exception raised by the callback propagates out of
    the jitted call. The callback runs on the calling thread, from the probes' slow path."""
    if rate <= 0:
        raise ValueError("rate must be > 0")
    st = _state()
    n = _nat.native()
    period = max(1, int(1e9 / rate))
    start_ns = n.now_ns()
    t0 = time.perf_counter()
    seen = {"base": 0, "last_call": 0, "reported": 0, "calls": 0}
    bar = callback if hasattr(callback, "update") and not inspect.isroutine(callback) else None

    def done() -> int:
        cur = st.instructions
        if cur < seen["last_call"]:  # a new outermost call began
            seen["base"] += seen["last_call"]
        seen["last_call"] = cur
        return seen["base"] + cur

    def fire():
        total_now = done()
        seen["calls"] += 1
        if bar is not None:
            delta = total_now - seen["reported"]
            seen["reported"] = total_now
            if delta:
                bar.update(delta)
        else:
            callback(ProgressInfo(total_now, time.perf_counter() - t0, seen["calls"], total))

    keep = fire
    old = (st.progress_cb, st.progress_period_ns, st.progress_next_ns)
    st.progress_cb = id(keep)
    st.progress_next_ns = start_ns + period
    st.progress_period_ns = period
    try:
        yield
    finally:
        st.progress_cb, st.progress_period_ns, st.progress_next_ns = old
        del keep


@contextmanager
def interrupt_handler(handler, interval: int | None = None):
    """Call ``handler`` (a Numba ``@cfunc`` or ctypes function ``(int64) -> void|int32|int64``)
    every ``interval`` IR instructions of jitted code in this block; a non-zero result stops the
    jitted call with :class:`Cancelled`."""
    addr, kind, keep, _ = resolve_handler(handler)
    st = _state()
    old = (st.handler, st.handler_kind, st.interval)
    st.handler, st.handler_kind = addr, kind
    if interval is not None:
        _check_interval(interval)
        st.interval = interval
    try:
        yield
    finally:
        st.handler, st.handler_kind, st.interval = old
        del keep


@contextmanager
def allow_threads(switch_interval: float | None = None):
    """Let other Python threads run while jitted code called in this block holds the GIL.

    Numba code without ``nogil=True`` keeps the GIL for the whole call, so no other Python thread
    can run meanwhile (not even one that would cancel it). In this block, the probes' slow path
    hands the GIL over every ``switch_interval`` seconds (default: ``sys.getswitchinterval()``,
    like the interpreter) when another thread waits for it. As with ``nogil=True``, other threads
    may then observe or modify data the jitted code is using: only use it when that is safe."""
    import sys

    iv = sys.getswitchinterval() if switch_interval is None else switch_interval
    if iv <= 0:
        raise ValueError("switch_interval must be > 0")
    st = _state()
    old = (st.yield_ns, st.yield_next_ns)
    st.yield_ns = max(1, int(iv * 1e9))
    st.yield_next_ns = 0
    try:
        yield
    finally:
        st.yield_ns, st.yield_next_ns = old


def _check_interval(n) -> None:
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"interval must be a positive int, not {n!r}")


def set_interval(n: int, *, all_threads: bool = True) -> None:
    """Set the slow-path interval (IR instructions) of this thread and, with ``all_threads``,
    the default of threads that have not run instrumented code yet."""
    _check_interval(n)
    _state().interval = n
    if all_threads:
        _nat.native().default_interval.value = n


def get_interval() -> int:
    return _state().interval


@dataclass
class Stats:
    slow_calls: int
    handler_calls: int
    interrupts: int
    last_instructions: int
    interval: int
    gil_yields: int


def stats() -> Stats:
    """Counters of this thread (``last_instructions``: IR instructions of the last finished call
    from Python)."""
    st = _state()
    return Stats(st.slow_calls, st.handler_calls, st.interrupts, st.last_instructions,
                 st.interval, st.yields)
