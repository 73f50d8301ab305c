"""Gradient flow through time: ‖∂L/∂s_t‖ and ‖∂s_T/∂s_t‖ for every step t.

The per-step Jacobians ``J_t = ∂s_t/∂s_{t-1}`` of the recurrent state are
computed *exactly* by the layer's own backward pass (the functional BPTT
kernels) with unit cotangents: the step is run on a batch of n copies of
``(x_t, s_{t-1})`` and copy i is given the i-th unit vector as the gradient
of its new state, so its gradient with respect to the old state is row i of
J_t. n is the size of the state (L·H, or 2·L·H for an LSTM, whose state is
``(h, c)``), small enough for dense n × n Jacobians. Everything else is
products of these matrices:

    ∂L/∂s_t = E^T dy_t + J_{t+1}^T ∂L/∂s_{t+1},    ∂s_T/∂s_t = J_T J_{T-1} ... J_{t+1},

with E picking the top layer's h (the output y_t) out of the state.
"""
import dataclasses

import numpy as np

from ..nn import RNNBase

__all__ = ["GradientFlow", "gradient_flow"]


@dataclasses.dataclass
class GradientFlow:
    """Gradient and Jacobian norms per time step (index t = 0..T-1, by step).

    The state s_t is the hidden state after step t, all layers (for an
    LSTM, h and c together); h_t is its h part.

    Attributes
    ----------
    grad_norm : ndarray (T,)
        ‖∂L/∂s_t‖.
    grad_h_norm : ndarray (T,)
        ‖∂L/∂h_t‖ (the partial with respect to h_t, c_t held fixed;
        equal to ``grad_norm`` for RNN and GRU).
    jacobian_norm : ndarray (T,)
        Largest singular value of ∂s_{T-1}/∂s_t (1 at the last step).
    jacobian_h_norm : ndarray (T,)
        Largest singular value of the h-to-h block ∂h_{T-1}/∂h_t.
    step_jacobians : ndarray (T, n, n)
        J_t = ∂s_t/∂s_{t-1} (J_0 with respect to the initial state).
    kind : str
        ``"rnn-tanh"``, ``"lstm"``, …

    Examples
    --------
    >>> import numpy as np, numbarnn
    >>> from numbarnn.diagnostics import gradient_flow
    >>> x = np.random.default_rng(0).standard_normal((30, 1, 2))
    >>> flow = gradient_flow(numbarnn.RNN(2, 8, seed=0), x)
    >>> flow.distance[:3].tolist(), bool(flow.rate() < 1)    # tanh: decays
    ([29, 28, 27], True)
    """

    grad_norm: np.ndarray
    grad_h_norm: np.ndarray
    jacobian_norm: np.ndarray
    jacobian_h_norm: np.ndarray
    step_jacobians: np.ndarray
    kind: str = ""

    @property
    def distance(self):
        """T − 1 − t: steps between t and the last step."""
        T = self.grad_norm.shape[0]
        return np.arange(T - 1, -1, -1)

    def rate(self, which="jacobian_norm", skip=1, stop=None):
        """Geometric rate per step: exp(slope) of log(norm) against distance.

        A least-squares line through ``log(norm)`` over distances in
        ``[skip, stop)``; below 1 the norm vanishes geometrically, above 1
        it explodes. Zero norms are left out of the fit.

        Parameters
        ----------
        which : {"jacobian_norm", "jacobian_h_norm", "grad_norm", "grad_h_norm"}
        skip : int, default 1
            Leave out the first distances (the last step's norm is special).
        stop : int, optional

        Returns
        -------
        float

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn.diagnostics import GradientFlow
        >>> n = 0.5 ** np.arange(9, -1, -1.0)           # halves with each step back
        >>> round(GradientFlow(n, n, n, n, np.zeros((10, 1, 1))).rate(), 6)
        0.5
        """
        norms = np.asarray(getattr(self, which))
        d = self.distance
        keep = (d >= skip) & (norms > 0) & np.isfinite(norms)
        if stop is not None:
            keep &= d < stop
        if keep.sum() < 2:
            raise ValueError(f"rate: fewer than two usable points of {which}")
        slope = np.polyfit(d[keep], np.log(norms[keep]), 1)[0]
        return float(np.exp(slope))

    def plot(self, ax=None, which="grad_norm", label=None, **kwargs):
        """Plot a norm against the distance T − 1 − t on a log scale.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        which : str, default "grad_norm"
        label : str, optional
            Defaults to :attr:`kind`.

        Returns
        -------
        matplotlib Axes

        Examples
        --------
        >>> import importlib.util, numpy as np, numbarnn
        >>> from numbarnn.diagnostics import gradient_flow
        >>> if importlib.util.find_spec("matplotlib"):
        ...     import matplotlib
        ...     matplotlib.use("Agg")
        ...     flow = gradient_flow(numbarnn.GRU(1, 4, seed=0), np.ones((10, 1, 1)))
        ...     ax = flow.plot()
        """
        import matplotlib.pyplot as plt  # optional dependency, imported on use
        if ax is None:
            _, ax = plt.subplots()
        ax.semilogy(self.distance, getattr(self, which), label=label or self.kind, **kwargs)
        ax.set_xlabel("distance T − 1 − t (steps)")
        ax.set_ylabel(which.replace("_", " "))
        return ax


def _flat(state, lstm):
    """A layer state ((L, B, H) or a pair) -> (B, n) rows [h of all layers, c …]."""
    parts = state if lstm else (state,)
    return np.concatenate([p.transpose(1, 0, 2).reshape(p.shape[1], -1) for p in parts],
                          axis=1)


