; Naive design: one probe per block, before the terminator, charging the block's IR cost.
; RUN: %ci-opt --design=naive < %s | filecheck %s
; RUN: %ci-opt --design=naive < %s | %python -c "import sys, llvmlite.binding as l; l.parse_assembly(sys.stdin.read()).verify()"

target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128"
target triple = "x86_64-pc-linux-gnu"

; A loop: the header's PHIs cost nothing, the probe goes after them, before the branch.
; CHECK-LABEL: define i32 @sum(
define i32 @sum(i32 %n) {
entry:
; CHECK: entry:
; CHECK-NEXT: %cmp = icmp sgt i32 %n, 0
; CHECK-NEXT: call void @__ci_probe(i64 2)
; CHECK-NEXT: br i1 %cmp
  %cmp = icmp sgt i32 %n, 0
  br i1 %cmp, label %loop, label %exit

loop:
; CHECK: loop:
; CHECK-NEXT: %i = phi i32
; CHECK-NEXT: %acc = phi i32
; CHECK-NEXT: %acc.next = add i32 %acc, %i
; CHECK-NEXT: %i.next = add i32 %i, 1
; CHECK-NEXT: %done = icmp eq i32 %i.next, %n
; CHECK-NEXT: call void @__ci_probe(i64 4)
; CHECK-NEXT: br i1 %done
  %i = phi i32 [ 0, %entry ], [ %i.next, %loop ]
  %acc = phi i32 [ 0, %entry ], [ %acc.next, %loop ]
  %acc.next = add i32 %acc, %i
  %i.next = add i32 %i, 1
  %done = icmp eq i32 %i.next, %n
  br i1 %done, label %exit, label %loop

exit:
; CHECK: exit:
; CHECK-NEXT: %r = phi i32
; CHECK-NEXT: call void @__ci_probe(i64 1)
; CHECK-NEXT: ret i32 %r
  %r = phi i32 [ 0, %entry ], [ %acc.next, %loop ]
  ret i32 %r
}

; Lifetime markers and debug intrinsics cost nothing; unreachable blocks get no probe.
; CHECK-LABEL: define void @free_intrinsics(
define void @free_intrinsics(i1 %c) {
entry:
; CHECK: call void @llvm.lifetime.end.p0(ptr %a)
; CHECK-NEXT: call void @__ci_probe(i64 3)
; CHECK-NEXT: br i1 %c
  %a = alloca i32, align 4
  call void @llvm.lifetime.start.p0(ptr %a)
  store i32 1, ptr %a, align 4
  call void @llvm.lifetime.end.p0(ptr %a)
  br i1 %c, label %dead, label %out

dead:
; CHECK: dead:
; CHECK-NOT: __ci_probe
; CHECK: unreachable
  unreachable

out:
  ret void
}

; A musttail call must stay right before its ret: the probe goes before the call.
; CHECK-LABEL: define i32 @tail(
; CHECK: call void @__ci_probe(i64 2)
; CHECK-NEXT: %r = musttail call i32 @sum(i32 %n)
; CHECK-NEXT: ret i32 %r
define i32 @tail(i32 %n) {
  %r = musttail call i32 @sum(i32 %n)
  ret i32 %r
}

; The runtime interface is added once.
; CHECK: @__ci_budget = external thread_local(initialexec) global i64
; CHECK: declare preserve_allcc void @__ci_slow_path_pa(i64)
; CHECK: define internal void @__ci_probe(i64 %cost)

declare void @llvm.lifetime.start.p0(ptr)
declare void @llvm.lifetime.end.p0(ptr)
