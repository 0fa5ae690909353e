"""A layered SymNet: forward and backward signal propagation over minibatches.

The network owns one flat vector of free parameters (all connection
coefficients, then all biases), the optimiser's view of it, and the
preallocated per-layer buffers of one minibatch.  Data goes down once
(input -> steady-state signals of each layer) and comes back once (error ->
reverse-system responses -> coefficient adjustments) per minibatch; every
step is a kernel call on a preallocated buffer.
"""

import contextlib
import threading

import numpy as np
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

from . import _kernels
from ._optim import ArctanBound

# Dense inputs with at most this fraction of non-zeros use the zero-skipping
# first-layer kernels instead of gather + BLAS (MNIST pixels: ~19 %).
SKIP_ZEROS_MAX_DENSITY = 0.5
# Below this many multiply-adds a kernel call runs on one thread: waking a
# thread team costs more than it saves (and oversubscribes a busy machine).
PARALLEL_MIN_WORK = 2_000_000


def _threads_for(work, n_threads):
    return n_threads if work >= PARALLEL_MIN_WORK else 1


_CONTROLLER = None
_LIMIT_LOCK = threading.Lock()
_LIMIT_USERS = 0
_LIMITER = None


@contextlib.contextmanager
def _blas_single_thread():
    """Hold BLAS to one thread while any caller is inside (reference-counted,
    so concurrent calls restore the original setting once, at the end)."""
    global _CONTROLLER, _LIMIT_USERS, _LIMITER
    with _LIMIT_LOCK:
        if _LIMIT_USERS == 0:
            if _CONTROLLER is None:
                _CONTROLLER = ThreadpoolController()
            _LIMITER = _CONTROLLER.limit(limits=1, user_api="blas")
        _LIMIT_USERS += 1
    try:
        yield
    finally:
        with _LIMIT_LOCK:
            _LIMIT_USERS -= 1
            if _LIMIT_USERS == 0:
                _LIMITER.restore_original_limits()
                _LIMITER = None


def forward_kernel(neuron):
    """The steady-state kernel for ``neuron`` and the table it takes."""
    kind, table = neuron.kernel_table()
    fn = _kernels.rate_forward if kind == "rate" else _kernels.flux_forward
    return fn, table


def layer_kernels(n_weight_layers, neuron, output_neuron=None):
    """Each layer's ``(kernel, table)``: ``neuron`` for the hidden layers,
    ``output_neuron`` (default ``neuron``) for the output layer."""
    out = neuron if output_neuron is None else output_neuron
    return [forward_kernel(neuron)] * (n_weight_layers - 1) + [forward_kernel(out)]


class _DenseGatherInput:
    """Dense input: gather the minibatch rows, then one product.

    The product is split into row blocks (by shape only) that the kernels'
    OpenMP threads share, each block a single-threaded BLAS call.
    """

    def __init__(self, X, max_batch):
        self.X = X
        self.buf = np.empty((max_batch, X.shape[1]), dtype=X.dtype)

    def forward(self, rows, W, b, U, n_threads):
        Xb = self.buf[: rows.shape[0]]
        np.take(self.X, rows, axis=0, out=Xb)
        U[...] = b
        _kernels.matmul(Xb, False, W, False, U, 1.0, 1.0, n_threads)

    def grad(self, rows, D, GW, n_threads):
        # rows are the ones of the preceding forward call: the buffer holds them
        _kernels.matmul(self.buf[: rows.shape[0]], True, D, False, GW, 1.0, 0.0, n_threads)


class _CompactInput:
    """Mostly-zero dense or CSR input: each minibatch is compacted to its
    non-zeros (CSR for the forward pass, CSC for the adjustment), so the
    first layer's work is proportional to the non-zeros.  Dense and CSR
    copies of the same data give bit-identical results.  The kernels' OpenMP
    threads do the work.
    """

    def __init__(self, X, max_batch, with_grad=True, buffers=None):
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
            dtype = X.dtype
        else:
            self.X = X
            capacity = max_batch * d
            dtype = X.dtype
        self.sparse = sp.issparse(X)
        capacity = max(capacity, 1)
        if buffers is not None:  # reused forward buffers (prediction)
            self.vals, self.idx, self.ptr = buffers
        else:
            self.vals = np.empty(capacity, dtype=dtype)
            self.idx = np.empty(capacity, dtype=np.int32)
            self.ptr = np.empty(max_batch + 1, dtype=np.int64)
        if with_grad:
            self.cvals = np.empty(capacity, dtype=dtype)
            self.crow = np.empty(capacity, dtype=np.int32)
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
        _kernels.csr_to_csc(self.vals, self.idx, ptr, self.cvals, self.crow, self.cptr)
        _kernels.csc_grad(self.cvals, self.crow, self.cptr, D, GW, n_threads)


