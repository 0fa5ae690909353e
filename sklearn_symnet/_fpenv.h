/* Subnormal floating point off for a stretch of optimiser work (x86 SSE:
 * flush-to-zero and denormals-are-zero in MXCSR, set and restored by the
 * thread that does the work).  An optimiser's moments and the gradients of
 * rarely active inputs reach subnormal magnitudes late in training, and
 * every operation on a subnormal costs a microcode assist (Adam's float32
 * step took twice as long from the third MNIST epoch on).  Their effect on a
 * parameter is below its last bit.  Elsewhere these are no-ops. */
#ifndef SYMNET_FPENV_H
#define SYMNET_FPENV_H

#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#include <xmmintrin.h>
static inline unsigned int symnet_subnormals_off(void) {
    unsigned int old = _mm_getcsr();
    _mm_setcsr(old | 0x8040u); /* FTZ (bit 15) | DAZ (bit 6) */
    return old;
}
static inline void symnet_fpenv_restore(unsigned int old) { _mm_setcsr(old); }
#else
static inline unsigned int symnet_subnormals_off(void) { return 0u; }
static inline void symnet_fpenv_restore(unsigned int old) { (void)old; }
#endif

#endif
