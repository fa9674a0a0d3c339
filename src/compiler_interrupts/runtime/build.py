"""Build and cache the native Compiler Interrupts runtime.

The C sources (``ci_runtime.c``, ``ci_signal.c``, ``ci_autostart.c``, ``ci_lib.h``) ship inside
this package.  :func:`runtime_paths` compiles them with the user's compiler and flags into a
per-user cache and returns the paths to link::

    rt = runtime_paths("cc", ["-O2"])               # static: rt.library = .../libci_rt.a
    rt = runtime_paths("cc", shared=True)           # shared: rt.library = .../libci_rt.so
    rt = runtime_paths("cc", variant="signal")      # timer-interrupt baseline (ci_signal.c)
    cc ... -I{header_dir()} prog.o {rt.autostart} {rt.library} -Wl,--wrap=pthread_create -pthread
    (or simply: cc ... prog.o *rt.link_args())

Variants: ``"probes"`` (default) builds the library from ``ci_runtime.c``, the runtime of
instrumented code; ``"signal"`` builds it from ``ci_signal.c``, the timer-interrupt baseline of
``--ci-design=signal``: the same public API, interrupts delivered by a per-thread POSIX timer
signal, and stub definitions of ``__ci_budget``/``__ci_slow_path`` so that objects with probes
still link.  ``ci_autostart.o`` is the same source for both (it only uses the public API).

Cache directory: ``$CI_CACHE_DIR``, else ``$XDG_CACHE_HOME/compiler-interrupts``, else
``~/.cache/compiler-interrupts``.  Each build lives in ``runtime-<key>/`` where ``<key>`` hashes
the source contents, the resolved compiler path, ``cc --version`` output, the flags and the
variant.  Builds are safe under ``make -j``: a per-key ``fcntl.flock`` lock serialises builders,
and each build happens in a temporary directory that is atomically renamed into place, so a
directory that exists is always complete.

The interval log written by ``ci_autostart.o`` (env ``CI_INTERVAL_LOG``) is parsed by
:func:`read_interval_log`.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shlex
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Sequence

__all__ = [
    "RuntimeBuildError",
    "RuntimeArtifacts",
    "IntervalLogRecord",
    "runtime_paths",
    "header_dir",
    "cache_dir",
    "read_interval_log",
    "SOURCES",
    "SIGNAL_SOURCES",
    "VARIANTS",
    "STATIC_LIB",
    "SHARED_LIB",
    "AUTOSTART_OBJ",
]

#: Files of the runtime inside this package.
SOURCES = ("ci_lib.h", "ci_runtime.c", "ci_autostart.c")
#: Files of the ``signal`` variant (the timer-interrupt baseline).
SIGNAL_SOURCES = ("ci_lib.h", "ci_signal.c", "ci_autostart.c")
#: Runtime variant -> (sources, the C file that becomes the library).
VARIANTS = {
    "probes": (SOURCES, "ci_runtime.c"),
    "signal": (SIGNAL_SOURCES, "ci_signal.c"),
}
STATIC_LIB = "libci_rt.a"
SHARED_LIB = "libci_rt.so"
AUTOSTART_OBJ = "ci_autostart.o"

#: Flags every runtime build gets (before the caller's cflags).
BASE_CFLAGS = ("-O2", "-fPIC", "-g", "-std=gnu11", "-fvisibility=hidden")

#: Bump when the build recipe changes in a way the hash would not see.
_RECIPE_VERSION = "1"

_INSTALL_HINT = "install a C compiler, e.g. `apt-get install -y clang` (or gcc)"


class RuntimeBuildError(RuntimeError):
    """The runtime could not be built (missing compiler, compile or archive failure)."""


@dataclass(frozen=True)
class RuntimeArtifacts:
    """Paths produced by :func:`runtime_paths`."""

    #: ``libci_rt.a`` (static) or ``libci_rt.so`` (shared).
    library: Path
    #: ``ci_autostart.o`` (link it into executables with ``-Wl,--wrap=pthread_create``).
    autostart: Path
    #: Directory with ``ci_lib.h`` (use as ``-I``).
    include_dir: Path
    shared: bool
    #: The cache directory of this build.
    directory: Path
    #: ``"probes"`` (ci_runtime.c) or ``"signal"`` (ci_signal.c).
    variant: str = "probes"

    def link_args(self, *, autostart: bool = True) -> list[str]:
        """Arguments to append to the final link of an executable."""
        args: list[str] = []
        if autostart:
            args += [str(self.autostart), "-Wl,--wrap=pthread_create"]
        if self.shared:
            args += [
                f"-L{self.directory}",
                f"-Wl,-rpath,{self.directory}",
                "-lci_rt",
            ]
        else:
            args.append(str(self.library))
        if self.variant == "signal":
            args.append("-lrt")  # timer_create on glibc < 2.34 (an empty stub after)
        args.append("-pthread")
        return args


# --------------------------------------------------------------------------------------------
# locations


def cache_dir() -> Path:
    """The per-user cache root (not created)."""
    env = os.environ.get("CI_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "compiler-interrupts"
    return Path.home() / ".cache" / "compiler-interrupts"


def _source_bytes(variant: str = "probes") -> dict[str, bytes]:
    pkg = resources.files(__package__ or "compiler_interrupts.runtime")
    return {name: pkg.joinpath(name).read_bytes() for name in VARIANTS[variant][0]}


def header_dir() -> Path:
    """Directory containing ``ci_lib.h`` (for ``-I``)."""
    pkg = resources.files(__package__ or "compiler_interrupts.runtime")
    if isinstance(pkg, Path) and (pkg / "ci_lib.h").is_file():
        return pkg
    # Package not on a plain filesystem (zip import...): materialise the header in the cache.
    data = pkg.joinpath("ci_lib.h").read_bytes()
    d = cache_dir() / f"include-{hashlib.sha256(data).hexdigest()[:16]}"
    if not (d / "ci_lib.h").is_file():
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".ci_lib.h.")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, d / "ci_lib.h")
    return d


# --------------------------------------------------------------------------------------------
# compiler identification


def _split_cc(cc: str) -> list[str]:
    parts = shlex.split(cc)
    if not parts:
        raise RuntimeBuildError(f"empty C compiler name; {_INSTALL_HINT}")
    return parts


def _resolve_cc(cc: str) -> list[str]:
    # Keep the name as found on PATH (clang/clang++ and gcc wrappers look at argv[0]); the
    # cache key additionally records its realpath.
    parts = _split_cc(cc)
    exe = shutil.which(parts[0])
    if exe is None:
        raise RuntimeBuildError(f"C compiler {parts[0]!r} not found on PATH; {_INSTALL_HINT}")
    return [os.path.abspath(exe), *parts[1:]]


@functools.lru_cache(maxsize=None)
def _cc_identity(argv: tuple[str, ...], mtime_ns: int, size: int) -> str:
    try:
        r = subprocess.run(
            [*argv, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as e:
        raise RuntimeBuildError(f"cannot run C compiler {argv[0]!r}: {e}; {_INSTALL_HINT}") from e
    if r.returncode != 0:
        raise RuntimeBuildError(
            f"`{shlex.join([*argv, '--version'])}` failed (exit {r.returncode}):\n{r.stderr}"
        )
    return r.stdout + r.stderr


def _find_ar() -> str:
    env = os.environ.get("AR")
    if env:
        return env
    for name in ("ar", "llvm-ar", "llvm-ar-19", "gcc-ar"):
        p = shutil.which(name)
        if p:
            return p
    raise RuntimeBuildError(
        "no archiver (ar) found; install binutils: `apt-get install -y binutils`"
    )


def _normalize_defines(autostart_define: str | Sequence[str] | None) -> list[str]:
    if autostart_define is None:
        return []
    items = [autostart_define] if isinstance(autostart_define, str) else list(autostart_define)
    out = []
    for d in items:
        d = d.strip()
        if not d:
            continue
        out.append(d if d.startswith("-D") else f"-D{d}")
    return out


# --------------------------------------------------------------------------------------------
# building


def _run(cmd: list[str], what: str) -> None:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as e:
        raise RuntimeBuildError(f"{what}: cannot run {cmd[0]!r}: {e}; {_INSTALL_HINT}") from e
    if r.returncode != 0:
        raise RuntimeBuildError(
            f"{what} failed (exit {r.returncode}):\n  $ {shlex.join(cmd)}\n"
            f"{r.stderr}{r.stdout}".rstrip()
        )


def _build_into(
    tmp: Path,
    final: Path,
    cc_argv: list[str],
    flags: list[str],
    defines: list[str],
    shared: bool,
    sources: dict[str, bytes],
    variant: str = "probes",
) -> None:
    for name, data in sources.items():
        (tmp / name).write_bytes(data)
    # Debug info should point at the final location of the copied sources.
    common = [*cc_argv, *flags, f"-fdebug-prefix-map={tmp}={final}", f"-I{tmp}"]
    lib_src = VARIANTS[variant][1]
    rt_obj = tmp / (Path(lib_src).stem + ".o")
    _run([*common, "-c", str(tmp / lib_src), "-o", str(rt_obj)], f"compiling {lib_src}")
    _run(
        [*common, *defines, "-c", str(tmp / "ci_autostart.c"), "-o", str(tmp / AUTOSTART_OBJ)],
        "compiling ci_autostart.c",
    )
    if shared:
        _run(
            [
                *cc_argv,
                *flags,
                "-shared",
                f"-Wl,-soname,{SHARED_LIB}",
                str(rt_obj),
                *(["-lrt", "-pthread"] if variant == "signal" else []),
                "-o",
                str(tmp / SHARED_LIB),
            ],
            f"linking {SHARED_LIB}",
        )
    else:
        _run([_find_ar(), "rcs", str(tmp / STATIC_LIB), str(rt_obj)], f"archiving {STATIC_LIB}")


def runtime_paths(
    cc: str = "cc",
    cflags: Sequence[str] = (),
    *,
    shared: bool = False,
    autostart_define: str | Sequence[str] | None = None,
    variant: str = "probes",
) -> RuntimeArtifacts:
    """Build (or fetch from the cache) the runtime for compiler ``cc`` and flags ``cflags``.

    ``cc`` may contain arguments (``"ccache gcc"``).  Sources are compiled with
    ``-O2 -fPIC -g -std=gnu11 -fvisibility=hidden`` followed by ``cflags``.  ``shared`` selects
    ``libci_rt.so`` instead of ``libci_rt.a``.  ``autostart_define`` are preprocessor
    definitions for ``ci_autostart.o`` only, e.g. ``"CI_AUTOSTART_CYCLES=100000"`` or
    ``["CI_AUTOSTART_IR=5000"]`` (a ``-D`` prefix is optional); ``None`` builds the
    environment-driven autostart (reads ``CI_AUTOSTART_CYCLES``/``CI_AUTOSTART_IR``).
    ``variant`` is ``"probes"`` (``ci_runtime.c``, for instrumented code) or ``"signal"``
    (``ci_signal.c``, the POSIX-timer baseline; link with :meth:`RuntimeArtifacts.link_args`,
    which adds ``-lrt``).  The variant is part of the cache key.

    Raises :class:`ValueError` for an unknown variant, and :class:`RuntimeBuildError` (with
    the compiler's stderr) on failure.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown runtime variant {variant!r}; expected one of {sorted(VARIANTS)}")
    cc_argv = _resolve_cc(cc)
    cc_real = os.path.realpath(cc_argv[0])
    st = os.stat(cc_real)
    identity = _cc_identity(tuple(cc_argv), st.st_mtime_ns, st.st_size)
    flags = [*BASE_CFLAGS, *cflags]
    defines = _normalize_defines(autostart_define)
    sources = _source_bytes(variant)

    h = hashlib.sha256()
    for part in (
        _RECIPE_VERSION,
        *(f"{n}\0{hashlib.sha256(d).hexdigest()}" for n, d in sorted(sources.items())),
        "\0".join(cc_argv),
        cc_real,
        identity,
        "\0".join(flags),
        "\0".join(defines),
        "shared" if shared else "static",
        f"variant={variant}",
    ):
        h.update(part.encode())
        h.update(b"\1")
    key = h.hexdigest()[:20]

    root = cache_dir()
    final = root / f"runtime-{key}"
    lib_name = SHARED_LIB if shared else STATIC_LIB
    result = RuntimeArtifacts(
        library=final / lib_name,
        autostart=final / AUTOSTART_OBJ,
        include_dir=header_dir(),
        shared=shared,
        directory=final,
        variant=variant,
    )
    if result.library.is_file():  # complete: directories only appear by atomic rename
        return result

    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RuntimeBuildError(f"cannot create runtime cache directory {root}: {e}") from e
    lock_path = root / f"runtime-{key}.lock"
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            if result.library.is_file():
                return result
            if final.exists():  # incomplete leftovers (should not happen): replace
                shutil.rmtree(final, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".runtime-{key}.", dir=root))
            try:
                _build_into(tmp, final, cc_argv, flags, defines, shared, sources, variant)
                os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
                os.rename(tmp, final)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    return result


