"""zlib, unmodified, built by its own configure + make with CC=ci-cc and
CI_FLAGS="--ci-design=ci --ci-autostart=100000", then its own ``make check``.

The source is the Debian source package's upstream tarball (``apt-get source``, cached under
``~/.cache/compiler-interrupts/sources``); the module is skipped when it cannot be fetched.
"""

from __future__ import annotations

import subprocess

import pytest

from compiler_interrupts import realworld



@pytest.fixture(scope="module")
def zlib_row(tmp_path_factory):
    try:
        from compiler_interrupts.toolchain.clang import find_clang

        find_clang(False)
    except Exception as exc:  # CIError
        pytest.skip(f"needs clang: {exc}")
    if not realworld.shutil.which("make"):
        pytest.skip("needs make")
    try:
        realworld.fetch_debian("zlib")
    except (realworld.FetchError, OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot fetch the zlib source: {exc}")
    work = tmp_path_factory.mktemp("zlib")
    row = realworld.run_project(realworld.Zlib(), work, jobs=2, sides=("ci",))
    if row.skipped:
        pytest.skip(row.skipped)
    row.work = work  # type: ignore[attr-defined]
    return row


def _failed(row) -> set[str]:
    return set(row.ci.outputs.get("__failed__", "").split())


def test_builds_with_ci_cc(zlib_row):
    assert zlib_row.ci.built, zlib_row.ci.log[-4000:]
    assert zlib_row.ci.total == 3
    # the library really carries probes
    libs = list(zlib_row.work.rglob("libz.a"))  # type: ignore[attr-defined]
    assert libs and b"__ci_budget" in libs[0].read_bytes()


def test_static_and_64bit_tests_pass(zlib_row):
    assert not (_failed(zlib_row) & {"static", "64-bit"}), zlib_row.ci.log[-4000:]


def test_handlers_fired(zlib_row):
    assert zlib_row.ci.handler_calls > 0


def test_shared_library_test_passes(zlib_row):
    # Regression: the preserve_all slow path was once reached through a lazily bound PLT slot,
    # whose resolver clobbers registers the caller keeps live (fixed: nonlazybind, GOT call).
    assert "shared" not in _failed(zlib_row), zlib_row.ci.log[-3000:]
