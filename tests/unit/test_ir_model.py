"""The IR model: lossless round trip, decoding of instructions, clean errors on bad input."""

from __future__ import annotations

import glob
import os
import subprocess
import tempfile

import pytest

from compiler_interrupts.diagnostics import ParseError
from compiler_interrupts.ir.model import Instr
from compiler_interrupts.ir.parser import parse_module

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def _sources() -> list[str]:
    pats = ["src/compiler_interrupts/bench/workloads/*.c", "examples/*.c", "tests/e2e/**/*.c",
            "tests/e2e/**/*.cc", "tests/e2e/**/*.cpp"]
    out: list[str] = []
    for p in pats:
        out.extend(sorted(glob.glob(os.path.join(ROOT, p), recursive=True)))
    return out


def _clang() -> str | None:
    try:
        from compiler_interrupts.toolchain.clang import find_clang

        return find_clang()
    except Exception:
        return None


@pytest.fixture(scope="module")
def compiled_modules() -> list[tuple[str, str]]:
    """(name, LLVM 22 text) of every C/C++ source in the repo at -O2 and -O0 -g."""
    clang = _clang()
    if clang is None:
        pytest.skip("clang not found (apt-get install -y clang)")
    from compiler_interrupts.toolchain.llvm import bitcode_to_text

    mods = []
    with tempfile.TemporaryDirectory() as td:
        for src in _sources():
            for flags in (["-O2"], ["-O0", "-g"]):
                bc = os.path.join(td, "m.bc")
                lang = ["-x", "c++"] if src.endswith((".cc", ".cpp")) else []
                inc = os.path.join(ROOT, "src/compiler_interrupts/runtime")
                r = subprocess.run([clang, *flags, *lang, "-I", inc, "-c", "-emit-llvm", "-o", bc,
                                    src], capture_output=True)
                if r.returncode != 0:
                    continue
                with open(bc, "rb") as f:
                    mods.append((f"{os.path.basename(src)} {' '.join(flags)}",
                                 bitcode_to_text(f.read())))
    assert mods, "no module compiled"
    return mods


def test_every_compiled_module_round_trips_byte_identical(compiled_modules):
    for name, text in compiled_modules:
        m = parse_module(text, name)
        assert m.render() == text, name


def test_rerendering_every_function_from_blocks_is_identical(compiled_modules):
    for name, text in compiled_modules:
        m = parse_module(text, name)
        for fn in m.functions:
            fn.mark_modified()
        assert m.render() == text, name


def test_every_block_ends_in_a_terminator_and_successors_are_blocks(compiled_modules):
    for name, text in compiled_modules:
        for fn in parse_module(text, name).functions:
            labels = {b.label for b in fn.blocks}
            for b in fn.blocks:
                assert b.terminator is not None
                for s in b.successors:
                    assert s in labels, (name, fn.name, b.label, s)


SMALL = """\
define i32 @f(i32 %0, i32 %1) {
  %3 = icmp sgt i32 %0, %1
  br i1 %3, label %4, label %6

4:                                                ; preds = %2
  %5 = add i32 %0, 1
  br label %6

6:                                                ; preds = %4, %2
  %7 = phi i32 [ %5, %4 ], [ %1, %2 ]
  ret i32 %7
}
"""


def test_unnamed_entry_block_gets_its_implicit_number():
    fn = parse_module(SMALL).functions[0]
    assert [b.label for b in fn.blocks] == ["2", "4", "6"]
    assert fn.successors_map() == {"2": ["4", "6"], "4": ["6"], "6": []}


@pytest.mark.parametrize(
    "text, name, opcode, term, succs",
    [
        ("  %x = add nsw i32 %a, 1", "%x", "add", False, []),
        ("  store i32 1, ptr %p, align 4", None, "store", False, []),
        ("  br i1 %c, label %a, label %b", None, "br", True, ["a", "b"]),
        ("  %r = tail call i32 @g(i32 1)", "%r", "call", False, []),
        ("  %r = musttail call i32 @g(i32 1)", "%r", "call", False, []),
        ("    #dbg_value(i32 %0, !25, !DIExpression(), !29)", None, "#dbg_value", False, []),
        ("  switch i32 %0, label %d [\n    i32 1, label %one\n    i32 2, label %two\n  ]",
         None, "switch", True, ["d", "one", "two"]),
        ("  invoke void @t()\n          to label %ok unwind label %lp", None, "invoke", True,
         ["ok", "lp"]),
        ("  indirectbr ptr %t, [label %a, label %b]", None, "indirectbr", True, ["a", "b"]),
        ('  %"a b" = load i32, ptr %p', '%"a b"', "load", False, []),
    ],
)
def test_instruction_decoding(text, name, opcode, term, succs):
    ins = Instr(text)
    assert ins.name == name
    assert ins.opcode == opcode
    assert ins.is_terminator == term
    assert ins.successors == succs


@pytest.mark.parametrize(
    "text, callee",
    [
        ("  %r = tail call i32 (ptr, ...) @printf(ptr @s, i32 1)", "@printf"),
        ("  call void %fp(i32 1)", "%fp"),
        ('  call void asm sideeffect "nop", ""()', None),
        ("  %r = call { i32, i32 } @pair(i32 1)", "@pair"),
        ("  invoke void @t()\n          to label %ok unwind label %lp", "@t"),
        ("  call void @llvm.lifetime.start.p0(ptr %a)", "@llvm.lifetime.start.p0"),
    ],
)
def test_callee_decoding(text, callee):
    assert Instr(text).callee == callee


@pytest.mark.parametrize(
    "text, message",
    [
        ("define void @f() {\n  ret void\n", "not closed"),
        ("define void @f() {\nbogus line\n}\n", "expected a block label"),
        ("define void @f() {\n  %x = add i32 1, 2\n}\n", "does not end with a terminator"),
        ("define void @f()\n  ret void\n}\n", "expected '{'"),
    ],
)
def test_bad_input_gives_a_parse_error_with_location(text, message):
    with pytest.raises(ParseError) as ei:
        parse_module(text, "bad.ll")
    assert message in str(ei.value)
    assert "bad.ll:" in str(ei.value)
