"""Loop rewrites of the ci design (folding, strip-mining) never change results, whatever the
trip count, and the handler keeps firing inside rewritten loops."""

from __future__ import annotations

import os
import subprocess

import pytest

HERE = os.path.dirname(__file__)
SRC = os.path.join(HERE, "programs", "loop_shapes.c")


def _build(tmp_path, design: str, *extra: str) -> str:
    exe = str(tmp_path / f"shapes-{design}-{len(extra)}")
    subprocess.run(["ci-cc", "-O2", f"--ci-design={design}", *extra, SRC, "-o", exe],
                   check=True, capture_output=True)
    return exe


@pytest.mark.parametrize("extra", [(), ("--ci-bound=60",), ("--ci-bound=1000",), ("-O1",)])
def test_rewritten_loops_compute_the_same_results(tmp_path, extra):
    ref = subprocess.run([_build(tmp_path, "none")], capture_output=True, text=True, check=True)
    exe = _build(tmp_path, "ci", "--ci-check", *extra)
    for interval in ("0", "50", "1000"):
        out = subprocess.run([exe, interval], capture_output=True, text=True, check=True,
                             timeout=60)
        assert out.stdout == ref.stdout
        calls = int(out.stderr.split("calls=")[1])
        if interval != "0":
            assert calls > 0