# --------------------------------------------------------------------------------------------
# CI_INTERVAL_LOG


@dataclass
class IntervalLogRecord:
    """One thread's record in a ``CI_INTERVAL_LOG`` file."""

    thread: int
    tid: int
    pid: int
    handler_calls: int
    instructions: int
    cycles_per_instr: float
    mode: str
    interval: int
    #: Clock ticks between consecutive handler calls (handler time excluded).
    samples: list[int] = field(default_factory=list)


def read_interval_log(path: str | os.PathLike[str]) -> list[IntervalLogRecord]:
    """Parse a ``CI_INTERVAL_LOG`` file written by ``ci_autostart.o``.

    Format: per thread, one ASCII line ``ci-intervals v1 thread=N tid=T pid=P samples=S
    handler_calls=C instructions=I cycles_per_instr=F mode=cycles|ir interval=X\\n`` followed by
    ``S`` little-endian ``uint32`` samples (``4*S`` bytes).
    """
    data = Path(path).read_bytes()
    out: list[IntervalLogRecord] = []
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            raise ValueError(f"{path}: truncated header at byte {pos}")
        words = data[pos:nl].decode("ascii").split()
        if words[:2] != ["ci-intervals", "v1"]:
            raise ValueError(f"{path}: bad record header at byte {pos}: {words[:2]}")
        kv = dict(w.split("=", 1) for w in words[2:])
        n = int(kv["samples"])
        start, end = nl + 1, nl + 1 + 4 * n
        if end > len(data):
            raise ValueError(f"{path}: truncated samples at byte {start}")
        blob = data[start:end]
        samples = list(struct.unpack(f"<{n}I", blob))
        out.append(
            IntervalLogRecord(
                thread=int(kv["thread"]),
                tid=int(kv["tid"]),
                pid=int(kv["pid"]),
                handler_calls=int(kv["handler_calls"]),
                instructions=int(kv["instructions"]),
                cycles_per_instr=float(kv["cycles_per_instr"]),
                mode=kv["mode"],
                interval=int(kv["interval"]),
                samples=samples,
            )
        )
        pos = end
    return out
