"""Finite-difference checks of analytic BPTT gradients, in float64."""
import dataclasses

import numpy as np

from ..nn import RNNBase

__all__ = ["GradCheckResult", "check_gradients"]


@dataclasses.dataclass
class GradCheckResult:
    """The outcome of :func:`check_gradients`.

    Attributes
    ----------
    max_rel_error : float
        The worst relative error over every checked entry.
    worst : tuple (str, tuple)
        Array name and index of that entry.
    errors : dict of str to float
        The worst relative error of each checked array (``"x"`` is the
        input, for layers).
    n_checked : int
        Entries compared.
    eps : float
        The finite-difference step.

    Examples
    --------
    >>> from numbarnn.diagnostics import GradCheckResult
    >>> r = GradCheckResult(2e-9, ("weight_hh_l0", (1, 2)), {"weight_hh_l0": 2e-9}, 12, 1e-3)
    >>> r
    GradCheckResult(max_rel_error=2e-09 at weight_hh_l0[1, 2]; 1 arrays, 12 entries, eps=0.001)
    >>> r.passed(1e-7)
    True
    """

    max_rel_error: float
    worst: tuple
    errors: dict
    n_checked: int
    eps: float

    def passed(self, tol=1e-6):
        """Whether the worst relative error is at most ``tol``."""
        return bool(self.max_rel_error <= tol)

    def __repr__(self):
        name, idx = self.worst
        where = f"{name}[{', '.join(str(int(i)) for i in idx)}]"
        return (f"GradCheckResult(max_rel_error={self.max_rel_error:.3g} at {where}; "
                f"{len(self.errors)} arrays, {self.n_checked} entries, eps={self.eps:g})")

    def __str__(self):
        width = max([len(k) for k in self.errors] + [5])
        lines = [f"{'array':<{width}}  worst relative error"]
        lines += [f"{k:<{width}}  {v:.3g}" for k, v in self.errors.items()]
        return repr(self) + "\n" + "\n".join(lines)


def _layer_objective(layer, x, dy, state, rng):
    """(loss(), analytic()) for a layer: L = Σ dy·y (+ Σ dstate·state for RNN layers)."""
    recurrent = isinstance(layer, RNNBase)

    def run():
        out = layer.forward(x, state, keep_cache=True) if recurrent else layer.forward(x)
        return out if isinstance(out, tuple) else (out, None)

    y, st = run()
    dy = rng.standard_normal(y.shape) if dy is None else np.asarray(dy, dtype=np.float64)
    if dy.shape != y.shape:
        raise ValueError(f"dy: expected the output's shape {y.shape}, got {dy.shape}")
    parts = () if st is None else (st if isinstance(st, tuple) else (st,))
    dparts = tuple(rng.standard_normal(p.shape) for p in parts)

    def loss():
        y, st = run()
        sts = () if st is None else (st if isinstance(st, tuple) else (st,))
        return float(np.sum(dy * y) + sum(np.sum(d * s) for d, s in zip(dparts, sts)))

    def analytic():
        run()
        if recurrent:
            dstate = dparts if layer.kind == "lstm" else dparts[0]
            return layer.backward(dy, dstate)
        return layer.backward(dy)

    return loss, analytic


def _derivative(loss, arr, idx, eps, stencil):
    """Central difference of ``loss`` in ``arr[idx]`` (restored afterwards)."""
    old = arr[idx]
    offsets = (1, -1) if stencil == 3 else (2, 1, -1, -2)
    values = []
    try:
        for k in offsets:
            arr[idx] = old + k * eps
            values.append(loss())
    finally:
        arr[idx] = old
    if stencil == 3:
        return (values[0] - values[1]) / (2 * eps)
    # Five-point stencil: error O(eps^4), so a larger eps keeps the
    # round-off of a large summed loss (u |L| / eps) out of the comparison.
    return (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * eps)


