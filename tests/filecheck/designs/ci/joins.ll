; Joins: arms of similar cost share one averaged increment; a much heavier arm is charged
; before the join, or by the join's own probe when it has one. (Inside a loop whose exit is data-dependent, so that neither the
; single-probe rule for small acyclic functions nor loop folding/strip-mining applies.)
; RUN: %ci-opt --design=ci < %s | filecheck %s
; RUN: %ci-opt --design=ci < %s | %python -m compiler_interrupts check --instrumented - | filecheck --check-prefix=CHECKER %s
; CHECKER: checked 4 functions: 0 failing

target triple = "x86_64-pc-linux-gnu"

; CHECK-LABEL: define i32 @similar(
; CHECK: a:
; CHECK-NOT: __ci_probe
; CHECK: b:
; CHECK-NOT: __ci_probe
; CHECK: latch:
; CHECK: call void @__ci_probe_local(ptr %ci.local, i64
; CHECK-NEXT: br i1 %done
define i32 @similar(ptr %p, i32 %x) {
entry:
  br label %head
head:
  %acc = phi i32 [ %x, %entry ], [ %j3, %latch ]
  %c = icmp slt i32 %acc, 100
  br i1 %c, label %a, label %b
a:
  %a1 = add i32 %acc, 1
  br label %latch
b:
  %b1 = sub i32 %acc, 1
  %b2 = mul i32 %b1, 3
  br label %latch
latch:
  %j0 = phi i32 [ %a1, %a ], [ %b2, %b ]
  %j1 = add i32 %j0, %x
  %j2 = add i32 %j1, %x
  %j3 = add i32 %j2, %x
  %v = load volatile i32, ptr %p, align 4
  %done = icmp eq i32 %v, 0
  br i1 %done, label %exit, label %head
exit:
  ret i32 %j3
}

; Arms of very different cost that rejoin in a block with a probe of its own (here the latch):
; that probe charges each arm's own cost, through a PHI of the costs.
; CHECK-LABEL: define i32 @lopsided(
; CHECK: heavy:
; CHECK-NOT: __ci_probe
; CHECK: light:
; CHECK-NOT: __ci_probe
; CHECK: latch:
; CHECK-NEXT: %ci.pc0 = phi i64 [ [[HEAVY:[0-9]+]], %heavy ], [ [[LIGHT:[0-9]+]], %light ]
; CHECK: call void @__ci_probe_local(ptr %ci.local, i64 %ci.pc0)
; CHECK-NEXT: br i1 %done
define i32 @lopsided(ptr %p, i32 %x) {
entry:
  br label %head
head:
  %acc = phi i32 [ %x, %entry ], [ %r, %latch ]
  %c = icmp slt i32 %acc, 100
  br i1 %c, label %heavy, label %light
heavy:
  %h1 = mul i32 %acc, %x
  %h2 = mul i32 %h1, %x
  %h3 = mul i32 %h2, %x
  %h4 = mul i32 %h3, %x
  %h5 = mul i32 %h4, %x
  %h6 = mul i32 %h5, %x
  %h7 = mul i32 %h6, %x
  %h8 = mul i32 %h7, %x
  %h9 = mul i32 %h8, %x
  %h10 = mul i32 %h9, %x
  %h11 = mul i32 %h10, %x
  %h12 = mul i32 %h11, %x
  %h13 = mul i32 %h12, %x
  %h14 = mul i32 %h13, %x
  %h15 = mul i32 %h14, %x
  %h16 = mul i32 %h15, %x
  %h17 = mul i32 %h16, %x
  %h18 = mul i32 %h17, %x
  %h19 = mul i32 %h18, %x
  %h20 = mul i32 %h19, %x
  %h21 = mul i32 %h20, %x
  %h22 = mul i32 %h21, %x
  %h23 = mul i32 %h22, %x
  %h24 = mul i32 %h23, %x
  %h25 = mul i32 %h24, %x
  %h26 = mul i32 %h25, %x
  %h27 = mul i32 %h26, %x
  %h28 = mul i32 %h27, %x
  %h29 = mul i32 %h28, %x
  %h30 = mul i32 %h29, %x
  %h31 = mul i32 %h30, %x
  %h32 = mul i32 %h31, %x
  br label %latch
light:
  br label %latch
latch:
  %r = phi i32 [ %h32, %heavy ], [ %acc, %light ]
  %v = load volatile i32, ptr %p, align 4
  %done = icmp eq i32 %v, 0
  br i1 %done, label %exit, label %head
exit:
  ret i32 %r
}

; A small acyclic function (above the 16 IR instructions of a "tiny" one, which gets no probe)
; whose paths cost about the same (here 22 and 24) gets a single probe, at entry, charging the
; middle.
; CHECK-LABEL: define i32 @single(
; CHECK-NEXT: entry:
; CHECK-NEXT: call void @__ci_probe(i64 23)
; CHECK-NOT: __ci_probe
; CHECK: ret i32
define i32 @single(i1 %c, i32 %x) {
entry:
  br i1 %c, label %a, label %b
a:
  %a1 = add i32 %x, 1
  br label %join
b:
  %b1 = sub i32 %x, 1
  %b2 = mul i32 %b1, 3
  %b3 = mul i32 %b2, 3
  br label %join
join:
  %j0 = phi i32 [ %a1, %a ], [ %b3, %b ]
  %j1 = add i32 %j0, %x
  %j2 = add i32 %j1, %x
  %j3 = add i32 %j2, %x
  %j4 = add i32 %j3, %x
  %j5 = add i32 %j4, %x
  %j6 = add i32 %j5, %x
  %j7 = add i32 %j6, %x
  %j8 = add i32 %j7, %x
  %j9 = add i32 %j8, %x
  %j10 = add i32 %j9, %x
  %j11 = add i32 %j10, %x
  %j12 = add i32 %j11, %x
  %j13 = add i32 %j12, %x
  %j14 = add i32 %j13, %x
  %j15 = add i32 %j14, %x
  %j16 = add i32 %j15, %x
  %j17 = add i32 %j16, %x
  %j18 = add i32 %j17, %x
  ret i32 %j18
}

; A lopsided join without a probe of its own (its pending cost is carried through the loop that
; follows): the heavy arm is charged before the join.
; CHECK-LABEL: define i32 @lopsided_carried(
; CHECK: heavy:
; CHECK: call void @__ci_probe{{(_local)?}}(
; CHECK-NEXT: br label %join
; CHECK: light:
; CHECK-NOT: __ci_probe
; CHECK: join:
; CHECK-NOT: phi i64
; CHECK-NOT: __ci_probe
; CHECK: loop:
define i32 @lopsided_carried(ptr %p, i1 %c, i32 %x) {
entry:
  br i1 %c, label %heavy, label %light
heavy:
  %h1 = mul i32 %x, %x
  %h2 = mul i32 %h1, %x
  %h3 = mul i32 %h2, %x
  %h4 = mul i32 %h3, %x
  %h5 = mul i32 %h4, %x
  %h6 = mul i32 %h5, %x
  %h7 = mul i32 %h6, %x
  %h8 = mul i32 %h7, %x
  %h9 = mul i32 %h8, %x
  %h10 = mul i32 %h9, %x
  %h11 = mul i32 %h10, %x
  %h12 = mul i32 %h11, %x
  %h13 = mul i32 %h12, %x
  %h14 = mul i32 %h13, %x
  %h15 = mul i32 %h14, %x
  %h16 = mul i32 %h15, %x
  %h17 = mul i32 %h16, %x
  %h18 = mul i32 %h17, %x
  %h19 = mul i32 %h18, %x
  %h20 = mul i32 %h19, %x
  %h21 = mul i32 %h20, %x
  %h22 = mul i32 %h21, %x
  %h23 = mul i32 %h22, %x
  %h24 = mul i32 %h23, %x
  %h25 = mul i32 %h24, %x
  %h26 = mul i32 %h25, %x
  %h27 = mul i32 %h26, %x
  %h28 = mul i32 %h27, %x
  %h29 = mul i32 %h28, %x
  %h30 = mul i32 %h29, %x
  %h31 = mul i32 %h30, %x
  %h32 = mul i32 %h31, %x
  br label %join
light:
  br label %join
join:
  %r = phi i32 [ %h32, %heavy ], [ %x, %light ]
  br label %loop
loop:
  %acc = phi i32 [ %r, %join ], [ %acc1, %loop ]
  %acc1 = add i32 %acc, 1
  %v = load volatile i32, ptr %p, align 4
  %done = icmp eq i32 %v, 0
  br i1 %done, label %exit, label %loop
exit:
  ret i32 %acc1
}