def make_input(X, max_batch):
    """Pick the first-layer strategy for ``X`` (same model whichever is used)."""
    if not sp.issparse(X):
        X = np.ascontiguousarray(X)
    if _sparse_enough(X):
        return _CompactInput(X, max_batch)
    return _DenseGatherInput(X, max_batch)


def _sparse_enough(X):
    """Whether the zero-skipping kernels should take the first layer."""
    if sp.issparse(X):
        return True
    sample = X[: min(X.shape[0], 2000)]
    return np.count_nonzero(sample) <= SKIP_ZEROS_MAX_DENSITY * max(sample.size, 1)


_WORKSPACE = threading.local()
# Prediction works in chunks of at most this many rows, and at most
# PREDICT_CHUNK_ENTRIES input entries (the zero-skipping buffers hold a
# chunk's worth), so memory scales with the rows predicted and stays bounded
# for wide inputs.
PREDICT_CHUNK_ROWS = 1024
PREDICT_CHUNK_ENTRIES = 1 << 21


def _predict_chunk(n, d):
    return max(1, min(n, PREDICT_CHUNK_ROWS, PREDICT_CHUNK_ENTRIES // max(d, 1)))


def _predict_input(X, chunk):
    """Zero-skipping first layer for prediction.  Full-size chunk buffers are
    kept per thread between calls (fresh pages would cost more than the
    products); smaller calls get buffers of their own size."""
    if sp.issparse(X):
        return _CompactInput(X, chunk, with_grad=False)
    size = chunk * X.shape[1]
    if chunk < PREDICT_CHUNK_ROWS and size < PREDICT_CHUNK_ENTRIES // 2:
        bufs = (np.empty(size, dtype=X.dtype), np.empty(size, dtype=np.int32),
                np.empty(chunk + 1, dtype=np.int64))
        return _CompactInput(X, chunk, with_grad=False, buffers=bufs)
    key = (X.dtype.str, X.shape[1], chunk)
    cached = getattr(_WORKSPACE, "buffers", None)
    if cached is None or cached[0] != key:
        _WORKSPACE.buffers = None  # release the old buffers first
        cached = (key, (np.empty(size, dtype=X.dtype), np.empty(size, dtype=np.int32),
                        np.empty(chunk + 1, dtype=np.int64)))
        _WORKSPACE.buffers = cached
    return _CompactInput(X, chunk, with_grad=False, buffers=cached[1])


def output_signals(X, coefs, intercepts, kernels, n_threads):
    """Forward signal propagation of ``X`` (dense or sparse), in row chunks.

    Used for prediction: buffers are per call (or per thread), so concurrent
    calls are safe.  ``X`` may be any dense layout or dtype (each chunk is
    made C-contiguous in the coefficients' dtype) or CSR/CSC.  Mostly-zero
    inputs take the zero-skipping first-layer kernels; the kernels' OpenMP
    threads do all the work, BLAS runs single-threaded inside them.
    ``kernels`` holds each layer's ``(steady_state_kernel, table)``.
    """
    n, d = X.shape
    dtype = coefs[0].dtype
    out = np.empty((n, coefs[-1].shape[1]), dtype=dtype)
    if n == 0:
        return out
    if sp.issparse(X) and X.dtype != dtype:
        X = X.astype(dtype)
    skip = _sparse_enough(X)
    chunk = _predict_chunk(n, d)
    work = chunk * coefs[0].shape[0] * coefs[0].shape[1]
    nt = _threads_for(work, n_threads)
    first = None
    if skip and sp.issparse(X):
        first = _predict_input(X, chunk)
    with _blas_single_thread():
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            if first is not None:  # sparse: rows of the whole CSR matrix
                src, Xc = first, None
                rows = np.arange(start, stop, dtype=np.int64)
            elif skip:  # mostly-zero dense: this chunk, C-ordered
                Xc = np.ascontiguousarray(X[start:stop], dtype=dtype)
                src = _predict_input(Xc, chunk)
                rows = np.arange(stop - start, dtype=np.int64)
            else:
                src, Xc = None, np.ascontiguousarray(X[start:stop], dtype=dtype)
                rows = None
            out[start:stop] = _forward_chunk(Xc, src, rows, coefs, intercepts, kernels, nt)
    return out


def _forward_chunk(Xc, src, rows, coefs, intercepts, kernels, nt):
    A = Xc
    m = Xc.shape[0] if Xc is not None else rows.shape[0]
    for layer, (W, b, (steady, table)) in enumerate(zip(coefs, intercepts, kernels)):
        U = np.empty((m, W.shape[1]), dtype=W.dtype)
        if layer == 0 and src is not None:
            src.forward(rows, W, b, U, nt)
        else:
            U[...] = b
            _kernels.matmul(A, False, W, False, U, 1.0, 1.0, nt)
        G = np.empty_like(U)
        # an overflowed input is fine where the neuron saturates (flux
        # coupling bounds it); anything else is reported, never returned
        if steady(U, *table, U, G, nt):
            raise ValueError(
                f"The signals of layer {layer + 1} overflowed ({U.dtype} cannot "
                "hold them): X contains values too large for this network's "
                "coefficients. Scale the features (e.g. with MinMaxScaler)."
            )
        A = U
    return A


def readout_outputs(S, readout, out=None):
    """The loss's outputs from the output signals ``S``: ``S`` itself, or the
    differences ``S[:, 0::2] - S[:, 1::2]`` of the output pairs (into ``out``
    when given)."""
    if readout == "difference":
        return np.subtract(S[:, 0::2], S[:, 1::2], out=out)
    return S


class SymNetwork:
    """Layers of Wuxing neurons joined by connection coefficients.

    Parameters
    ----------
    layer_units : list of int
        Widths, input features first, output neurons last.
    neuron : WuxingNeuron
        The neuron every hidden unit is (one set of constants for the network).
    dtype : numpy dtype
        float32 or float64; data, coefficients and buffers share it.
    group : int
        Output neurons form softmax groups of this size.
    squared : bool
        Squared-error loss instead of log-loss.
    output_scale : float
        ``beta``: probabilities are ``softmax(beta * s)`` within a group.
    alpha : float
        L2 penalty on the connection coefficients.
    coef_bound : float or None
        Bound ``B`` of the arctan strategy, or None.
    n_threads : int
        OpenMP threads for the kernels.
    output_neuron : WuxingNeuron or None
        The neuron of the output layer (None: ``neuron``).
    readout : {"signal", "difference"}
        How the output signals make the loss's outputs: each output signal
        itself, or the difference of consecutive pairs of output neurons
        (``z_k = s_2k - s_2k+1``; the output layer is twice as wide).
    """

    def __init__(self, layer_units, neuron, dtype, group, squared, output_scale,
                 alpha, coef_bound, n_threads, output_neuron=None, readout="signal"):
        self.layer_units = list(layer_units)
        self.dtype = np.dtype(dtype)
        self.group = int(group)
        self.squared = bool(squared)
        self.output_scale = float(output_scale)
        self.alpha = float(alpha)
        self.n_threads = int(n_threads)
        if readout not in ("signal", "difference"):
            raise ValueError(f"readout must be 'signal' or 'difference', got {readout!r}.")
        self.readout = readout
        self.bound = None if coef_bound is None else ArctanBound(coef_bound)
        self.kernels = layer_kernels(len(self.layer_units) - 1, neuron, output_neuron)

        shapes = list(zip(self.layer_units[:-1], self.layer_units[1:]))
        self.n_coef = sum(i * o for i, o in shapes)
        self.n_params = self.n_coef + sum(o for _, o in shapes)
        # free: what the optimiser moves; coef: what the signals travel through
        self.free = np.zeros(self.n_params, dtype=self.dtype)
        self.coef = (
            self.free if self.bound is None else np.zeros_like(self.free)
        )
        self.grad = np.zeros_like(self.free)
        self.coefs = self._views(self.coef, shapes, True)
        self.intercepts = self._views(self.coef, shapes, False)
        self.grad_coefs = self._views(self.grad, shapes, True)
        self.grad_intercepts = self._views(self.grad, shapes, False)
        self._batch = 0
        # per layer, per neuron: (sample, neuron) pairs on a zero-gain piece
        self.dead_counts = None
        self.dead_samples = 0

    def publish(self):
        """Copies of the coefficients and biases, as ``(coefs, intercepts)`` lists
        of views into one new flat array."""
        flat = self.coef.copy()
        shapes = list(zip(self.layer_units[:-1], self.layer_units[1:]))
        return self._views(flat, shapes, True), self._views(flat, shapes, False)

    def _views(self, flat, shapes, coefs):
        out, pos = [], 0 if coefs else self.n_coef
        for n_in, n_out in shapes:
            size = n_in * n_out if coefs else n_out
            v = flat[pos: pos + size]
            out.append(v.reshape(n_in, n_out) if coefs else v)
            pos += size
        return out

    # ------------------------------------------------------------------
    # Parameters
    # ------------------------------------------------------------------
    def initialize(self, rng):
        """Glorot-uniform coefficients and biases, as MLPClassifier does."""
        for W, b in zip(self.coefs, self.intercepts):
            fan_in, fan_out = W.shape
            lim = np.sqrt(6.0 / (fan_in + fan_out))
            W[...] = rng.uniform(-lim, lim, W.shape)
            b[...] = rng.uniform(-lim, lim, b.shape)
        if self.bound is not None:
            self.free[...] = self.bound.to_free(self.coef)
            self.bound.to_coef(self.free, self.coef)

    def set_params(self, free):
        """Load a flat vector of free parameters (copied)."""
        self.free[...] = free
        if self.bound is not None:
            self.bound.to_coef(self.free, self.coef)

    # ------------------------------------------------------------------
    # Signals
    # ------------------------------------------------------------------
    def _allocate(self, batch):
        if batch <= self._batch:
            return
        dt = self.dtype
        widths = self.layer_units[1:]
        self._U = [np.empty((batch, m), dtype=dt) for m in widths]
        self._S = [np.empty((batch, m), dtype=dt) for m in widths]
        self._G = [np.empty((batch, m), dtype=dt) for m in widths]
        n_z = widths[-1] // 2 if self.readout == "difference" else widths[-1]
        self._Y = np.empty((batch, n_z), dtype=dt)
        if self.readout == "difference":
            self._Z = np.empty((batch, n_z), dtype=dt)
            self._EZ = np.empty((batch, n_z), dtype=dt)
        self._sw = np.empty(batch, dtype=dt)
        self._batch = batch
        self._views_cache = {}

    def output_signals(self, X):
        """Output-layer signals of the current coefficients for ``X``."""
        return output_signals(X, self.coefs, self.intercepts, self.kernels, self.n_threads)

    def outputs(self, X):
        """The loss's outputs ``z`` for ``X`` (signals, or pair differences)."""
        return readout_outputs(self.output_signals(X), self.readout)

    def dead_fraction(self):
        """Per layer, the fraction of (sample, neuron) pairs of the last epoch
        on a zero-gain piece."""
        return np.array([c.sum() / max(self.dead_samples * c.shape[0], 1)
                         for c in self.dead_counts])

    def thread_limits(self):
        """BLAS held to one thread for a training call: the kernels' OpenMP
        threads do all the parallel work (split by shape, so ``n_threads``
        never changes a result)."""
        return _blas_single_thread()

    def train_epoch(self, source, Y, sw, order, batch_size, optimizer):
        """One pass over ``order`` in minibatches; returns the mean loss.

        Parameters
        ----------
        source : input adapter from :func:`make_input`
        Y : ndarray (n_samples, n_outputs) of targets
        sw : ndarray (n_samples,) of sample weights
        order : int64 ndarray, the rows to visit, in order
        batch_size : int
        optimizer : AdamOptimizer or SGDOptimizer
        """
        self._allocate(min(batch_size, order.shape[0]))
        self.dead_counts = [np.zeros(w, dtype=np.int64) for w in self.layer_units[1:]]
        self.dead_samples = order.shape[0]
        total, n_seen = 0.0, 0
        n_threads = self.n_threads
        for start in range(0, order.shape[0], batch_size):
            rows = order[start: start + batch_size]
            m = rows.shape[0]
            loss = self._train_batch(source, Y, sw, rows, m, optimizer, n_threads)
            if loss is not None:  # None: a minibatch of zero total weight
                total += loss * m
                n_seen += m
        return total / max(n_seen, 1)

    def _batch_views(self, m):
        """Per-layer buffer views for a minibatch of ``m`` rows (cached)."""
        views = self._views_cache.get(m)
        if views is None:
            views = (
                [u[:m] for u in self._U], [s[:m] for s in self._S],
                [g[:m] for g in self._G], self._Y[:m], self._sw[:m],
            )
            self._views_cache[m] = views
        return views

    def _train_batch(self, source, Y, sw, rows, m, optimizer, n_threads=1):
        n_layers = len(self.coefs)
        # threads: the first layer's products may pay; the O(1) per-neuron
        # steady states only for very wide layers
        nt = _threads_for(m * self.layer_units[0] * self.layer_units[1], n_threads)
        U, S, G, Yb, swb = self._batch_views(m)
        # the per-neuron kernels share the first layer's threads (warm already)
        nt_steady = nt if m >= 64 else 1
        # forward signal propagation
        for i in range(n_layers):
            if i == 0:
                source.forward(rows, self.coefs[0], self.intercepts[0], U[0], nt)
            else:
                U[i][...] = self.intercepts[i]
                _kernels.matmul(S[i - 1], False, self.coefs[i], False, U[i], 1.0, 1.0,
                                n_threads)
            steady, table = self.kernels[i]
            steady(U[i], *table, S[i], G[i], nt_steady)
            if self.dead_counts is not None:  # the zero-gain diagnostic
                self.dead_counts[i] += m - np.count_nonzero(G[i], axis=0)
        # the error signal enters the output neurons' reverse systems
        np.take(Y, rows, axis=0, out=Yb)
        np.take(sw, rows, out=swb)
        weight = float(swb.sum())
        E = U  # the input buffers are free again: reuse them for error signals
        if self.readout == "difference":
            # z = s+ - s-: the error enters both neurons' reverse systems, with
            # opposite signs (dz/ds+ = 1, dz/ds- = -1)
            Z, EZ = self._Z[:m], self._EZ[:m]
            readout_outputs(S[-1], self.readout, out=Z)
            loss = _kernels.output_error(Z, Yb, swb, self.output_scale, self.group,
                                         self.squared, EZ)
            E[-1][:, 0::2] = EZ
            np.negative(EZ, out=E[-1][:, 1::2])
        else:
            loss = _kernels.output_error(S[-1], Yb, swb, self.output_scale, self.group,
                                         self.squared, E[-1])
        if weight <= 0:
            return None
        # backward signal propagation through the reverse systems
        for i in range(n_layers - 1, -1, -1):
            _kernels.reverse_signal(E[i], G[i])  # E[i] is now delta
            if i == 0:
                source.grad(rows, E[0], self.grad_coefs[0], nt)
            else:
                _kernels.matmul(S[i - 1], True, E[i], False, self.grad_coefs[i], 1.0, 0.0,
                                n_threads)
                _kernels.matmul(E[i], False, self.coefs[i], True, E[i - 1], 1.0, 0.0,
                                n_threads)
            _kernels.column_sums(E[i], self.grad_intercepts[i])
        # coefficient adjustment (finish_gradient returns the L2 norm's square)
        sq = _kernels.finish_gradient(self.grad, self.coef, self.n_coef, self.alpha,
                                      1.0 / weight)
        loss = (loss + 0.5 * self.alpha * sq) / weight
        if self.bound is not None:
            self.bound.chain(self.free, self.grad)
        optimizer.step(self.free, self.grad, n_threads)
        if self.bound is not None:
            self.bound.to_coef(self.free, self.coef)
        return loss
