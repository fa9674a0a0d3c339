; ModuleID = '<string>'
source_filename = "<string>"

@__ci_budget = external thread_local(initialexec) global i64, align 8

define void @f() {
  call void @__ci_probe(i64 1)
  ret void
}

; Function Attrs: cold nounwind
declare void @__ci_slow_path(i64) #0

; Function Attrs: alwaysinline nounwind
define internal void @__ci_probe(i64 %cost) #1 {
  %budget = load i64, ptr @__ci_budget, align 8
  %left = sub i64 %budget, %cost
  store i64 %left, ptr @__ci_budget, align 8
  %due = icmp slt i64 %left, 0
  br i1 %due, label %slow, label %done

slow:                                             ; preds = %0
  call void @__ci_slow_path(i64 %cost)
  br label %done

done:                                             ; preds = %slow, %0
  ret void
}

attributes #0 = { cold nounwind }
attributes #1 = { alwaysinline nounwind }
