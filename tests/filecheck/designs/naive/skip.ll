; Functions the pass must not touch are left alone, with a warning naming them.
; RUN: %ci-opt --design=naive < %s 2> %t.err | filecheck %s
; RUN: filecheck --check-prefix=WARN %s < %t.err

target triple = "x86_64-pc-linux-gnu"

; CHECK-LABEL: define void @naked_fn(
; CHECK-NOT: __ci_probe
; CHECK: }
; WARN-DAG: warning: @naked_fn left uninstrumented: naked function
define void @naked_fn() naked {
  call void asm sideeffect "ret", ""()
  unreachable
}

; CHECK-LABEL: define i32 @asm_goto(
; CHECK-NOT: __ci_probe
; CHECK: }
; WARN-DAG: warning: @asm_goto left uninstrumented: contains callbr
define i32 @asm_goto(i32 %x) {
entry:
  callbr void asm "jmp ${0:l}", "!i"() to label %normal [label %indirect]
normal:
  ret i32 0
indirect:
  ret i32 1
}

; Runtime functions are never instrumented.
; CHECK-LABEL: define void @__ci_helper(
; CHECK-NOT: __ci_probe
; CHECK: ret void
define void @__ci_helper() {
  ret void
}

; CHECK-LABEL: define void @normal(
; CHECK: call void @__ci_probe(i64 1)
define void @normal() {
  ret void
}
