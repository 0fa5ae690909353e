/* Spreading a parallel region's threads over the idle cores (Linux).
 *
 * After an idle stretch (tens of milliseconds), Linux on the KVM guest we
 * measure on often wakes an OpenMP worker on the CPU of the thread that
 * woke it (probably because a halted vCPU reads as preempted to the guest's
 * scheduler; not verified), and the two threads then share one core for
 * several milliseconds while the other idles: a 10,000-row prediction took
 * its one-thread time, 15.7 ms instead of 8.3, in about half of the calls
 * made after a 0.2 s pause.  symnet_nudge moves such a worker to another
 * CPU of its own affinity mask and restores the mask at once: a one-off
 * migration, not a pin.  Threads bound to one CPU (OMP_PROC_BIND) and other
 * systems are left alone.  It changes where work runs, never what is
 * computed.
 *
 * A worker woken onto the master's CPU cannot run, and so cannot move
 * itself, until the master gives up that CPU.  symnet_spread starts a
 * region: the master yields once (a system call of well under a
 * microsecond when nothing else waits for its CPU), so such a worker runs
 * at once, and the workers nudge.  After a 0.2 s pause an empty two-thread
 * region took 6.2 ms bare and 0.33 ms started this way (medians of 40;
 * benchmarks/diagnose_predict.py --parts wake). */
#ifndef SYMNET_AFFINITY_H
#define SYMNET_AFFINITY_H

#if defined(__linux__)
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
static inline int symnet_cpu(void) { return sched_getcpu(); }
static inline void symnet_nudge(int master_cpu, int tid) {
    cpu_set_t old, one;
    int c, k, n = 0;
    if (tid == 0 || master_cpu < 0 || sched_getcpu() != master_cpu) return;
    if (sched_getaffinity(0, sizeof old, &old) != 0) return;
    for (c = 0; c < CPU_SETSIZE; c++)
        if (c != master_cpu && CPU_ISSET(c, &old)) n++;
    if (n == 0) return;
    k = (tid - 1) % n;
    for (c = 0; c < CPU_SETSIZE; c++)
        if (c != master_cpu && CPU_ISSET(c, &old) && k-- == 0) break;
    CPU_ZERO(&one);
    CPU_SET(c, &one);
    if (sched_setaffinity(0, sizeof one, &one) == 0)
        sched_setaffinity(0, sizeof old, &old);
}
/* At the start of a parallel region of n_threads threads: the master (tid
 * 0) yields its CPU once, so that a worker woken there runs at once; every
 * worker moves off the master's CPU (symnet_nudge). */
static inline void symnet_spread(int master_cpu, int tid, int n_threads) {
    if (n_threads < 2) return;
    if (tid == 0) sched_yield();
    else symnet_nudge(master_cpu, tid);
}
/* For the test hook: the calling thread's mask, and whether it is the same. */
static inline int symnet_mask_size(void) { return (int)sizeof(cpu_set_t); }
static inline int symnet_get_mask(void *mask) {
    return sched_getaffinity(0, sizeof(cpu_set_t), (cpu_set_t *)mask);
}
static inline int symnet_same_mask(const void *mask) {
    cpu_set_t now;
    if (sched_getaffinity(0, sizeof now, &now) != 0) return 0;
    return CPU_EQUAL(&now, (const cpu_set_t *)mask);
}
#else
static inline int symnet_mask_size(void) { return 0; }
static inline int symnet_get_mask(void *mask) { (void)mask; return -1; }
static inline int symnet_same_mask(const void *mask) { (void)mask; return 1; }
static inline int symnet_cpu(void) { return -1; }
static inline void symnet_nudge(int master_cpu, int tid) { (void)master_cpu; (void)tid; }
static inline void symnet_spread(int master_cpu, int tid, int n_threads) {
    (void)master_cpu; (void)tid; (void)n_threads;
}
#endif

#endif
