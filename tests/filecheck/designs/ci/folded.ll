; A loop with a small proven trip count is folded: no probe inside, its whole cost charged along
; the path. When the path that enters it has already used most of the bound, the probe goes on
; the entry edge, never inside the folded body (where it would run, and charge the whole
; loop's cost, at every iteration).
; RUN: %ci-opt --design=ci --bound=40 < %s | filecheck %s
; RUN: %ci-opt --design=ci --bound=40 < %s | %python -m compiler_interrupts check --bound=40 --instrumented - | filecheck --check-prefix=CHECKER %s
; CHECKER: checked 1 functions: 0 failing

target triple = "x86_64-pc-linux-gnu"

; An unroller's remainder loop: 0-3 iterations (n & 3, guarded against 0; the exit compares
; for equality without nuw/nsw), after a long straight-line stretch.
; CHECK-LABEL: define i64 @remainder(
; CHECK: pre:
; CHECK: call void @__ci_probe{{(_local)?}}(
; CHECK-NEXT: br i1 %z, label %exit, label %loop
; CHECK: loop:
; CHECK-NOT: __ci_probe
; CHECK: br i1 %done, label %exit, label %loop
define i64 @remainder(i64 %n, i64 %x) {
entry:
  %a1 = mul i64 %x, %x
  %a2 = mul i64 %a1, %x
  %a3 = mul i64 %a2, %x
  %a4 = mul i64 %a3, %x
  %a5 = mul i64 %a4, %x
  %a6 = mul i64 %a5, %x
  %a7 = mul i64 %a6, %x
  %a8 = mul i64 %a7, %x
  %a9 = mul i64 %a8, %x
  %a10 = mul i64 %a9, %x
  %a11 = mul i64 %a10, %x
  %a12 = mul i64 %a11, %x
  %a13 = mul i64 %a12, %x
  %a14 = mul i64 %a13, %x
  %a15 = mul i64 %a14, %x
  %a16 = mul i64 %a15, %x
  %a17 = mul i64 %a16, %x
  %a18 = mul i64 %a17, %x
  %a19 = mul i64 %a18, %x
  %a20 = mul i64 %a19, %x
  %a21 = mul i64 %a20, %x
  %a22 = mul i64 %a21, %x
  %a23 = mul i64 %a22, %x
  %a24 = mul i64 %a23, %x
  %a25 = mul i64 %a24, %x
  %a26 = mul i64 %a25, %x
  %a27 = mul i64 %a26, %x
  %a28 = mul i64 %a27, %x
  %a29 = mul i64 %a28, %x
  %a30 = mul i64 %a29, %x
  br label %pre
pre:
  %r = and i64 %n, 3
  %z = icmp eq i64 %r, 0
  br i1 %z, label %exit, label %loop
loop:
  %i = phi i64 [ 0, %pre ], [ %i1, %loop ]
  %h = phi i64 [ %a30, %pre ], [ %h2, %loop ]
  %h1 = xor i64 %h, %i
  %h2 = mul i64 %h1, 31
  %i1 = add i64 %i, 1
  %done = icmp eq i64 %i1, %r
  br i1 %done, label %exit, label %loop
exit:
  %res = phi i64 [ %a30, %pre ], [ %h2, %loop ]
  ret i64 %res
}
