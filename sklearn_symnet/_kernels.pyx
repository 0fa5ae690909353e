# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Compiled kernels of the SymNet network.

Every function works in place on caller-owned, C-contiguous buffers (typed
memoryviews, fused ``float``/``double``), releases the GIL, and never
allocates.  The neuron's constants arrive as the small tables that
:class:`sklearn_symnet.WuxingNeuron` precomputes; no kernel knows the ODE.

OpenMP (``prange``) is used where rows or columns are independent, so the
result is bit-identical whatever the number of threads.
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.math cimport (atan, sqrt, exp, log, log1p, tanh, fabs, INFINITY, nextafter,
                        copysign)
from libc.string cimport memcpy, memmove

from libc.float cimport DBL_MIN, FLT_MIN

cdef extern from "math.h" nogil:
    float nextafterf(float x, float y)
    float sqrtf(float x)
from scipy.linalg.cython_blas cimport dgemm, sgemm


cdef inline floating _sqrt(floating x) noexcept nogil:
    """sqrt in the buffer's own precision (float stays float: vectorisable)."""
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)

# pi as a compile-time constant (a module variable is reloaded in loops that
# store doubles, which keeps them from vectorising)
cdef extern from *:
    """#define SYMNET_PI 3.141592653589793"""
    double PI "SYMNET_PI"


# ---------------------------------------------------------------------------
# Forward: steady-state signal and local gain of a layer of neurons
# ---------------------------------------------------------------------------
cdef inline Py_ssize_t _piece(const double *bp, Py_ssize_t nb, double u) noexcept nogil:
    """The piece of input ``u``: the number of breakpoints ``bp[0:nb]`` (a
    sorted row, ``+inf`` padded) at or below it.  Counted without branches
    (``nb`` is the tables' used width, a few): an input's piece is data, and
    a mispredicted branch per entry cost more than the comparisons."""
    cdef Py_ssize_t seg = 0, j
    for j in range(nb):
        seg = seg + (u >= bp[j])
    return seg


cdef Py_ssize_t _used_breakpoints(const double[:, ::1] breakpoints) noexcept nogil:
    """Columns of the breakpoint rows that hold a finite breakpoint in some row
    (the rest is ``+inf`` padding, which no finite input reaches)."""
    cdef Py_ssize_t r, j, used = 0
    for r in range(breakpoints.shape[0]):
        for j in range(breakpoints.shape[1] - 1, used - 1, -1):
            if breakpoints[r, j] < INFINITY:
                used = j + 1
                break
    return used


cdef struct RateShared:
    # one shared table of at most four breakpoints, padded (see _rate_row4)
    double b[4]
    float bf[4]
    double sl[5]
    double ic[5]
    double ga[5]


cdef bint _rate_shared(const double[:, ::1] breakpoints, const double[:, ::1] slope,
                       const double[:, ::1] intercept, const double[:, ::1] gain,
                       Py_ssize_t nb, RateShared *t) noexcept nogil:
    """Fill ``t`` where the tables are one shared row of at most four used
    breakpoints (the fixed neurons); False where they are not."""
    cdef Py_ssize_t j, jj
    if slope.shape[0] != 1 or nb > 4:
        return False
    for j in range(4):
        t.b[j] = breakpoints[0, j] if j < nb else INFINITY
        t.bf[j] = <float>t.b[j]
        if t.bf[j] < t.b[j]:  # rounded down: the next float up
            t.bf[j] = nextafterf(t.bf[j], INFINITY)
    for j in range(5):
        jj = min(j, nb)
        t.sl[j] = slope[0, jj]
        t.ic[j] = intercept[0, jj]
        t.ga[j] = gain[0, jj]
    return True


cdef inline Py_ssize_t _rate_row4(
    const floating *u, floating *s, floating *g, Py_ssize_t m, const RateShared *t,
    bint with_gain,
) noexcept nogil:
    """One row of a layer whose units share one table ``t`` of at most four
    breakpoints ``t.b`` (padded with ``+inf``; five pieces): each input's
    piece is picked by a chain of four selects on scalars (no branch, no
    gather), so the loops vectorise in both dtypes.  Gains are picked in the
    rows' dtype: in float against ``t.bf``, the breakpoints rounded up to
    float (a float input is at or above a breakpoint exactly when it is at or
    above that float).  ``s`` may alias ``u``.  Returns the number of
    non-finite signals."""
    cdef Py_ssize_t k
    cdef int bad = 0
    cdef double x, a, c, y
    cdef double b0 = t.b[0], b1 = t.b[1], b2 = t.b[2], b3 = t.b[3]
    cdef double s0 = t.sl[0], s1 = t.sl[1], s2 = t.sl[2], s3 = t.sl[3], s4 = t.sl[4]
    cdef double i0 = t.ic[0], i1 = t.ic[1], i2 = t.ic[2], i3 = t.ic[3], i4 = t.ic[4]
    cdef floating xg, ag, q0, q1, q2, q3
    cdef floating h0 = <floating>t.ga[0], h1 = <floating>t.ga[1], h2 = <floating>t.ga[2]
    cdef floating h3 = <floating>t.ga[3], h4 = <floating>t.ga[4]
    if floating is float:
        q0, q1, q2, q3 = t.bf[0], t.bf[1], t.bf[2], t.bf[3]
    else:
        q0, q1, q2, q3 = b0, b1, b2, b3
    if with_gain:
        for k in range(m):
            xg = u[k]
            ag = h0
            ag = h1 if xg >= q0 else ag
            ag = h2 if xg >= q1 else ag
            ag = h3 if xg >= q2 else ag
            ag = h4 if xg >= q3 else ag
            g[k] = ag
    for k in range(m):
        x = u[k]
        a = s0
        c = i0
        a = s1 if x >= b0 else a
        c = i1 if x >= b0 else c
        a = s2 if x >= b1 else a
        c = i2 if x >= b1 else c
        a = s3 if x >= b2 else a
        c = i3 if x >= b2 else c
        a = s4 if x >= b3 else a
        c = i4 if x >= b3 else c
        y = <floating>(a * x + c)
        s[k] = <floating>y
        bad = bad + (fabs(y) >= INFINITY or y != y)  # inf, or NaN (0 * inf)
    return bad


cdef inline Py_ssize_t _rate_row(
    const floating *u, floating *s, floating *g, Py_ssize_t m, const double *bp,
    Py_ssize_t bp_stride, const double *sl, const double *ic, const double *ga,
    Py_ssize_t stride, Py_ssize_t nb, Py_ssize_t ks, bint with_gain,
) noexcept nogil:
    """One row of :func:`rate_forward` with any tables: unit ``k`` reads table
    row ``k * ks`` (breakpoint rows ``bp_stride`` apart, piece rows
    ``stride``), its piece counted over the ``nb`` used breakpoints.  ``s``
    may alias ``u``.  Returns the number of non-finite signals."""
    cdef Py_ssize_t k, seg, row
    cdef Py_ssize_t bad = 0
    cdef double x, v
    for k in range(m):
        row = k * ks
        x = u[k]
        seg = _piece(&bp[row * bp_stride], nb, x)
        if with_gain:
            g[k] = <floating>ga[row * stride + seg]
        v = sl[row * stride + seg] * x + ic[row * stride + seg]
        s[k] = <floating>v
        if not fabs(<floating>v) < INFINITY:  # inf, or NaN (0 * inf)
            bad += 1
    return bad


def rate_forward(
    floating[:, ::1] U,
    const double[:, ::1] breakpoints,
    const double[:, ::1] slope,
    const double[:, ::1] intercept,
    const double[:, ::1] gain,
    floating[:, ::1] S,
    floating[:, ::1] G,
    bint with_gain=True,
    int n_threads=1,
):
    """Rate coupling: exact piecewise-linear steady state.

    ``S[i, k] = slope[r, m] * U[i, k] + intercept[r, m]`` and
    ``G[i, k] = gain[r, m]`` where ``r`` is unit ``k``'s table row (``k``, or
    0 when the tables have one row shared by all units) and ``m`` the number
    of its breakpoints ``<= U[i, k]`` (rows are padded with ``+inf``): the
    forward system's piece and the reverse system's response on it.  ``G``
    is not written when ``with_gain`` is false (prediction).  ``S`` may alias
    ``U``.  Returns the number of non-finite signals (0 for finite ``U``
    unless ``S`` overflows).
    """
    cdef Py_ssize_t n = U.shape[0], m = U.shape[1], i
    cdef Py_ssize_t nb = _used_breakpoints(breakpoints)
    cdef Py_ssize_t ks = 1 if slope.shape[0] > 1 else 0
    cdef Py_ssize_t bad = 0
    cdef RateShared t
    cdef const double *bp
    if slope.shape[0] != 1 and slope.shape[0] != m:
        raise ValueError("rate_forward: tables must have 1 or U.shape[1] rows")
    if m > 0 and _rate_shared(breakpoints, slope, intercept, gain, nb, &t):
        # one shared table of few pieces (the fixed neurons)
        with nogil:
            for i in prange(n, schedule="static", num_threads=n_threads):
                bad += _rate_row4(&U[i, 0], &S[i, 0], &G[i, 0] if with_gain else NULL, m,
                                  &t, with_gain)
        return bad
    # no breakpoints (one linear piece): no pointer into the empty table, as in predict_dense
    bp = &breakpoints[0, 0] if breakpoints.shape[1] > 0 else NULL
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            bad += _rate_row(&U[i, 0], &S[i, 0], &G[i, 0] if with_gain else NULL, m,
                             bp, breakpoints.shape[1], &slope[0, 0],
                             &intercept[0, 0], &gain[0, 0], slope.shape[1], nb, ks,
                             with_gain)
    return bad


def rate_constant_grads(
    const floating[:, ::1] U,
    const floating[:, ::1] E,
    const double[:, ::1] breakpoints,
    const double[:, :, ::1] dc,
    const double[:, :, ::1] dd,
    double[:, ::1] out,
    int n_threads=1,
):
    """Rate coupling: ``out[k, j] = sum_i E[i, k] (dc[r, m, j] + dd[r, m, j] U[i, k])``.

    On each piece ``m`` the signal's derivative with respect to constant
    ``j`` (K1, K2, K3, r) is affine in the input; ``E`` holds the error
    signals before the gain.  Each unit's sum is one thread's, in row order:
    identical results for any thread count.
    """
    cdef Py_ssize_t n = U.shape[0], m = U.shape[1], i, k, seg, row
    cdef Py_ssize_t nb = _used_breakpoints(breakpoints)
    cdef Py_ssize_t ks = 1 if dc.shape[0] > 1 else 0
    cdef double u, e, a0, a1, a2, a3
    if dc.shape[0] != 1 and dc.shape[0] != m:
        raise ValueError("rate_constant_grads: tables must have 1 or U.shape[1] rows")
    with nogil:
        for k in prange(m, schedule="static", num_threads=n_threads):
            row = k * ks
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            for i in range(n):
                e = E[i, k]
                if e == 0:
                    continue
                u = U[i, k]
                seg = _piece(&breakpoints[row, 0], nb, u)
                a0 = a0 + e * (dc[row, seg, 0] + dd[row, seg, 0] * u)
                a1 = a1 + e * (dc[row, seg, 1] + dd[row, seg, 1] * u)
                a2 = a2 + e * (dc[row, seg, 2] + dd[row, seg, 2] * u)
                a3 = a3 + e * (dc[row, seg, 3] + dd[row, seg, 3] * u)
            out[k, 0] = a0
            out[k, 1] = a1
            out[k, 2] = a2
            out[k, 3] = a3


