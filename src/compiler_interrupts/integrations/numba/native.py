"""The native half of the Numba integration: build, load and bind ``ci_numba_rt.c``.

The C file is compiled once per compiler/interpreter into the project's runtime cache
(``$CI_CACHE_DIR``, else ``~/.cache/compiler-interrupts``; see
:func:`compiler_interrupts.runtime.build.cache_dir`) as ``numba-<key>/libci_numba.so`` and loaded
with ctypes. Its symbols are registered with llvmlite so that jitted code (and code loaded from
Numba's on-disk cache) links against them by name: nothing process-specific is baked into
compiled code.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from importlib import resources
from pathlib import Path

SOURCE = "ci_numba_rt.c"
LIB_NAME = "libci_numba.so"
_RECIPE = "1"
CFLAGS = ("-O2", "-fPIC", "-std=gnu11", "-fvisibility=hidden", "-shared", "-pthread")

#: Symbols that instrumented code references (registered with llvmlite).
CODE_SYMBOLS = (
    "ci_nb_tls_off",
    "ci_nb_slow",
    "ci_nb_enter",
    "ci_nb_leave",
    "ci_nb_par_begin",
    "ci_nb_par_end",
    "ci_nb_worker_enter",
    "ci_nb_worker_leave",
)

# reasons (ci_numba_rt.c)
CANCEL, DEADLINE, PYERR, HANDLER, SIGINT = 1, 2, 3, 4, 5
# handler kinds
H_VOID, H_I32, H_I64 = 1, 2, 3
# enter() flags
F_NOGIL, F_PARALLEL = 1, 2

INT64_MAX = (1 << 63) - 1


class NativeBuildError(RuntimeError):
    """The C helper of the Numba integration could not be compiled."""


class Token(ctypes.Structure):
    pass


Token._fields_ = [("flag", ctypes.c_void_p), ("parent", ctypes.c_void_p)]


class State(ctypes.Structure):
    """Mirror of ``struct ci_nb_state`` (keep in sync with ci_numba_rt.c)."""

    _fields_ = [
        ("interval", ctypes.c_int64),
        ("refill", ctypes.c_int64),
        ("instructions", ctypes.c_int64),
        ("last_instructions", ctypes.c_int64),
        ("slow_calls", ctypes.c_int64),
        ("handler_calls", ctypes.c_int64),
        ("deadline_ns", ctypes.c_int64),
        ("progress_period_ns", ctypes.c_int64),
        ("progress_next_ns", ctypes.c_int64),
        ("progress_cb", ctypes.c_void_p),
        ("token", ctypes.c_void_p),
        ("handler", ctypes.c_void_p),
        ("handler_kind", ctypes.c_int32),
        ("depth", ctypes.c_int32),
        ("pending", ctypes.c_int32),
        ("deferred", ctypes.c_int32),
        ("sigint_seen", ctypes.c_int64),
        ("is_main", ctypes.c_int32),
        ("interrupts", ctypes.c_int32),
        ("owner", ctypes.c_void_p),
        ("par_sigint", ctypes.c_int64),
        ("yield_ns", ctypes.c_int64),
        ("yield_next_ns", ctypes.c_int64),
        ("yields", ctypes.c_int64),
    ]


def _find_cc() -> list[str]:
    env = os.environ.get("CC")
    if env:
        return shlex.split(env)
    for name in ("cc", "gcc", "clang"):
        p = shutil.which(name)
        if p:
            return [p]
    for v in range(22, 13, -1):
        p = shutil.which(f"clang-{v}")
        if p:
            return [p]
    raise NativeBuildError(
        "compiler_interrupts.numba needs a C compiler once, to build its small runtime helper; "
        "none found (set CC, or install one: `apt-get install -y gcc` or clang)"
    )


def _cc_version(cc: list[str]) -> str:
    try:
        r = subprocess.run([*cc, "--version"], capture_output=True, text=True, timeout=60)
    except OSError as e:
        raise NativeBuildError(f"cannot run the C compiler {cc[0]!r}: {e}") from e
    return r.stdout + r.stderr


def library_path() -> Path:
    """Build (once, cached) and return the path of ``libci_numba.so``."""
    from compiler_interrupts.runtime.build import cache_dir

    src = resources.files(__package__).joinpath(SOURCE).read_bytes()
    cc = _find_cc()
    h = hashlib.sha256()
    for part in (_RECIPE, hashlib.sha256(src).hexdigest(), "\0".join(cc),
                 os.path.realpath(shutil.which(cc[0]) or cc[0]), _cc_version(cc),
                 " ".join(CFLAGS), sys.version, platform.machine(),
                 sysconfig.get_config_var("SOABI") or ""):
        h.update(part.encode())
        h.update(b"\1")
    key = h.hexdigest()[:20]
    root = cache_dir()
    final = root / f"numba-{key}"
    lib = final / LIB_NAME
    if lib.is_file():
        return lib
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"numba-{key}.lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            if lib.is_file():
                return lib
            if final.exists():
                shutil.rmtree(final, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".numba-{key}.", dir=root))
            try:
                (tmp / SOURCE).write_bytes(src)
                cmd = [*cc, *CFLAGS, str(tmp / SOURCE), "-o", str(tmp / LIB_NAME)]
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    raise NativeBuildError(
                        f"building the Numba CI helper failed:\n  $ {shlex.join(cmd)}\n"
                        f"{r.stderr}{r.stdout}")
                os.chmod(tmp, 0o755)
                os.rename(tmp, final)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    return lib


class _Native:
    """The loaded library and its ctypes bindings."""

    def __init__(self, path: Path):
        self.path = path
        lib = ctypes.CDLL(str(path))
        self.lib = lib
        lib.ci_nb_state_ptr.restype = ctypes.POINTER(State)
        lib.ci_nb_state_ptr.argtypes = []
        lib.ci_nb_state_size.restype = ctypes.c_int32
        lib.ci_nb_now.restype = ctypes.c_int64
        lib.ci_nb_get_budget.restype = ctypes.c_int64
        lib.ci_nb_set_budget.argtypes = [ctypes.c_int64]
        lib.ci_nb_sigint_count.restype = ctypes.c_int64
        lib.ci_nb_ensure_sigint_hook.restype = ctypes.c_int
        # Python C-API users: ctypes.PyDLL keeps the GIL and checks for errors.
        py = ctypes.PyDLL(str(path))
        self.py = py
        py.ci_nb_configure.argtypes = [ctypes.py_object] * 4
        py.ci_nb_configure.restype = None
        py.ci_nb_ensure_sigint_hook.restype = ctypes.c_int
        if lib.ci_nb_state_size() != ctypes.sizeof(State):
            raise NativeBuildError(
                f"ci_numba_rt.c and native.State disagree on the state layout "
                f"({lib.ci_nb_state_size()} != {ctypes.sizeof(State)} bytes)")
        self.default_interval = ctypes.c_int64.in_dll(lib, "ci_nb_default_interval")
        self.addresses = {
            name: ctypes.addressof(ctypes.c_int64.in_dll(lib, name))
            if name == "ci_nb_tls_off"
            else ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
            for name in CODE_SYMBOLS
        }

    def state(self) -> State:
        """This thread's state (a ctypes view; valid while the thread lives)."""
        return self.lib.ci_nb_state_ptr().contents

    def now_ns(self) -> int:
        return self.lib.ci_nb_now()


_lock = threading.Lock()
_native: _Native | None = None


def native() -> _Native:
    """Load (building if needed) the helper library and register its symbols with llvmlite."""
    global _native
    if _native is not None:
        return _native
    with _lock:
        if _native is None:
            n = _Native(library_path())
            import llvmlite.binding as ll

            for name, addr in n.addresses.items():
                ll.add_symbol(name, addr)
            _native = n
    return _native
