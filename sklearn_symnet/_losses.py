"""The output head: how output signals become predictions, and the loss.

The network's last layer of neurons produces signals ``S``.  The head reads
them out (each signal itself, or the difference of a pair of neurons), scales
them by ``output_scale`` and compares them with the targets.  It returns the
error signal ``E = -dL/dS`` that enters the output neurons' reverse systems.
Classification: softmax within groups of outputs (all classes, or a pair per
label) and the log-loss, or squared error on one-hot targets.  Regression:
squared error.
"""

import numpy as np

from . import _kernels

READOUTS = ("signal", "difference", "linear")


class OutputHead:
    """Read-out, scale and loss of the output layer.

    Parameters
    ----------
    n_outputs : int
        Outputs of the loss (logits, or regression targets).
    readout : {"signal", "difference", "linear"}
        ``"signal"``: one output neuron per output; ``"difference"``: a pair
        per output, ``z = s_plus - s_minus``; ``"linear"``: the output layer
        has no neurons (its inputs are the outputs, as an MLP's identity
        output layer).
    scale : float
        ``beta``: the outputs are ``beta * z``.
    loss : {"softmax", "squared"}
        Log-loss of ``softmax(beta z)`` within groups, or ``0.5 (y - beta z)^2``.
    group : int
        Softmax group size (ignored for squared error).
    """

    def __init__(self, n_outputs, readout, scale, loss, group=1):
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}.")
        self.n_outputs = int(n_outputs)
        self.readout = readout
        self.scale = float(scale)
        self.loss = loss
        self.group = int(group) if loss == "softmax" else 1

    def outputs(self, S, out=None):
        """``z`` from the output signals (before ``scale``)."""
        if self.readout == "difference":
            return np.subtract(S[:, 0::2], S[:, 1::2], out=out)
        if out is not None:
            out[...] = S
            return out
        return S

    def error(self, S, Y, sw, E):
        """Sample-weighted loss sum, and ``E = -dL/dS`` (into ``E``): one
        kernel call (the pair read-out's differences are taken inside)."""
        return _kernels.output_error(S, Y, sw, self.scale, self.group,
                                     self.loss == "squared", E,
                                     self.readout == "difference")

    def log_proba(self, Z):
        """Log-softmax of ``scale * Z`` within groups (float64)."""
        Z = self.scale * np.asarray(Z, dtype=np.float64)
        n, m = Z.shape
        Zg = Z.reshape(n, m // self.group, self.group)
        Zg = Zg - Zg.max(axis=2, keepdims=True)
        Zg = Zg - np.log(np.exp(Zg).sum(axis=2, keepdims=True))
        return Zg.reshape(n, m)
