"""Shared by the application tests (``test_delegation``, ``test_net``, ``test_sched``).

Makes ``compiler_interrupts`` importable from a checkout without ``pip install -e .`` and
provides the toolchain checks the test modules skip on (import them: ``from conftest import
...``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

try:
    import compiler_interrupts  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))


def have_clang() -> bool:
    """A clang the ``ci-cc`` driver can use: ``$CI_CLANG``, or ``clang`` / ``clang-N`` on PATH."""
    if os.environ.get("CI_CLANG") and shutil.which(os.environ["CI_CLANG"]):
        return True
    for d in os.environ.get("PATH", "").split(os.pathsep):
        try:
            names = os.listdir(d)
        except OSError:
            continue
        if any(n == "clang" or (n.startswith("clang-") and n[6:].isdigit()) for n in names):
            return True
    return False


def no_clang_reason(driver: str = "ci-cc") -> str:
    """The skip reason when there is no clang for ``driver`` (``ci-cc`` or ``ci-c++``)."""
    return f"no clang ({driver} needs clang >= 14)"


def requires_clang(driver: str = "ci-cc") -> pytest.MarkDecorator:
    """A skip marker for tests that build with ``driver`` and so need clang."""
    return pytest.mark.skipif(not have_clang(), reason=no_clang_reason(driver))


def have_matplotlib() -> bool:
    """Whether matplotlib is installed (a run then also draws its plots)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True
