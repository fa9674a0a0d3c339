; The ci design: budget in a register in functions whose probes run in loops, one probe per
; iteration at the latch, write-back before calls that may probe and before returns.
; RUN: %ci-opt --design=ci < %s | filecheck %s
; RUN: %ci-opt --design=ci < %s | %python -m compiler_interrupts check --instrumented - | filecheck --check-prefix=CHECKER %s
; CHECKER: checked {{[0-9]+}} functions: 0 failing

target triple = "x86_64-pc-linux-gnu"

declare void @ext_may_call_back(i32)

; CHECK-LABEL: define i32 @count(
; CHECK: entry:
; CHECK-NEXT: %ci.local = alloca i64
; CHECK-NEXT: call void @__ci_reload(ptr %ci.local)
; CHECK: loop:
; CHECK: call void @__ci_flush(ptr %ci.local)
; CHECK-NEXT: call void @ext_may_call_back(i32 %i)
; CHECK-NEXT: call void @__ci_reload(ptr %ci.local)
; CHECK: call void @__ci_probe_local(ptr %ci.local, i64 {{[0-9]+}})
; CHECK-NEXT: br i1 %done, label %exit, label %loop
; CHECK: exit:
; CHECK: call void @__ci_probe_local(ptr %ci.local, i64 {{[0-9]+}})
; CHECK-NEXT: call void @__ci_flush(ptr %ci.local)
; CHECK-NEXT: ret i32
define i32 @count(i32 %n) {
entry:
  br label %loop

loop:
  %i = phi i32 [ 0, %entry ], [ %i.next, %loop ]
  call void @ext_may_call_back(i32 %i)
  %i.next = add i32 %i, 1
  %done = icmp eq i32 %i.next, %n
  br i1 %done, label %exit, label %loop

exit:
  ret i32 %i.next
}

; A loop with a small proven trip bound (an unroller remainder: at most 3 iterations, entered
; only when the count is not zero) is folded: no probe inside, its cost charged after it.
; CHECK-LABEL: define i64 @remainder(
; CHECK: rem:
; CHECK-NOT: __ci_probe
; CHECK: br i1 %stop, label %out, label %rem
; CHECK: out:
; CHECK: call void @__ci_probe(i64 {{[0-9]+}})
; CHECK-NEXT: ret i64
define i64 @remainder(i64 %n, i64 %h0) {
entry:
  %k = and i64 %n, 3
  %z = icmp eq i64 %k, 0
  br i1 %z, label %out, label %rem

rem:
  %j = phi i64 [ 0, %entry ], [ %j.next, %rem ]
  %h = phi i64 [ %h0, %entry ], [ %h.next, %rem ]
  %x = xor i64 %h, %j
  %h.next = mul i64 %x, 1099511628211
  %j.next = add i64 %j, 1
  %stop = icmp eq i64 %j.next, %k
  br i1 %stop, label %out, label %rem

out:
  %r = phi i64 [ %h0, %entry ], [ %h.next, %rem ]
  ret i64 %r
}

; Without the guard the same loop could run 2^64 times: it keeps its probe.
; CHECK-LABEL: define i64 @unguarded(
; CHECK: rem:
; CHECK: call void @__ci_probe{{(_local)?}}(
; CHECK: br i1 %stop, label %out, label %rem
define i64 @unguarded(i64 %n, i64 %h0) {
entry:
  %k = and i64 %n, 3
  br label %rem

rem:
  %j = phi i64 [ 0, %entry ], [ %j.next, %rem ]
  %h = phi i64 [ %h0, %entry ], [ %h.next, %rem ]
  %x = xor i64 %h, %j
  %h.next = mul i64 %x, 1099511628211
  %j.next = add i64 %j, 1
  %stop = icmp eq i64 %j.next, %k
  br i1 %stop, label %out, label %rem

out:
  ret i64 %h.next
}
