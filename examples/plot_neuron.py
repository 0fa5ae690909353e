"""Inside one five-element (Wuxing) neuron: dynamics, energy and response.

A SymNet neuron is a small symmetric Lotka-Volterra cycle of five elements
(wood, fire, earth, metal, water).  Its *signal* is how far the steady state of
its output element (fire, b = 1) moves from the fixed point x* when an input u
enters its input element (wood, a = 0).  This example draws, for the package's
default constants (K1=0.3, K2=0.2, K3=1, r=1, so x* = 1):

(a), (b) The trajectories x(t) of the five elements, integrated with RK4 by
    ``WuxingNeuron.simulate`` from x* after the input is switched on at t = 0
    (rate coupling u = 1.5; flux coupling u = 1.0), converging to the
    closed-form steady state of ``WuxingNeuron.steady_state`` (dashed lines).

(c) The Lyapunov energy along the way.  Under a constant input the neuron
    settles at a *new* equilibrium x_hat, so the energy that decreases is the
    one centred there, computed in this example (not by the package):

        V_hat(x) = sum_i (x_i - x_hat_i ln x_i)

    over the surviving elements (x_hat_i > 0); an element that the input drives
    extinct (x_hat_i = 0) contributes just x_i (the same formula with
    0 * ln = 0).  Along every trajectory V_hat(x(t)) - V_hat(x_hat) falls
    monotonically to zero: dV_hat/dt = -K3 |x - x_hat|^2 - (sum of the
    extinct elements' x_i w_i) for the rate coupling, and
    -K3 |x - x_hat|^2 - v (x_a - x_hat_a)^2 / (x_a x_hat_a) for a flux inflow
    v > 0.  The curves are the two inputs above, a rate input u = -2 below the
    first breakpoint (wood dies out), and a perturbed start without input,
    for which ``WuxingNeuron.energy`` (centred at x*) is the energy.

(d), (e), (f) The activation s(u) and gain ds/du as functions of the raw
    input u.  Rate coupling: exactly piecewise linear, with the breakpoints
    (where an element dies out or comes back) marked; below the first one the
    input element is extinct and the gain is 0 (a ReLU-like dead zone).  Flux
    coupling: smooth and saturating, because the inflow is bounded by the
    arctangent u_eff = u_max (2/pi) atan(pi u / (2 u_max)) to keep it above the
    fold where the positive equilibrium disappears.  Dots are steady states of a
    long RK4 integration of the ODE, independent of the closed forms.  At u = 0
    both couplings have the same gain (the causal gain G(1)).

Run ``python examples/plot_neuron.py [--out DIR] [--quick]``; it writes
``plot_neuron.png`` next to this script (or into DIR) and prints a summary.
"""

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

try:
    import sklearn_symnet  # noqa: F401
except ImportError:  # a source checkout built in place, not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sklearn_symnet import WuxingNeuron  # noqa: E402
from sklearn_symnet._neuron import ELEMENT_NAMES  # noqa: E402

COLORS = ["tab:green", "tab:red", "tab:brown", "tab:gray", "tab:blue"]


def energy_around(x, x_hat):
    """V_hat(x) = sum(x_i - x_hat_i ln x_i), with 0 * ln(x_i) = 0 for extinct i."""
    x = np.asarray(x, dtype=float)
    alive = x_hat > 0
    with np.errstate(divide="ignore"):
        logs = np.where(alive, np.log(np.where(alive, x, 1.0)), 0.0)
    return np.sum(x - x_hat * logs, axis=-1)


def ode_steady_signal(neuron, u, t_max, dt):
    """Steady signal of every input in ``u`` by vectorised RK4 from x*."""
    x = neuron.integrate(u, t_max=t_max, dt=dt)
    return x[:, neuron.output_element] - neuron.fixed_point


