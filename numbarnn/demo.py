"""``python -m numbarnn demo``: the sequential-model ladder on two data sets.

1. Mackey-Glass (τ = 17): AR(τ) with its order chosen by BIC against
   latent autoregressive RNN, GRU and LSTM models. Reported on held-out
   data: one-step and 50-step (closed-loop) forecast NRMSE, the
   log-likelihood of the test observations given everything before them
   (nats per observation, the same observations for every model), and the
   fit time.
2. A discrete source (a random order-2 Markov chain over 4 symbols):
   Markov chains of order 1..3 against a categorical LSTM, by held-out
   bits per symbol; the true chain is the floor.
3. Gradient flow (largest singular value of ∂s_T/∂s_t against T − t) for
   tanh and ReLU RNNs, an LSTM and a GRU, freshly initialised and trained.

Plots go to ``--out`` (default ``numbarnn-demo/`` in the current
directory) as PNG files; the output says where.
"""
import argparse
import math
import os
import sys
import time

import numpy as np

from . import datasets
from .diagnostics import gradient_flow
from .models import AutoRegressive, LatentAR, MarkovChain
from .nn import GRU, LSTM, RNN

__all__ = ["main", "nrmse"]

#: Settings of a full run and of ``--quick`` (CI).
CONFIGS = {
    "full": dict(mg_train=2000, mg_test=1000, max_order=30, hidden=32, epochs=1500,
                 patience=100, window=100, batch_size=8, lr=0.003, horizon=50, every=25,
                 n_symbols=20000, cat_hidden=32, cat_epochs=60, cat_window=100,
                 flow_steps=100),
    "quick": dict(mg_train=800, mg_test=300, max_order=20, hidden=16, epochs=300,
                  patience=30, window=80, batch_size=4, lr=0.005, horizon=50, every=25,
                  n_symbols=6000, cat_hidden=16, cat_epochs=30, cat_window=60,
                  flow_steps=40),
}


def nrmse(pred, truth):
    """Root-mean-square error divided by the standard deviation of ``truth``.

    1 is the error of always predicting the mean; 0 is perfect.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.demo import nrmse
    >>> truth = np.array([0.0, 1.0, 0.0, 1.0])
    >>> nrmse(np.full(4, 0.5), truth)
    1.0
    """
    pred, truth = np.asarray(pred, float), np.asarray(truth, float)
    return float(np.sqrt(np.mean((pred - truth) ** 2)) / np.std(truth))


# -- Mackey-Glass ---------------------------------------------------------------
def _continuous(cfg, seed, progress, say):
    x = datasets.mackey_glass(cfg["mg_train"] + cfg["mg_test"], discard=500)
    train, test = x[:cfg["mg_train"]], x[cfg["mg_train"]:]
    h, every = cfg["horizon"], cfg["every"]
    origins = list(range(0, test.size - h + 1, every))
    truth_h = np.concatenate([test[o:o + h] for o in origins])
    rows, models = [], {}

    t0 = time.perf_counter()
    ar = AutoRegressive.select_order(train, cfg["max_order"], ic="bic")
    fit_s = time.perf_counter() - t0
    tau = ar.order
    context = np.r_[train[train.size - tau:], test]  # the test observations, conditioned
    paths = np.concatenate([ar.forecast(h, history=np.r_[train, test[:o]]) for o in origins])
    rows.append(dict(model=f"AR({tau}), BIC", params=ar.n_params,
                     one=nrmse(ar.predict(context), test), multi=nrmse(paths, truth_h),
                     ll=ar.log_likelihood(context) / test.size, seconds=fit_s))
    models["ar"] = ar
    for cell in ("rnn", "gru", "lstm"):
        say(f"fitting the {cell.upper()} latent AR model on {train.size} Mackey-Glass samples")
        t0 = time.perf_counter()
        m = LatentAR(cell, cfg["hidden"], seed=seed).fit(
            train, window=cfg["window"], epochs=cfg["epochs"], batch_size=cfg["batch_size"],
            lr=cfg["lr"], validation_split=0.2, patience=cfg["patience"], progress=progress)
        fit_s = time.perf_counter() - t0
        paths = np.concatenate([m.forecast(h, history=np.r_[train, test[:o]])
                                for o in origins])
        rows.append(dict(model=f"{cell.upper()} latent AR, H={cfg['hidden']}",
                         params=m.n_params, one=nrmse(m.predict(test, history=train), test),
                         multi=nrmse(paths, truth_h),
                         ll=m.log_likelihood(test, history=train) / test.size,
                         seconds=fit_s, epochs=m.history_.epochs))
        models[cell] = m
    return rows, models, (train, test, len(origins))