cdef inline double _atan(double x) noexcept nogil:
    """``atan(x)`` without branches, so that the flux loops vectorise: Cephes'
    ``atan`` (S. L. Moshier), its three ranges picked by selects.  Within one
    ulp of libm's (``tests/test_kernels.py``), and the same bits on every
    platform (libm's differ between C libraries)."""
    cdef double ax = fabs(x), w, z, p, q
    cdef bint big = ax > 2.414213562373095  # tan(3 pi/8): pi/2 - atan(1/x)
    cdef bint mid = ax > 0.66               # pi/4 + atan((x - 1)/(x + 1))
    cdef double num = -1.0 if big else (ax - 1.0 if mid else ax)
    cdef double den = ax if big else (ax + 1.0 if mid else 1.0)
    cdef double y0 = PI / 2 if big else (PI / 4 if mid else 0.0)
    # pi/2's (pi/4's) bits below the double nearest it
    cdef double lo = 6.123233995736766e-17 if big else (3.061616997868383e-17 if mid else 0.0)
    w = num / den
    z = w * w
    p = ((((-8.750608600031904122785e-1 * z - 1.615753718733365076637e1) * z
           - 7.500855792314704667340e1) * z - 1.228866684490136173410e2) * z
         - 6.485021904942025371773e1)
    q = (((((z + 2.485846490142306297962e1) * z + 1.650270098316988542046e2) * z
           + 4.328810604912902668951e2) * z + 4.853903996359136964868e2) * z
         + 1.945506571482613964425e2)
    return copysign(y0 + ((w * (z * p / q) + w) + lo), x)


cdef inline double _below(double um) noexcept nogil:
    """``nextafter(um, 0)`` for ``um >= 2^-1021`` (or ``inf``), without a call:
    ``um (1 - 2^-53)`` rounds to it, one ulp down (half an ulp at a power of
    two, where the spacing below halves).  (Below 2^-1021 the product would
    be subnormal; no neuron's bound is that small.)"""
    return um * 0.9999999999999999


def scalar_functions(const double[::1] x, double[::1] atan_x, double[::1] below_x):
    """The kernels' own scalar functions on ``x``, for tests:
    ``atan_x = _atan(x)``, ``below_x = _below(x)``."""
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        atan_x[i] = _atan(x[i])
        below_x[i] = _below(x[i])


cdef inline double _flux_z(double u, double zs_neg, double zs_pos) noexcept nogil:
    """``z = pi u / (2 u_max)`` of the atan bound (0 on an unbounded side);
    ``zs_*`` is ``pi / (2 u_max)`` of each side.  (Table entries come as
    scalars: loops that pick them from memory by a select do not vectorise.)"""
    return (zs_neg if u < 0 else zs_pos) * u


cdef inline double _flux_inflow(double u, double z, double um_neg,
                                double um_pos) noexcept nogil:
    """The bounded inflow ``v = u_max (2/pi) atan(z)`` of raw input ``u``
    (``u`` itself on an unbounded side).  Branch-free: selects."""
    cdef double um = um_neg if u < 0 else um_pos
    cdef double v = um * (2.0 / PI) * _atan(z)
    # atan rounds to pi/2 far out: keep the bound strict
    v = copysign(_below(um), v) if fabs(v) >= um else v
    return v if um < INFINITY else u


cdef inline double _flux_root(double v, double c1, double beta) noexcept nogil:
    """``sqrt(c1^2 - 4 beta v)`` (= dv/dt on the stable branch; 0 past the fold,
    unreachable for ``|v| < u_max``: kept finite, while a NaN stays NaN)."""
    cdef double disc = c1 * c1 - 4.0 * beta * v
    return sqrt(0.0 if disc < 0.0 else disc)


cdef inline double _flux_level(double v, double c1, double beta, double sq) noexcept nogil:
    """The input element's level ``t`` on the stable branch: the root of
    ``beta t^2 + c1 t + v = 0`` with ``dv/dt = sq > 0``."""
    cdef double a = (-c1 - sq) / (2.0 * beta), b = 2.0 * v / (sq - c1)
    return a if c1 >= 0.0 else b  # (both computed: a select, which vectorises)


cdef inline double _flux_gain(double p, double sq, double z) noexcept nogil:
    """``ds/du = p / sqrt(.) / (1 + z^2)`` (the atan slope); 0 past the fold
    (``p / inf``: a select before the division, which vectorises)."""
    return p / (sq if sq > 0.0 else INFINITY) / (1.0 + z * z)


cdef struct Branch:
    double z   # the atan argument of the bounded inflow
    double sq  # sqrt(c1^2 - 4 beta v) = dv/dt
    double t   # the input element's level


cdef inline Branch _flux_solve(
    double u, double um_neg, double um_pos, double zs_neg, double zs_pos, double c1,
    double beta,
) noexcept nogil:
    """Raw input ``u`` to the stable branch of a table row given as scalars
    ``(u_max, u_max_pos, pi/(2 u_max), pi/(2 u_max_pos), c1, beta)`` (see
    :func:`flux_forward`).  A struct, so that ``prange`` loops that assign
    it keep it thread-private."""
    cdef Branch b
    cdef double v
    b.z = _flux_z(u, zs_neg, zs_pos)
    v = _flux_inflow(u, b.z, um_neg, um_pos)
    b.sq = _flux_root(v, c1, beta)
    b.t = _flux_level(v, c1, beta, b.sq)
    return b


cdef inline Branch _flux_branch(double u, const double *F) noexcept nogil:
    """:func:`_flux_solve` for table row ``F``."""
    return _flux_solve(u, F[0], F[1], F[2], F[3], F[4], F[5])


cdef inline Py_ssize_t _flux_row(
    const floating *u, floating *s, floating *g, Py_ssize_t m, const double *f,
    bint with_gain,
) noexcept nogil:
    """One row of :func:`flux_forward` whose units share table row ``f``,
    its entries held as scalars (loads picked by a select would keep the
    loop from vectorising); ``s`` may alias ``u``.  Returns the number of
    non-finite signals."""
    cdef Py_ssize_t k
    cdef int bad = 0
    cdef double y
    cdef Branch br
    cdef double um_neg = f[0], um_pos = f[1], zs_neg = f[2], zs_pos = f[3]
    cdef double c1 = f[4], beta = f[5], p = f[6], q = f[7]
    if with_gain:  # (two loops: GCC does not unswitch this one into vector code)
        for k in range(m):
            br = _flux_solve(u[k], um_neg, um_pos, zs_neg, zs_pos, c1, beta)
            g[k] = <floating>_flux_gain(p, br.sq, br.z)
            y = p * br.t + q
            s[k] = <floating>y
            bad = bad + (not fabs(y) < INFINITY)
        return bad
    for k in range(m):
        br = _flux_solve(u[k], um_neg, um_pos, zs_neg, zs_pos, c1, beta)
        y = p * br.t + q
        s[k] = <floating>y
        bad = bad + (not fabs(y) < INFINITY)
    return bad


cdef inline Py_ssize_t _flux_row_units(
    const floating *u, floating *s, floating *g, double *lv, Py_ssize_t m,
    const double *F, Py_ssize_t ks, bint with_gain,
) noexcept nogil:
    """One row of :func:`flux_forward` with any table: unit ``k`` reads row
    ``k * ks`` of ``F``; ``lv``, where not NULL, receives the levels.  The
    same bits as :func:`_flux_row`.  Returns the number of non-finite signals."""
    cdef Py_ssize_t k
    cdef Py_ssize_t bad = 0
    cdef const double *f
    cdef Branch br
    cdef double y
    for k in range(m):
        f = &F[8 * k * ks]
        br = _flux_branch(u[k], f)
        if lv != NULL:
            lv[k] = br.t
        y = f[6] * br.t + f[7]
        s[k] = <floating>y
        if with_gain:
            g[k] = <floating>_flux_gain(f[6], br.sq, br.z)
        bad += not fabs(y) < INFINITY
    return bad


def flux_forward(
    floating[:, ::1] U,
    const double[:, ::1] F,
    floating[:, ::1] S,
    floating[:, ::1] G,
    bint with_gain=True,
    int n_threads=1,
    double[:, ::1] levels=None,
):
    """Flux coupling: closed-form steady state on the stable branch.

    Each table row ``F[r]`` is ``(u_max, u_max_pos, pi / (2 u_max),
    pi / (2 u_max_pos), c1, beta, p, q)``.  The raw input is bounded,
    ``v = u_max (2/pi) atan(pi u / (2 u_max))`` (``u_max_pos`` for
    ``u >= 0``; an infinite bound leaves that side unbounded, ``v = u``); the
    input element's level ``t`` solves ``beta t^2 + c1 t + v = 0`` on the
    stable root; the signal is ``p t + q`` and the gain ``p / sqrt(.)`` times
    the atan slope.  Rows as in :func:`rate_forward`.  ``S`` may alias
    ``U``.  ``levels``, where given, receives ``t`` (for
    :func:`flux_constant_grads`).  Returns the number of non-finite signals
    (only a NaN input gives one).
    """
    cdef Py_ssize_t n = U.shape[0], m = U.shape[1], i
    cdef Py_ssize_t ks = 1 if F.shape[0] > 1 else 0
    cdef Py_ssize_t bad = 0
    cdef bint keep = levels is not None
    if F.shape[1] != 8 or (F.shape[0] != 1 and F.shape[0] != m):
        raise ValueError("flux_forward: F must have shape (1 or U.shape[1], 8)")
    if keep and (levels.shape[0] < n or levels.shape[1] != m):
        raise ValueError("flux_forward: levels must have U's shape")
    if ks == 0 and not keep and m > 0:
        # one row shared by every unit (the fixed neurons): branch-free rows
        # over its entries as scalars, which vectorise
        with nogil:
            for i in prange(n, schedule="static", num_threads=n_threads):
                bad += _flux_row(&U[i, 0], &S[i, 0], &G[i, 0] if with_gain else NULL, m,
                                 &F[0, 0], with_gain)
        return bad
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            bad += _flux_row_units(&U[i, 0], &S[i, 0], &G[i, 0] if with_gain else NULL,
                                   &levels[i, 0] if keep else NULL, m, &F[0, 0], ks,
                                   with_gain)
    return bad


def flux_constant_grads(
    const floating[:, ::1] U,
    const floating[:, ::1] E,
    const double[:, ::1] F,
    const double[:, :, ::1] FG,
    double[:, ::1] out,
    int n_threads=1,
    const double[:, ::1] levels=None,
):
    """Flux coupling: ``out[k, j] = sum_i E[i, k] ds/dtheta_j`` at ``U[i, k]``.

    ``FG[r, j]`` holds the derivatives of ``(c1, beta, p, q)`` of row ``r``
    with respect to constant ``j``; along the branch ``s = p t + q`` with
    ``dt = (dbeta t^2 + dc1 t) / sqrt(c1^2 - 4 beta v)`` (the inflow bound
    is held fixed).  Where ``levels`` holds the forward pass's ``t``
    (:func:`flux_forward`), ``U`` is not read and the root is
    ``sqrt(c1^2 - 4 beta v) = -(c1 + 2 beta t)`` (``dv/dt`` on the stable
    branch).  One unit per thread, rows in order.
    """
    cdef Py_ssize_t n = U.shape[0], m = U.shape[1], i, k, row
    cdef Py_ssize_t ks = 1 if F.shape[0] > 1 else 0
    cdef double sq, t, e, w, a0, a1, a2, a3
    cdef Branch br
    cdef const double *f
    cdef const double *g
    cdef bint kept = levels is not None
    if kept and (levels.shape[0] < n or levels.shape[1] != m):
        raise ValueError("flux_constant_grads: levels must have U's shape")
    if FG.shape[0] != F.shape[0] or FG.shape[1] != 4 or FG.shape[2] != 4:
        raise ValueError("flux_constant_grads: FG must have shape (F.shape[0], 4, 4)")
    if F.shape[0] != 1 and F.shape[0] != m:
        raise ValueError("flux_constant_grads: tables must have 1 or U.shape[1] rows")
    with nogil:
        for k in prange(m, schedule="static", num_threads=n_threads):
            row = k * ks
            f = &F[row, 0]
            g = &FG[row, 0, 0]
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            for i in range(n):
                e = E[i, k]
                if e == 0:
                    continue
                if kept:
                    t = levels[i, k]
                    sq = -(f[4] + 2.0 * f[5] * t)
                else:
                    br = _flux_branch(U[i, k], f)
                    sq = br.sq
                    t = br.t
                # p dt/dtheta = p (dbeta t^2 + dc1 t) / sq
                w = f[6] / sq if sq > 0.0 else 0.0
                a0 = a0 + e * (g[2] * t + g[3] + w * (g[1] * t * t + g[0] * t))
                a1 = a1 + e * (g[6] * t + g[7] + w * (g[5] * t * t + g[4] * t))
                a2 = a2 + e * (g[10] * t + g[11] + w * (g[9] * t * t + g[8] * t))
                a3 = a3 + e * (g[14] * t + g[15] + w * (g[13] * t * t + g[12] * t))
            out[k, 0] = a0
            out[k, 1] = a1
            out[k, 2] = a2
            out[k, 3] = a3


