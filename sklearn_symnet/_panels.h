/* Register-blocked panels for the first layer's sparse products.
 *
 * One panel is SYMNET_PANEL (= 32) consecutive output columns held in
 * 32-byte vector accumulators (GCC/Clang vector extensions; lowered to
 * whatever the target has, SSE2 at least).  Each non-zero input x adds
 * x * row[k0:k0+32] to the accumulators, which stay in registers: the work
 * is two loads and one fused multiply-add per vector, no stores.
 *
 *   forward: out[k0:k0+32] = b[k0:k0+32] + sum_p vals[p] * M[idx[p], k0:k0+32]
 *   grad:    out[k0:k0+32] =               sum_p vals[p] * M[idx[p], k0:k0+32]
 *
 * The summation order is the order of p, so results do not depend on the
 * number of threads.  Compilers without vector extensions use the plain loop.
 */
#ifndef SYMNET_PANELS_H
#define SYMNET_PANELS_H

#include <string.h>
#include <stddef.h>

#define SYMNET_PANEL 32

#if defined(__GNUC__) || defined(__clang__)

typedef double symnet_v4d __attribute__((vector_size(32)));
typedef double symnet_v4d_u __attribute__((vector_size(32), aligned(8)));
typedef float symnet_v8f __attribute__((vector_size(32)));
typedef float symnet_v8f_u __attribute__((vector_size(32), aligned(4)));

/* Eight named accumulators (not an array), so they live in registers. */
static inline void symnet_panel_d(const double *vals, const int *idx, long long p0,
                                  long long p1, const double *M, ptrdiff_t m,
                                  ptrdiff_t k0, const double *init, double *out)
{
    symnet_v4d a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    symnet_v4d a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
    if (init) {
        const symnet_v4d_u *b = (const symnet_v4d_u *)(init + k0);
        a0 = b[0]; a1 = b[1]; a2 = b[2]; a3 = b[3];
        a4 = b[4]; a5 = b[5]; a6 = b[6]; a7 = b[7];
    }
    for (long long p = p0; p < p1; ++p) {
        const symnet_v4d_u *r = (const symnet_v4d_u *)(M + (ptrdiff_t)idx[p] * m + k0);
        double x = vals[p];
        a0 += x * r[0]; a1 += x * r[1]; a2 += x * r[2]; a3 += x * r[3];
        a4 += x * r[4]; a5 += x * r[5]; a6 += x * r[6]; a7 += x * r[7];
    }
    symnet_v4d_u *o = (symnet_v4d_u *)(out + k0);
    o[0] = a0; o[1] = a1; o[2] = a2; o[3] = a3;
    o[4] = a4; o[5] = a5; o[6] = a6; o[7] = a7;
}

static inline void symnet_panel_f(const float *vals, const int *idx, long long p0,
                                  long long p1, const float *M, ptrdiff_t m,
                                  ptrdiff_t k0, const float *init, float *out)
{
    symnet_v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    if (init) {
        const symnet_v8f_u *b = (const symnet_v8f_u *)(init + k0);
        a0 = b[0]; a1 = b[1]; a2 = b[2]; a3 = b[3];
    }
    for (long long p = p0; p < p1; ++p) {
        const symnet_v8f_u *r = (const symnet_v8f_u *)(M + (ptrdiff_t)idx[p] * m + k0);
        float x = vals[p];
        a0 += x * r[0]; a1 += x * r[1]; a2 += x * r[2]; a3 += x * r[3];
    }
    symnet_v8f_u *o = (symnet_v8f_u *)(out + k0);
    o[0] = a0; o[1] = a1; o[2] = a2; o[3] = a3;
}

#else

#define SYMNET_DEFINE_PANEL(NAME, T, LANES)                                       \
static inline void NAME(const T *vals, const int *idx, long long p0,             \
                        long long p1, const T *M, ptrdiff_t m, ptrdiff_t k0,     \
                        const T *init, T *out)                                   \
{                                                                                \
    T acc[SYMNET_PANEL];                                                         \
    int v;                                                                       \
    for (v = 0; v < SYMNET_PANEL; ++v) acc[v] = init ? init[k0 + v] : (T)0;      \
    for (long long p = p0; p < p1; ++p) {                                        \
        const T *row = M + (ptrdiff_t)idx[p] * m + k0;                           \
        T x = vals[p];                                                           \
        for (v = 0; v < SYMNET_PANEL; ++v) acc[v] += x * row[v];                 \
    }                                                                            \
    for (v = 0; v < SYMNET_PANEL; ++v) out[k0 + v] = acc[v];                     \
}

SYMNET_DEFINE_PANEL(symnet_panel_d, double, 4)
SYMNET_DEFINE_PANEL(symnet_panel_f, float, 8)

#endif
#endif