def plot_trajectory(ax, neuron, u, t, X, title):
    x_hat = neuron.steady_state([u])[0]
    for i, name in enumerate(ELEMENT_NAMES):
        ax.plot(t, X[:, i], color=COLORS[i], label=f"{i} {name}")
        ax.axhline(x_hat[i], color=COLORS[i], ls="--", lw=1)
    ax.axhline(neuron.fixed_point, color="k", ls=":", lw=0.8)
    ax.set_title(title)
    ax.set_xlabel("time t")
    ax.set_ylabel("element level x_i(t)")
    ax.legend(fontsize=8, ncol=2, loc="best", title="solid: RK4, dashed: closed form",
              title_fontsize=7)
    return x_hat


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder for the PNG (default: next to this script)")
    parser.add_argument("--quick", action="store_true",
                        help="coarser integration and fewer points (a few seconds)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    t_max, dt = (12.0, 0.02) if args.quick else (20.0, 0.005)
    ode_t, ode_dt = (40.0, 0.02) if args.quick else (200.0, 0.01)
    rate = WuxingNeuron(coupling="rate")
    flux = WuxingNeuron(coupling="flux")
    u_rate, u_flux, u_dead = 1.5, 1.0, -2.0

    fig, axes = plt.subplots(2, 3, figsize=(16, 9.5))
    (ax_a, ax_b, ax_c), (ax_d, ax_e, ax_f) = axes

    # (a), (b): trajectories under an input switched on at t = 0
    t, X_rate = rate.simulate(u=u_rate, t_max=t_max, dt=dt)
    xh_rate = plot_trajectory(ax_a, rate, u_rate, t, X_rate,
                              f"(a) rate coupling, input u = {u_rate} from x*")
    _, X_flux = flux.simulate(u=u_flux, t_max=t_max, dt=dt)
    u_eff = float(flux.effective_input(u_flux))
    xh_flux = plot_trajectory(
        ax_b, flux, u_flux, t, X_flux,
        f"(b) flux coupling, input u = {u_flux} (u_eff = {u_eff:.3f}) from x*")

    # (c): the energy centred at the new equilibrium decreases to its minimum
    _, X_dead = rate.simulate(u=u_dead, t_max=t_max, dt=dt)
    xh_dead = rate.steady_state([u_dead])[0]
    x0 = rate.fixed_point * np.array([1.6, 0.5, 1.3, 0.8, 1.0])
    _, X_free = rate.simulate(u=0.0, t_max=t_max, dt=dt, x0=x0)
    curves = [
        (f"rate, u = {u_rate}", energy_around(X_rate, xh_rate)
         - energy_around(xh_rate, xh_rate), "tab:orange"),
        (f"flux, u = {u_flux}", energy_around(X_flux, xh_flux)
         - energy_around(xh_flux, xh_flux), "tab:purple"),
        (f"rate, u = {u_dead} (wood dies)", energy_around(X_dead, xh_dead)
         - energy_around(xh_dead, xh_dead), "tab:green"),
        ("no input, perturbed start (V of the package)",
         rate.energy(X_free) - rate.energy(rate.fixed_point_vector), "k"),
    ]
    print("Lyapunov energy V_hat(x(t)) - V_hat(x_hat) along each trajectory:")
    for label, dV, color in curves:
        big = dV > 1e-10  # above the float floor
        rises = np.diff(dV)[big[:-1]]
        print(f"  {label:45s} V(0) - V_hat = {dV[0]:.4f}, at t = {t_max:g}: "
              f"{dV[-1]:.1e}, largest rise {max(rises.max(), 0.0):.1e}")
        ax_c.semilogy(t[big], dV[big], color=color, label=label)
    ax_c.set_title(r"(c) Lyapunov energy around the new equilibrium $\hat{x}$")
    ax_c.set_xlabel("time t")
    ax_c.set_ylabel(r"$\hat{V}(x(t)) - \hat{V}(\hat{x})$   (log scale)")
    ax_c.legend(fontsize=8, loc="upper right")
    ax_c.text(0.02, 0.03, r"$\hat{V}(x) = \sum_{\hat{x}_i > 0} (x_i - \hat{x}_i \ln x_i)"
              r" + \sum_{\hat{x}_i = 0} x_i$" "\n(computed in this example)",
              transform=ax_c.transAxes, fontsize=8)

    # (d), (e), (f): activation and gain against the raw input
    u = np.linspace(-3.0, 12.0, 301 if args.quick else 1501)
    s_rate, g_rate = rate.response(u)
    s_flux, g_flux = flux.response(u)
    # away from the breakpoints, where the dying element's approach is slow
    u_dots = np.array([-2.8, -2.2, -0.6, 0.5, 1.5, 3.0, 4.5, 6.0, 7.0, 9.5, 11.0])
    uf_dots = np.array([-2.8, -2.0, -1.0, -0.5, -0.2, 0.2, 0.5, 1.0, 2.0, 2.8])
    if args.quick:
        u_dots, uf_dots = u_dots[::2], uf_dots[::2]
    n_dots = u_dots.shape[0] + uf_dots.shape[0]
    uf = np.linspace(-3.0, 3.0, 241 if args.quick else 1201)
    ode_rate = ode_steady_signal(rate, u_dots, ode_t, ode_dt)
    ode_flux = ode_steady_signal(flux, uf_dots, ode_t, ode_dt)
    err_rate = np.max(np.abs(ode_rate - rate.signal(u_dots)))
    err_flux = np.max(np.abs(ode_flux - flux.signal(uf_dots)))

    ax_d.plot(u, s_rate, color="tab:orange", label="closed form s(u)")
    ax_d.plot(u_dots, ode_rate, "o", color="k", ms=4, label=f"RK4, T = {ode_t:g}")
    ax_e.plot(uf, flux.signal(uf), color="tab:purple", label="closed form s(u)")
    ax_e.plot(uf, flux.effective_input(uf) * g_rate[np.searchsorted(u, 0.0)],
              color="tab:purple", ls="--", lw=1,
              label=r"$G(1)\,u_{eff}(u)$ (linear response to the bounded inflow)")
    ax_e.plot(uf_dots, ode_flux, "o", color="k", ms=4, label=f"RK4, T = {ode_t:g}")
    ax_f.plot(u, g_rate, color="tab:orange", label="rate")
    ax_f.plot(u, g_flux, color="tab:purple", label="flux")
    for k, bp in enumerate(rate.breakpoints):
        for ax in (ax_d, ax_f):
            ax.axvline(bp, color="tab:orange", ls=":", lw=1,
                       label="rate breakpoints" if k == 0 else None)
    ax_d.axvspan(u[0], rate.breakpoints[0], color="0.9", label="dead zone (gain 0)")
    ax_d.set_title("(d) rate coupling: piecewise-linear activation")
    ax_e.set_title(f"(e) flux coupling: smooth, saturating activation "
                   f"($|u_{{eff}}| < {flux.input_bound:.3f}$)")
    ax_f.set_title("(f) gain ds/du (reverse-system response)")
    for ax in (ax_d, ax_e):
        ax.axhline(0, color="k", lw=0.5)
        ax.set_ylabel("signal s(u) = x_fire(steady) - x*")
    ax_f.set_ylabel("gain ds/du")
    for ax in (ax_d, ax_e, ax_f):
        ax.set_xlabel("raw input u")
        ax.legend(fontsize=8, loc="best")
    fig.suptitle("One Wuxing neuron (K1=0.3, K2=0.2, K3=1, r=1; input wood, "
                 "output fire)", fontsize=13)
    fig.tight_layout()
    path = args.out / "plot_neuron.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)

    print(f"rate steady state at u={u_rate}: {np.round(xh_rate, 4)} "
          f"(RK4 at t={t_max:g}: {np.round(X_rate[-1], 4)})")
    print(f"flux steady state at u={u_flux}: {np.round(xh_flux, 4)} "
          f"(RK4 at t={t_max:g}: {np.round(X_flux[-1], 4)})")
    print(f"rate breakpoints: {np.round(rate.breakpoints, 4)}; gains on the pieces: "
          f"{np.round(rate.gain(np.r_[-2.0, 0.0, 8.1, 9.0]), 4)}")
    print(f"flux fold u_c = {flux.fold_input:.4f}, input bound u_max = "
          f"{flux.input_bound:.4f}, s(+-inf) -> "
          f"{flux.signal([-1e6])[0]:.4f} / {flux.signal([1e6])[0]:.4f}")
    print(f"gain at u=0: rate {rate.gain([0.0])[0]:.4f}, flux {flux.gain([0.0])[0]:.4f}")
    print(f"closed form vs RK4 (T={ode_t:g}) at {n_dots} inputs: max |diff| "
          f"rate {err_rate:.1e}, flux {err_flux:.1e}")
    print(f"wrote {path}")
    return [path]


if __name__ == "__main__":
    main()
