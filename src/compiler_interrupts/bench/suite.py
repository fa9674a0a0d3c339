"""The benchmark workload suite: C programs modelled on SPLASH-2, Phoenix and PARSEC.

The programs live in ``workloads/`` next to this module (package data) and are described by
``workloads/programs.txt``, one program per line::

    name  test_size  bench_size  deterministic(yes|no)  libs...

Every program is a single pthreads C file run as ``prog THREADS SIZE``.  It generates its input
deterministically, prints exactly one ``checksum: <hex>`` line on stdout and one
``runtime: <seconds>`` line (the timed parallel region) on stderr, and exits 0.  Programs marked
deterministic print the same checksum for every thread count.

A size column may hold several arguments separated by commas (all current programs take one).
``libs`` is the rest of the line (``-`` for none); ``-pthread`` is always used.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence

PROGRAMS_FILE = "programs.txt"
HEADER = "wl_common.h"

_CHECKSUM_RE = re.compile(r"^checksum: ([0-9A-Za-z]+)$")
_RUNTIME_RE = re.compile(r"^runtime: ([0-9.eE+-]+)$")


@dataclass(frozen=True)
class Workload:
    """One benchmark program of the suite."""

    name: str
    source: Path
    test_args: tuple[str, ...]
    bench_args: tuple[str, ...]
    libs: tuple[str, ...]
    deterministic: bool

    def args(self, size: str = "test") -> tuple[str, ...]:
        """The SIZE argument(s) for ``size`` ("test" or "bench")."""
        if size == "test":
            return self.test_args
        if size == "bench":
            return self.bench_args
        raise ValueError(f"unknown size {size!r} (expected 'test' or 'bench')")

    def argv(self, exe: str | Path, threads: int, size: str = "test") -> list[str]:
        """Command line running ``exe`` (a build of this workload) with ``threads`` threads."""
        return [str(exe), str(threads), *self.args(size)]


class SuiteFormatError(ValueError):
    """programs.txt is malformed."""


class BuildError(RuntimeError):
    """Compiling a workload failed."""

    def __init__(self, workload: str, cmd: Sequence[str], output: str):
        super().__init__(f"building {workload} failed: {' '.join(cmd)}\n{output}")
        self.workload = workload
        self.cmd = list(cmd)
        self.output = output


def workloads_dir() -> Path:
    """Directory holding the workload sources, the shared header and programs.txt."""
    return Path(str(resources.files("compiler_interrupts.bench").joinpath("workloads")))


def parse_programs(text: str, directory: Path | None = None) -> list[Workload]:
    """Parse the contents of programs.txt; sources are looked up in ``directory``."""
    directory = directory if directory is not None else workloads_dir()
    suite: list[Workload] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split(None, 4)
        if len(fields) < 5:
            raise SuiteFormatError(f"{PROGRAMS_FILE}:{lineno}: expected 5 fields, got {raw!r}")
        name, test, bench, det, libs = fields
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise SuiteFormatError(f"{PROGRAMS_FILE}:{lineno}: bad program name {name!r}")
        if name in seen:
            raise SuiteFormatError(f"{PROGRAMS_FILE}:{lineno}: duplicate program {name!r}")
        if det not in ("yes", "no"):
            raise SuiteFormatError(f"{PROGRAMS_FILE}:{lineno}: deterministic must be yes/no")
        seen.add(name)
        suite.append(
            Workload(
                name=name,
                source=directory / f"{name}.c",
                test_args=tuple(test.split(",")),
                bench_args=tuple(bench.split(",")),
                libs=() if libs.strip() == "-" else tuple(libs.split()),
                deterministic=det == "yes",
            )
        )
    return suite


def load_suite() -> list[Workload]:
    """All workloads listed in the packaged programs.txt, in file order."""
    directory = workloads_dir()
    return parse_programs((directory / PROGRAMS_FILE).read_text(encoding="utf-8"), directory)


def get_workload(name: str) -> Workload:
    """The workload called ``name``; KeyError if there is none."""
    for w in load_suite():
        if w.name == name:
            return w
    raise KeyError(name)


def build_command(
    workload: Workload,
    output: Path,
    cc: str = "clang-19",
    cflags: Iterable[str] = ("-O2",),
) -> list[str]:
    """The compiler command line that builds ``workload`` into ``output``."""
    return [
        cc,
        *cflags,
        "-pthread",
        f"-I{workload.source.parent}",
        str(workload.source),
        "-o",
        str(output),
        *workload.libs,
    ]


def build_plain(
    workload: Workload,
    out_dir: str | Path,
    cc: str = "clang-19",
    cflags: Sequence[str] = ("-O2",),
) -> Path:
    """Compile ``workload`` without instrumentation into ``out_dir``; returns the executable.

    Raises :class:`BuildError` (with the compiler output) when compilation fails.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = out_dir / workload.name
    cmd = build_command(workload, exe, cc=cc, cflags=cflags)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:  # compiler missing or not executable
        raise BuildError(workload.name, cmd, str(exc)) from exc
    if proc.returncode != 0:
        raise BuildError(workload.name, cmd, proc.stdout + proc.stderr)
    return exe


def parse_checksum(stdout: str) -> str:
    """The value of the single ``checksum:`` line; ValueError unless stdout is exactly that."""
    lines = stdout.splitlines()
    if len(lines) != 1 or not _CHECKSUM_RE.match(lines[0]):
        raise ValueError(f"expected exactly one 'checksum: <value>' line, got {stdout!r}")
    return _CHECKSUM_RE.match(lines[0]).group(1)  # type: ignore[union-attr]


def parse_runtime(stderr: str) -> float:
    """Seconds from the (last) ``runtime:`` line on stderr; ValueError if there is none."""
    for line in reversed(stderr.splitlines()):
        m = _RUNTIME_RE.match(line.strip())
        if m:
            return float(m.group(1))
    raise ValueError(f"no 'runtime: <seconds>' line in {stderr!r}")
