/*
 * locks.h -- the lock baselines of the delegation benchmark.
 *
 *   spin: test-and-test-and-set with exponential backoff (pause loops, 1..SPIN_MAX_BACKOFF);
 *   mcs:  the Mellor-Crummey/Scott queue lock (each waiter spins on its own node).
 *
 * Both give the CPU away with sched_yield() once one acquisition has waited longer than
 * `yield_after` TSC cycles: with more threads than cores (4 threads on this 2-core machine)
 * pure spinning would wait for the lock holder's (or the next MCS waiter's) time slice.
 */
#ifndef DELEG_LOCKS_H
#define DELEG_LOCKS_H

#include <sched.h>
#include <stdint.h>

#include "deleg.h"

#define SPIN_MAX_BACKOFF 64

struct spinlock {
    int locked;
} __attribute__((aligned(64)));

static inline void spin_lock(struct spinlock *l, uint64_t yield_after) {
    if (!__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
        return;
    unsigned backoff = 1;
    uint64_t start = deleg_now();
    for (;;) {
        while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED)) {
            for (unsigned i = 0; i < backoff; i++)
                deleg_relax();
            if (backoff < SPIN_MAX_BACKOFF)
                backoff <<= 1;
            else if (deleg_now() - start > yield_after)
                sched_yield();
        }
        if (!__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
            return;
    }
}

static inline void spin_unlock(struct spinlock *l) {
    __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

struct mcs_node {
    struct mcs_node *next;
    int locked;
} __attribute__((aligned(64)));

struct mcs_lock {
    struct mcs_node *tail;
} __attribute__((aligned(64)));

static inline void mcs_acquire(struct mcs_lock *l, struct mcs_node *me, uint64_t yield_after) {
    __atomic_store_n(&me->next, (struct mcs_node *)0, __ATOMIC_RELAXED);
    __atomic_store_n(&me->locked, 1, __ATOMIC_RELAXED);
    struct mcs_node *pred = __atomic_exchange_n(&l->tail, me, __ATOMIC_ACQ_REL);
    if (!pred)
        return;
    __atomic_store_n(&pred->next, me, __ATOMIC_RELEASE);
    if (!__atomic_load_n(&me->locked, __ATOMIC_ACQUIRE))
        return;
    uint64_t start = deleg_now();
    unsigned n = 0;
    while (__atomic_load_n(&me->locked, __ATOMIC_ACQUIRE)) {
        deleg_relax();
        if ((++n & 63) == 0 && deleg_now() - start > yield_after)
            sched_yield();
    }
}

static inline void mcs_release(struct mcs_lock *l, struct mcs_node *me) {
    struct mcs_node *succ = __atomic_load_n(&me->next, __ATOMIC_ACQUIRE);
    if (!succ) {
        struct mcs_node *expected = me;
        if (__atomic_compare_exchange_n(&l->tail, &expected, (struct mcs_node *)0, 0,
                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            return;
        unsigned n = 0;
        while (!(succ = __atomic_load_n(&me->next, __ATOMIC_ACQUIRE))) {
            deleg_relax();
            if ((++n & 1023) == 0)
                sched_yield(); /* the successor was preempted between its xchg and link */
        }
    }
    __atomic_store_n(&succ->locked, 0, __ATOMIC_RELEASE);
}

#endif /* DELEG_LOCKS_H */
