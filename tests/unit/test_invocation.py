"""Command-line classification (ccache-style: one named case per behaviour)."""

from __future__ import annotations

import pytest

from compiler_interrupts.diagnostics import CIError
from compiler_interrupts.toolchain import options
from compiler_interrupts.toolchain.invocation import parse_invocation


def test_option_table_is_sorted():
    keys = list(options.EXACT)
    assert keys == sorted(keys)


def test_dash_c_compiles_each_source():
    inv = parse_invocation(["-O2", "-c", "a.c", "-o", "a.o"])
    assert inv.mode == "compile"
    assert inv.output == "a.o"
    assert [i.path for i in inv.inputs] == ["a.c"]
    assert inv.compile_args == ("-O2",)
    assert inv.opt_level == 2


def test_dash_E_is_passed_through():
    assert parse_invocation(["-E", "a.c"]).mode == "passthrough"


@pytest.mark.parametrize("flag", ["-M", "-MM", "-fsyntax-only", "--version", "-###", "-dumpversion",
                                  "-print-search-dirs"])
def test_queries_and_dependency_listing_are_passed_through(flag):
    assert parse_invocation([flag, "a.c"]).mode == "passthrough"


def test_dash_MD_keeps_compiling():
    inv = parse_invocation(["-MD", "-MF", "a.d", "-c", "a.c"])
    assert inv.mode == "compile" and inv.has_dep_output and inv.dep_file == "a.d"
    assert "-MF" in inv.compile_args and "a.d" in inv.compile_args


def test_options_taking_an_argument_do_not_make_inputs():
    inv = parse_invocation(["-I", "inc", "-include", "x.h", "-Xclang", "-foo", "-c", "a.c"])
    assert [i.path for i in inv.inputs] == ["a.c"]
    assert inv.compile_args == ("-I", "inc", "-include", "x.h", "-Xclang", "-foo")


def test_link_only_options_are_not_given_to_the_compile():
    inv = parse_invocation(["a.c", "-L/x", "-lm", "-Wl,--as-needed", "-shared", "-o", "liba.so"])
    assert inv.mode == "link" and inv.shared
    assert inv.compile_args == ()


def test_mixed_inputs_get_languages():
    inv = parse_invocation(["a.c", "b.cc", "c.S", "d.o", "libe.a", "f.ll"])
    assert [i.language for i in inv.inputs] == ["c", "c++", "assembler-with-cpp", "linker",
                                               "linker", "ir"]


def test_dash_x_forces_the_language_until_x_none():
    inv = parse_invocation(["-x", "c", "a.txt", "-x", "none", "b.o"])
    assert [i.language for i in inv.inputs] == ["c", "linker"]
    assert "-x" not in inv.compile_args


def test_response_files_are_expanded(tmp_path):
    rsp = tmp_path / "args.rsp"
    rsp.write_text('-O2 -DNAME="a b" -c\n')
    inv = parse_invocation([f"@{rsp}", "a.c"])
    assert inv.compile_args == ("-O2", "-DNAME=a b")
    assert inv.mode == "compile"


def test_ci_options_are_separated():
    inv = parse_invocation(["--ci-design=none", "--ci-stats", "-c", "a.c"])
    assert inv.ci == {"design": "none", "stats": "1"}
    assert inv.compile_args == ()


def test_unknown_ci_option_names_the_valid_ones():
    with pytest.raises(CIError, match="--ci-design"):
        parse_invocation(["--ci-bogus", "a.c"])


def test_stdin_source_with_a_language_is_compiled():
    inv = parse_invocation(["-x", "c", "-", "-c"])
    assert inv.mode == "compile" and inv.inputs[0].language == "c"


def test_stdin_source_without_a_language_is_passed_through():
    assert parse_invocation(["-", "-c"]).mode == "passthrough"


def test_no_inputs_is_passed_through():
    assert parse_invocation(["-v"]).mode == "passthrough"


def test_dash_o_with_several_outputs_is_an_error():
    with pytest.raises(CIError, match="multiple output"):
        parse_invocation(["-c", "a.c", "b.c", "-o", "x.o"])


def test_dash_S_selects_assembly():
    assert parse_invocation(["-S", "a.c"]).mode == "asm"
    inv = parse_invocation(["-S", "-emit-llvm", "a.c"])
    assert inv.mode == "asm" and inv.emit_llvm