# ---------------------------------------------------------------------------
# Prediction: every layer of a block of rows in one pass
# ---------------------------------------------------------------------------
# Rows per block of predict_dense: a block's layer buffers (rows x width)
# stay in the core's cache from the product that writes them to the one that
# reads them.  Blocks depend on the row count only (results do not depend on
# the thread count).
PREDICT_BLOCK_ROWS = 256
# Layers predict_dense takes (its plans live on the stack).
cdef enum:
    MAX_LAYERS = 32
PREDICT_MAX_LAYERS = MAX_LAYERS

cdef enum LayerKind:
    LINEAR = 0
    RATE_SHARED = 1
    RATE = 2
    FLUX_SHARED = 3
    FLUX = 4


cdef struct LayerPlan:
    int kind
    int width
    int fan_in
    void *W            # (fan_in, width) coefficients, the rows' dtype
    const void *b      # (width,) intercepts
    RateShared rs      # RATE_SHARED
    const double *bp   # RATE: breakpoints, slopes, intercepts, gains
    const double *sl
    const double *ic
    const double *ga
    Py_ssize_t bp_stride, stride, nb, ks
    const double *F    # FLUX, FLUX_SHARED


cdef void _predict_block(
    const floating *x, int ldx, int mb, const LayerPlan *plan, int n_layers,
    floating *buf0, floating *buf1, floating *last, long long *bad,
) noexcept nogil:
    """Rows ``x[0:mb]`` through every layer: bias, product (one BLAS call),
    steady states in place; the last layer's signals into ``last``.
    ``bad[0]`` counts the first layer's non-finite inputs, ``bad[1 + j]``
    layer ``j``'s non-finite signals."""
    cdef const floating *inp = x
    cdef floating *dst
    cdef floating one = 1.0
    cdef int ld = ldx, j, w, i, k
    cdef const LayerPlan *p
    for j in range(n_layers):
        p = &plan[j]
        w = p.width
        dst = last if j == n_layers - 1 else (buf0 if j % 2 == 0 else buf1)
        for i in range(mb):
            memcpy(&dst[i * w], p.b, w * sizeof(floating))
        # row-major dst = inp @ W is column-major dst.T = W.T inp.T (see matmul)
        _gemm(78, 78, w, mb, p.fan_in, one, <floating*>p.W, w, <floating*>inp, ld, one,
              dst, w)
        if j == 0:
            for i in range(mb * w):
                bad[0] += not (fabs(dst[i]) < INFINITY)
        for i in range(mb):
            if p.kind == RATE_SHARED:
                bad[1 + j] += _rate_row4(&dst[i * w], &dst[i * w], <floating*>NULL, w,
                                         &p.rs, False)
            elif p.kind == RATE:
                bad[1 + j] += _rate_row(&dst[i * w], &dst[i * w], <floating*>NULL, w, p.bp,
                                        p.bp_stride, p.sl, p.ic, p.ga, p.stride, p.nb, p.ks,
                                        False)
            elif p.kind == FLUX_SHARED:
                bad[1 + j] += _flux_row(&dst[i * w], &dst[i * w], <floating*>NULL, w, p.F,
                                        False)
            elif p.kind == FLUX:
                bad[1 + j] += _flux_row_units(&dst[i * w], &dst[i * w], <floating*>NULL,
                                              NULL, w, p.F, p.ks, False)
            else:
                for k in range(w):
                    bad[1 + j] += not (fabs(dst[i * w + k]) < INFINITY)
        inp = dst
        ld = w


def predict_dense(
    const floating[:, ::1] X,
    list coefs,
    list intercepts,
    list tables,
    floating[:, ::1] last,
    floating[:, ::1] work,
    long long[:, ::1] bad,
    int n_threads=1,
):
    """Signals of the last layer for dense rows ``X``, all layers of a block
    of :data:`PREDICT_BLOCK_ROWS` rows at a time (prediction: no gains).

    ``coefs[j]`` (fan_in, width) and ``intercepts[j]`` (width,) are in
    ``X``'s dtype; ``tables[j]`` is a layer's kernel tables
    (``NeuronTable.kernel_tables``): ``("linear",)``, ``("rate",
    breakpoints, slope, intercept, gain)`` or ``("flux", F)``, as
    :func:`rate_forward` and :func:`flux_forward` read them, with the same
    bits.  ``last`` (n_rows, last width) receives the signals; ``work`` is
    (2 n_threads, min(PREDICT_BLOCK_ROWS, n_rows) x widest hidden layer) of
    scratch;
    ``bad`` (n_blocks, 1 + n_layers) receives, per block, the number of the
    first layer's non-finite inputs and of each layer's non-finite signals.
    Blocks are shared by ``n_threads`` OpenMP threads; BLAS must run
    single-threaded.
    """
    cdef Py_ssize_t n = X.shape[0], blk, n_blocks, r0
    cdef int n_layers = len(coefs), j, tid, mb, B = PREDICT_BLOCK_ROWS, fan_in, width
    cdef int widest = 1
    cdef LayerPlan plan[MAX_LAYERS]
    cdef const floating[:, ::1] W
    cdef const floating[::1] b
    cdef const double[:, ::1] bp, sl, ic, ga, F
    if n_layers < 1 or n_layers > MAX_LAYERS:
        raise ValueError(f"predict_dense: 1 to {MAX_LAYERS} layers, got {n_layers}")
    if len(intercepts) != n_layers or len(tables) != n_layers:
        raise ValueError("predict_dense: one intercept vector and one table per layer")
    fan_in = X.shape[1]
    for j in range(n_layers):
        W = coefs[j]
        b = intercepts[j]
        width = W.shape[1]
        if W.shape[0] != fan_in or b.shape[0] != width or width < 1:
            raise ValueError(f"predict_dense: layer {j}'s coefficients do not fit")
        if j < n_layers - 1 and width > widest:
            widest = width
        plan[j].width = width
        plan[j].fan_in = fan_in
        plan[j].W = <void*>&W[0, 0]
        plan[j].b = <const void*>&b[0]
        kind = tables[j][0]
        if kind == "linear":
            plan[j].kind = LINEAR
        elif kind == "rate":
            bp, sl, ic, ga = tables[j][1:]
            if sl.shape[0] != 1 and sl.shape[0] != width:
                raise ValueError("predict_dense: tables must have 1 or width rows")
            plan[j].nb = _used_breakpoints(bp)
            if _rate_shared(bp, sl, ic, ga, plan[j].nb, &plan[j].rs):
                plan[j].kind = RATE_SHARED
            else:
                plan[j].kind = RATE
                plan[j].bp = &bp[0, 0] if bp.shape[1] > 0 else NULL
                plan[j].bp_stride = bp.shape[1]
                plan[j].sl = &sl[0, 0]
                plan[j].ic = &ic[0, 0]
                plan[j].ga = &ga[0, 0]
                plan[j].stride = sl.shape[1]
                plan[j].ks = 1 if sl.shape[0] > 1 else 0
        elif kind == "flux":
            F = tables[j][1]
            if F.shape[1] != 8 or (F.shape[0] != 1 and F.shape[0] != width):
                raise ValueError("predict_dense: F must have shape (1 or width, 8)")
            plan[j].F = &F[0, 0]
            plan[j].ks = 1 if F.shape[0] > 1 else 0
            plan[j].kind = FLUX_SHARED if F.shape[0] == 1 else FLUX
        else:
            raise ValueError(f"predict_dense: unknown tables {kind!r}")
        fan_in = width
    n_blocks = (n + B - 1) // B
    if last.shape[0] != n or last.shape[1] != fan_in:
        raise ValueError("predict_dense: last must have shape (n_rows, last width)")
    if (work.shape[0] < 2 * max(n_threads, 1) or work.shape[1] < min(B, n) * widest
            or bad.shape[0] < n_blocks or bad.shape[1] != n_layers + 1):
        raise ValueError("predict_dense: work or bad too small")
    bad[:, :] = 0
    cdef int master_cpu = symnet_cpu()
    tid = 0  # (each thread sets its own: initialised for the compiler)
    with nogil, parallel(num_threads=n_threads):
        tid = threadid()
        symnet_spread(master_cpu, tid, n_threads)
        # dynamic: a worker that wakes late takes fewer blocks (the bits do
        # not depend on which thread does a block)
        for blk in prange(n_blocks, schedule="dynamic"):
            r0 = blk * B
            mb = <int>(B if r0 + B <= n else n - r0)
            _predict_block(&X[r0, 0], <int>X.shape[1], mb, plan, n_layers,
                           &work[2 * tid, 0], &work[2 * tid + 1, 0], &last[r0, 0],
                           &bad[blk, 0])


# ---------------------------------------------------------------------------
# Neuron tables: the pieces of the rate coupling's complementarity problem
# ---------------------------------------------------------------------------
# A unit's pieces are at most the 31 survivor sets (each set's feasible inputs
# form one interval), so tables have room for RATE_MAX_PIECES pieces.
RATE_MAX_PIECES = 32
cdef int MAXP = 32
cdef double EPS = 2.220446049250313e-16
cdef double FAR_INPUT = 1e300


cdef int _invert(double *M, int n, double *inv) noexcept nogil:
    """``inv = M^-1`` for an ``n x n`` (n <= 5) row-major matrix (stride 5),
    Gauss-Jordan with partial pivoting; ``M`` is destroyed.  Returns -1 if
    singular."""
    cdef int i, j, col, piv
    cdef double best, d, f, tmp
    for i in range(n):
        for j in range(n):
            inv[i * 5 + j] = 1.0 if i == j else 0.0
    for col in range(n):
        piv = col
        best = fabs(M[col * 5 + col])
        for i in range(col + 1, n):
            if fabs(M[i * 5 + col]) > best:
                best = fabs(M[i * 5 + col])
                piv = i
        if best == 0.0:
            return -1
        if piv != col:
            for j in range(n):
                tmp = M[col * 5 + j]
                M[col * 5 + j] = M[piv * 5 + j]
                M[piv * 5 + j] = tmp
                tmp = inv[col * 5 + j]
                inv[col * 5 + j] = inv[piv * 5 + j]
                inv[piv * 5 + j] = tmp
        d = 1.0 / M[col * 5 + col]
        for j in range(n):
            M[col * 5 + j] *= d
            inv[col * 5 + j] *= d
        for i in range(n):
            if i != col:
                f = M[i * 5 + col]
                if f != 0.0:
                    for j in range(n):
                        M[i * 5 + j] -= f * M[col * 5 + j]
                        inv[i * 5 + j] -= f * inv[col * 5 + j]
    return 0


cdef void _clean(double *v, double noise, double scale) noexcept nogil:
    """Entries at or below ``noise * scale`` are exact zeros lost to rounding."""
    cdef int i
    for i in range(5):
        if fabs(v[i]) <= noise * scale:
            v[i] = 0.0


cdef bint _same_map(const double *a, const double *b) noexcept nogil:
    """``numpy.allclose(a, b, rtol=1e-9, atol=0)`` for 5 entries."""
    cdef int i
    for i in range(5):
        if not fabs(a[i] - b[i]) <= 1e-9 * fabs(b[i]):
            return False
    return True


