; Calls: probe-free leaves, recursion, straight-line functions in memory mode, setjmp.
; RUN: %ci-opt --design=ci < %s | filecheck %s
; RUN: %ci-opt --design=ci < %s | %python -m compiler_interrupts check --instrumented - | filecheck --check-prefix=CHECKER %s
; CHECKER: checked {{[0-9]+}} functions: 0 failing

target triple = "x86_64-pc-linux-gnu"

; A small internal function, not address-taken, no loops: no probe of its own...
; CHECK-LABEL: define internal i32 @leaf(
; CHECK-NOT: __ci_
; CHECK: ret i32
define internal i32 @leaf(i32 %x) {
  %a = mul i32 %x, 3
  %b = add i32 %a, 1
  ret i32 %b
}

; ...its caller charges its cost at the call: 1 for the call + 3 for @leaf + 15 of its own.
; Straight-line code keeps the budget in memory: one probe, at entry, no reload or write-back.
; CHECK-LABEL: define i32 @caller(
; CHECK-NEXT: call void @__ci_probe(i64 19)
; CHECK-NOT: __ci_
; CHECK: ret i32
define i32 @caller(i32 %x) {
  %r = call i32 @leaf(i32 %x)
  %s1 = add i32 %r, %x
  %s2 = add i32 %s1, %x
  %s3 = add i32 %s2, %x
  %s4 = add i32 %s3, %x
  %s5 = add i32 %s4, %x
  %s6 = add i32 %s5, %x
  %s7 = add i32 %s6, %x
  %s8 = add i32 %s7, %x
  %s9 = add i32 %s8, %x
  %s10 = add i32 %s9, %x
  %s11 = add i32 %s10, %x
  %s12 = add i32 %s11, %x
  %s13 = add i32 %s12, %x
  %s14 = add i32 %s13, %x
  ret i32 %s14
}

; A tiny function (at most 16 IR instructions, no loop, no call) gets no probe even when other
; modules may call it or its address is taken (a comparator): the calling code pays for it.
; CHECK-LABEL: define i32 @tiny_accessor(
; CHECK-NOT: __ci_
; CHECK: ret i32
define i32 @tiny_accessor(ptr %p) {
  %v = load i32, ptr %p, align 4
  %w = add i32 %v, 1
  ret i32 %w
}

; Recursion cannot escape probing: every activation passes a probe before its recursive call
; (in a small acyclic function, the single probe at entry, charging the middle of its path
; costs).
; CHECK-LABEL: define i32 @fact(
; CHECK-NEXT: entry:
; CHECK-NEXT: call void @__ci_probe(i64 {{[0-9]+}})
; CHECK-NOT: __ci_probe
; CHECK: %r = call i32 @fact(i32 %m)
; CHECK-NOT: __ci_probe
; CHECK: ret i32
define i32 @fact(i32 %n) {
entry:
  %base = icmp sle i32 %n, 1
  br i1 %base, label %done, label %rec

rec:
  %m = sub i32 %n, 1
  %r = call i32 @fact(i32 %m)
  %p = mul i32 %r, %n
  br label %done

done:
  %v = phi i32 [ 1, %entry ], [ %p, %rec ]
  ret i32 %v
}

; A function calling setjmp keeps its budget in memory even with a loop.
; CHECK-LABEL: define i32 @jumps(
; CHECK-NOT: %ci.local
; CHECK: call void @__ci_probe(i64
; CHECK: ret i32
declare i32 @_setjmp(ptr) returns_twice
define i32 @jumps(ptr %buf, i32 %n) {
entry:
  %s = call i32 @_setjmp(ptr %buf)
  br label %loop

loop:
  %i = phi i32 [ 0, %entry ], [ %i.next, %loop ]
  %i.next = add i32 %i, 1
  %c = icmp slt i32 %i.next, %n
  br i1 %c, label %loop, label %out

out:
  ret i32 %s
}

; An indirect call (it may recurse) in a loop that nothing has probed before: the probe that
; must precede the call in each activation goes on the loop's entry edge, not before the call
; at every iteration (later iterations pass the latch probe first).
; CHECK-LABEL: define i32 @dispatch(
; CHECK: entry:
; CHECK: call void @__ci_probe{{(_local)?}}(
; CHECK-NEXT: br i1 %empty
; CHECK: loop:
; CHECK-NOT: __ci_probe
; CHECK: call i32 %f(
; CHECK-NOT: __ci_probe
; CHECK: latch:
; CHECK: call void @__ci_probe{{(_local)?}}(
; CHECK-NEXT: br i1 %done
define i32 @dispatch(ptr %fns, i64 %n) {
entry:
  %empty = icmp eq i64 %n, 0
  br i1 %empty, label %exit, label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %latch ]
  %acc = phi i32 [ 0, %entry ], [ %acc1, %latch ]
  %slot = getelementptr ptr, ptr %fns, i64 %i
  %f = load ptr, ptr %slot, align 8
  %r = call i32 %f(i64 %i)
  br label %latch
latch:
  %acc1 = add i32 %acc, %r
  %i1 = add i64 %i, 1
  %done = icmp eq i64 %i1, %n
  br i1 %done, label %exit, label %loop
exit:
  %res = phi i32 [ 0, %entry ], [ %acc1, %latch ]
  ret i32 %res
}
