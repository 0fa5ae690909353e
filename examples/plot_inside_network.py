"""Looking inside a fitted network: signals, operating points, one neuron's ODE.

No multilayer perceptron of scikit-learn shows its hidden activations.  A
fitted SymNet estimator does: ``est.layer_signals(X)`` returns, for every layer
of neurons (the hidden layers, then the output layer), the neurons' inputs
``u``, their signals ``s`` (the steady-state displacement of each neuron's
output element from its fixed point), their gains ``ds/du`` (from the reverse
system) and which of them sit on a zero-gain ("dead") piece.  This example fits
a ``SymNetClassifier`` with two hidden layers on the digits data (pixels / 16)
and draws, for the test set:

(a)-(c) the signals of each layer, all its units pooled, split into the
    (sample, neuron) pairs on a live piece and those on a zero-gain piece;

(d)-(f) the operating points of one neuron per layer (the unit whose inputs
    spread the most): every test sample's ``(u, s)`` drawn on that neuron's
    activation curve ``s(u)`` and gain curve.  The neuron is rebuilt from the
    fitted constants, ``WuxingNeuron(*est.neuron_constants_[layer][unit],
    coupling=..., input_element=..., output_element=...)``, and its
    closed-form response matches the network's signals to rounding (printed);

(g), (h) that first-layer neuron's ordinary differential equation integrated
    by RK4 (``WuxingNeuron.simulate``, the package's reference integrator)
    from its fixed point under a real input: the ``u`` it receives from one
    test digit.  (g) shows the five elements settling on the closed-form
    steady state (dashed), (h) how fast the output element's displacement
    approaches the signal the network computed for that digit.

``--neuron-params all`` trains every neuron's constants too (each unit then
has its own curve).  Run ``python examples/plot_inside_network.py [--out DIR]
[--quick] [--neuron-params fixed|shape|all]``; it writes
``plot_inside_network.png`` next to this script (or into DIR).
"""

import argparse
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

try:
    import sklearn_symnet  # noqa: F401
except ImportError:  # a source checkout built in place, not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sklearn_symnet import SymNetClassifier, WuxingNeuron  # noqa: E402
from sklearn_symnet._neuron import ELEMENT_NAMES  # noqa: E402

COLORS = ["tab:green", "tab:red", "tab:brown", "tab:gray", "tab:blue"]


def neuron_at(est, layer, unit):
    """The fitted network's neuron ``unit`` of layer ``layer`` as a WuxingNeuron."""
    n_layers = len(est.neuron_constants_)
    kind = est.output_neuron_ if layer == n_layers - 1 else est.neuron_
    K1, K2, K3, r = (float(c) for c in est.neuron_constants_[layer][unit])
    return WuxingNeuron(K1, K2, K3, r, coupling=kind.coupling,
                        input_element=kind.input_element,
                        output_element=kind.output_element, flux_bound=kind.flux_bound)


def layer_name(layer, n_layers):
    return "output layer" if layer == n_layers - 1 else f"hidden layer {layer + 1}"


def plot_histogram(ax, bunch, title):
    s, dead = bunch.signals.ravel(), bunch.dead.ravel()
    bins = np.linspace(s.min(), s.max(), 61) if np.ptp(s) > 0 else 20
    ax.hist([s[~dead], s[dead]], bins=bins, stacked=True,
            color=["tab:orange", "0.6"],
            label=[f"on a live piece ({100 * np.mean(~dead):.1f} %)",
                   f"on a zero-gain piece ({100 * np.mean(dead):.1f} %)"])
    ax.set_title(title)
    ax.set_xlabel("signal s")
    ax.set_ylabel("(sample, neuron) pairs")
    ax.legend(fontsize=8)


