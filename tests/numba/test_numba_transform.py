"""IR-level pieces of the Numba integration, on hand-written modules."""

from __future__ import annotations

import pytest

pytest.importorskip("numba", reason="numba is not installed (pip install numba)")
import llvmlite.binding as ll  # noqa: E402

from compiler_interrupts.integrations.numba import transform as T  # noqa: E402

MODULE = """
define i32 @f(ptr noalias %retptr, ptr noalias %excinfo, i64 %n) {
entry:
  %slot = alloca i64, align 8
  br label %loop

loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %loop ]
  %i1 = add i64 %i, 1
  call void @__ci_probe(i64 3)
  %c = icmp slt i64 %i1, %n
  br i1 %c, label %loop, label %exit

exit:
  %r = phi i64 [ %i1, %loop ]
  store i64 %r, ptr %retptr, align 8
  ret i32 0
}

define range(i32 0, 1) i32 @g(ptr noalias %retptr, ptr noalias %excinfo) {
entry:
  %s = call range(i32 0, 1) i32 @f(ptr %retptr, ptr %excinfo, i64 5)
  ret i32 %s
}

define void @"__gufunc__.k"(ptr %args, ptr %dims, ptr %steps, ptr %data) {
entry:
  call void @numba_gil_ensure(ptr null)
  call void @__ci_probe(i64 2)
  call void @numba_gil_release(ptr null)
  call void @__ci_probe(i64 2)
  ret void
}

declare void @numba_gil_ensure(ptr)
declare void @numba_gil_release(ptr)
"""


def _verify(text: str) -> None:
    m = ll.parse_assembly(text)
    m.verify()


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_helpers_parse(arch):
    _verify(T.helper_definitions(arch, None))


def test_pre_o3_makes_statuses_opaque():
    text, weakened = T.pre_o3(MODULE)
    assert weakened == {"@f", "@g"}
    assert "define weak_odr i32 @f(" in text
    assert "range(i32" not in text


def test_finish_rewrites_status_probes():
    stats = {}
    out = T.finish(MODULE, stats, arch="x86_64")
    _verify(out)
    assert stats["status_probes"] == 2  # f's probe and the gufunc's probe after the release
    assert stats["bracketed_probes"] == 1  # the probe between gil ensure/release stays plain
    assert "ret i32 -1" in out and "ci_nb_worker_enter(ptr %data)" in out
    # the loop's PHI now names the continuation block that holds the back edge
    loop_phi = [ln for ln in out.splitlines() if "%i = phi" in ln][0]
    assert "%ci.nb.c" in loop_phi
    assert "range(i32" not in out.split("@ci_nb_tls_off")[0]


def test_prepare_for_pass_internalizes_linked_copies():
    text = ("define linkonce_odr hidden i32 @h(ptr %retptr, ptr %excinfo) {\n"
            "  ret i32 0\n}\n"
            "define weak_odr void @w() {\n  ret void\n}\n"
            "define i32 @mine(ptr %retptr, ptr %excinfo) {\n  ret i32 0\n}\n")
    out = T.prepare_for_pass(text, keep=set())
    assert "define internal i32 @h(" in out
    assert "define internal void @w(" in out
    assert "define i32 @mine(" in out
    _verify(out)
