"""First-layer input strategies: how the input signals enter the first layer.

Dense data goes through a gather and one BLAS product; mostly-zero dense data
and sparse data through the zero-skipping kernels, which compact each
minibatch to its non-zeros.  Whichever is used, the model is the same (dense
and CSR copies of the same data give bit-identical results on the
zero-skipping path).  Prediction works in row chunks, so its memory follows
the rows predicted.
"""

import threading

import numpy as np
import scipy.sparse as sp

from . import _kernels

# Dense inputs with more than this fraction of non-zeros never use the
# zero-skipping first-layer kernels (training's rule, below, is lower for
# most widths; MNIST pixels: ~19 %).
SKIP_ZEROS_MAX_DENSITY = 0.5
# Prediction works in chunks of at most this many rows, and at most
# PREDICT_CHUNK_ENTRIES input entries (the zero-skipping buffers hold a
# chunk's worth), so memory scales with the rows predicted and stays bounded
# for wide inputs.
PREDICT_CHUNK_ROWS = 1024
DENSE_CHUNK_ROWS = 16384
PREDICT_CHUNK_ENTRIES = 1 << 21


class DenseGatherInput:
    """Dense input: gather the minibatch rows and multiply them (one kernel,
    :func:`_kernels.gather_forward`).

    The forward product is split over the inner dimension, into the row
    blocks of ``W`` that the adjustment's product ``Xb.T @ D`` gives the same
    thread (by shape only; Adam's blocks of 2,048 entries split ``W`` at
    nearly the same rows), so each core keeps its own rows of ``W`` in cache
    through the minibatch; each block is a single-threaded BLAS call.  The
    partial products of blocks 1.. take ``(blocks - 1) * batch * width``
    entries of scratch (none for a product of one block; at most 16 blocks).
    """

    def __init__(self, X, max_batch):
        self.X = X
        self.buf = np.empty((max_batch, X.shape[1]), dtype=X.dtype)
        self.partials = None  # scratch for the partial products (first call)

    def forward(self, rows, W, b, U, n_threads):
        if self.partials is None:
            batch, (d, n) = self.buf.shape[0], W.shape
            blocks = _kernels.matmul_blocks(d, n, batch)[0]
            self.partials = np.empty(((blocks - 1) * batch, n), dtype=self.X.dtype)
        m = rows.shape[0]
        _kernels.gather_forward(self.X, rows, self.buf[:m], W, b, U, self.partials, n_threads)

    def grad(self, rows, D, GW, n_threads):
        # rows are the ones of the preceding forward call: the buffer holds them
        _kernels.matmul(self.buf[: rows.shape[0]], True, D, False, GW, 1.0, 0.0, n_threads)