cdef void _set_solution(
    const double *A, double r, int a, int b, int S, double noise,
    double *q, double *p, double *y, double *al, double *be, double *lim,
) noexcept nogil:
    """Survivor set ``S`` (a bit mask): ``x = q u + p`` on it, the reverse
    response ``y``, the constraints ``al u + be >= 0`` and
    ``lim = (lo, hi, max |al|, max |be|, gain)``."""
    cdef double M[25]
    cdef double inv[25]
    cdef int idx[5]
    cdef int i, j, n_s = 0, pa = -1, pb = -1
    cdef double mx, sw, sq, sp, root
    for i in range(5):
        if (S >> i) & 1:
            if i == a:
                pa = n_s
            if i == b:
                pb = n_s
            idx[n_s] = i
            n_s = n_s + 1
    for i in range(n_s):
        for j in range(n_s):
            M[i * 5 + j] = -A[idx[i] * 5 + idx[j]]
    _invert(M, n_s, inv)  # -A_SS = K3 I + skew: never singular
    for i in range(5):
        q[i] = 0.0
        p[i] = 0.0
        y[i] = 0.0
    for i in range(n_s):
        q[idx[i]] = inv[i * 5 + pa] if pa >= 0 else 0.0
        sw = 0.0
        for j in range(n_s):
            sw = sw + inv[i * 5 + j]
        p[idx[i]] = r * sw
        # the reverse system's response driven at b: row b of G_S
        y[idx[i]] = inv[pb * 5 + i] if pb >= 0 else 0.0
    mx = 0.0
    for i in range(5):
        mx = max(mx, fabs(q[i]))
    _clean(q, noise, mx)
    mx = 0.0
    for i in range(5):
        mx = max(mx, fabs(p[i]))
    _clean(p, noise, mx)
    # constraints alpha u + beta >= 0: x_i >= 0 on S, w_i >= 0 off S
    lim[0] = -INFINITY
    lim[1] = INFINITY
    lim[2] = 0.0
    lim[3] = 0.0
    for i in range(5):
        if (S >> i) & 1:
            al[i] = q[i]
            be[i] = p[i]
        else:
            sq = 1.0 if i == a else 0.0
            sp = r
            mx = 1.0
            sw = r
            for j in range(5):
                sq = sq + A[i * 5 + j] * q[j]
                sp = sp + A[i * 5 + j] * p[j]
                mx = mx + fabs(A[i * 5 + j]) * fabs(q[j])
                sw = sw + fabs(A[i * 5 + j]) * fabs(p[j])
            al[i] = 0.0 if fabs(sq) <= noise * mx else -sq
            be[i] = 0.0 if fabs(sp) <= noise * sw else -sp
        lim[2] = max(lim[2], fabs(al[i]))
        lim[3] = max(lim[3], fabs(be[i]))
        if al[i] != 0.0:
            root = -be[i] / al[i]
            if al[i] > 0:
                lim[0] = max(lim[0], root)
            else:
                lim[1] = min(lim[1], root)
        elif be[i] < 0:  # 0 u + beta >= 0 never holds
            lim[0] = INFINITY
    # gain y_a: the same entry G_S[b, a] as the slope q_b; 0 where that is noise
    lim[4] = 0.0 if q[b] == 0.0 else y[a]


cdef int _rate_unit(
    const double *theta, int a, int b, const double *Bm, int *sets, double *bp,
    double *Pm, double *Qm, double *gain, double *slope, double *icpt, double *dc,
    double *dd,
) noexcept nogil:
    """One unit's pieces (see :func:`rate_tables`); returns their number.

    ``sets`` holds the unit's previous piece sets (bit masks, 0-terminated):
    where they still tile the input axis (each feasible on a non-empty
    interval that ends where the next one starts, the first from -inf, the
    last to +inf) they are the solution (the LCP's solution is unique) and
    only their few systems are solved; otherwise all 31 survivor sets are.
    ``sets`` is overwritten with the new piece sets.
    """
    cdef double K1 = theta[0], K2 = theta[1], K3 = theta[2], r = theta[3]
    cdef double A[25]
    cdef double q[31][5]
    cdef double p[31][5]
    cdef double al[31][5]
    cdef double be[31][5]
    cdef double ys[31][5]
    cdef double lim[31][5]
    cdef double cand[62]
    cdef double tests[63]
    cdef int chosen[63]
    cdef int piece_slot[32]
    cdef int piece_mask[32]
    cdef double piece_end[32]
    cdef int S, s, i, j, m, n_cand, n_tests, n_pieces, t, prev, best_s, n_warm
    cdef double noise, sw, sq, sp, v, u, worst, val, best, width
    cdef double *y
    cdef bint tiles
    noise = 64.0 * EPS * (1.0 + 2.0 * (fabs(K1) + fabs(K2)) / K3)
    for i in range(25):  # A = K1 dA/dK1 + K2 dA/dK2 + K3 dA/dK3
        A[i] = K1 * Bm[i] + K2 * Bm[25 + i] + K3 * Bm[50 + i]
    # the previous pieces, where they still tile the axis
    n_warm = 0
    while n_warm < MAXP and sets[n_warm] > 0:
        n_warm = n_warm + 1
    tiles = n_warm > 0
    for j in range(n_warm):
        _set_solution(A, r, a, b, sets[j], noise, q[j], p[j], ys[j], al[j], be[j],
                      lim[j])
        if not lim[j][0] < lim[j][1]:
            tiles = False
        elif j == 0 and lim[j][0] != -INFINITY:
            tiles = False
        elif j == n_warm - 1 and lim[j][1] != INFINITY:
            tiles = False
        elif j > 0 and not (fabs(lim[j][0] - lim[j - 1][1])
                            <= 1e-9 * max(1.0, fabs(lim[j][0]))):
            tiles = False
        if not tiles:
            break
    if tiles:
        n_pieces = n_warm
        for j in range(n_warm):
            piece_slot[j] = j
            piece_mask[j] = sets[j]
            piece_end[j] = (0.5 * (lim[j][1] + lim[j + 1][0]) if j < n_warm - 1
                            else INFINITY)
    else:
        for S in range(1, 32):
            s = S - 1
            _set_solution(A, r, a, b, S, noise, q[s], p[s], ys[s], al[s], be[s], lim[s])
        # candidate breakpoints: the finite ends of every non-empty feasible
        # interval, sorted, near-duplicates dropped
        n_cand = 0
        for s in range(31):
            if lim[s][0] <= lim[s][1]:
                if fabs(lim[s][0]) < FAR_INPUT:
                    cand[n_cand] = lim[s][0]
                    n_cand = n_cand + 1
                if fabs(lim[s][1]) < FAR_INPUT:
                    cand[n_cand] = lim[s][1]
                    n_cand = n_cand + 1
        for i in range(1, n_cand):  # insertion sort
            v = cand[i]
            j = i - 1
            while j >= 0 and cand[j] > v:
                cand[j + 1] = cand[j]
                j = j - 1
            cand[j + 1] = v
        j = 0
        for i in range(n_cand):
            if j == 0 or cand[i] - cand[j - 1] > 1e-12 * max(1.0, fabs(cand[i])):
                cand[j] = cand[i]
                j = j + 1
        n_cand = j
        # an interior test point of every interval between candidates
        if n_cand == 0:
            n_tests = 1
            tests[0] = 0.0
        else:
            n_tests = n_cand + 1
            width = max(1.0, fabs(cand[0]))
            tests[0] = cand[0] - width
            for i in range(1, n_cand):
                tests[i] = 0.5 * (cand[i - 1] + cand[i])
            width = max(1.0, fabs(cand[n_cand - 1]))
            tests[n_cand] = cand[n_cand - 1] + width
        # the set whose constraints are violated least at each test point
        for t in range(n_tests):
            u = tests[t]
            best = -INFINITY
            best_s = 0
            for s in range(31):
                worst = INFINITY
                for i in range(5):
                    worst = min(worst, al[s][i] * u + be[s][i])
                val = worst / (1.0 + fabs(u) * lim[s][2] + lim[s][3])
                if val > best:
                    best = val
                    best_s = s
            chosen[t] = best_s
        # merge neighbours with the same affine solution
        n_pieces = 0
        for t in range(n_tests):
            s = chosen[t]
            v = cand[t] if t < n_cand else INFINITY
            if n_pieces > 0:
                prev = piece_slot[n_pieces - 1]
                if prev == s or (_same_map(q[prev], q[s]) and _same_map(p[prev], p[s])):
                    piece_end[n_pieces - 1] = v
                    continue
            piece_slot[n_pieces] = s
            piece_mask[n_pieces] = s + 1
            piece_end[n_pieces] = v
            n_pieces = n_pieces + 1
    # write the pieces, padded with copies of the last one; the constants'
    # derivatives c + d u of each piece from its reverse response y
    for t in range(MAXP):
        sets[t] = piece_mask[t] if t < n_pieces else 0
        if t < n_pieces:
            s = piece_slot[t]
            y = ys[s]
            for m in range(3):
                sq = 0.0
                sp = 0.0
                for i in range(5):
                    if y[i] != 0.0:
                        for j in range(5):
                            sq = sq + y[i] * Bm[m * 25 + i * 5 + j] * q[s][j]
                            sp = sp + y[i] * Bm[m * 25 + i * 5 + j] * p[s][j]
                dd[t * 4 + m] = sq
                dc[t * 4 + m] = sp
            dc[t * 4 + 2] = dc[t * 4 + 2] + r / (K3 * K3)
            sw = 0.0
            for i in range(5):
                sw = sw + y[i]
            dc[t * 4 + 3] = sw - 1.0 / K3
            dd[t * 4 + 3] = 0.0
        else:
            s = piece_slot[n_pieces - 1]
            for m in range(4):
                dc[t * 4 + m] = dc[(n_pieces - 1) * 4 + m]
                dd[t * 4 + m] = dd[(n_pieces - 1) * 4 + m]
        if t < MAXP - 1:
            bp[t] = piece_end[t] if t < n_pieces - 1 else INFINITY
        for i in range(5):
            Pm[t * 5 + i] = q[s][i]
            Qm[t * 5 + i] = p[s][i]
        gain[t] = lim[s][4]
        slope[t] = q[s][b]
        icpt[t] = p[s][b] - r / K3
    return n_pieces


def rate_tables(
    const double[:, ::1] theta,
    int input_element,
    int output_element,
    const double[:, :, ::1] constant_matrices,
    double[:, ::1] bp,
    double[:, :, ::1] Pm,
    double[:, :, ::1] Qm,
    double[:, ::1] gain,
    double[:, ::1] slope,
    double[:, ::1] intercept,
    double[:, :, ::1] dc,
    double[:, :, ::1] dd,
    int[::1] n_pieces,
    int[:, ::1] sets,
    int n_threads=1,
):
    """Pieces of the rate coupling's steady state, one unit per row.

    For unit ``k`` with constants ``theta[k] = (K1, K2, K3, r)`` the
    interaction matrix is ``A = sum_m theta[k, m] constant_matrices[m]``
    (``dA/dK1, dA/dK2, dA/dK3``, from the neuron module) and the steady state
    is the unique solution of the complementarity problem ``x >= 0``,
    ``w = -(r 1 + u e_a + A x) >= 0``, ``x . w = 0``.  On each survivor set
    ``S`` it is ``x = q u + p`` with ``q = G_S e_a``, ``p = G_S r 1``,
    ``G_S = (-A_SS)^-1``.  The pieces tile the input axis by construction
    (no tolerance decides the tiling): every set's feasible interval gives
    its finite ends as candidate breakpoints, between consecutive candidates
    the set of least constraint violation is the solution (the feasible one,
    unique up to degenerate sets with the same ``x``), and neighbours with the
    same map are merged.  Entries at the rounding noise of the small solves
    are exact zeros.  The reverse system's response ``y = G_S^T e_b`` gives
    the gain ``y_a`` and the constants' derivatives ``dc + dd u``.

    Writes, per unit, ``bp`` (the breakpoints, +inf padded), ``Pm``/``Qm``
    (slopes and intercepts of the five elements), ``gain``, the output
    element's ``slope`` and ``intercept`` (its displacement from ``r / K3``),
    ``dc``, ``dd`` (``RATE_MAX_PIECES`` pieces, the last one repeated),
    ``n_pieces`` and the pieces' survivor sets ``sets`` (bit masks,
    0-terminated).  Where ``sets`` holds a unit's previous pieces and they
    still tile the input axis, only their few systems are solved (a table
    rebuilt after a small change of the constants); all zeros start afresh.
    """
    cdef Py_ssize_t n = theta.shape[0], k
    cdef int a = input_element, b = output_element
    if (bp.shape[0] != n or bp.shape[1] != MAXP - 1 or Pm.shape[1] != MAXP
            or dc.shape[1] != MAXP or slope.shape[1] != MAXP or n_pieces.shape[0] != n
            or theta.shape[1] != 4 or sets.shape[0] != n or sets.shape[1] != MAXP):
        raise ValueError("rate_tables: inconsistent shapes")
    if not (0 <= a < 5 and 0 <= b < 5):
        raise ValueError("rate_tables: elements must be in 0..4")
    with nogil:
        for k in prange(n, schedule="static", num_threads=n_threads):
            n_pieces[k] = _rate_unit(&theta[k, 0], a, b, &constant_matrices[0, 0, 0],
                                     &sets[k, 0], &bp[k, 0], &Pm[k, 0, 0], &Qm[k, 0, 0],
                                     &gain[k, 0], &slope[k, 0], &intercept[k, 0],
                                     &dc[k, 0, 0], &dd[k, 0, 0])


