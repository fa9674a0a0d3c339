"""Shared fixtures of the end-to-end tests: real programs built with ``ci-cc``/``ci-c++``.

The whole directory is skipped (with the reason) when no clang >= 14 is available.  Every build
goes into the test's ``tmp_path``.  The environment of each command is scrubbed of the driver's
``CI_*`` knobs so that the user's shell cannot change what a test means.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from compiler_interrupts.realworld import driver_dir
from e2e_helpers import CLANG, CLANGXX, HERE, SKIP_REASON

#: Environment variables that change what ci-cc or the runtime does.
_SCRUB = ("CI_DESIGN", "CI_FLAGS", "CI_VERBOSE", "CI_STATS", "CI_AUTOSTART_CYCLES",
          "CI_AUTOSTART_IR", "CI_INTERVAL_LOG", "CI_CC_DEPTH")


def pytest_collection_modifyitems(config, items):
    if not SKIP_REASON:
        return
    marker = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(marker)


@pytest.fixture(scope="session")
def bindir(tmp_path_factory) -> Path:
    return driver_dir(tmp_path_factory.mktemp("ci-bin"))


@pytest.fixture(scope="session")
def env(bindir) -> dict[str, str]:
    """The environment for every command: ci-cc on PATH, driver knobs removed."""
    e = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    e["PATH"] = str(bindir) + os.pathsep + e.get("PATH", "")
    e["LC_ALL"] = "C"
    return e


@pytest.fixture(scope="session")
def ci_cc(bindir) -> str:
    return str(bindir / "ci-cc")


@pytest.fixture(scope="session")
def ci_cxx(bindir) -> str:
    return str(bindir / "ci-c++")


@pytest.fixture(scope="session")
def clang() -> str:
    assert CLANG is not None
    return CLANG


@pytest.fixture(scope="session")
def clangxx() -> str:
    assert CLANGXX is not None
    return CLANGXX


class Runner:
    """Runs commands with the scrubbed environment and a timeout."""

    def __init__(self, env: dict[str, str]):
        self.env = env

    def __call__(self, cmd, *, cwd=None, timeout=60, check=False, env=None, input=None):
        e = dict(self.env)
        if env:
            e.update(env)
        proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=e, capture_output=True,
                              text=True, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"command failed (exit {proc.returncode}): {' '.join(map(str, cmd))}\n"
                f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        return proc

    def ok(self, cmd, **kw):
        return self(cmd, check=True, **kw)


@pytest.fixture(scope="session")
def run(env) -> Runner:
    return Runner(env)