def _continuous_table(rows, n_train, n_test, n_origins, horizon):
    lines = [f"Mackey-Glass (tau=17, one sample per time unit): {n_train} training, "
             f"{n_test} test samples",
             f"{'model':<26}{'params':>7}{'1-step NRMSE':>14}{f'{horizon}-step NRMSE':>15}"
             f"{'test loglik/obs':>17}{'fit s':>8}"]
    for r in rows:
        lines.append(f"{r['model']:<26}{r['params']:>7d}{r['one']:>14.4f}{r['multi']:>15.4f}"
                     f"{r['ll']:>17.3f}{r['seconds']:>8.1f}")
    lines.append(f"NRMSE = RMSE / std(test). {horizon}-step: closed-loop forecasts from "
                 f"{n_origins} origins in the test part, all horizons 1..{horizon}. "
                 "Log-likelihood: nats per test observation given all earlier data.")
    return lines


# -- discrete source --------------------------------------------------------------
def _discrete(cfg, seed, progress, say):
    seq, P = datasets.markov_source(order=2, n_states=4, n=cfg["n_symbols"], seed=seed)
    n_train = int(0.8 * seq.size)
    train, test = seq[:n_train], seq[n_train:]
    bits = -1.0 / (test.size * math.log(2))
    rows = []
    for k in (1, 2, 3):
        t0 = time.perf_counter()
        mc = MarkovChain(order=k, n_states=4, alpha=0.5).fit(train)
        rows.append((f"Markov chain, order {k}", mc.n_params,
                     bits * mc.log_likelihood(test), time.perf_counter() - t0))
    say(f"fitting the categorical LSTM on {train.size} symbols")
    t0 = time.perf_counter()
    m = LatentAR("lstm", cfg["cat_hidden"], readout="categorical", n_states=4, seed=seed).fit(
        train, window=cfg["cat_window"], epochs=cfg["cat_epochs"], lr=0.01,
        validation_split=0.1, patience=10, progress=progress)
    rows.append((f"LSTM latent AR, H={cfg['cat_hidden']}", m.n_params,
                 bits * m.log_likelihood(test), time.perf_counter() - t0))
    # The floor: the true chain (first two symbols uniform, as generated).
    true_ll = 2 * math.log(0.25) + np.log(P[test[:-2], test[1:-1], test[2:]]).sum()
    rows.append(("true source (reference)", None, bits * true_ll, None))
    lines = [f"Discrete source: order-2 Markov chain over 4 symbols, {train.size} training, "
             f"{test.size} test symbols",
             f"{'model':<26}{'params':>7}{'test bits/symbol':>18}{'fit s':>8}"]
    for name, k, b, s in rows:
        lines.append(f"{name:<26}{'' if k is None else k:>7}{b:>18.4f}"
                     f"{'' if s is None else f'{s:.2f}':>8}")
    return lines, rows


# -- gradient flow and plots ----------------------------------------------------------
def _flows(cfg, seed, models, test):
    x = np.random.default_rng(seed).standard_normal((cfg["flow_steps"], 1, 1))
    H = cfg["hidden"]
    fresh = {"RNN tanh": RNN(1, H, seed=seed), "RNN relu": RNN(1, H, nonlinearity="relu",
                                                                 seed=seed),
             "LSTM": LSTM(1, H, seed=seed), "GRU": GRU(1, H, seed=seed)}
    flows = {name: gradient_flow(layer, x) for name, layer in fresh.items()}
    series = test[:cfg["flow_steps"]]
    trained = {name: gradient_flow(models[cell], series)
               for name, cell in (("RNN tanh", "rnn"), ("LSTM", "lstm"), ("GRU", "gru"))}
    return flows, trained


