; Code that may keep YMM/ZMM registers live calls the slow path with the C calling convention
; (the runtime's preserve_all entry saves only XMM registers); SSE code uses preserve_all.
; RUN: %ci-opt --design=naive < %s | filecheck %s
; RUN: sed -e 's/+avx2,+avx,//' %s | %ci-opt --design=naive | filecheck --check-prefix=SSE %s

target triple = "x86_64-pc-linux-gnu"

define void @f() #0 {
  ret void
}

attributes #0 = { "target-cpu"="haswell" "target-features"="+avx2,+avx,+sse4.2" }

; CHECK: declare void @__ci_slow_path(i64) {{.*}}nonlazybind
; CHECK: call void @__ci_slow_path(i64 %cost)
; SSE: declare preserve_allcc void @__ci_slow_path_pa(i64) {{.*}}nonlazybind
