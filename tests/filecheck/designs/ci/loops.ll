; The ci design's loops: counted loops strip-mined, other loops probed at the latch; the budget
; lives in a register in functions whose loop probes run without calls around them (else
; each probe updates the thread's budget in place).
; RUN: %ci-opt --design=ci < %s | filecheck %s
; RUN: %ci-opt --design=ci < %s | %python -m compiler_interrupts check --instrumented - | filecheck --check-prefix=CHECKER %s
; CHECKER: checked {{[0-9]+}} functions: 0 failing

target triple = "x86_64-pc-linux-gnu"

declare void @ext_may_call_back(i32)

; A counted loop with a runtime bound is strip-mined: the latch compares with a strip limit
; at most K iterations ahead; only the preheader and the refill block (once per strip) probe.
; CHECK-LABEL: define i32 @count(
; CHECK: entry:
; CHECK-NOT: %ci.local
; CHECK: %ci.s.0.lim = select i1 %ci.s.0.near, i32 %n, i32 %ci.s.0.t
; CHECK: call void @__ci_probe(i64 %ci.s.0.cost)
; CHECK-NEXT: br label %loop
; CHECK: loop:
; CHECK-NEXT: %ci.lim.0 = phi i32 [ %ci.s.0.lim, %entry ], [ %ci.lim.0, %loop ], [ %ci.r.0.lim, %ci.refill.0 ]
; CHECK-NEXT: %i = phi i32 [ 0, %entry ], [ %i.next, %loop ], [ %i.next, %ci.refill.0 ]
; CHECK-NEXT: call void @ext_may_call_back(i32 %i)
; CHECK-NOT: __ci_probe
; CHECK: %ci.c.0 = icmp eq i32 %i.next, %ci.lim.0
; CHECK-NEXT: br i1 %ci.c.0, label %ci.chk.0, label %loop
; CHECK: exit:
; CHECK: call void @__ci_probe(i64 {{[0-9]+}})
; CHECK-NEXT: ret i32
; CHECK: ci.chk.0:
; CHECK-NEXT: br i1 %done, label %exit, label %ci.refill.0
; CHECK: ci.refill.0:
; CHECK: call void @__ci_probe(i64 %ci.r.0.cost)
; CHECK-NEXT: br label %loop
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

; Without the guard the same loop could run 2^64 times: it is not folded (it is strip-mined
; instead, which keeps it probed every few iterations).
; CHECK-LABEL: define i64 @unguarded(
; CHECK: rem:
; CHECK: br i1 %ci.c.0, label %ci.chk.0, label %rem
; CHECK: ci.refill.0:
; CHECK: call void @__ci_probe{{(_local)?}}(
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

; A loop whose exit test is not a counted induction variable (a pointer chase) keeps one
; probe per iteration at its latch; with no call in the loop, the budget is in a register,
; written back before the return.
; CHECK-LABEL: define ptr @chase(
; CHECK: entry:
; CHECK-NEXT: %ci.local = alloca i64
; CHECK-NEXT: call void @__ci_reload(ptr %ci.local)
; CHECK: loop:
; CHECK: call void @__ci_probe_local(ptr %ci.local, i64 {{[0-9]+}})
; CHECK-NEXT: br i1 %end, label %out, label %loop
; CHECK: out:
; CHECK: call void @__ci_flush(ptr %ci.local)
; CHECK-NEXT: ret ptr
define ptr @chase(ptr %p0) {
entry:
  br label %loop

loop:
  %p = phi ptr [ %p0, %entry ], [ %q, %loop ]
  %q = load ptr, ptr %p, align 8
  %end = icmp eq ptr %q, null
  br i1 %end, label %out, label %loop

out:
  ret ptr %p
}
