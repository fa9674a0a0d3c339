/*
 * ctx_switch.S -- the context switch of the sched application's green threads (x86-64 SysV).
 *
 *   void sched_switch(void **save_sp, void *new_sp)
 *       Saves the callee-saved state (rbx, rbp, r12-r15, the x87 control word, MXCSR) on the
 *       current stack, stores the stack pointer in *save_sp and resumes the context whose saved
 *       stack pointer is new_sp.  Caller-saved registers are dead across the call (ABI).
 *
 *   sched_ctx_entry
 *       First "return address" of a new context (see sched_ctx_init in sched_server.cc):
 *       calls r12(r13) on an aligned stack; the entry function never returns.
 *
 *   Preemption by CI switches with sched_switch: the runtime calls the function the handler
 *   registered with ci_after_handler() as an ordinary call, once the interrupt is over.
 *
 *   sched_preempt_tramp
 *       Preemption by timer signal: where a preempted green thread resumes after the signal
 *       handler returned.  The handler replaced the RIP of the signal's ucontext by this address
 *       and stored the original in the thread's struct.  Entered with EVERY register as the
 *       interrupted code had it (rsp included), it skips the 128-byte red zone, leaves a slot for
 *       the original resume address, saves all general-purpose registers, the flags and the
 *       extended state (XSAVE: x87, SSE, AVX, AVX-512), calls
 *       sched_preempted(&slot) -- which fills the slot and switches to the scheduler -- and,
 *       when the thread is resumed, restores everything and returns to the original address
 *       with `ret $128`, so rsp is exactly what the interrupted code had.
 */
    .text

    .globl sched_switch
    .type sched_switch, @function
    .p2align 4
sched_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $16, %rsp
    stmxcsr 8(%rsp)
    fnstcw (%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    fldcw (%rsp)
    ldmxcsr 8(%rsp)
    addq $16, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size sched_switch, .-sched_switch

    .globl sched_ctx_entry
    .type sched_ctx_entry, @function
    .p2align 4
sched_ctx_entry:
    movq %r13, %rdi
    callq *%r12
    ud2
    .size sched_ctx_entry, .-sched_ctx_entry

#define XSAVE_BYTES 4096
/* x87, SSE, AVX, AVX-512 opmask / ZMM_Hi256 / Hi16_ZMM (standard-format end: 2688 bytes);
 * not AMX tiles (8 KB), which nothing here uses. */
#define XSAVE_MASK 0xe7

    .globl sched_preempt_tramp
    .type sched_preempt_tramp, @function
    .p2align 4
sched_preempt_tramp:
    leaq -136(%rsp), %rsp       /* red zone (128) + the resume-address slot (8) */
    pushfq
    pushq %rax
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %rbx
    pushq %rbp
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rbx             /* rbx: the GPR save area (callee-saved across the call) */
    andq $-64, %rsp
    subq $XSAVE_BYTES, %rsp
    xorl %eax, %eax             /* the XSAVE header must start zeroed (reserved bytes) */
    movq %rax, 512(%rsp)
    movq %rax, 520(%rsp)
    movq %rax, 528(%rsp)
    movq %rax, 536(%rsp)
    movq %rax, 544(%rsp)
    movq %rax, 552(%rsp)
    movq %rax, 560(%rsp)
    movq %rax, 568(%rsp)
    movl $XSAVE_MASK, %eax
    xorl %edx, %edx
    xsave64 (%rsp)
    cld
    leaq 128(%rbx), %rdi        /* 15 GPRs + flags = 128 bytes above rbx: the slot */
    call sched_preempted
    movl $XSAVE_MASK, %eax
    xorl %edx, %edx
    xrstor64 (%rsp)
    movq %rbx, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbp
    popq %rbx
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rax
    popfq
    ret $128
    .size sched_preempt_tramp, .-sched_preempt_tramp


/*
 * int sched_test_callee_saved(void **save_sp, void *new_sp)   (tests only)
 *   Loads distinct constants into rbx, rbp, r12-r15, switches away with sched_switch and, when
 *   switched back, returns a bit mask of the registers that did not survive (0 = all kept).
 */
    .globl sched_test_callee_saved
    .type sched_test_callee_saved, @function
    .p2align 4
sched_test_callee_saved:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    movabsq $0x1111111111111111, %rbx
    movabsq $0x2222222222222222, %rbp
    movabsq $0x3333333333333333, %r12
    movabsq $0x4444444444444444, %r13
    movabsq $0x5555555555555555, %r14
    movabsq $0x6666666666666666, %r15
    call sched_switch
    xorl %eax, %eax
    movabsq $0x1111111111111111, %rcx
    cmpq %rcx, %rbx
    je 1f
    orl $1, %eax
1:  movabsq $0x2222222222222222, %rcx
    cmpq %rcx, %rbp
    je 2f
    orl $2, %eax
2:  movabsq $0x3333333333333333, %rcx
    cmpq %rcx, %r12
    je 3f
    orl $4, %eax
3:  movabsq $0x4444444444444444, %rcx
    cmpq %rcx, %r13
    je 4f
    orl $8, %eax
4:  movabsq $0x5555555555555555, %rcx
    cmpq %rcx, %r14
    je 5f
    orl $16, %eax
5:  movabsq $0x6666666666666666, %rcx
    cmpq %rcx, %r15
    je 6f
    orl $32, %eax
6:  addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size sched_test_callee_saved, .-sched_test_callee_saved

    .section .note.GNU-stack,"",@progbits
