"""Runs the IR-level lit/FileCheck suite (tests/filecheck) as one pytest test."""

import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(__file__)


def test_lit_suite():
    lit = shutil.which("lit")
    if lit is None:
        pytest.fail("lit is not installed: pip install -e '.[test]'")
    proc = subprocess.run(
        [sys.executable, lit, "-q", os.path.join(HERE, "filecheck")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
