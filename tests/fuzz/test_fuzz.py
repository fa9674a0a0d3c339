"""Differential testing with Csmith: a fixed-seed batch (CI) and the kept regression programs.

The batch builds each of 50 Csmith programs with plain clang, ``--ci-design=none`` and every probe
variant (naive, ci with bounds 50/200/1000, -O0/-O1 for every other program), runs the variants
with no handler, a handler every 50 IR instructions and in cycles mode, and requires identical
output everywhere (``compiler_interrupts.fuzz``). Skipped when csmith or its headers are missing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from compiler_interrupts import fuzz

HERE = Path(__file__).resolve().parent
REGRESSIONS = HERE / "regressions"

#: The CI batch: programs seed .. seed+count-1 with the default (small) Csmith options.
CI_SEED = 20240
CI_COUNT = 50

SETUP_PROBLEM = fuzz.setup_problem()
needs_csmith = pytest.mark.skipif(SETUP_PROBLEM is not None,
                                  reason=f"fuzzing needs csmith: {SETUP_PROBLEM}")


# -------------------------------------------------------------------------------------------
# Pieces that need no csmith


def test_variant_names_round_trip():
    for v in (fuzz.Variant("ci", "O2", 50), fuzz.Variant("naive", "O0"),
              fuzz.Variant("none", "O1")):
        assert fuzz._variant_from_name(v.name) == v
    assert "--ci-check" in fuzz.Variant("naive").flags()
    assert "--ci-check" not in fuzz.Variant("none").flags()
    assert "--ci-bound=200" in fuzz.Variant("ci", "O2", 200).flags()


def test_variants_cover_designs_bounds_and_levels():
    cfg = fuzz.Config()
    o2 = fuzz.variants_for(cfg, 0)
    assert [lvl for lvl, _ in o2] == ["O2"]
    names = {v.name for v in o2[0][1]}
    assert names == {"naive-O2", "ci-b50-O2", "ci-b200-O2", "ci-b1000-O2"}
    levels = {lvl for i in range(4) for lvl, _ in fuzz.variants_for(cfg, i)}
    assert levels == {"O0", "O1", "O2"}


def test_handler_call_parsing_and_comparison():
    err = ("ci: thread 0 handler_calls=12 instructions=600 cycles_per_instr=1.0\n"
           "ci: thread 1 handler_calls=3 instructions=150 cycles_per_instr=1.0\n")
    assert fuzz.handler_calls(err) == 15
    res = fuzz.ProgramResult(seed=7)
    ref = fuzz.RunOutcome(0, "checksum = 1\n", "", 0.1)
    v = fuzz.Variant("ci", "O2", 200)
    fuzz._compare(res, v, "plain", ref, fuzz.RunOutcome(0, "checksum = 1\n", err, 0.1))
    assert res.findings == []
    fuzz._compare(res, v, "ir50", ref, fuzz.RunOutcome(0, "checksum = 2\n", "", 0.1))
    fuzz._compare(res, v, "ir50", ref, fuzz.RunOutcome(-11, "", "", 0.1))
    fuzz._compare(res, v, "ir50", ref, fuzz.RunOutcome(None, "", "", 9.0))
    assert [f.kind for f in res.findings] == ["mismatch", "crash", "hang"]
    s = fuzz.Summary()
    s.add(res)
    assert s.line().startswith("fuzz: 1 programs, 0 variants, 3 mismatches")


def test_cli_parser():
    from compiler_interrupts import tools_cli

    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    tools_cli.add_parsers(sub)
    ns = p.parse_args(["fuzz", "--count", "3", "--seed", "9", "--designs", "ci",
                       "--bounds", "100", "--jobs", "1"])
    cfg = fuzz.config_from_args(ns)
    assert (cfg.count, cfg.seed, cfg.designs, cfg.bounds, cfg.jobs) == (3, 9, ("ci",), (100,), 1)
    assert callable(ns.func)
    ns = p.parse_args(["realworld", "--projects", "zlib"])
    assert callable(ns.func)


# -------------------------------------------------------------------------------------------
# The CI batch


@needs_csmith
def test_fixed_seed_batch(capsys):
    cfg = fuzz.Config(count=CI_COUNT, seed=CI_SEED, jobs=2)
    summary = fuzz.run_batch(cfg)
    line = summary.line()
    with capsys.disabled():
        print("\n" + line)
    details = "\n".join(f"seed={f.seed} {f.lang} {f.kind} {f.variant} [{f.mode}]: "
                        f"{f.detail[:400]}\n  repro: python -m compiler_interrupts fuzz "
                        f"--count 1 --seed {f.seed} --keep DIR" for f in summary.findings)
    assert not summary.findings, f"{line}\n{details}"
    assert summary.programs == CI_COUNT
    # Csmith programs that loop for ever are discarded; most must have been tested.
    assert summary.programs - summary.discarded >= 35, summary.discard_reasons
    assert summary.variants >= 4 * 35
    assert summary.handler_calls > 1000  # handlers did fire inside the programs


# -------------------------------------------------------------------------------------------
# Kept regression programs (tests/fuzz/regressions/<name>/{prog.c|prog.cpp, finding.json})


def _regressions():
    out = []
    for d in sorted(REGRESSIONS.glob("*/finding.json")):
        meta = json.loads(d.read_text())
        for i, f in enumerate(meta["findings"]):
            marks = []
            if meta.get("xfail"):
                marks.append(pytest.mark.xfail(strict=True, reason=meta["xfail"]))
            out.append(pytest.param(d.parent, f, id=f"{d.parent.name}-{f['variant']}-{f['mode']}",
                                    marks=marks))
    return out


@needs_csmith
@pytest.mark.parametrize("case,finding", _regressions() or [pytest.param(
    None, None, marks=pytest.mark.skip(reason="no fuzz regressions kept (none found yet)"))])
def test_regression(case, finding):
    src = next(p for p in (case / "prog.c", case / "prog.cpp") if p.exists())
    # `is_interesting` is the creduce test: true while the variant still misbehaves on a
    # sanitizer-clean program.
    assert not fuzz.is_interesting(src, finding), \
        f"{finding['kind']} in {finding['variant']} [{finding['mode']}] still reproduces: " \
        f"sh {case / 'repro.sh'}"
