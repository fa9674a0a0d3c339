"""Whole projects built with ci-cc through their own build systems (make, CMake)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from e2e_helpers import PROJECTS, parse_stats

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("build", "build-*"))
    return dst


def _nm(path: Path, *flags: str) -> str:
    return subprocess.run(["nm", *flags, str(path)], capture_output=True, text=True,
                          check=True).stdout


def _run_mini(run, exe: Path):
    proc = run.ok([exe], cwd="/")
    (st,) = parse_stats(proc.stderr)
    return proc.stdout, st


@pytest.fixture(scope="module")
def mini_builds(tmp_path_factory, run, clang):
    """The mini project built with `make CC=ci-cc` and `make CC=<clang>` (reference)."""
    root = _copy(PROJECTS / "mini", tmp_path_factory.mktemp("make") / "mini")
    ci = run.ok(["make", "CC=ci-cc", "BUILD=build-ci"], cwd=root, timeout=120)
    run.ok(["make", f"CC={clang}", "BUILD=build-ref"], cwd=root, timeout=120)
    return root, ci


def test_make_ci_cc_same_output_as_clang(run, mini_builds):
    root, _ = mini_builds
    out_ci, st_ci = _run_mini(run, root / "build-ci" / "mini")
    out_ref, st_ref = _run_mini(run, root / "build-ref" / "mini")
    assert out_ci == out_ref
    assert "words=22000" in out_ci and "primes=17984" in out_ci
    assert st_ref == {"ci": "absent"}
    assert st_ci["ci"] == "present"


def test_make_handler_fires_in_both_libraries(run, mini_builds):
    root, _ = mini_builds
    _, st = _run_mini(run, root / "build-ci" / "mini")
    # the handler registered in main fires while libutil.a's and libshape.so's code runs
    assert int(st["in_util"]) > 100, st
    assert int(st["in_shape"]) > 100, st
    assert int(st["ticks"]) >= int(st["in_util"]) + int(st["in_shape"])
    # and the libraries really are instrumented
    assert re.search(r"\bU __ci_budget\b", _nm(root / "build-ci" / "libutil.a"))
    assert re.search(r"\bU __ci_budget\b", _nm(root / "build-ci" / "libshape.so", "-D"))
    assert "__ci_budget" not in _nm(root / "build-ref" / "libshape.so", "-D")


def test_make_used_the_makefile_variables(mini_builds):
    _, proc = mini_builds
    log = proc.stdout
    assert "ci-cc -Iinclude -O2 -Wall -MMD -MP -c util/strutil.c" in log
    assert re.search(r"^ar rcs build-ci/libutil.a", log, re.M)
    assert "ci-cc -O2 -Wall -shared -o build-ci/libshape.so" in log


def test_make_j2_and_dependency_tracking(run, tmp_path, mini_builds):
    root0, _ = mini_builds
    expected, _ = _run_mini(run, root0 / "build-ref" / "mini")
    root = _copy(PROJECTS / "mini", tmp_path / "mini")
    # A cold runtime cache, as on a fresh machine: the first links build the runtime.
    cache = tmp_path / "cache"
    run.ok(["make", "-j2", "CC=ci-cc"], cwd=root, timeout=120, env={"CI_CACHE_DIR": str(cache)})
    assert list(cache.glob("runtime-*/libci_rt.a")) and list(cache.glob("runtime-*/libci_rt.so"))
    out, st = _run_mini(run, root / "build" / "mini")
    assert out == expected and st["ci"] == "present"

    # -MMD -MP wrote dependency files that name the objects
    dep = (root / "build" / "shape" / "shape.d").read_text()
    assert dep.startswith("build/shape/shape.o: shape/shape.c include/shape.h")
    assert "\ninclude/shape.h:" in dep
    assert run(["make", "-q", "CC=ci-cc"], cwd=root).returncode == 0  # up to date

    # touching a header rebuilds exactly what includes it
    (root / "include" / "shape.h").touch()
    log = run.ok(["make", "-j2", "CC=ci-cc"], cwd=root, timeout=120).stdout
    assert "shape/shape.c" in log and " main.c" in log
    assert "strutil.c" not in log and "mathutil.c" not in log
    out, _ = _run_mini(run, root / "build" / "mini")
    assert out == expected


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_cmake_project(run, tmp_path, clang):
    src = _copy(PROJECTS / "cmake_mini", tmp_path / "src")
    builds = {}
    for name, cc in (("ci", "ci-cc"), ("ref", clang)):
        b = tmp_path / f"build-{name}"
        run.ok(["cmake", "-S", src, "-B", b], cwd=tmp_path, env={"CC": cc}, timeout=120)
        run.ok(["cmake", "--build", b], cwd=tmp_path, timeout=120)
        builds[name] = b
    cache = (builds["ci"] / "CMakeCache.txt").read_text()
    assert re.search(r"^CMAKE_C_COMPILER:\w+=.*ci-cc$", cache, re.M)
    out_ci = run.ok([builds["ci"] / "cmake_mini"])
    out_ref = run.ok([builds["ref"] / "cmake_mini"])
    assert out_ci.stdout == out_ref.stdout and "mean=" in out_ci.stdout
    (st,) = parse_stats(out_ci.stderr)
    assert st["ci"] == "present" and int(st["ticks"]) == int(st["rt_calls"]) > 100
    assert parse_stats(out_ref.stderr) == [{"ci": "absent"}]
    assert re.search(r"\bU __ci_budget\b", _nm(builds["ci"] / "libstats.a"))
