"""The closed-loop step of :class:`~numbarnn.LatentAR`, validated once per call.

``layer.step`` checks its input, its state and every weight (shapes, dtypes,
finiteness) at each call: right for a user's one-off step, but in a
forecast of n steps the same weights would be checked n times, and those
checks cost several times the step itself at small hidden sizes. A
:class:`Stepper` checks the weights once when it is made, then calls the
functional kernels with ``check_finite=False``; the inputs it feeds back are
its own outputs, checked once at the end of the loop
(:func:`check_finite_path`).

Measured on the 2-core development machine (float64, B = 1, eval mode, the
fastest of 5 runs, machine shared): ``LatentAR.forecast(1000)`` at hidden
size 32 took 116 ms (LSTM), 99 ms (GRU) and 97 ms (RNN) through
``layer.step``, and 66, 53 and 47 ms through a Stepper; ``sample(1000)``
went from 127/106/99 ms to 70/65/54 ms. What remained per step was mostly
the functional API's shape and dtype checks.

Up to the streaming batch limit (``nn/_fast_step.STEP_MAX_BATCH``, 64
paths) a Stepper now calls the layer's own ``step`` with
``check_finite=False``, which takes the eval-mode fast path (weights
validated once per plan, one kernel per layer). Hidden size 32, float64,
LSTM / GRU / RNN, fastest of 5 (3) runs: ``forecast(1000)`` 36 / 35 / 28 ms
through the functional kernels, 12.3 / 12.2 / 10.6 ms through ``step``;
``sample(1000)`` 40 / 39 / 32 ms, then 18.2 / 18.2 / 17.6. Larger batches
(interval paths) keep the functional path.
"""
import numpy as np

from .. import functional as F
from ..nn._fast_step import STEP_MAX_BATCH


class Stepper:
    """One step of a unidirectional, projection-free layer, weights checked once.

    Parameters
    ----------
    layer : numbarnn.RNN, GRU or LSTM
        On the CPU, in eval mode (no dropout).

    Examples
    --------
    >>> import numpy as np, numbarnn
    >>> from numbarnn.models._latent_step import Stepper
    >>> lstm = numbarnn.LSTM(2, 3, num_layers=2, seed=0).eval()
    >>> x = np.random.default_rng(0).standard_normal((4, 1, 2))
    >>> step, state = Stepper(lstm), None
    >>> for t in range(4):
    ...     y, state = step(x[t], state)
    >>> bool(np.allclose(y, lstm.forward(x)[0][-1]))
    True
    """

    def __init__(self, layer):
        p = layer.params
        for name, a in p.items():
            if not np.all(np.isfinite(a)):
                raise ValueError(f"the model's parameter {name!r} contains NaN or Inf")
        self.layer = layer
        self.kind = layer.kind
        self.dtype = layer.dtype
        self.layers = [tuple(p.get(f"{k}_l{i}") for k in ("weight_ih", "weight_hh",
                                                          "bias_ih", "bias_hh"))
                       for i in range(layer.num_layers)]
        opts = {}
        if self.kind == "rnn":
            opts["nonlinearity"] = layer.nonlinearity
        elif self.kind == "gru":
            opts["reset_after"] = layer.reset_after
        self.opts = opts

    def __call__(self, u, state):
        """Advance (B, I) inputs by one step: ``(y (B, H), state)``, the layer's layout."""
        x = np.ascontiguousarray(u, dtype=self.dtype)
        B = x.shape[0]
        if B <= STEP_MAX_BATCH and not self.layer.training:
            # the layer's streaming path: the same values as below up to
            # rounding (its kernels sum the gate rows in another order)
            return self.layer.step(x, state, check_finite=False)
        x = x[None]
        if state is None:
            H = self.layers[0][1].shape[1]
            zeros = np.zeros((len(self.layers), B, H), self.dtype)
            state = (zeros, zeros) if self.kind == "lstm" else zeros
        hs, cs = [], []
        for i, w in enumerate(self.layers):
            if self.kind == "lstm":
                x, h, c, _ = F.lstm_forward(x, *w, state[0][i], state[1][i],
                                            check_finite=False)
                cs.append(c)
            else:
                fn = F.rnn_forward if self.kind == "rnn" else F.gru_forward
                x, h, _ = fn(x, *w, state[i], check_finite=False, **self.opts)
            hs.append(h)
        new = np.stack(hs)
        return x[0], ((new, np.stack(cs)) if self.kind == "lstm" else new)


def check_finite_path(a, what):
    """Raise ValueError when closed-loop results ``a`` (steps first) are not finite.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.models._latent_step import check_finite_path
    >>> check_finite_path(np.array([[0.0], [np.inf]]), "forecast")
    Traceback (most recent call last):
    ...
    ValueError: forecast diverged: non-finite values from step 1 on (the closed loop is unstable, or the dtype overflows)
    """
    bad = ~np.isfinite(a).reshape(a.shape[0], -1).all(axis=1) if a.size else np.zeros(0, bool)
    if bad.any():
        raise ValueError(f"{what} diverged: non-finite values from step "
                         f"{int(np.argmax(bad))} on (the closed loop is unstable, or the "
                         "dtype overflows)")
