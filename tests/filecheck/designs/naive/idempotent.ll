; Instrumenting already-instrumented IR changes nothing.
; RUN: %ci-opt --design=naive < %s > %t1.ll
; RUN: %ci-opt --design=naive < %t1.ll > %t2.ll
; RUN: filecheck %s < %t2.ll
; CHECK: call void @__ci_probe(i64 1)
; CHECK-NOT: call void @__ci_probe

define void @f() {
  ret void
}