class CompactInput:
    """Mostly-zero dense or CSR input: each minibatch is compacted to its
    non-zeros (CSR for the forward pass, a CSC copy for the adjustment, sized
    to the minibatch's non-zeros), so the first layer's work is proportional
    to the non-zeros.
    """

    def __init__(self, X, max_batch, buffers=None):
        d = X.shape[1]
        if sp.issparse(X):
            X = X.tocsr()
            if not X.has_sorted_indices:
                X = X.sorted_indices()
            self.data = np.ascontiguousarray(X.data)
            self.indices = np.ascontiguousarray(X.indices, dtype=np.int32)
            self.indptr = np.ascontiguousarray(X.indptr, dtype=np.int64)
            row_nnz = int(np.diff(self.indptr).max()) if X.shape[0] else 0
            capacity = max_batch * min(d, row_nnz)
        else:
            self.X = X
            capacity = max_batch * d
        self.sparse = sp.issparse(X)
        capacity = max(capacity, 1)
        if buffers is not None:  # reused forward buffers (prediction)
            self.vals, self.idx, self.ptr = buffers
        else:
            self.vals = np.empty(capacity, dtype=X.dtype)
            self.idx = np.empty(capacity, dtype=np.int32)
            self.ptr = np.empty(max_batch + 1, dtype=np.int64)
        self.cvals = self.crow = None  # the adjustment's CSC copy, grown on demand
        self.cptr = np.empty(d + 1, dtype=np.int64)

    def forward(self, rows, W, b, U, n_threads):
        ptr = self.ptr[: rows.shape[0] + 1]
        if self.sparse:
            _kernels.compact_csr(self.data, self.indices, self.indptr, rows,
                                 self.vals, self.idx, ptr)
            _kernels.csr_forward(self.vals, self.idx, ptr, W, b, U, n_threads)
        else:
            _kernels.compact_dense_forward(self.X, rows, self.vals, self.idx, ptr,
                                           W, b, U, n_threads)

    def grad(self, rows, D, GW, n_threads):
        # rows are the ones of the preceding forward call: the buffers hold them
        ptr = self.ptr[: rows.shape[0] + 1]
        nnz = int(ptr[-1])
        if self.cvals is None or self.cvals.shape[0] < nnz:
            capacity = max(nnz + nnz // 4, 1)  # room to grow a little
            self.cvals = np.empty(capacity, dtype=self.vals.dtype)
            self.crow = np.empty(capacity, dtype=np.int32)
        _kernels.csr_to_csc(self.vals, self.idx, ptr, self.cvals, self.crow, self.cptr)
        _kernels.csc_grad(self.cvals, self.crow, self.cptr, D, GW, n_threads)


# Rows sampled (evenly spaced) to estimate a dense X's density.
DENSITY_SAMPLE_ROWS = 100


def sampled_density(X):
    """The fraction of non-zeros in evenly spaced rows of a dense ``X``."""
    step = max(X.shape[0] // DENSITY_SAMPLE_ROWS, 1)
    # counted on a contiguous copy of the sampled rows: half the time of
    # counting through the strided view
    sample = X[::step][:DENSITY_SAMPLE_ROWS].ravel()
    return np.count_nonzero(sample) / max(sample.size, 1)


# Training skips the zeros of dense rows in both of its first-layer products
# at densities up to ``min(a * (1 - w0 / width), SKIP_ZEROS_MAX_DENSITY)``,
# (a, w0) per dtype from the break-even densities of one epoch on 20,000
# MNIST rows thinned or filled to 5-45 % non-zeros
# (benchmarks/diagnose_train_path.py, 2 cores, since the dense forward
# product splits its inner dimension): float64 0.16 at width 32, 0.24 at
# 100, 0.21 at 400 (the rule, fitted before that change to 0.14, 0.22 and
# 0.23, was kept: it gives 0.14, 0.21, 0.23); float32 0.11, 0.14, 0.18
# (least squares; the split made BLAS faster on wide float32 layers, where
# the break-even had been 0.39).  Above them BLAS is up to a third faster
# (docs/performance.md).
TRAIN_SKIP_DENSITY = {"f8": (0.24, 13.0), "f4": (0.175, 13.0)}


def skip_limit(rules, dtype, width):
    """The highest density at which a dense first layer of ``width`` neurons
    skips zeros under ``rules`` (``{dtype code: (a, w0)}``): ``a * (1 - w0 /
    width)``, below zero for narrow layers (never skip)."""
    a, w0 = rules[np.dtype(dtype).str[1:]]
    return a * (1.0 - w0 / max(width, 1))


def training_skips_zeros(X, width=None):
    """Whether training should take the first layer of ``X`` (in the model's
    dtype) through the zero-skipping kernels: always for sparse ``X``; dense
    rows by their density, against the rule for a first layer of ``width``
    neurons (None: the cap, SKIP_ZEROS_MAX_DENSITY)."""
    if sp.issparse(X):
        return True
    limit = SKIP_ZEROS_MAX_DENSITY
    if width is not None:
        limit = min(limit, skip_limit(TRAIN_SKIP_DENSITY, X.dtype, width))
    return sampled_density(X) <= limit


# Prediction reads X once and has no second product to save (training's
# coefficient adjustment ``X.T @ D`` skips the zeros too), so on dense X the
# fused BLAS pass wins down to lower densities than training's threshold.
# Zero skipping takes dense rows at densities up to ``a * (1 - w0 / width)``
# for the first layer's ``width``, (a, w0) per dtype from the break-even
# densities measured on MNIST test rows thinned or filled to 2-45 % non-zeros
# (benchmarks/diagnose_predict_path.py, 2 cores): float64 below 0.02 at
# width 16, 0.18 at 100, 0.16 at 400, 0.14 at 1000; float32 below 0.02 at 16,
# 0.02-0.06 at 100, 0.15-0.19 at 400, 0.15 at 1000 (docs/performance.md).
PREDICT_SKIP_DENSITY = {"f8": (0.16, 16.0), "f4": (0.16, 70.0)}


def prediction_skips_zeros(X, dtype, width):
    """Whether prediction should take the first layer of ``X`` through the
    zero-skipping kernels (always for sparse ``X``)."""
    if sp.issparse(X):
        return True
    return sampled_density(X) <= skip_limit(PREDICT_SKIP_DENSITY, dtype, width)


def training_input(X, max_batch, width=None):
    """The first-layer strategy for training on ``X`` (the same model up to
    rounding whichever; :func:`training_skips_zeros` decides)."""
    if not sp.issparse(X):
        X = np.ascontiguousarray(X)
    if training_skips_zeros(X, width):
        return CompactInput(X, max_batch)
    return DenseGatherInput(X, max_batch)


def predict_chunk(n, d, dense=False):
    """Rows per prediction chunk for ``n`` rows of ``d`` features: at most
    PREDICT_CHUNK_ENTRIES input entries, and PREDICT_CHUNK_ROWS rows on the
    zero-skipping path (whose buffers hold a chunk's entries) or
    DENSE_CHUNK_ROWS on the BLAS path (large products run faster), where a
    chunk of more than one prediction block is a whole number of blocks (so
    the fused pass's blocks, and its threads' shares, are never ragged inside
    a chunk)."""
    rows = DENSE_CHUNK_ROWS if dense else PREDICT_CHUNK_ROWS
    chunk = max(1, min(n, rows, PREDICT_CHUNK_ENTRIES // max(d, 1)))
    B = _kernels.PREDICT_BLOCK_ROWS
    if dense and B < chunk < n:
        chunk -= chunk % B
    return chunk


_WORKSPACE = threading.local()


def _compact_buffers(X, chunk):
    """Zero-skipping buffers for prediction.  Full-size chunk buffers are
    kept per thread between calls (fresh pages would cost more than the
    products); smaller calls get buffers of their own size."""
    size = chunk * X.shape[1]

    def new():
        return (np.empty(size, dtype=X.dtype), np.empty(size, dtype=np.int32),
                np.empty(chunk + 1, dtype=np.int64))

    if chunk < PREDICT_CHUNK_ROWS and size < PREDICT_CHUNK_ENTRIES // 2:
        return new()
    key = (X.dtype.str, X.shape[1], chunk)
    cached = getattr(_WORKSPACE, "buffers", None)
    if cached is None or cached[0] != key:
        _WORKSPACE.buffers = None  # release the old buffers first
        cached = (key, new())
        _WORKSPACE.buffers = cached
    return cached[1]


def prediction_chunks(X, dtype, width, whole_dense=False):
    """Split ``X`` (any dense layout or dtype, CSR/CSC) for prediction.

    Yields ``(start, stop, first)`` where ``first(W, b, U, n_threads)``
    writes the first layer's inputs of rows ``start:stop`` into ``U``: dense
    rows made C-contiguous in ``dtype``, mostly-zero and sparse rows through
    the zero-skipping kernels (:func:`prediction_skips_zeros` for a first
    layer of ``width`` neurons decides).  With ``whole_dense`` (the caller's buffers
    do not grow with a chunk's rows), dense rows that are C-contiguous in
    ``dtype`` already, which need no copy, come as one chunk: one parallel
    pass instead of one per chunk.
    """
    n, d = X.shape
    if sp.issparse(X) and X.dtype != dtype:
        X = X.astype(dtype)
    skip = prediction_skips_zeros(X, dtype, width)
    if (whole_dense and not skip and not sp.issparse(X) and X.dtype == dtype
            and X.flags.c_contiguous):
        yield 0, n, DenseRows(X)
        return
    chunk = predict_chunk(n, d, dense=not skip)
    whole = CompactInput(X, chunk) if sp.issparse(X) else None
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        if whole is not None:  # sparse: rows of the whole CSR matrix
            rows = np.arange(start, stop, dtype=np.int64)
            yield start, stop, _bind(whole, rows)
            continue
        Xc = np.ascontiguousarray(X[start:stop], dtype=dtype)
        if skip:  # mostly-zero dense: this chunk, compacted
            src = CompactInput(Xc, chunk, buffers=_compact_buffers(Xc, chunk))
            yield start, stop, _bind(src, np.arange(stop - start, dtype=np.int64))
        else:
            yield start, stop, DenseRows(Xc)


def _bind(src, rows):
    def first(W, b, U, n_threads):
        src.forward(rows, W, b, U, n_threads)
    return first


class DenseRows:
    """A chunk of dense rows (C-contiguous, the network's dtype) for the BLAS
    path: ``first(W, b, U, n_threads)`` writes their first-layer inputs, and
    :attr:`X` lets the network take the rows through every layer at once
    (:func:`sklearn_symnet._kernels.predict_dense`)."""

    def __init__(self, X):
        self.X = X

    def __call__(self, W, b, U, n_threads):
        U[...] = b
        _kernels.matmul(self.X, False, W, False, U, 1.0, 1.0, n_threads)