# ---------------------------------------------------------------------------
# Neuron tables: the flux coupling's closed-form branch
# ---------------------------------------------------------------------------
cdef inline double _nan_max(double x, double y) noexcept nogil:
    """``numpy.maximum``: a NaN on either side wins."""
    if x != x or y != y:
        return x + y
    return x if x >= y else y


cdef inline double _nan_min(double x, double y) noexcept nogil:
    """``numpy.minimum``: a NaN on either side wins."""
    if x != x or y != y:
        return x + y
    return x if x <= y else y


cdef int _flux_unit(
    const double *theta, int a, int b, const double *Bm, bint branch_bound,
    double fraction, double *F, double *FG, double *pv, double *qv, double *ends,
) noexcept nogil:
    """One unit's branch (see :func:`flux_tables`); returns 0, or -1 where the
    fixed point is not inside the branch's stable, positive range."""
    cdef double K1 = theta[0], K2 = theta[1], K3 = theta[2], r = theta[3]
    cdef double A[25]
    cdef double M[25]
    cdef double inv[25]
    cdef double dA[25]
    cdef double rhs[5]
    cdef double rhs2[5]
    cdef double dpv[5]
    cdef double dqv[5]
    cdef int N[4]
    cdef int i, j, jj, n_n = 0
    cdef double c1, beta, xs, t_lo, t_hi, root, u_lo, u_hi, um, up, s, dr, dxs
    for i in range(25):
        A[i] = K1 * Bm[i] + K2 * Bm[25 + i] + K3 * Bm[50 + i]
    for i in range(5):
        if i != a:
            N[n_n] = i
            n_n = n_n + 1
    for i in range(4):
        for j in range(4):
            M[i * 5 + j] = A[N[i] * 5 + N[j]]
    _invert(M, 4, inv)  # A_NN = -(K3 I + skew): never singular
    # x = pv t + qv on the branch x_a = t: (r + A x)_i = 0 off a
    for i in range(5):
        pv[i] = 0.0
        qv[i] = 0.0
    pv[a] = 1.0
    for i in range(4):
        s = 0.0
        root = 0.0
        for j in range(4):
            s = s + inv[i * 5 + j] * A[N[j] * 5 + a]
            root = root + inv[i * 5 + j]
        pv[N[i]] = -s
        qv[N[i]] = -root * r
    c1 = r
    beta = 0.0
    for j in range(5):
        c1 = c1 + A[a * 5 + j] * qv[j]
        beta = beta + A[a * 5 + j] * pv[j]
    xs = r / K3
    # the range of t around x* where the branch is stable and positive
    t_lo = 0.0
    t_hi = INFINITY
    if beta < 0:
        t_lo = _nan_max(t_lo, -c1 / (2.0 * beta))
    elif beta > 0:
        t_hi = _nan_min(t_hi, -c1 / (2.0 * beta))
    for i in range(4):
        j = N[i]
        if pv[j] > 0:
            t_lo = _nan_max(t_lo, -qv[j] / pv[j])
        elif pv[j] < 0:
            t_hi = _nan_min(t_hi, -qv[j] / pv[j])
    u_lo = -t_lo * (c1 + beta * t_lo)
    u_hi = -t_hi * (c1 + beta * t_hi) if fabs(t_hi) < INFINITY else INFINITY
    ends[0] = u_lo
    ends[1] = u_hi
    if branch_bound:
        um = fraction * -u_lo
        up = fraction * u_hi
    else:
        um = fraction * _nan_min(-u_lo, u_hi)
        up = um
    F[0] = um
    F[1] = up
    F[2] = PI / (2.0 * um) if fabs(um) < INFINITY else 0.0
    F[3] = PI / (2.0 * up) if fabs(up) < INFINITY else 0.0
    F[4] = c1
    F[5] = beta
    F[6] = pv[b]
    F[7] = qv[b] - xs
    # derivatives of (c1, beta, p_b, q_b - x*) with respect to K1, K2, K3, r
    for jj in range(4):
        for i in range(25):
            dA[i] = Bm[25 * jj + i] if jj < 3 else 0.0
        dr = 1.0 if jj == 3 else 0.0
        for i in range(5):
            dpv[i] = 0.0
            dqv[i] = 0.0
        for i in range(4):  # rhs: (dA pv)_N, (dA qv)_N + dr
            s = 0.0
            root = dr
            for j in range(5):
                s = s + dA[N[i] * 5 + j] * pv[j]
                root = root + dA[N[i] * 5 + j] * qv[j]
            rhs[i] = s
            rhs2[i] = root
        for i in range(4):
            s = 0.0
            root = 0.0
            for j in range(4):
                s = s + inv[i * 5 + j] * rhs[j]
                root = root + inv[i * 5 + j] * rhs2[j]
            dpv[N[i]] = -s
            dqv[N[i]] = -root
        s = dr
        root = 0.0
        for j in range(5):
            s = s + dA[a * 5 + j] * qv[j] + A[a * 5 + j] * dqv[j]
            root = root + dA[a * 5 + j] * pv[j] + A[a * 5 + j] * dpv[j]
        dxs = (-r / (K3 * K3)) if jj == 2 else (1.0 / K3 if jj == 3 else 0.0)
        FG[jj * 4 + 0] = s
        FG[jj * 4 + 1] = root
        FG[jj * 4 + 2] = dpv[b]
        FG[jj * 4 + 3] = dqv[b] - dxs
    if t_lo < xs and xs < t_hi:
        return 0
    return -1


def flux_tables(
    const double[:, ::1] theta,
    int input_element,
    int output_element,
    const double[:, :, ::1] constant_matrices,
    bint branch_bound,
    double fraction,
    double[:, ::1] F,
    double[:, :, ::1] FG,
    double[:, ::1] pv,
    double[:, ::1] qv,
    double[:, ::1] ends,
):
    """The flux coupling's stable branch, one unit per row.

    With the input element's level ``x_a = t`` the other four elements
    survive with ``(r + A x)_i = 0``, affine in ``t``: ``x = pv t + qv``
    (``A = sum_m theta[k, m] constant_matrices[m]``).  The inflow holding the
    branch there is ``v(t) = -t (c1 + beta t)``; the stable range of ``t``
    around ``x* = r / K3`` (``dv/dt > 0``, every element positive) has the
    inflows ``ends = (fold, top)``.  The inflow bounds are ``fraction`` of
    ``-fold`` and ``top`` (``branch_bound``), or of the smaller of the two
    on both sides.

    Writes, per unit, ``F = (u_max, u_max_pos, pi/(2 u_max),
    pi/(2 u_max_pos), c1, beta, pv_b, qv_b - x*)`` (an infinite bound gives
    0), ``FG[j]``, the derivatives of ``(c1, beta, pv_b, qv_b - x*)`` with
    respect to constant ``j`` (K1, K2, K3, r), ``pv``, ``qv`` and ``ends``.
    Returns the number of units whose fixed point is not inside the stable
    range (0 for valid constants).
    """
    cdef Py_ssize_t n = theta.shape[0], k
    cdef int a = input_element, b = output_element, bad = 0
    if (theta.shape[1] != 4 or F.shape[0] != n or F.shape[1] != 8 or FG.shape[0] != n
            or FG.shape[1] != 4 or FG.shape[2] != 4 or pv.shape[0] != n
            or pv.shape[1] != 5 or qv.shape[0] != n or qv.shape[1] != 5
            or ends.shape[0] != n or ends.shape[1] != 2):
        raise ValueError("flux_tables: inconsistent shapes")
    if not (0 <= a < 5 and 0 <= b < 5):
        raise ValueError("flux_tables: elements must be in 0..4")
    with nogil:
        for k in range(n):
            if _flux_unit(&theta[k, 0], a, b, &constant_matrices[0, 0, 0], branch_bound,
                          fraction, &F[k, 0], &FG[k, 0, 0], &pv[k, 0], &qv[k, 0],
                          &ends[k, 0]) != 0:
                bad = bad + 1
    return bad


# ---------------------------------------------------------------------------
# Backward: the reverse system's response and the coefficient adjustment
# ---------------------------------------------------------------------------
def reverse_signal(floating[:, ::1] E, const floating[:, ::1] G):
    """Error signals through the reverse system: ``E *= G`` in place.

    ``G`` holds each neuron's reverse-system gain at its operating point, so
    ``E`` becomes the signal ``delta`` that leaves the neuron's input element.
    """
    cdef Py_ssize_t n = E.shape[0], m = E.shape[1], i, k
    with nogil:
        for i in range(n):
            for k in range(m):
                E[i, k] = E[i, k] * G[i, k]


def count_zero_gains(const floating[:, ::1] G, long long[::1] counts):
    """``counts[k] += number of rows i with G[i, k] == 0`` (the zero-gain
    diagnostic: (sample, neuron) pairs on a zero-gain piece)."""
    cdef Py_ssize_t n = G.shape[0], m = G.shape[1], i, k
    if counts.shape[0] != m:
        raise ValueError("count_zero_gains: counts must have G.shape[1] entries")
    with nogil:
        for i in range(n):
            for k in range(m):
                counts[k] += G[i, k] == 0


def count_non_finite(const floating[:, ::1] A, int n_threads=1):
    """The number of entries of ``A`` that are inf or NaN."""
    cdef Py_ssize_t n = A.shape[0], m = A.shape[1], i, k, bad = 0
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            for k in range(m):
                bad += not (fabs(A[i, k]) < INFINITY)
    return bad


cdef inline void _gemm(
    char transa, char transb, int m, int n, int k, floating alpha,
    floating *a, int lda, floating *b, int ldb, floating beta,
    floating *c, int ldc,
) noexcept nogil:
    if floating is double:
        dgemm(&transa, &transb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc)
    else:
        sgemm(&transa, &transb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc)


# Work (multiply-adds) of one row block of a parallel product.  The blocks
# depend on the shapes only, never on the thread count, and each is one
# single-threaded BLAS call: results are bit-identical for any n_threads.
cdef Py_ssize_t BLOCK_WORK = 4_000_000
cdef Py_ssize_t SPLIT_WORK = 2_000_000  # (_threads.PARALLEL_MIN_WORK)
cdef Py_ssize_t MAX_BLOCKS = 16


def matmul_blocks(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k):
    """Row blocks of a ``(m, k) @ (k, n)`` product: ``(n_blocks, rows_per_block)``.

    A power of two (1..16) of equal blocks, from the shape alone, so the
    blocks split evenly over 1, 2, 4, ... threads: one block per
    ``BLOCK_WORK`` multiply-adds, and two from ``SPLIT_WORK`` on (the work at
    which the network gives a kernel threads), so that a product two
    threads share is never one block.
    """
    cdef Py_ssize_t work = m * n * k, p = 1
    cdef Py_ssize_t nblk = work // BLOCK_WORK
    if nblk < 2 and work >= SPLIT_WORK:
        nblk = 2
    if nblk > MAX_BLOCKS:
        nblk = MAX_BLOCKS
    if nblk > m // 8:
        nblk = m // 8
    while 2 * p <= nblk:
        p = 2 * p
    rows = (m + p - 1) // p if m > 0 else 0
    return p, rows


