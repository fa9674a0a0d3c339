"""Shared helpers of the Numba integration tests.

Every module in this directory is skipped, with the reason shown by ``pytest -ra``, when numba
is not importable; ``pip install numba`` (or ``pip install -e '.[numba]'``) enables them.
"""

from __future__ import annotations

import ctypes
import signal
import time

import pytest

#: Every test module starts with ``pytest.importorskip("numba", reason=SKIP_REASON)``.
SKIP_REASON = "numba is not installed (pip install numba, or pip install -e '.[numba]')"


# ---------------------------------------------------------------------------- SIGINT from a timer

_libc = ctypes.CDLL(None, use_errno=True)


class _SigEvent(ctypes.Structure):
    _fields_ = [("sigev_value", ctypes.c_void_p), ("sigev_signo", ctypes.c_int),
                ("sigev_notify", ctypes.c_int), ("_pad", ctypes.c_byte * 48)]


class _TimeSpec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _ITimerSpec(ctypes.Structure):
    _fields_ = [("it_interval", _TimeSpec), ("it_value", _TimeSpec)]


class SigintTimer:
    """A POSIX timer (``timer_create``) that sends SIGINT to this process: it fires while the
    jitted code holds the GIL, which no Python-level timer can do."""

    def __init__(self) -> None:
        ev = _SigEvent()
        ev.sigev_notify = 0  # SIGEV_SIGNAL
        ev.sigev_signo = signal.SIGINT
        self._id = ctypes.c_void_p()
        if _libc.timer_create(1, ctypes.byref(ev), ctypes.byref(self._id)) != 0:  # MONOTONIC
            raise OSError(ctypes.get_errno(), "timer_create")
        self.fires_at = None

    def arm(self, seconds: float) -> float:
        spec = _ITimerSpec()
        spec.it_value.tv_sec = int(seconds)
        spec.it_value.tv_nsec = int((seconds % 1) * 1e9)
        self.fires_at = time.perf_counter() + seconds
        if _libc.timer_settime(self._id, 0, ctypes.byref(spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timer_settime")
        return self.fires_at

    def close(self) -> None:
        if self._id is not None:
            _libc.timer_delete(self._id)
            self._id = None


@pytest.fixture
def sigint_timer():
    t = SigintTimer()
    try:
        yield t
    finally:
        t.close()