def check_gradients(model, x, *, dy=None, state=None, eps=None, stencil=5, max_entries=50,
                    seed=0, floor=1e-7):
    """Compare analytic gradients with float64 central finite differences.

    Parameters
    ----------
    model : layer or model
        A layer (numbarnn ``RNN``/``LSTM``/``GRU``, a
        :class:`~numbarnn.train.Linear`, or anything with ``forward``,
        ``backward``, ``params``, ``grads``): the loss is
        ``L = Σ dy·y + Σ dstate·state_n`` with seeded random cotangents
        (``dy`` may be given), and the input gradient is checked too
        (as ``"x"``). A model (anything with ``params``, ``grads`` and
        ``loss_and_grad(x)``, such as a fitted :class:`numbarnn.LatentAR`):
        the loss is ``loss_and_grad(x)``, its negative log-likelihood.
        Parameters must be float64; dropout is off during the check.
    x : array_like
        The layer's input, or the model's data.
    dy : array_like, optional
        (Layers) the cotangent of the output.
    state : optional
        (Recurrent layers) the initial state.
    eps : float, optional
        The step; default 1e-3 for ``stencil=5``, 1e-6 for ``stencil=3``.
    stencil : {5, 3}, default 5
        Central differences on 5 points, ``(-L(θ+2ε) + 8 L(θ+ε) - 8 L(θ-ε)
        + L(θ-2ε)) / 12ε`` (error O(ε⁴), so ε can be large enough that the
        round-off of a large summed loss does not swamp small gradients),
        or on 3 points, ``(L(θ+ε) - L(θ-ε)) / 2ε``.
    max_entries : int or None, default 50
        Check at most this many entries of each array, chosen at random
        (seeded); None checks every entry.
    seed : int, default 0
    floor : float, default 1e-7
        Relative errors are ``|a - n| / max(|a|, |n|, floor)``, so entries
        whose gradient is zero are judged by their absolute error.

    Returns
    -------
    GradCheckResult

    Notes
    -----
    The module's gradients and training mode are restored afterwards.

    Examples
    --------
    >>> import numpy as np, numbarnn
    >>> from numbarnn.diagnostics import check_gradients
    >>> lstm = numbarnn.LSTM(2, 3, num_layers=2, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((5, 2, 2))
    >>> result = check_gradients(lstm, x, max_entries=10)
    >>> result.passed(1e-6), result.n_checked
    (True, 90)
    """
    if stencil not in (3, 5):
        raise ValueError(f"stencil: expected 3 or 5, got {stencil!r}")
    eps = (1e-3 if stencil == 5 else 1e-6) if eps is None else float(eps)
    rng = np.random.default_rng(seed)
    params, grads = model.params, model.grads
    for name, p in params.items():
        if p.dtype != np.float64:
            raise TypeError(f"check_gradients needs float64 parameters ({name} is "
                            f"{p.dtype}): finite differences in float32 are noise")
    saved = {k: g.copy() for k, g in grads.items()}
    was_training = getattr(model, "training", None)
    if hasattr(model, "eval") and was_training is not None:
        model.eval()  # no dropout: every loss evaluation must see the same function
    try:
        for g in grads.values():
            g.fill(0)
        if hasattr(model, "loss_and_grad"):
            x_arr = x

            def loss():
                return float(model.loss_and_grad(x_arr))

            loss()
            dx = None
        else:
            x_arr = np.array(x, dtype=np.float64)
            loss, analytic = _layer_objective(model, x_arr, dy, state, rng)
            dx = analytic()
        analytic_grads = {k: g.copy() for k, g in grads.items()}
        targets = [(k, params[k], analytic_grads[k]) for k in params]
        if dx is not None:
            targets.append(("x", x_arr, dx))
        errors, worst, n_checked = {}, (-1.0, ("", ())), 0
        for name, arr, ana in targets:
            if arr.size == 0:
                continue
            flat = np.arange(arr.size)
            if max_entries is not None and arr.size > max_entries:
                flat = np.sort(rng.choice(arr.size, max_entries, replace=False))
            worst_here = 0.0
            for j in flat:
                idx = np.unravel_index(j, arr.shape)
                num, a = _derivative(loss, arr, idx, eps, stencil), float(ana[idx])
                err = abs(a - num) / max(abs(a), abs(num), floor)
                worst_here = max(worst_here, err)
                if err > worst[0]:
                    worst = (err, (name, tuple(int(i) for i in idx)))
                n_checked += 1
            errors[name] = worst_here
    finally:
        for k, g in saved.items():
            np.copyto(grads[k], g)
        if was_training is not None and hasattr(model, "train"):
            model.train(was_training)
    return GradCheckResult(max(worst[0], 0.0), worst[1], errors, n_checked, eps)