def matmul(
    const floating[:, ::1] A,
    bint trans_a,
    const floating[:, ::1] B,
    bint trans_b,
    floating[:, ::1] C,
    floating alpha=1.0,
    floating beta=0.0,
    int n_threads=1,
):
    """``C = alpha * op(A) @ op(B) + beta * C`` through BLAS (row-major).

    Large products are split into row blocks of ``C`` (see
    :func:`matmul_blocks`) shared by ``n_threads`` OpenMP threads, each
    block one BLAS call; BLAS itself must run single-threaded (the network
    holds it so).  The result does not depend on ``n_threads``.
    """
    cdef int m = C.shape[0], n = C.shape[1]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    cdef int ka = A.shape[0] if not trans_a else A.shape[1]
    cdef int kb = B.shape[1] if trans_b else B.shape[0]
    cdef int nb = B.shape[0] if trans_b else B.shape[1]
    if ka != m or kb != k or nb != n:
        raise ValueError("matmul: incompatible shapes")
    if m == 0 or n == 0:
        return
    cdef char ta = 84 if trans_a else 78  # 'T' or 'N'
    cdef char tb = 84 if trans_b else 78
    cdef Py_ssize_t i, j, blk, i0
    cdef int mi
    if k == 0:
        for i in range(m):
            for j in range(n):
                C[i, j] = beta * C[i, j] if beta != 0 else 0
        return
    nblk, rows = matmul_blocks(m, n, k)
    cdef Py_ssize_t n_blocks = nblk, per = rows
    cdef floating *a0 = <floating*>&A[0, 0]
    cdef floating *b0 = <floating*>&B[0, 0]
    cdef int lda = A.shape[1], ldb = B.shape[1]
    cdef int master_cpu = symnet_cpu()
    # Row-major C = op(A) op(B) is column-major C.T = op(B).T op(A).T; rows
    # i0.. of op(A) start at A[i0, 0] (or at A[0, i0] when transposed).
    with nogil:
        if n_blocks == 1:
            _gemm(tb, ta, n, m, k, alpha, b0, ldb, a0, lda, beta, &C[0, 0], n)
        else:
            with parallel(num_threads=n_threads):
                symnet_spread(master_cpu, threadid(), n_threads)
                for blk in prange(n_blocks, schedule="static"):
                    i0 = blk * per
                    mi = <int>(per if i0 + per <= m else m - i0)
                    if mi > 0:
                        _gemm(tb, ta, n, mi, k, alpha, b0, ldb,
                              a0 + (i0 if trans_a else i0 * lda), lda, beta, &C[i0, 0], n)


cdef extern from "_affinity.h" nogil:
    int symnet_cpu()
    void symnet_nudge(int master_cpu, int tid)
    void symnet_spread(int master_cpu, int tid, int n_threads)
    int symnet_same_mask(const void *mask)
    int symnet_mask_size()
    int symnet_get_mask(void *mask)


cdef extern from "_barrier.h" nogil:
    void symnet_barrier()


def gather_forward(
    const floating[:, ::1] X,
    const long long[::1] rows,
    floating[:, ::1] Xb,
    const floating[:, ::1] W,
    const floating[::1] b,
    floating[:, ::1] U,
    floating[:, ::1] P,
    int n_threads=1,
):
    """A minibatch's first-layer inputs ``U = X[rows] @ W + b``, with the
    rows gathered into ``Xb`` (kept for the adjustment's product).

    The inner dimension is split into the row blocks of the adjustment's
    product ``Xb.T @ D`` (:func:`matmul_blocks` of ``(d, width, m)``), so the
    thread that multiplies block ``j`` of ``W`` here is the one that computes
    block ``j`` of its gradient, and, as Adam's static blocks split ``W`` at
    nearly the same rows, adjusts it: each core reads and writes mostly its
    own rows of ``W`` in every phase, and few cache lines of ``W`` pass
    between the cores within a minibatch (``docs/performance.md``).  Each
    thread also gathers only its block's columns of the rows.

    Block 0's product goes into ``U`` (over ``b``), block ``j > 0``'s into
    rows ``(j - 1) * m ..`` of the scratch ``P``, and the partial sums are
    added to ``U`` in block order: the blocks depend on the shapes only, so
    the result does not depend on ``n_threads``.  A product that is one block
    is one BLAS call, as :func:`matmul`.
    """
    cdef Py_ssize_t m = rows.shape[0], d = X.shape[1], n = W.shape[1]
    if (Xb.shape[0] < m or Xb.shape[1] != d or W.shape[0] != d or b.shape[0] != n
            or U.shape[0] != m or U.shape[1] != n):
        raise ValueError("gather_forward: incompatible shapes")
    if m == 0 or n == 0:
        return
    nblk, per_ = matmul_blocks(d, n, m)
    cdef Py_ssize_t p = nblk, per = per_
    if p > 1 and (P.shape[0] < (p - 1) * m or P.shape[1] != n):
        raise ValueError("gather_forward: P must have room for the partial products")
    cdef Py_ssize_t r
    cdef floating one = 1
    cdef int master_cpu = symnet_cpu()
    with nogil:
        if p == 1:  # (also where d == 0)
            for r in prange(m, schedule="static", num_threads=n_threads):
                memcpy(&Xb[r, 0], &X[rows[r], 0], d * sizeof(floating))
                memcpy(&U[r, 0], &b[0], n * sizeof(floating))
            if d > 0:
                _gemm(78, 78, <int>n, <int>m, <int>d, one, <floating*>&W[0, 0], <int>n,
                      &Xb[0, 0], <int>d, one, &U[0, 0], <int>n)
        else:
            _split_forward(X, rows, Xb, W, b, U, P, p, per, n_threads, master_cpu)


cdef void _split_forward(
    const floating[:, ::1] X, const long long[::1] rows, floating[:, ::1] Xb,
    const floating[:, ::1] W, const floating[::1] b, floating[:, ::1] U,
    floating[:, ::1] P, Py_ssize_t p, Py_ssize_t per, int n_threads, int master_cpu,
) noexcept nogil:
    """:func:`gather_forward`'s product of ``p > 1`` inner blocks."""
    cdef Py_ssize_t m = rows.shape[0], d = X.shape[1], n = W.shape[1]
    cdef Py_ssize_t r, c, j, k0, kj
    cdef floating *dst
    cdef floating one = 1, zero = 0
    with parallel(num_threads=n_threads):
        symnet_spread(master_cpu, threadid(), n_threads)
        for j in prange(p, schedule="static"):
            k0 = j * per
            kj = per if k0 + per <= d else d - k0
            if kj > 0:
                for r in range(m):
                    memcpy(&Xb[r, k0], &X[rows[r], k0], kj * sizeof(floating))
            if j == 0:
                for r in range(m):
                    memcpy(&U[r, 0], &b[0], n * sizeof(floating))
                dst = &U[0, 0]
            else:
                dst = &P[(j - 1) * m, 0]
            if kj > 0:
                _gemm(78, 78, <int>n, <int>m, <int>kj, one, <floating*>&W[k0, 0], <int>n,
                      &Xb[0, k0], <int>d, zero if j > 0 else one, dst, <int>n)
            elif j > 0:
                for r in range(m):
                    for c in range(n):
                        dst[r * n + c] = 0
        symnet_barrier()  # the prange above is `omp for nowait`: every block first
        for r in prange(m, schedule="static"):
            for j in range(1, p):
                for c in range(n):
                    U[r, c] = U[r, c] + P[(j - 1) * m + r, c]


def nudge_probe(int n_threads):
    """Test hook for ``_affinity.h``: every thread but the first acts as if
    it shared the first thread's CPU (the nudge's migration path), then
    checks its affinity mask.  Returns the number of threads whose mask
    changed (0 when the nudge restores it), or -1 off Linux."""
    cdef int tid = 0, i, size = symnet_mask_size()
    cdef char[64][256] masks
    cdef int[64] changed
    if size <= 0 or size > 256:
        return -1
    n_threads = max(1, min(n_threads, 64))
    for i in range(64):
        changed[i] = 0
    with nogil, parallel(num_threads=n_threads):
        tid = threadid()
        if symnet_get_mask(masks[tid]) == 0:
            symnet_nudge(symnet_cpu(), tid + (tid == 0))
            changed[tid] = not symnet_same_mask(masks[tid])
    return sum([changed[i] for i in range(64)])


def wake_probe(int n_threads, bint spread):
    """Diagnostic hook (``benchmarks/diagnose_predict.py --parts wake``): a
    parallel region of ``n_threads`` threads with no work, bare or started as
    the kernels start theirs (``symnet_spread``: the master yields once, the
    workers move off its CPU).  Its time is what waking the threads costs."""
    cdef int master_cpu = symnet_cpu()
    cdef int tid = 0
    n_threads = max(1, n_threads)
    with nogil, parallel(num_threads=n_threads):
        tid = threadid()
        if spread:
            symnet_spread(master_cpu, tid, n_threads)


cdef extern from "_fpenv.h" nogil:
    unsigned int symnet_subnormals_off()
    void symnet_fpenv_restore(unsigned int old)


cdef extern from "_panels.h" nogil:
    void symnet_row_d(const double *vals, const int *idx, long long p0, long long p1,
                      const double *M, Py_ssize_t m, const double *init, double *out)
    void symnet_row_f(const float *vals, const int *idx, long long p0, long long p1,
                      const float *M, Py_ssize_t m, const float *init, float *out)


cdef inline void _row(
    const floating *vals, const int *idx, long long p0, long long p1,
    const floating *M, Py_ssize_t m, const floating *init, floating *out,
) noexcept nogil:
    """out[:m] = init[:m] (or 0) + sum_p vals[p] * M[idx[p], :m] (register-blocked)."""
    if floating is double:
        symnet_row_d(vals, idx, p0, p1, M, m, init, out)
    else:
        symnet_row_f(vals, idx, p0, p1, M, m, init, out)


def compact_dense(
    const floating[:, ::1] X,
    const long long[::1] rows,
    floating[::1] vals,
    int[::1] idx,
    long long[::1] ptr,
    int n_threads=1,
):
    """Non-zeros of ``X[rows]`` as a CSR minibatch (vals, idx, ptr); returns nnz.

    ``vals`` and ``idx`` need room for ``len(rows) * X.shape[1]`` entries.
    """
    dtype = np.float64 if floating is double else np.float32
    cdef floating[:, ::1] no_u = np.empty((0, 0), dtype=dtype)
    return _compact_dense(X, rows, vals, idx, ptr, X, vals, no_u, False, n_threads)


def compact_dense_forward(
    const floating[:, ::1] X,
    const long long[::1] rows,
    floating[::1] vals,
    int[::1] idx,
    long long[::1] ptr,
    const floating[:, ::1] W,
    const floating[::1] b,
    floating[:, ::1] U,
    int n_threads=1,
):
    """:func:`compact_dense` and :func:`csr_forward` in one parallel pass.

    Each row is compacted and multiplied while it is in cache; returns nnz.
    """
    return _compact_dense(X, rows, vals, idx, ptr, W, b, U, True, n_threads)


cdef long long _compact_dense(
    const floating[:, ::1] X,
    const long long[::1] rows,
    floating[::1] vals,
    int[::1] idx,
    long long[::1] ptr,
    const floating[:, ::1] W,
    const floating[::1] b,
    floating[:, ::1] U,
    bint forward,
    int n_threads,
):
    # Rows are compacted in parallel into fixed slots (row r at r * d), then
    # packed in order.
    cdef Py_ssize_t n = rows.shape[0], d = X.shape[1], r, j
    cdef Py_ssize_t m = W.shape[1] if forward else 0
    cdef long long cnt, dst, src
    cdef const floating *xr
    cdef floating *vr
    cdef int *ir
    cdef floating x
    cdef int master_cpu = symnet_cpu()
    with nogil:
        with parallel(num_threads=n_threads):
            symnet_spread(master_cpu, threadid(), n_threads)
            for r in prange(n, schedule="static"):
                xr = &X[rows[r], 0]
                vr = &vals[r * d]
                ir = &idx[r * d]
                cnt = 0
                for j in range(d):
                    # branch-free: write always, advance only past a non-zero
                    x = xr[j]
                    vr[cnt] = x
                    ir[cnt] = <int>j
                    cnt = cnt + (x != 0)
                ptr[r + 1] = cnt
                if forward:
                    _row(vr, ir, 0, cnt, &W[0, 0], m, &b[0], &U[r, 0])
        ptr[0] = 0
        for r in range(n):
            cnt = ptr[r + 1]
            dst = ptr[r]
            src = r * d
            if dst != src and cnt > 0:
                memmove(&vals[dst], &vals[src], cnt * sizeof(floating))
                memmove(&idx[dst], &idx[src], cnt * sizeof(int))
            ptr[r + 1] = dst + cnt
    return ptr[n]


