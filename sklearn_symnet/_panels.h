/* Register-blocked panels for the first layer's sparse products.
 *
 * symnet_row_d / symnet_row_f compute one row of output columns
 *
 *   forward: out[0:m] = init[0:m] + sum_p vals[p] * M[idx[p], 0:m]
 *   grad:    out[0:m] =             sum_p vals[p] * M[idx[p], 0:m]   (init NULL)
 *
 * in panels of up to eight 32-byte vector accumulators (GCC/Clang vector
 * extensions, lowered to whatever the target has, SSE2 at least).  Each
 * non-zero x adds x * M[idx[p], panel] to accumulators that stay in
 * registers: one load and one fused multiply-add per vector, no stores.
 * Panels of 32, 16, 8 and 4 doubles (64..8 floats) cover the row, a plain
 * loop the last few columns.  Every column is summed in the order of p, so
 * results do not depend on the number of threads.  Compilers without vector
 * extensions use the plain loop.
 */
#ifndef SYMNET_PANELS_H
#define SYMNET_PANELS_H

#include <string.h>
#include <stddef.h>

#if defined(__GNUC__) || defined(__clang__)

typedef double symnet_v4d __attribute__((vector_size(32)));
typedef double symnet_v4d_u __attribute__((vector_size(32), aligned(8)));
typedef float symnet_v8f __attribute__((vector_size(32)));
typedef float symnet_v8f_u __attribute__((vector_size(32), aligned(4)));

/* Named accumulators (not an array), so that they live in registers. */
#define SYMNET_R1(X) X(0)
#define SYMNET_R2(X) X(0) X(1)
#define SYMNET_R4(X) X(0) X(1) X(2) X(3)
#define SYMNET_R8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

#define SYMNET_DECL(i) V a##i = {0};
#define SYMNET_INIT(i) a##i = b[i];
#define SYMNET_FMA(i) a##i += x * r[i];
#define SYMNET_STORE(i) o[i] = a##i;

/* out[k0 : k0 + NV*LANES] = (init or 0) + sum_p vals[p] * M[idx[p], same columns] */
#define SYMNET_DEFINE_PANEL(NAME, T, V, VU, REP)                                  \
static inline void NAME(const T *vals, const int *idx, long long p0,             \
                        long long p1, const T *M, ptrdiff_t m, ptrdiff_t k0,     \
                        const T *init, T *out)                                   \
{                                                                                \
    REP(SYMNET_DECL)                                                             \
    if (init) {                                                                  \
        const VU *b = (const VU *)(init + k0);                                   \
        REP(SYMNET_INIT)                                                         \
    }                                                                            \
    for (long long p = p0; p < p1; ++p) {                                        \
        const VU *r = (const VU *)(M + (ptrdiff_t)idx[p] * m + k0);              \
        T x = vals[p];                                                           \
        REP(SYMNET_FMA)                                                          \
    }                                                                            \
    VU *o = (VU *)(out + k0);                                                    \
    REP(SYMNET_STORE)                                                            \
}

#define V symnet_v4d
SYMNET_DEFINE_PANEL(symnet_panel_d32, double, symnet_v4d, symnet_v4d_u, SYMNET_R8)
SYMNET_DEFINE_PANEL(symnet_panel_d16, double, symnet_v4d, symnet_v4d_u, SYMNET_R4)
SYMNET_DEFINE_PANEL(symnet_panel_d8, double, symnet_v4d, symnet_v4d_u, SYMNET_R2)
SYMNET_DEFINE_PANEL(symnet_panel_d4, double, symnet_v4d, symnet_v4d_u, SYMNET_R1)
#undef V
#define V symnet_v8f
SYMNET_DEFINE_PANEL(symnet_panel_f64, float, symnet_v8f, symnet_v8f_u, SYMNET_R8)
SYMNET_DEFINE_PANEL(symnet_panel_f32, float, symnet_v8f, symnet_v8f_u, SYMNET_R4)
SYMNET_DEFINE_PANEL(symnet_panel_f16, float, symnet_v8f, symnet_v8f_u, SYMNET_R2)
SYMNET_DEFINE_PANEL(symnet_panel_f8, float, symnet_v8f, symnet_v8f_u, SYMNET_R1)
#undef V

#define SYMNET_VECTOR_PANELS 1
#else

#define SYMNET_VECTOR_PANELS 0

#endif

/* A whole row of m output columns: the widest vector panels first, then a
 * plain loop for the last columns. */
#define SYMNET_DEFINE_ROW(NAME, T, P1, W1, P2, W2, P3, W3, P4, W4)                 \
static inline void NAME(const T *vals, const int *idx, long long p0, long long p1,\
                        const T *M, ptrdiff_t m, const T *init, T *out)          \
{                                                                                \
    ptrdiff_t k0 = 0, k;                                                         \
    if (SYMNET_VECTOR_PANELS) {                                                  \
        for (; k0 + W1 <= m; k0 += W1) P1(vals, idx, p0, p1, M, m, k0, init, out); \
        if (k0 + W2 <= m) { P2(vals, idx, p0, p1, M, m, k0, init, out); k0 += W2; } \
        if (k0 + W3 <= m) { P3(vals, idx, p0, p1, M, m, k0, init, out); k0 += W3; } \
        if (k0 + W4 <= m) { P4(vals, idx, p0, p1, M, m, k0, init, out); k0 += W4; } \
    }                                                                            \
    for (k = k0; k < m; ++k) out[k] = init ? init[k] : (T)0;                     \
    if (k0 < m) {                                                                \
        for (long long p = p0; p < p1; ++p) {                                    \
            const T *r = M + (ptrdiff_t)idx[p] * m;                              \
            T x = vals[p];                                                       \
            for (k = k0; k < m; ++k) out[k] += x * r[k];                         \
        }                                                                        \
    }                                                                            \
}

#if SYMNET_VECTOR_PANELS
SYMNET_DEFINE_ROW(symnet_row_d, double, symnet_panel_d32, 32, symnet_panel_d16, 16,
                  symnet_panel_d8, 8, symnet_panel_d4, 4)
SYMNET_DEFINE_ROW(symnet_row_f, float, symnet_panel_f64, 64, symnet_panel_f32, 32,
                  symnet_panel_f16, 16, symnet_panel_f8, 8)
#else
static inline void symnet_no_panel_d(const double *v, const int *i, long long a,
    long long b, const double *M, ptrdiff_t m, ptrdiff_t k0, const double *init,
    double *out) {}
static inline void symnet_no_panel_f(const float *v, const int *i, long long a,
    long long b, const float *M, ptrdiff_t m, ptrdiff_t k0, const float *init,
    float *out) {}
SYMNET_DEFINE_ROW(symnet_row_d, double, symnet_no_panel_d, 1, symnet_no_panel_d, 1,
                  symnet_no_panel_d, 1, symnet_no_panel_d, 1)
SYMNET_DEFINE_ROW(symnet_row_f, float, symnet_no_panel_f, 1, symnet_no_panel_f, 1,
                  symnet_no_panel_f, 1, symnet_no_panel_f, 1)
#endif

#endif
