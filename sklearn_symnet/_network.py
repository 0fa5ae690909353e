"""A layered SymNet: forward and backward signal propagation over minibatches.

The network owns one flat vector of free parameters in named segments (all
connection coefficients, all biases, then the neurons' own constants where
they are trained), the optimiser's view of it, and the per-layer buffers of
one minibatch.  Data goes down once (inputs -> steady-state signals of each
layer; the same forward pass serves training and prediction) and comes back
once (error -> reverse-system responses -> adjustments) per minibatch; every
step is a kernel call on a preallocated buffer.  The network knows nothing of
the loss's settings: the output head (:mod:`sklearn_symnet._losses`) turns
output signals into the error that enters the reverse systems.
"""

import numpy as np

from . import _kernels
from ._inputs import DenseRows, prediction_chunks
from ._optim import ArctanBound
from ._threads import blas_single_thread, threads_for


class SignalOverflowError(ValueError):
    """A layer's signals overflowed the network's dtype."""

    def __init__(self, layer, dtype):
        super().__init__(
            f"The signals of layer {layer + 1} overflowed ({dtype} cannot hold them): "
            "X contains values too large for this network's coefficients. Scale the "
            "features (e.g. with MinMaxScaler)."
        )


def _checked(first, check_rows, start, stop):
    """``first`` followed by ``check_rows(start, stop)`` where its inputs are
    not all finite."""
    def run(W, b, U0, n_threads):
        first(W, b, U0, n_threads)
        if _kernels.count_non_finite(U0, n_threads):
            check_rows(start, stop)
    return run


