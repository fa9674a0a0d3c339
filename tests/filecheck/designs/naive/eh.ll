; Exception handling: probes go before invoke terminators and after landingpads.
; RUN: %ci-opt --design=naive < %s | filecheck %s
; RUN: %ci-opt --design=naive < %s | %python -c "import sys, llvmlite.binding as l; l.parse_assembly(sys.stdin.read()).verify()"

target triple = "x86_64-pc-linux-gnu"

declare void @may_throw()
declare i32 @__gxx_personality_v0(...)

; CHECK-LABEL: define void @catcher(
define void @catcher() personality ptr @__gxx_personality_v0 {
entry:
; CHECK: entry:
; CHECK-NEXT: call void @__ci_probe(i64 1)
; CHECK-NEXT: invoke void @may_throw()
  invoke void @may_throw()
          to label %ok unwind label %lpad

ok:
  ret void

lpad:
; CHECK: lpad:
; CHECK-NEXT: %lp = landingpad { ptr, i32 }
; CHECK-NEXT: cleanup
; CHECK-NEXT: call void @__ci_probe(i64 2)
; CHECK-NEXT: resume
  %lp = landingpad { ptr, i32 }
          cleanup
  resume { ptr, i32 } %lp
}