def _unflat(rows, layer, lstm):
    """(B, n) rows -> the layer's state structure (inverse of :func:`_flat`)."""
    B, L, H = rows.shape[0], layer.num_layers, layer.hidden_size
    arr = np.ascontiguousarray(rows.reshape(B, 2 if lstm else 1, L, H).transpose(1, 2, 0, 3))
    return (arr[0], arr[1]) if lstm else arr[0]


def _resolve(obj, x, dy):
    """(layer, inputs (T, 1, I), dy (T, H)) for a layer or a fitted LatentAR."""
    if hasattr(obj, "_flow_inputs"):
        layer = obj.layer_
        inputs, dy_last = obj._flow_inputs(x)
    elif isinstance(obj, RNNBase):
        layer = obj
        inputs = np.asarray(x)
        if inputs.ndim == 2:
            inputs = inputs[:, None]
        if inputs.ndim != 3 or inputs.shape[1] != 1:
            raise ValueError(f"x: expected one sequence, shape (T, I) or (T, 1, I), "
                             f"got {np.shape(x)}")
        dy_last = np.ones(layer.hidden_size) / np.sqrt(layer.hidden_size)
    else:
        raise TypeError(f"gradient_flow: expected a numbarnn RNN, GRU or LSTM layer or a "
                        f"fitted LatentAR, got {type(obj).__name__}")
    if layer.bidirectional or layer.batch_first:
        raise ValueError("gradient_flow: needs a unidirectional, time-major layer")
    T, H = inputs.shape[0], layer.hidden_size
    if T == 0:
        raise ValueError("x: needs at least one step")
    if dy is None:
        dy = np.zeros((T, H))
        dy[-1] = dy_last
    else:
        dy = np.asarray(dy, dtype=np.float64).reshape(T, -1)
        if dy.shape[1] != H:
            raise ValueError(f"dy: expected shape (T, H) = ({T}, {H}), got {np.shape(dy)}")
    return layer, inputs, dy


def gradient_flow(model, x, *, dy=None, state=None):
    """Per-step gradient and Jacobian norms of a recurrent layer or model.

    Parameters
    ----------
    model : RNN, GRU or LSTM layer, or a fitted LatentAR
        Unidirectional; any number of layers. For a LatentAR, its layer
        is run on the model's inputs for ``x``.
    x : array_like
        A layer: one sequence, (T, I) or (T, 1, I), in the layer's dtype.
        A LatentAR: one series (as for its ``log_likelihood``).
    dy : array_like (T, H), optional
        ∂L/∂y_t for every step (y the top layer's output). By default the
        loss is at the last step only: for a layer ``L = u · y_{T-1}`` with
        u = (1, …, 1)/√H, for a LatentAR the negative log-density of the
        last observation.
    state : optional
        Initial state of the layer (None: zeros).

    Returns
    -------
    GradientFlow

    Notes
    -----
    The layer's gradients, training mode and saved forward cache are left
    as they were (the cache of an earlier forward pass is dropped).
    Cost: T forward and backward passes over a batch of n state copies,
    and T dense n × n products and SVDs.

    Examples
    --------
    >>> import numpy as np, numbarnn
    >>> from numbarnn.diagnostics import gradient_flow
    >>> x = np.random.default_rng(0).standard_normal((40, 1, 1))
    >>> lstm = numbarnn.LSTM(1, 4, seed=0)
    >>> lstm.params["bias_ih_l0"][4:8] = 10.0      # forget gates near 1
    >>> flow = gradient_flow(lstm, x)
    >>> bool(flow.rate("jacobian_norm") > 0.95)      # the cell state keeps the gradient
    True
    """
    layer, inputs, dy = _resolve(model, x, dy)
    lstm = layer.kind == "lstm"
    T, L, H = inputs.shape[0], layer.num_layers, layer.hidden_size
    n = (2 if lstm else 1) * L * H
    was_training = layer.training
    saved = {k: g.copy() for k, g in layer.grads.items()}
    layer.eval()
    try:
        # Forward, one step at a time, keeping the state before each step.
        states, s = [], state
        for t in range(T):
            if s is None:
                s = _unflat(np.zeros((1, n), layer.dtype), layer, lstm)
            states.append(s)
            _, s = layer.forward(inputs[t:t + 1], s, keep_cache=False)
        eye = _unflat(np.eye(n, dtype=layer.dtype), layer, lstm)
        J = np.empty((T, n, n))
        for t in range(T):
            rep = (tuple(np.repeat(p, n, axis=1) for p in states[t]) if lstm
                   else np.repeat(states[t], n, axis=1))
            layer.forward(np.repeat(inputs[t:t + 1], n, axis=1), rep, keep_cache=True)
            _, ds0 = layer.backward(None, eye, return_dstate=True)
            J[t] = _flat(ds0, lstm)  # row i: e_i^T J_t
    finally:
        for k, g in saved.items():
            np.copyto(layer.grads[k], g)
        layer.train(was_training)
    top = slice((L - 1) * H, L * H)  # y_t is the top layer's h in the flat state
    h_part = slice(0, L * H)
    g = np.zeros((T, n))
    P = np.empty((T, n, n))
    g[T - 1, top] = dy[T - 1]
    P[T - 1] = np.eye(n)
    for t in range(T - 2, -1, -1):
        g[t] = J[t + 1].T @ g[t + 1]
        g[t, top] += dy[t]
        P[t] = P[t + 1] @ J[t + 1]
    name = layer.kind + (f"-{layer.nonlinearity}" if layer.kind == "rnn" else "")
    return GradientFlow(
        grad_norm=np.linalg.norm(g, axis=1),
        grad_h_norm=np.linalg.norm(g[:, h_part], axis=1),
        jacobian_norm=np.linalg.norm(P, 2, axis=(1, 2)),
        jacobian_h_norm=np.linalg.norm(P[:, h_part, h_part], 2, axis=(1, 2)),
        step_jacobians=J, kind=name)
