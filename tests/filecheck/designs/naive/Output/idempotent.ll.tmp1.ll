; ModuleID = '<string>'
source_filename = "<string>"

define void @f() {
  call void @__ci_probe(i64 1)
  ret void
}

@__ci_budget = external thread_local(initialexec) global i64, align 8

declare void @__ci_slow_path(i64) cold nounwind

define internal void @__ci_probe(i64 %cost) alwaysinline nounwind {
  %budget = load i64, ptr @__ci_budget, align 8
  %left = sub i64 %budget, %cost
  store i64 %left, ptr @__ci_budget, align 8
  %due = icmp slt i64 %left, 0
  br i1 %due, label %slow, label %done

slow:
  call void @__ci_slow_path(i64 %cost)
  br label %done

done:
  ret void
}