def _plots(out, models, data, flows, trained, cfg):
    import matplotlib
    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt

    train, test, _ = data
    paths = []
    o, h = 0, min(3 * cfg["horizon"], test.size)
    fig, axes = plt.subplots(2, 1, figsize=(10, 7))
    t = np.arange(h)
    axes[0].plot(t, test[o:o + h], "k", lw=2, label="truth")
    history = np.r_[train, test[:o]]
    for name, m in models.items():
        axes[0].plot(t, m.forecast(h, history=history), label=name.upper())
    axes[0].set_title(f"Mackey-Glass: closed-loop forecasts of the first {h} test steps")
    axes[0].legend(ncol=5, fontsize=8)
    for name, m in models.items():
        pred = (m.predict(np.r_[train[train.size - m.order:], test]) if name == "ar"
                else m.predict(test, history=train))
        axes[1].semilogy(np.abs(pred - test)[:h * 2] + 1e-12, label=name.upper(), lw=0.8)
    axes[1].set_title("one-step-ahead absolute error on the test part")
    axes[1].set_xlabel("test step")
    axes[1].legend(ncol=4, fontsize=8)
    fig.tight_layout()
    paths.append(os.path.join(out, "forecasts.png"))
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    colors = {"RNN tanh": "C0", "RNN relu": "C1", "LSTM": "C2", "GRU": "C3"}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, group, title in ((axes[0], flows, "freshly initialised (PyTorch init)"),
                             (axes[1], trained, "trained on Mackey-Glass")):
        for name, f in group.items():
            f.plot(ax, which="jacobian_norm", label=name, color=colors[name])
        ax.set_title(f"‖∂s_T/∂s_t‖ (largest singular value): {title}", fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(os.path.join(out, "gradient_flow.png"))
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def _rates(flows, trained):
    def fmt(group):
        return ", ".join(f"{n} {f.rate('jacobian_norm'):.3f}" for n, f in group.items())
    return ["Gradient flow, per-step factor of ‖∂s_T/∂s_t‖ (exp of the fitted log-slope; "
            "<1 vanishes, >1 explodes):",
            f"  fresh:   {fmt(flows)}", f"  trained: {fmt(trained)}"]


def main(argv=None):
    """Run the demo; returns the process exit code.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``): ``--quick``,
        ``--out DIR``, ``--seed N``, ``--no-progress``.

    Returns
    -------
    int

    Examples
    --------
    >>> from numbarnn.demo import main
    >>> main(["--help"])  # doctest: +ELLIPSIS
    usage: python -m numbarnn demo ...
    0
    """
    parser = argparse.ArgumentParser(
        prog="python -m numbarnn demo",
        description="AR, Markov and latent RNN/GRU/LSTM models on Mackey-Glass and a "
                    "Markov source: forecast quality, held-out likelihoods, gradient flow.")
    parser.add_argument("--quick", action="store_true",
                        help="small data and few epochs (under 30 s; for CI)")
    parser.add_argument("--out", default="numbarnn-demo",
                        help="folder for the PNG plots (default: ./numbarnn-demo)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a bad argument: return, do not exit
        return int(exc.code or 0)
    cfg = CONFIGS["quick" if args.quick else "full"]
    progress = not args.no_progress
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    start = time.perf_counter()

    def say(msg):
        print(msg, file=sys.stderr, flush=True)

    rows, models, data = _continuous(cfg, args.seed, progress, say)
    lines = _continuous_table(rows, data[0].size, data[1].size, data[2], cfg["horizon"])
    lines += [""] + _discrete(cfg, args.seed, progress, say)[0]
    flows, trained = _flows(cfg, args.seed, models, data[1])
    lines += [""] + _rates(flows, trained)
    paths = _plots(out, models, data, flows, trained, cfg)
    lines += ["", f"Plots written to {out}:"] + [f"  {os.path.basename(p)}" for p in paths]
    lines.append(f"Total time {time.perf_counter() - start:.1f} s"
                 f"{' (--quick)' if args.quick else ''}.")
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
