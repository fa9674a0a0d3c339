"""The bundled example (examples/run_example.sh) works and shows what it claims."""

from __future__ import annotations

import re

from e2e_helpers import HERE

EXAMPLES = HERE.parent.parent / "examples"


def test_run_example(run):
    proc = run.ok(["bash", EXAMPLES / "run_example.sh", "8000"], timeout=60)
    out = proc.stdout
    assert "  identical" in out
    results = re.findall(r"^  design=\w+: +(result: .*)$", out, re.M)
    assert len(results) == 2 and results[0] == results[1]
    rows = {m[0]: m[1:] for m in re.findall(
        r"^(numeric|recursive) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) +([\d.]+)$", out, re.M)}
    assert set(rows) == {"numeric", "recursive"}, out
    for name, (calls, instr, p10, p50, p90, rel) in rows.items():
        assert int(calls) > 100 and int(instr) > 1_000_000, out
        assert int(p10) <= int(p50) <= int(p90), out
        # the median measured interval is close to the requested 8000 cycles
        assert 0.5 <= float(rel) <= 2.0, out
