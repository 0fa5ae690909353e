/* A barrier for the threads of the enclosing OpenMP parallel region.
 *
 * Cython compiles a prange inside a `with parallel()` block to
 * `#pragma omp for nowait`: no thread waits for the others at the end of the
 * loop.  A second loop of the same region that reads what the first one
 * wrote needs this barrier between them (an orphaned `omp barrier` binds to
 * the innermost enclosing parallel region).  Every thread of the region must
 * call it.  Without OpenMP the region is one thread and this is a no-op. */
#ifndef SYMNET_BARRIER_H
#define SYMNET_BARRIER_H

static inline void symnet_barrier(void) {
#ifdef _OPENMP
#pragma omp barrier
#endif
}

#endif