class SymNetwork:
    """Layers of Wuxing neurons joined by connection coefficients.

    Parameters
    ----------
    layer_units : list of int
        Widths, input features first, output neurons last.
    tables : list of NeuronTable or LinearTable
        The neurons of each layer of neurons (hidden layers, then the output
        layer): their kernel tables.
    head : OutputHead
        Read-out and loss of the output layer.
    dtype : numpy dtype
        float32 or float64; data, coefficients and buffers share it.
    alpha : float
        L2 penalty on the connection coefficients.
    coef_bound : float or None
        Bound ``B`` of the arctan strategy (coefficients and biases), or None.
    n_threads : int
        OpenMP threads for the kernels.
    constants : list of ConstantParameters or None, default=None
        Trained neuron constants, one entry per layer (None where fixed).
    """

    def __init__(self, layer_units, tables, head, dtype, alpha, coef_bound, n_threads,
                 constants=None, parameters=True):
        self.layer_units = list(layer_units)
        self.tables = list(tables)
        self.head = head
        self.dtype = np.dtype(dtype)
        self.alpha = float(alpha)
        self.n_threads = int(n_threads)
        self.bound = None if coef_bound is None else ArctanBound(coef_bound)
        n_layers = len(self.layer_units) - 1
        self.constants = list(constants) if constants is not None else [None] * n_layers

        shapes = list(zip(self.layer_units[:-1], self.layer_units[1:]))
        self._shapes = shapes
        self.n_coef = sum(i * o for i, o in shapes)
        self.n_weights = self.n_coef + sum(o for _, o in shapes)  # coefficients + biases
        # the constants' segments follow the weights
        pos = self.n_weights
        self._const_slices = []
        for c in self.constants:
            size = 0 if c is None else c.size
            self._const_slices.append(slice(pos, pos + size))
            pos += size
        self.n_params = pos
        if not parameters:
            # a network for prediction only: the caller assigns ``coefs`` and
            # ``intercepts`` (no flat parameter or gradient arrays)
            self.free = self.coef = self.grad = None
            self.coefs = self.intercepts = self.grad_coefs = self.grad_intercepts = None
        else:
            # free: what the optimisers move; coef: what the signals travel through
            self.free = np.zeros(self.n_params, dtype=self.dtype)
            self.coef = self.free if self.bound is None else np.zeros_like(self.free)
            self.grad = np.zeros_like(self.free)
            self.coefs = self._views(self.coef, True)
            self.intercepts = self._views(self.coef, False)
            self.grad_coefs = self._views(self.grad, True)
            self.grad_intercepts = self._views(self.grad, False)
        self._batch = 0
        # per layer, per neuron: (sample, neuron) pairs on a zero-gain piece
        self.dead_counts = None
        self.dead_samples = 0

    def _views(self, flat, coefs):
        out, pos = [], 0 if coefs else self.n_coef
        for n_in, n_out in self._shapes:
            size = n_in * n_out if coefs else n_out
            v = flat[pos: pos + size]
            out.append(v.reshape(n_in, n_out) if coefs else v)
            pos += size
        return out

    def publish(self):
        """The coefficients and biases as ``(coefs, intercepts)`` lists of views
        into the network's own array (a network is published once, at the
        end of a fit, and not used again: no copy)."""
        flat = self.coef[: self.n_weights]
        return self._views(flat, True), self._views(flat, False)

    def layer_constants(self):
        """Each layer's constants, shape (n_units, 4) (None for a linear layer)."""
        out = []
        for table, m in zip(self.tables, self.layer_units[1:]):
            if table.n_rows == 0:
                out.append(None)
            else:
                out.append(np.array(np.broadcast_to(table.constants, (m, 4))))
        return out

    # ------------------------------------------------------------------
    # Parameters
    # ------------------------------------------------------------------
    def initialize(self, rng, kink_start=0.0):
        """Glorot-uniform coefficients and biases, as MLPClassifier does, with
        the biases of hidden rate-coupled neurons centred at ``kink_start``
        times their first breakpoint (their kink); the trained constants start
        at the tables' constants."""
        last = len(self.coefs) - 1
        for i, (W, b, table) in enumerate(zip(self.coefs, self.intercepts, self.tables)):
            fan_in, fan_out = W.shape
            lim = np.sqrt(6.0 / (fan_in + fan_out))
            W[...] = rng.uniform(-lim, lim, W.shape)
            b[...] = rng.uniform(-lim, lim, b.shape)
            if kink_start and i < last and table.coupling == "rate":
                b += kink_start * np.broadcast_to(table.breakpoints_first(), b.shape)
        if self.bound is not None:
            w = slice(0, self.n_weights)
            self.free[w] = self.bound.to_free(self.coef[w])
            self.bound.to_coef(self.free[w], self.coef[w])
        self.constants_to_free(self.free)

    def constants_to_free(self, free):
        """Write the free parameters of the tables' current constants into the
        constants' segments of ``free`` (where they are trained)."""
        for c, sl, table in zip(self.constants, self._const_slices, self.tables):
            if c is not None:
                free[sl] = c.to_free(table.constants)

    def set_free(self, free):
        """Load a flat vector of free parameters (copied) and everything it
        determines (bounded coefficients, the neurons' tables)."""
        self.free[...] = free
        self._free_changed()

    def _free_changed(self):
        if self.bound is not None:
            w = slice(0, self.n_weights)
            self.bound.to_coef(self.free[w], self.coef[w])
        for c, sl, table in zip(self.constants, self._const_slices, self.tables):
            if c is not None:
                table.rebuild(c.to_constants(self.free[sl], out=table.constants),
                              self.n_threads)

    # ------------------------------------------------------------------
    # Forward signal propagation (training and prediction)
    # ------------------------------------------------------------------
    def _forward(self, first, m, U, S, G, with_gain, n_threads, levels=None):
        """Signals of every layer for ``m`` rows whose first-layer inputs
        ``first(W, b, U0, n_threads)`` writes (and, in training, the flux
        levels the constants' gradients read).  Raises
        :class:`SignalOverflowError` where a layer's signals overflow."""
        nt = threads_for(m * self.layer_units[0] * self.layer_units[1], n_threads)
        # the per-neuron kernels share the first layer's threads (warm already)
        nt_steady = nt if m >= 64 else 1
        for i, table in enumerate(self.tables):
            if i == 0:
                first(self.coefs[0], self.intercepts[0], U[0], nt)
            else:
                U[i][...] = self.intercepts[i]
                _kernels.matmul(S[i - 1], False, self.coefs[i], False, U[i], 1.0, 1.0,
                                n_threads)
            lv = None if levels is None else levels[i]
            if table.forward(U[i], S[i], G[i], nt_steady, with_gain, lv):
                raise SignalOverflowError(i, self.dtype)
        return S[-1]

    def predict_outputs(self, X, check_rows=None):
        """The head's outputs ``z`` (before ``scale``) for ``X`` (dense any
        layout or dtype, or sparse), in row chunks with buffers of their own
        (concurrent calls are safe), without training work (no gains).

        ``check_rows(start, stop)``, where given, is called for a chunk whose
        first-layer inputs are not all finite, before any neuron reads them:
        the caller's check of those rows of ``X`` (non-finite values in ``X``
        reach every first-layer input of their row, so the product itself
        finds them, and ``X`` need not be scanned beforehand)."""
        n = X.shape[0]
        out = np.empty((n, self.head.n_outputs), dtype=self.dtype)
        fused = len(self.tables) <= _kernels.PREDICT_MAX_LAYERS
        with blas_single_thread():
            # the fused pass's scratch is per block: dense rows go whole
            for start, stop, first in prediction_chunks(X, self.dtype, self.layer_units[1],
                                                           whole_dense=fused):
                m = stop - start
                if fused and isinstance(first, DenseRows):
                    S_last = self._predict_dense(first.X, start, check_rows)
                else:
                    if check_rows is not None:
                        first = _checked(first, check_rows, start, stop)
                    U = [np.empty((m, w), dtype=self.dtype) for w in self.layer_units[1:]]
                    # a layer's signals overwrite its inputs: no gains, no second buffer
                    S_last = self._forward(first, m, U, U, [None] * len(U), False,
                                           self.n_threads)
                self.head.outputs(S_last, out=out[start:stop])
        return out

    def _predict_dense(self, X, start, check_rows):
        """The last layer's signals for dense rows ``X`` (rows ``start:`` of the
        caller's), every layer of a block of rows in one kernel pass, each
        block's buffers in cache (:func:`_kernels.predict_dense`; the same
        bits for any thread count, :meth:`_forward`'s values to the last bits)."""
        m = X.shape[0]
        nt = threads_for(m * self.layer_units[0] * self.layer_units[1], self.n_threads)
        B = _kernels.PREDICT_BLOCK_ROWS
        hidden = self.layer_units[1:-1]
        # scratch for a block of rows (fewer rows: a smaller block)
        work = np.empty((2 * nt, min(B, m) * max(hidden, default=1)), dtype=self.dtype)
        n_blocks = -(-m // B)
        bad = np.empty((n_blocks, len(self.tables) + 1), dtype=np.int64)
        S_last = np.empty((m, self.layer_units[-1]), dtype=self.dtype)
        _kernels.predict_dense(X, self.coefs, self.intercepts,
                               [t.kernel_tables() for t in self.tables], S_last, work, bad,
                               nt)
        if check_rows is not None:
            # non-finite X reaches every first-layer input of its row
            for blk in np.flatnonzero(bad[:, 0]):
                check_rows(start + blk * B, start + min((blk + 1) * B, m))
        layers = np.flatnonzero(bad[:, 1:].any(axis=0))
        if layers.size:
            raise SignalOverflowError(int(layers[0]), self.dtype)
        return S_last

    def layer_signals(self, X):
        """Every layer's inputs, signals and gains for ``X`` (lists of arrays of
        shape (n_samples, n_units)), through the training forward pass."""
        n = X.shape[0]
        widths = self.layer_units[1:]
        U = [np.empty((n, w), dtype=self.dtype) for w in widths]
        S = [np.empty_like(u) for u in U]
        G = [np.empty_like(u) for u in U]
        with blas_single_thread():
            for start, stop, first in prediction_chunks(X, self.dtype, self.layer_units[1]):
                # row slices of C-contiguous arrays: each chunk is written in place
                rows = slice(start, stop)
                self._forward(first, stop - start, [u[rows] for u in U],
                              [s[rows] for s in S], [g[rows] for g in G], True,
                              self.n_threads)
        return U, S, G

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def _allocate(self, batch):
        if batch <= self._batch:
            return
        dt = self.dtype
        widths = self.layer_units[1:]
        self._U = [np.empty((batch, m), dtype=dt) for m in widths]
        self._S = [np.empty((batch, m), dtype=dt) for m in widths]
        self._G = [np.empty((batch, m), dtype=dt) for m in widths]
        self._E = [np.empty((batch, m), dtype=dt) for m in widths]
        self._Y = np.empty((batch, self.head.n_outputs), dtype=dt)
        self._sw = np.empty(batch, dtype=dt)
        self._cgrad = [None if c is None else np.empty((w, 4))
                       for c, w in zip(self.constants, widths)]
        # the flux levels of layers whose constants are trained (float64)
        self._levels = [np.empty((batch, w)) if c is not None and t.keeps_levels() else None
                        for c, t, w in zip(self.constants, self.tables, widths)]
        self._batch = batch
        self._views_cache = {}

    def _batch_views(self, m):
        """Per-layer buffer views for a minibatch of ``m`` rows (cached)."""
        views = self._views_cache.get(m)
        if views is None:
            views = ([u[:m] for u in self._U], [s[:m] for s in self._S],
                     [g[:m] for g in self._G], [e[:m] for e in self._E],
                     self._Y[:m], self._sw[:m],
                     [None if lv is None else lv[:m] for lv in self._levels])
            self._views_cache[m] = views
        return views

    def dead_fraction(self):
        """Per layer, the fraction of (sample, neuron) pairs of the last epoch
        on a zero-gain piece."""
        return np.array([c.sum() / max(self.dead_samples * c.shape[0], 1)
                         for c in self.dead_counts])

    def train_epoch(self, source, Y, sw, order, batch_size, optimizer, check_rows=None):
        """One pass over ``order`` in minibatches; returns the mean loss.

        Parameters
        ----------
        source : first-layer input strategy (:func:`_inputs.training_input`)
        Y : ndarray (n_samples, n_outputs) of targets
        sw : ndarray (n_samples,) of sample weights, or None (all 1)
        order : int64 ndarray, the rows to visit, in order
        batch_size : int
        optimizer : Optimizers
        check_rows : callable or None
            Called with a minibatch's rows whose first-layer inputs are not
            all finite, before any neuron reads them (the caller's check of
            those rows of X: a NaN or inf in X reaches every first-layer input
            of its row, so X need not be scanned beforehand).
        """
        self._allocate(min(batch_size, order.shape[0]))
        self.dead_counts = [np.zeros(w, dtype=np.int64) for w in self.layer_units[1:]]
        self.dead_samples = order.shape[0]
        total, n_seen = 0.0, 0
        for start in range(0, order.shape[0], batch_size):
            rows = order[start: start + batch_size]
            m = rows.shape[0]
            loss = self._train_batch(source, Y, sw, rows, m, optimizer, check_rows)
            if loss is not None:  # None: a minibatch of zero total weight
                total += loss * m
                n_seen += m
        return total / max(n_seen, 1)

    def _train_batch(self, source, Y, sw, rows, m, optimizer, check_rows=None):
        n_threads = self.n_threads
        nt = threads_for(m * self.layer_units[0] * self.layer_units[1], n_threads)
        U, S, G, E, Yb, swb, levels = self._batch_views(m)

        def first(W, b, U0, nt_):
            source.forward(rows, W, b, U0, nt_)
            if check_rows is not None and _kernels.count_non_finite(U0, nt_):
                check_rows(rows)

        self._forward(first, m, U, S, G, True, n_threads, levels)
        if self.dead_counts is not None:  # the zero-gain diagnostic (per epoch)
            for g, counts in zip(G, self.dead_counts):
                _kernels.count_zero_gains(g, counts)
        # the error signal enters the output neurons' reverse systems
        if Y.dtype == Yb.dtype:
            np.take(Y, rows, axis=0, out=Yb)
        else:  # class targets stored as 0/1 bytes
            Yb[...] = Y[rows]
        if sw is None:  # every weight is 1
            swb[...] = 1
            weight = float(m)
        else:
            np.take(sw, rows, out=swb)
            weight = float(swb.sum())
        loss = self.head.error(S[-1], Yb, swb, E[-1])
        if weight <= 0:
            return None
        self._backward(source, rows, U, S, G, E, levels, nt, n_threads)
        # coefficient adjustment (sq: the L2 norm's square, for the loss)
        if self.bound is None:  # the free parameters are the coefficients: one pass
            sq = optimizer.adjust(self.free, self.grad, self.n_coef, self.alpha,
                                  1.0 / weight, n_threads)
        else:
            sq = _kernels.finish_gradient(self.grad, self.coef, self.n_coef, self.alpha,
                                          1.0 / weight)
            self.bound.chain(self.free[: self.n_weights], self.grad[: self.n_weights])
            optimizer.step(self.free, self.grad, n_threads)
        loss = (loss + 0.5 * self.alpha * sq) / weight
        self._free_changed()
        return loss

    def _backward(self, source, rows, U, S, G, E, levels, nt, n_threads):
        """Backward signal propagation through the reverse systems: the
        adjustment signals (``-dL/dparam``, summed over the minibatch) into
        ``self.grad``."""
        for i in range(len(self.tables) - 1, -1, -1):
            c = self.constants[i]
            if c is not None:
                # the constants read the layer input and the error before the gain
                gt = self.tables[i].constant_grads(U[i], E[i], self._cgrad[i], nt, levels[i])
                sl = self._const_slices[i]
                c.chain(self.free[sl], gt, self.tables[i].constants, out=self.grad[sl])
            _kernels.reverse_signal(E[i], G[i])  # E[i] is now delta
            if i == 0:
                source.grad(rows, E[0], self.grad_coefs[0], nt)
            else:
                _kernels.matmul(S[i - 1], True, E[i], False, self.grad_coefs[i], 1.0, 0.0,
                                n_threads)
                _kernels.matmul(E[i], False, self.coefs[i], True, E[i - 1], 1.0, 0.0,
                                n_threads)
            _kernels.column_sums(E[i], self.grad_intercepts[i])