def compact_csr(
    const floating[::1] data,
    const int[::1] indices,
    const long long[::1] indptr,
    const long long[::1] rows,
    floating[::1] vals,
    int[::1] idx,
    long long[::1] ptr,
):
    """Rows ``rows`` of a CSR matrix (sorted indices) as a CSR minibatch; returns nnz."""
    cdef Py_ssize_t n = rows.shape[0], r
    cdef long long nnz = 0, p
    with nogil:
        ptr[0] = 0
        for r in range(n):
            for p in range(indptr[rows[r]], indptr[rows[r] + 1]):
                if data[p] != 0:
                    vals[nnz] = data[p]
                    idx[nnz] = indices[p]
                    nnz = nnz + 1
            ptr[r + 1] = nnz
    return nnz


def csr_forward(
    const floating[::1] vals,
    const int[::1] idx,
    const long long[::1] ptr,
    const floating[:, ::1] W,
    const floating[::1] b,
    floating[:, ::1] U,
    int n_threads=1,
):
    """``U = b + Xb @ W`` for a CSR minibatch ``Xb``, zeros skipped.

    Register-blocked over panels of ``KB`` output neurons; rows are
    independent, so threads do not change the result.
    """
    cdef Py_ssize_t n = U.shape[0], m = W.shape[1], r
    cdef int master_cpu = symnet_cpu()
    with nogil, parallel(num_threads=n_threads):
        symnet_spread(master_cpu, threadid(), n_threads)
        for r in prange(n, schedule="static"):
            _row(&vals[0], &idx[0], ptr[r], ptr[r + 1], &W[0, 0], m, &b[0], &U[r, 0])


def csr_to_csc(
    const floating[::1] vals,
    const int[::1] idx,
    const long long[::1] ptr,
    floating[::1] cvals,
    int[::1] crow,
    long long[::1] cptr,
):
    """Transpose a CSR minibatch into CSC (stable: rows ascending in each column).

    ``cptr`` has length ``n_features + 1``.
    """
    cdef Py_ssize_t n = ptr.shape[0] - 1, d = cptr.shape[0] - 1, r, j
    cdef long long p, q
    with nogil:
        for j in range(d + 1):
            cptr[j] = 0
        for p in range(ptr[n]):
            cptr[idx[p] + 1] += 1
        for j in range(d):
            cptr[j + 1] += cptr[j]
        for r in range(n):
            for p in range(ptr[r], ptr[r + 1]):
                j = idx[p]
                q = cptr[j]
                cvals[q] = vals[p]
                crow[q] = <int>r
                cptr[j] = q + 1
        for j in range(d, 0, -1):
            cptr[j] = cptr[j - 1]
        cptr[0] = 0


def csc_grad(
    const floating[::1] cvals,
    const int[::1] crow,
    const long long[::1] cptr,
    const floating[:, ::1] D,
    floating[:, ::1] GW,
    int n_threads=1,
):
    """``GW = Xb.T @ D`` for a CSC minibatch ``Xb`` (GW overwritten).

    Each input feature's row of ``GW`` is one thread's, summed over the
    minibatch in row order: identical results for any thread count.
    """
    cdef Py_ssize_t d = GW.shape[0], m = GW.shape[1], j
    with nogil:
        for j in prange(d, schedule="static", num_threads=n_threads):
            _row(&cvals[0], &crow[0], cptr[j], cptr[j + 1], &D[0, 0], m,
                 <const floating *>NULL, &GW[j, 0])


def column_sums(const floating[:, ::1] D, floating[::1] out):
    """``out = D.sum(axis=0)`` in row order (deterministic)."""
    cdef Py_ssize_t n = D.shape[0], m = D.shape[1], i, k
    with nogil:
        for k in range(m):
            out[k] = 0
        for i in range(n):
            for k in range(m):
                out[k] += D[i, k]


def row_argmax(const floating[:, ::1] Z, long long[::1] out):
    """``out[i] = argmax(Z[i])`` as ``np.argmax(Z, axis=1)`` gives it (the
    first maximum; the first NaN where a row has one), an order of magnitude
    faster than NumPy's for the few columns of a classifier's outputs."""
    cdef Py_ssize_t n = Z.shape[0], m = Z.shape[1], i, k, best
    cdef floating top, v
    if out.shape[0] != n:
        raise ValueError("row_argmax: out must have Z.shape[0] entries")
    if m == 0:
        raise ValueError("row_argmax: Z has no columns")
    with nogil:
        for i in range(n):
            best = 0
            top = Z[i, 0]
            if top == top:
                for k in range(1, m):
                    v = Z[i, k]
                    if v > top:
                        best, top = k, v
                    elif v != v:  # NaN: the first one wins, as in NumPy
                        best = k
                        break
            out[i] = best


# ---------------------------------------------------------------------------
# Output layer: probabilities, loss and the error signal that enters the
# reverse system
# ---------------------------------------------------------------------------
cdef inline double _out(const floating *s, Py_ssize_t k, bint pairs) noexcept nogil:
    """Output ``k`` of a row of output signals: ``s[k]``, or with ``pairs``
    the difference ``s[2k] - s[2k + 1]`` (in the signals' precision)."""
    if pairs:
        return <floating>(s[2 * k] - s[2 * k + 1])
    return s[k]


cdef inline void _err(floating *e, Py_ssize_t k, double v, bint pairs) noexcept nogil:
    """Write error ``v`` of output ``k``: into both neurons of a pair with
    opposite signs (``dz/ds+ = 1``, ``dz/ds- = -1``), or into ``e[k]``."""
    cdef floating f = <floating>v
    if pairs:
        e[2 * k] = f
        e[2 * k + 1] = -f
    else:
        e[k] = f