def plot_operating_points(ax, neuron, u, s, title, n_points):
    lo, hi = np.min(u), np.max(u)
    pad = 0.15 * max(hi - lo, 1e-3)
    grid = np.linspace(lo - pad, hi + pad, 600)
    curve, gain = neuron.response(grid)
    ax.plot(grid, curve, color="tab:orange", label="activation s(u) of the neuron")
    step = max(1, u.shape[0] // n_points)
    ax.plot(u[::step], s[::step], "o", ms=3, color="k", alpha=0.5,
            label="test samples (u, s) from layer_signals")
    for k, bp in enumerate(b for b in neuron.breakpoints if grid[0] <= b <= grid[-1]):
        ax.axvline(bp, color="tab:orange", ls=":", lw=1,
                   label="breakpoints" if k == 0 else None)
    if neuron.coupling == "rate" and grid[0] < neuron.breakpoints[0]:
        ax.axvspan(grid[0], min(neuron.breakpoints[0], grid[-1]), color="0.92",
                   label="dead zone (gain 0)")
    twin = ax.twinx()
    twin.plot(grid, gain, color="tab:purple", ls="--", lw=1)
    twin.set_ylabel("gain ds/du (dashed)", color="tab:purple")
    twin.set_ylim(bottom=min(0.0, gain.min() * 1.1), top=max(gain.max() * 1.2, 1e-3))
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("input u")
    ax.set_ylabel("signal s")
    ax.legend(fontsize=7, loc="upper left")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder for the PNG (default: next to this script)")
    parser.add_argument("--quick", action="store_true",
                        help="few epochs, a coarser ODE integration (a few seconds)")
    parser.add_argument("--neuron-params", default="fixed",
                        choices=["fixed", "shape", "all"],
                        help="train the neurons' constants too (default: fixed)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X / 16.0, y, test_size=0.25, stratify=y,
                                              random_state=0)
    est = SymNetClassifier(hidden_layer_sizes=(32, 16), max_iter=10 if args.quick else 150,
                           neuron_params=args.neuron_params, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X_tr, y_tr)
    print(f"SymNetClassifier{tuple(est.hidden_layer_sizes)} on digits, "
          f"{est.n_iter_} epochs: test accuracy {est.score(X_te, y_te):.4f}")

    layers = est.layer_signals(X_te)
    n_layers = len(layers)
    fig = plt.figure(figsize=(17, 14))
    grid = fig.add_gridspec(3, 3, height_ratios=[1, 1.1, 1.1])
    panels = "abcdefgh"

    # (a)-(c): the signals of each layer
    for layer, bunch in enumerate(layers):
        ax = fig.add_subplot(grid[0, layer])
        plot_histogram(ax, bunch, f"({panels[layer]}) {layer_name(layer, n_layers)}: "
                                  f"{bunch.signals.shape[1]} neurons")
        print(f"{layer_name(layer, n_layers)}: signals in [{bunch.signals.min():.3f}, "
              f"{bunch.signals.max():.3f}], {100 * bunch.dead.mean():.1f} % of the "
              f"(sample, neuron) pairs on a zero-gain piece, "
              f"{np.sum(bunch.dead.all(axis=0))} neurons dead on every test sample")

    # (d)-(f): one neuron per layer on its activation curve
    chosen = []
    for layer, bunch in enumerate(layers):
        unit = int(np.argmax(bunch.inputs.std(axis=0)))
        neuron = neuron_at(est, layer, unit)
        u, s = bunch.inputs[:, unit], bunch.signals[:, unit]
        s_ref, g_ref = neuron.response(u)
        err = max(np.max(np.abs(s_ref - s)), np.max(np.abs(g_ref - bunch.gains[:, unit])))
        chosen.append((layer, unit, neuron))
        K1, K2, K3, r = est.neuron_constants_[layer][unit]
        ax = fig.add_subplot(grid[1, layer])
        plot_operating_points(
            ax, neuron, u, s,
            f"({panels[3 + layer]}) {layer_name(layer, n_layers)}, unit {unit} "
            f"({neuron.coupling}; K1={K1:.3g}, K2={K2:.3g}, K3={K3:.3g}, r={r:.3g})\n"
            f"dead on {100 * bunch.dead[:, unit].mean():.0f} % of the test samples",
            n_points=200 if args.quick else 450)
        print(f"  unit {unit}: inputs u in [{u.min():.3f}, {u.max():.3f}]; the neuron's "
              f"closed-form s(u) and gain match layer_signals to {err:.1e}")

    # (g), (h): the first-layer neuron's ODE under the input of one test digit
    layer, unit, neuron = chosen[0]
    u_all = layers[layer].inputs[:, unit]
    sample = int(np.argsort(u_all)[int(0.9 * (u_all.shape[0] - 1))])  # a strong input
    u = float(u_all[sample])
    s_net = float(layers[layer].signals[sample, unit])
    t_max, dt = (30.0, 0.02) if args.quick else (40.0, 0.005)
    t, traj = neuron.simulate(u=u, t_max=t_max, dt=dt)
    x_hat = neuron.steady_state([u])[0]
    ax_g = fig.add_subplot(grid[2, :2])
    for i, name in enumerate(ELEMENT_NAMES):
        role = (" (input)" if i == neuron.input_element else
                " (output)" if i == neuron.output_element else "")
        ax_g.plot(t, traj[:, i], color=COLORS[i], label=f"{i} {name}{role}")
        ax_g.axhline(x_hat[i], color=COLORS[i], ls="--", lw=1)
    ax_g.axhline(neuron.fixed_point, color="k", ls=":", lw=0.8, label="fixed point x*")
    ax_g.set_title(f"(g) {layer_name(layer, n_layers)}, unit {unit}: its ODE (RK4) from x* "
                   f"under the input u = {u:.3f} it receives from test digit #{sample} "
                   f"(a '{y_te[sample]}')\ndashed: the closed-form steady state", fontsize=10)
    ax_g.set_xlabel("time t")
    ax_g.set_ylabel("element level x_i(t)")
    ax_g.legend(fontsize=8, ncol=3)

    ax_h = fig.add_subplot(grid[2, 2])
    b = neuron.output_element
    gap = np.abs(traj[:, b] - neuron.fixed_point - s_net)
    shown = gap > 1e-15
    ax_h.semilogy(t[shown], gap[shown], color=COLORS[b])
    ax_h.set_title(f"(h) |x_{ELEMENT_NAMES[b]}(t) - x* - s|, s = {s_net:.4f} from "
                   "layer_signals", fontsize=10)
    ax_h.set_xlabel("time t")
    ax_h.set_ylabel("distance to the network's signal")
    settle = t[np.argmax(gap < 1e-3 * max(abs(s_net), 1e-3))] if np.any(
        gap < 1e-3 * max(abs(s_net), 1e-3)) else np.nan
    fig.suptitle(f"Inside a fitted SymNetClassifier{tuple(est.hidden_layer_sizes)} "
                 f"(digits test set, neuron_params={args.neuron_params!r})", fontsize=13)
    fig.tight_layout()
    path = args.out / "plot_inside_network.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)

    print(f"ODE of {layer_name(layer, n_layers)} unit {unit} under u = {u:.4f} (test digit "
          f"#{sample}): x_{ELEMENT_NAMES[b]}(t={t_max:g}) - x* = "
          f"{traj[-1, b] - neuron.fixed_point:.6f}, the network's signal {s_net:.6f} "
          f"(|diff| {gap[-1]:.1e}); within 0.1 % of it from t = {settle:.2f}")
    print(f"wrote {path}")
    return [path]


if __name__ == "__main__":
    main()
