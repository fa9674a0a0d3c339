"""The benchmark workload suite: programs.txt, builds, output protocol, determinism."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

try:
    import compiler_interrupts  # noqa: F401
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from compiler_interrupts.bench import suite  # noqa: E402


def _find_cc() -> str | None:
    for cc in ("clang-19", "clang", "cc"):
        path = shutil.which(cc)
        if path:
            return path
    return None


CC = _find_cc()
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler (clang-19, clang or cc) found")

WORKLOADS = suite.load_suite()
BY_NAME = {w.name: w for w in WORKLOADS}
CFLAGS = ("-O2", "-std=c11", "-Wall", "-Wextra", "-Werror")
RUN_TIMEOUT = 60


# --------------------------------------------------------------------------- programs.txt --


def test_suite_is_large_enough():
    assert len(WORKLOADS) >= 22


def test_programs_txt_matches_sources():
    directory = suite.workloads_dir()
    listed = {w.name for w in WORKLOADS}
    sources = {p.stem for p in directory.glob("*.c")}
    assert listed == sources, (
        f"listed without source: {sorted(listed - sources)}; "
        f"source not listed: {sorted(sources - listed)}"
    )
    assert (directory / suite.HEADER).is_file()
    for w in WORKLOADS:
        assert w.source.is_file()


def test_programs_txt_fields():
    for w in WORKLOADS:
        for arg in (*w.test_args, *w.bench_args):
            assert re.fullmatch(r"[0-9]+", arg), (w.name, arg)
        assert all(lib.startswith("-l") for lib in w.libs), (w.name, w.libs)
        assert w.argv("prog", 2, "bench") == ["prog", "2", *w.bench_args]


def test_parse_programs_rejects_bad_lines(tmp_path):
    good = "a 1 2 yes -\nb 3 4 no -lm -lz  # comment\n\n# only a comment\n"
    ws = suite.parse_programs(good, tmp_path)
    assert [(w.name, w.test_args, w.bench_args, w.deterministic, w.libs) for w in ws] == [
        ("a", ("1",), ("2",), True, ()),
        ("b", ("3",), ("4",), False, ("-lm", "-lz")),
    ]
    assert ws[0].source == tmp_path / "a.c"
    for bad in ("a 1 2 yes", "a 1 2 maybe -", "a 1 2 yes -\na 1 2 yes -", "9x 1 2 yes -"):
        with pytest.raises(suite.SuiteFormatError):
            suite.parse_programs(bad, tmp_path)


def test_output_parsers():
    assert suite.parse_checksum("checksum: 00ff\n") == "00ff"
    assert suite.parse_runtime("x\nruntime: 0.25\n") == 0.25
    for bad in ("", "checksum: 1\nchecksum: 2\n", "hello\n", "checksum:\n"):
        with pytest.raises(ValueError):
            suite.parse_checksum(bad)
    with pytest.raises(ValueError):
        suite.parse_runtime("nothing here")


# ---------------------------------------------------------------------------------- builds --


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> dict[str, Path | Exception]:
    """Every workload built once at -O2 (warnings are errors), two builds at a time."""
    out = tmp_path_factory.mktemp("workloads")

    def build(w: suite.Workload) -> Path | Exception:
        try:
            return suite.build_plain(w, out, cc=CC, cflags=CFLAGS)
        except suite.BuildError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(BY_NAME, pool.map(build, WORKLOADS)))


def _exe(built, name: str) -> Path:
    res = built[name]
    if isinstance(res, suite.BuildError) and "zlib.h" in res.output:
        pytest.skip("zlib headers missing (install zlib1g-dev)")
    if isinstance(res, Exception):
        pytest.fail(str(res))
    return res


def _run(w: suite.Workload, exe: Path, threads: int) -> tuple[str, float]:
    proc = subprocess.run(
        w.argv(exe, threads, "test"), capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    assert proc.returncode == 0, (
        f"{w.name} {threads} threads: exit {proc.returncode}\n{proc.stderr}"
    )
    checksum = suite.parse_checksum(proc.stdout)
    runtime = suite.parse_runtime(proc.stderr)
    assert runtime >= 0
    assert [ln for ln in proc.stderr.splitlines() if ln.startswith("runtime:")] == [
        proc.stderr.strip().splitlines()[-1]
    ], f"{w.name}: expected exactly one runtime line, got {proc.stderr!r}"
    return checksum, runtime


@pytest.mark.parametrize("name", list(BY_NAME))
def test_workload_runs(built, name):
    w = BY_NAME[name]
    exe = _exe(built, name)
    one, _ = _run(w, exe, 1)
    two, _ = _run(w, exe, 2)
    if w.deterministic:
        assert one == two, f"{name}: checksum differs between 1 and 2 threads"


@pytest.mark.parametrize("name", list(BY_NAME))
def test_workload_rejects_bad_arguments(built, name):
    exe = _exe(built, name)
    for argv in ([], ["1"], ["0", BY_NAME[name].test_args[0]], ["2", "x"], ["1", "-5"]):
        proc = subprocess.run([str(exe), *argv], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2, (name, argv, proc.returncode)
        assert proc.stdout == ""
        assert "usage" in proc.stderr