def output_error(
    const floating[:, ::1] S,
    const floating[:, ::1] Y,
    const floating[::1] sw,
    double scale,
    Py_ssize_t group,
    bint squared,
    floating[:, ::1] E,
    bint pairs=False,
):
    """Loss and output error signals ``E = -dL/dS`` (weighted, not averaged).

    The outputs are ``z = S`` or, with ``pairs``, the differences of
    neighbouring neurons ``z_k = S[:, 2k] - S[:, 2k + 1]`` (the pair
    read-out; its error enters the two neurons with opposite signs).  They
    form contiguous groups of ``group`` outputs (all classes of a multiclass
    problem; a pair per label otherwise).  Within a group the probabilities
    are ``softmax(scale * z)``; the log-loss is ``-sum y log p``.  With
    ``squared`` the loss is ``0.5 (Y - scale z)^2`` instead (groups play no
    part).  Returns the sample-weighted loss sum.  The log-sum-exp is
    shifted by the group maximum, so everything stays finite for finite
    ``S``.
    """
    cdef Py_ssize_t n = S.shape[0], m = Y.shape[1], i, k, g, g0
    cdef double mx, z, tot, loss = 0.0, w, pk, lse, d
    cdef const floating *s
    cdef floating *e
    if group < 1 or m % group:
        raise ValueError("output_error: width is not a multiple of group")
    if S.shape[1] != (2 * m if pairs else m) or E.shape[1] != S.shape[1] \
            or Y.shape[0] < n or E.shape[0] < n or sw.shape[0] < n:
        raise ValueError("output_error: inconsistent shapes")
    with nogil:
        for i in range(n):
            w = sw[i]
            s = &S[i, 0]
            e = &E[i, 0]
            if squared:
                for k in range(m):
                    d = Y[i, k] - scale * _out(s, k, pairs)
                    loss += w * 0.5 * d * d
                    _err(e, k, w * scale * d, pairs)
                continue
            for g in range(m // group):
                g0 = g * group
                mx = -INFINITY
                for k in range(g0, g0 + group):
                    z = scale * _out(s, k, pairs)
                    if z > mx:
                        mx = z
                # one exp per output: E's row holds them until the error
                # overwrites them (a pair's first neuron with pairs)
                tot = 0.0
                for k in range(g0, g0 + group):
                    _err(e, k, exp(scale * _out(s, k, pairs) - mx), pairs)
                    tot += e[2 * k if pairs else k]
                lse = log(tot)
                for k in range(g0, g0 + group):
                    z = scale * _out(s, k, pairs)
                    pk = e[2 * k if pairs else k] / tot
                    if Y[i, k] != 0:
                        loss += w * Y[i, k] * ((mx - z) + lse)
                    _err(e, k, w * scale * (Y[i, k] - pk), pairs)
    return loss


# ---------------------------------------------------------------------------
# Trained neuron constants: the parameterisation that keeps them valid
# ---------------------------------------------------------------------------
cdef inline double _softplus(double z) noexcept nogil:
    """``log(1 + exp(z))`` without overflow."""
    return (z if z > 0.0 else 0.0) + log1p(exp(-fabs(z)))


def constants_from_free(
    const floating[::1] phi,
    const double[:, ::1] fixed,
    const double[::1] kappa_max,
    const double[::1] k3_min,
    const double[::1] r_min,
    double[:, ::1] out,
):
    """Constants ``(K1, K2, K3, r)`` per row from their free parameters.

    ``phi`` holds 2 (K1, K2; K3 and r from ``fixed``) or 4 free parameters
    per row: ``K3 = k3_min + softplus(phi_3)``, ``r = r_min + softplus(phi_r)``,
    ``K_m = K3 kappa_max (2/pi) atan(phi_m)`` (m = 1, 2).
    """
    cdef Py_ssize_t n = out.shape[0], k
    cdef Py_ssize_t nf = phi.shape[0] // n if n > 0 else 0
    cdef double K3, r, c
    if (nf != 2 and nf != 4) or phi.shape[0] != n * nf or out.shape[1] != 4 \
            or fixed.shape[0] != n or fixed.shape[1] != 4 or kappa_max.shape[0] != n \
            or k3_min.shape[0] != n or r_min.shape[0] != n:
        raise ValueError("constants_from_free: inconsistent shapes")
    with nogil:
        for k in range(n):
            if nf == 4:
                K3 = k3_min[k] + _softplus(phi[4 * k + 2])
                r = r_min[k] + _softplus(phi[4 * k + 3])
            else:
                K3 = fixed[k, 2]
                r = fixed[k, 3]
            c = K3 * kappa_max[k] * (2.0 / PI)
            out[k, 0] = c * atan(phi[nf * k])
            out[k, 1] = c * atan(phi[nf * k + 1])
            out[k, 2] = K3
            out[k, 3] = r


def constants_chain(
    const floating[::1] phi,
    const double[:, ::1] constants,
    const double[:, ::1] grad_constants,
    const double[::1] kappa_max,
    floating[::1] out,
):
    """The gradient with respect to the free parameters (see
    :func:`constants_from_free`) from the gradient with respect to the
    constants, ``grad_constants`` of shape (n_units, 4); a single row of
    constants shared by every unit gets the sum over units (in unit order).
    """
    cdef Py_ssize_t n = constants.shape[0], n_units = grad_constants.shape[0], k, i
    cdef Py_ssize_t nf = phi.shape[0] // n if n > 0 else 0
    cdef double g0, g1, g2, g3, dk, w, z
    if (nf != 2 and nf != 4) or phi.shape[0] != n * nf or out.shape[0] != n * nf \
            or constants.shape[1] != 4 or grad_constants.shape[1] != 4 \
            or (n_units != n and n != 1) or kappa_max.shape[0] != n:
        raise ValueError("constants_chain: inconsistent shapes")
    with nogil:
        for k in range(n):
            if n == 1:
                g0 = 0.0
                g1 = 0.0
                g2 = 0.0
                g3 = 0.0
                for i in range(n_units):
                    g0 = g0 + grad_constants[i, 0]
                    g1 = g1 + grad_constants[i, 1]
                    g2 = g2 + grad_constants[i, 2]
                    g3 = g3 + grad_constants[i, 3]
            else:
                g0 = grad_constants[k, 0]
                g1 = grad_constants[k, 1]
                g2 = grad_constants[k, 2]
                g3 = grad_constants[k, 3]
            dk = constants[k, 2] * kappa_max[k] * (2.0 / PI)
            w = phi[nf * k]
            out[nf * k] = <floating>(g0 * dk / (1.0 + w * w))
            w = phi[nf * k + 1]
            out[nf * k + 1] = <floating>(g1 * dk / (1.0 + w * w))
            if nf == 4:
                # K_m = K3 ratio(phi_m): K3 moves K1 and K2 along
                w = g2 + (g0 * constants[k, 0] + g1 * constants[k, 1]) / constants[k, 2]
                z = phi[4 * k + 2]
                out[4 * k + 2] = <floating>(w * 0.5 * (1.0 + tanh(0.5 * z)))
                z = phi[4 * k + 3]
                out[4 * k + 3] = <floating>(g3 * 0.5 * (1.0 + tanh(0.5 * z)))


# ---------------------------------------------------------------------------
# Optimisers (flat parameter vectors, in place)
# ---------------------------------------------------------------------------
cdef inline floating _tiny(floating x) noexcept nogil:
    """The smallest normal number of ``x``'s precision."""
    if floating is float:
        return FLT_MIN
    else:
        return DBL_MIN


cdef inline floating _flush(floating x, floating tiny) noexcept nogil:
    """``x``, or 0 where ``|x|`` is below ``tiny`` (subnormal), without a branch.

    An optimiser's moments decay geometrically where a parameter's gradient is
    0 (a pixel that is almost never lit): in float32 they turn subnormal after
    about 800 steps of Adam's ``beta_1 = 0.9``, and subnormal arithmetic made
    every step about twice as slow.  The update such a moment gives is below
    the last bit of any normal parameter, so flushing it changes nothing else.
    """
    return x * ((x >= tiny) + (x <= -tiny))


cdef inline void _adam_entry(
    floating *p, floating *m1, floating *m2, floating g, floating b1, floating k1,
    floating b2, floating k2, floating lr, floating ep, floating tiny,
) noexcept nogil:
    """Adam's update of one parameter ``p`` and its moments from its gradient
    ``g`` (``k1 = 1 - b1``, ``k2 = 1 - b2``; moments flushed, :func:`_flush`)."""
    cdef floating a = _flush(b1 * m1[0] + k1 * g, tiny)
    cdef floating v = _flush(b2 * m2[0] + k2 * g * g, tiny)
    m1[0] = a
    m2[0] = v
    p[0] = p[0] - lr * a / (_sqrt(v) + ep)


def adam_step(
    floating[::1] param,
    const floating[::1] grad,
    floating[::1] m1,
    floating[::1] m2,
    double lr_t,
    double beta1,
    double beta2,
    double eps,
    int n_threads=1,
):
    """One Adam step, bias correction folded into ``lr_t`` as MLPClassifier
    does; moments below the smallest normal number are stored as 0
    (:func:`_flush`)."""
    cdef Py_ssize_t n = param.shape[0], i
    cdef floating b1 = beta1, b2 = beta2, c1 = 1.0 - beta1
    cdef floating c2 = 1.0 - beta2, lr = lr_t, ep = eps
    cdef floating tiny = _tiny(b1)
    cdef unsigned int env = 0  # (set in each thread: initialised for the compiler)
    with nogil, parallel(num_threads=n_threads):
        env = symnet_subnormals_off()
        for i in prange(n, schedule="static"):
            _adam_entry(&param[i], &m1[i], &m2[i], grad[i], b1, c1, b2, c2, lr, ep, tiny)
        symnet_fpenv_restore(env)


cdef inline double _sum_squares(const floating *x, Py_ssize_t n) noexcept nogil:
    """``sum(x ** 2)`` in double, in a fixed order: sixteen running sums
    (element ``i`` goes to sum ``i % 16``), added up pairwise at the end.
    Independent sums keep the loop from waiting on one chain of additions,
    and the compiler can hold them in vector registers."""
    cdef double acc[16]
    cdef double y
    cdef Py_ssize_t i, j, n16 = n // 16
    for j in range(16):
        acc[j] = 0.0
    for i in range(n16):
        for j in range(16):
            y = x[16 * i + j]
            acc[j] = acc[j] + y * y
    for i in range(16 * n16, n):
        y = x[i]
        acc[i - 16 * n16] = acc[i - 16 * n16] + y * y
    for j in range(8):
        acc[j] = acc[j] + acc[j + 8]
    for j in range(4):
        acc[j] = acc[j] + acc[j + 4]
    return (acc[0] + acc[2]) + (acc[1] + acc[3])


cdef Py_ssize_t ADJUST_BLOCK = 2048  # entries per block: four arrays of it fit in L2
cdef Py_ssize_t ADJUST_MAX_BLOCKS = 512


def adam_adjust(
    floating[::1] param,
    floating[::1] grad,
    floating[::1] m1,
    floating[::1] m2,
    Py_ssize_t n_coef,
    double alpha,
    double inv_weight,
    double lr_t,
    double beta1,
    double beta2,
    double eps,
    int n_threads=1,
):
    """:func:`finish_gradient` then :func:`adam_step`, in one pass.

    For parameters that are the coefficients themselves (no arctan bound):
    ``grad`` holds the summed adjustment signals and becomes the loss
    gradient (``finish_gradient``'s, bit for bit), and ``param``, ``m1``,
    ``m2`` take ``adam_step``'s update (bit for bit, subnormal moments
    flushed to 0 as there).  Each block of 2,048
    entries is one thread's: the L2 term's sum over it, then one loop for the
    gradient and the step.  Returns ``sum(param[:n_coef] ** 2)`` before the
    step (the loss's L2 term), summed in an order that depends only on the
    length: the same value for any thread count.
    """
    cdef Py_ssize_t n = param.shape[0], i, blk, lo, hi, hi_c
    cdef Py_ssize_t size = ADJUST_BLOCK, n_blocks
    cdef double partial[512]
    cdef double total = 0.0
    cdef floating g, b1 = beta1, b2 = beta2, k1 = 1.0 - beta1
    cdef floating k2 = 1.0 - beta2, lr = lr_t, ep = eps, tiny = _tiny(b1)
    cdef unsigned int env = 0  # (set in each thread: initialised for the compiler)
    if grad.shape[0] != n or m1.shape[0] != n or m2.shape[0] != n or n_coef > n:
        raise ValueError("adam_adjust: inconsistent shapes")
    if n > size * ADJUST_MAX_BLOCKS:
        size = (n + ADJUST_MAX_BLOCKS - 1) // ADJUST_MAX_BLOCKS
    n_blocks = (n + size - 1) // size
    with nogil:
        for blk in prange(n_blocks, schedule="static", num_threads=n_threads):
            env = symnet_subnormals_off()
            lo = blk * size
            hi = min(lo + size, n)
            hi_c = min(max(n_coef, lo), hi)
            partial[blk] = _sum_squares(&param[lo], hi_c - lo)
            # the gradient (finish_gradient's expression), then Adam's update
            for i in range(lo, hi_c):
                g = <floating>((alpha * param[i] - grad[i]) * inv_weight)
                grad[i] = g
                _adam_entry(&param[i], &m1[i], &m2[i], g, b1, k1, b2, k2, lr, ep, tiny)
            for i in range(hi_c, hi):
                g = <floating>(-grad[i] * inv_weight)
                grad[i] = g
                _adam_entry(&param[i], &m1[i], &m2[i], g, b1, k1, b2, k2, lr, ep, tiny)
            symnet_fpenv_restore(env)
        for blk in range(n_blocks):
            total = total + partial[blk]
    return total


def sgd_step(
    floating[::1] param,
    const floating[::1] grad,
    floating[::1] velocity,
    double lr,
    double momentum,
    bint nesterov,
):
    """One SGD step with (Nesterov) momentum, as MLPClassifier's SGDOptimizer
    (a velocity below the smallest normal number is stored as 0)."""
    cdef Py_ssize_t n = param.shape[0], i
    cdef double v
    cdef floating tiny = _tiny(<floating>lr)
    with nogil:
        for i in range(n):
            v = momentum * velocity[i] - lr * grad[i]
            if fabs(v) < tiny:  # a subnormal velocity: 0 (see _flush)
                v = 0.0
            velocity[i] = <floating>v
            if nesterov:
                param[i] = <floating>(param[i] + momentum * v - lr * grad[i])
            else:
                param[i] = <floating>(param[i] + v)


def pid_step(
    floating[::1] param,
    const floating[::1] grad,
    double[::1] v,
    double[::1] integral,
    double[::1] previous,
    double kp,
    double ki,
    double kd,
    double leak,
    double max_step,
    bint normalize,
    double rho,
    double bias,
    double eps,
    bint first,
):
    """One step of per-parameter PID control (``_optim.PIDController``).

    ``E = -grad``, divided by its running root mean square where
    ``normalize`` (``v <- rho v + (1 - rho) E^2``, ``bias = 1 - rho^t``);
    ``integral <- clip(leak integral + E, +-1 / (1 - leak))`` (no clip for
    ``leak >= 1``); ``D = E - previous`` (0 on the ``first`` step);
    ``param += max_step (2/pi) atan((kp E + ki I + kd D) / max_step)`` (the
    plain sum for an infinite ``max_step``).
    """
    cdef Py_ssize_t n = param.shape[0], i
    cdef double e, d, u, lim = 1.0 / (1.0 - leak) if leak < 1.0 else INFINITY
    cdef bint bounded = fabs(max_step) < INFINITY
    if (grad.shape[0] != n or v.shape[0] != n or integral.shape[0] != n
            or previous.shape[0] != n):
        raise ValueError("pid_step: inconsistent shapes")
    with nogil:
        for i in range(n):
            e = -<double>grad[i]
            if normalize:
                v[i] = rho * v[i] + (1.0 - rho) * e * e
                e = e / (sqrt(v[i] / bias) + eps)
            u = leak * integral[i] + e if leak < 1.0 else integral[i] + e
            integral[i] = min(max(u, -lim), lim)
            d = 0.0 if first else e - previous[i]
            previous[i] = e
            u = kp * e + ki * integral[i] + kd * d
            if bounded:
                u = max_step * (2.0 / PI) * atan(u / max_step)
            param[i] = <floating>(param[i] + <floating>u)


def bound_coefficients(const floating[::1] raw, floating[::1] coef, double bound):
    """The paper's arctangent strategy: ``coef = bound (2/pi) atan(raw)``."""
    cdef Py_ssize_t n = raw.shape[0], i
    cdef double c = bound * 2.0 / PI
    cdef floating top = <floating>bound, v
    if top >= bound:  # keep |coef| < bound in the buffer's own precision
        if floating is double:
            top = nextafter(top, 0)
        else:
            top = nextafterf(top, 0)
    with nogil:
        for i in range(n):
            v = <floating>(c * atan(raw[i]))
            if fabs(v) > top:
                v = copysign(top, v)
            coef[i] = v


def bound_chain(const floating[::1] raw, floating[::1] grad, double bound):
    """Gradient w.r.t. the free parameter: ``grad *= (2 bound / pi) / (1 + raw^2)``."""
    cdef Py_ssize_t n = raw.shape[0], i
    cdef double c = bound * 2.0 / PI, w
    with nogil:
        for i in range(n):
            w = raw[i]
            grad[i] = <floating>(grad[i] * c / (1.0 + w * w))


def finish_gradient(
    floating[::1] grad,
    const floating[::1] coef,
    Py_ssize_t n_coef,
    double alpha,
    double inv_weight,
):
    """Turn the summed adjustment signals into the loss gradient, in place.

    The backward pass accumulates ``sum_i w_i s_j delta_k`` (a step *down*
    the loss); the gradient is its negative plus the L2 term on the
    connection coefficients (the first ``n_coef`` entries), divided by the
    minibatch's total sample weight, as in MLPClassifier.  Returns
    ``sum(coef[:n_coef] ** 2)`` (for the loss's L2 term), read on the way.
    """
    cdef Py_ssize_t n = grad.shape[0], i, j, n4 = n_coef // 4
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    with nogil:
        # four running sums: a fixed order, and independent chains that the
        # compiler can keep in flight (one chain would serialise the loop)
        for j in range(n4):
            i = 4 * j
            s0 += <double>coef[i] * coef[i]
            s1 += <double>coef[i + 1] * coef[i + 1]
            s2 += <double>coef[i + 2] * coef[i + 2]
            s3 += <double>coef[i + 3] * coef[i + 3]
        for i in range(4 * n4, n_coef):
            s0 += <double>coef[i] * coef[i]
        for i in range(n_coef):
            grad[i] = <floating>((alpha * coef[i] - grad[i]) * inv_weight)
        for i in range(n_coef, n):
            grad[i] = <floating>(-grad[i] * inv_weight)
    return (s0 + s1) + (s2 + s3)
