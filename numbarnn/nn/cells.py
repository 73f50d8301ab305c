"""Single-step cells: :class:`RNNCell`, :class:`LSTMCell`, :class:`GRUCell`.

Like PyTorch's: ``forward(x (B, I), state)`` returns the next state, and the
parameters are ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``. Each
step is the functional API with T = 1. In training mode every forward call
pushes its cache on a stack and every :meth:`backward` call pops one, so a
hand-written loop of T forwards followed by T backwards (last step first)
is backpropagation through time.

The stack belongs to the calling thread: threads sharing one cell each
backpropagate their own steps, and their gradients add up in ``grads``.

After ``.to("cuda")`` states, inputs and gradients are device arrays (the
functional API runs the step on the GPU).
"""
import numbers

import numpy as np

from . import init as _init
from ._fast_step import StepPlan
from ..functional import NONLINEARITIES
from .base import CellKind, Module, _positive_int, _split_seed, check_bool
from .sequence import cell_backward, cell_forward


class RNNCellBase(CellKind, Module):
    """The shared machinery of the cells; see :class:`RNNCell`, :class:`LSTMCell`,
    :class:`GRUCell` for the arguments.

    Examples
    --------
    >>> import numbarnn
    >>> from numbarnn.nn import RNNCellBase
    >>> isinstance(numbarnn.LSTMCell(2, 3, seed=0), RNNCellBase)
    True
    """

    _options = {}

    def __init__(self, input_size, hidden_size, bias, dtype, seed, init, extra=None):
        super().__init__(dtype)
        self.input_size = _positive_int("input_size", input_size)
        self.hidden_size = _positive_int("hidden_size", hidden_size)
        self.bias = check_bool("bias", bias)
        self._config = dict(input_size=self.input_size, hidden_size=self.hidden_size,
                            bias=self.bias, **(extra or {}), dtype=self.dtype.name,
                            seed=int(seed) if isinstance(seed, numbers.Integral) else None,
                            init=init if isinstance(init, str) else None)
        GH = self.gate_count * self.hidden_size
        self._add_param("weight_ih", (GH, self.input_size))
        self._add_param("weight_hh", (GH, self.hidden_size))
        if self.bias:
            self._add_param("bias_ih", (GH,))
            self._add_param("bias_hh", (GH,))
        init_rng, _ = _split_seed(seed)
        _init.apply(self, "pytorch" if init is None else init, init_rng)

    @property
    def _stack(self):
        """The calling thread's caches of steps not yet backpropagated."""
        local = self._local
        if not hasattr(local, "stack"):
            local.stack = []
        return local.stack

    def _check(self, name, a, shape):
        a = self._placed(name, a)
        if np.dtype(a.dtype) != self.dtype:
            raise TypeError(f"{name} has dtype {a.dtype} but the cell is {self.dtype}: "
                            "convert it (numbarnn never casts silently)")
        if a.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, a.shape)):
            want = "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {a.shape}")
        return a

    def _state(self, name, state, B):
        H = self.hidden_size
        if self.cell.has_cell_state:
            if state is None:
                state = (None, None)
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise TypeError(f"{name} of an LSTMCell must be a pair (h, c)")
        else:
            state = (state,)
        if self._device == "cuda":
            from . import _device

            # None: the functional API's zeros; copies as below
            return tuple(None if s is None else _device.copy(self._check(name, s, (B, H)))
                         for s in state)
        # copies: the cache keeps a reference to the state it was given
        return tuple(np.zeros((B, H), self.dtype) if s is None
                     else self._check(f"{name}", s, (B, H)).copy() for s in state)

    def _weights(self):
        p = self.params
        return p["weight_ih"], p["weight_hh"], p.get("bias_ih"), p.get("bias_hh")

    def forward(self, x, state=None, *, check_finite=True):
        """One step: the next state from input ``x`` (B, I) and ``state``.

        Parameters
        ----------
        x : ndarray, shape (B, I), or (I,) unbatched
            Unbatched input (PyTorch's no-batch-dimension mode) takes and
            returns unbatched states (H,); ``backward`` then takes and
            returns unbatched gradients.
        state : ndarray (B, H), or a pair (h, c) for LSTMCell, optional
            None means zeros.
        check_finite : bool, default True
            Reject NaN or Inf in x, the state and the weights; False lets
            them through. In eval mode on the CPU the weights are validated
            once, not per call, and either setting takes the same fast path
            (see ``RNN.step``).

        Returns
        -------
        ndarray (B, H), or a pair (h, c) for LSTMCell ((H,) unbatched)

        Examples
        --------
        >>> import numpy as np, numbarnn
        >>> cell = numbarnn.GRUCell(3, 4, seed=0)
        >>> h = cell.forward(np.ones((2, 3)))
        >>> h = cell.forward(np.ones((2, 3)), h)
        >>> h.shape, len(cell._stack)
        ((2, 4), 2)
        """
        check_finite = check_bool("check_finite", check_finite)
        if not self.training and self._device == "cpu":
            out = self._fast_forward(x, state, check_finite)
            if out is not None:
                return out
        unbatched = getattr(x, "ndim", None) == 1
        if unbatched:  # PyTorch's no-batch-dimension mode: x (I,), states (H,)
            if self._device == "cuda":
                raise NotImplementedError("unbatched input is supported on the CPU only: "
                                          "pass x as (1, I) on the GPU")
            x = self._check("x", x, (self.input_size,))[None]
            state = self._batch_state("state", state)
        x = self._check("x", x, (None, self.input_size))
        state = self._state("state", state, x.shape[0])
        if self._device == "cuda":  # device arrays have reshape, not None-indexing
            from . import _device

            x = _device.contiguous(x)
            x3 = x.reshape(1, x.shape[0], x.shape[1])
        else:
            x3 = x[None]
        _, new, cache = cell_forward(self.kind, self._options, x3, self._weights(), state,
                                     self.training, check_finite)
        if self.training:
            self._stack.append((cache, unbatched))
        if unbatched:
            new = tuple(n[0] for n in new)
        return self.cell.pack_state(new)

    def _fast_forward(self, x, state, check_finite):
        # eval-mode streaming on the CPU (nn/_fast_step.py); None: take the general path
        plan = self.__dict__.get("_step_plan")
        if plan is None or not plan.current(self):
            names = [tuple(n if n in self.params else None
                           for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))]
            plan = self._step_plan = StepPlan(self, names, self.kind, self._options)
        out = plan.run(x, state, layered=False, strict=check_finite)
        return None if out is None else out[1]

    def _batch_state(self, name, state):
        """An unbatched state ((H,), or a pair for LSTMCell) with a batch axis of one."""
        if state is None:
            return None
        parts = state if self.cell.has_cell_state and isinstance(state, (tuple, list)) \
            else (state,)
        out = tuple(None if s is None else self._check(name, s, (self.hidden_size,))[None]
                    for s in parts)
        return self.cell.pack_state(out)

    __call__ = forward

    def backward(self, dstate):
        """Backpropagate the most recent un-backpropagated step.

        Parameters
        ----------
        dstate : ndarray (B, H), or a pair (dh, dc) for LSTMCell
            Gradient with respect to the state that step returned (plus,
            in a loop, what flowed back from the later steps).

        Returns
        -------
        dx : ndarray (B, I)
        dstate_prev : like ``dstate``
            Gradient with respect to the state the step was given.

        Raises
        ------
        RuntimeError
            When no forward step is waiting (eval mode keeps none).

        Examples
        --------
        >>> import numpy as np, numbarnn
        >>> cell = numbarnn.RNNCell(3, 4, seed=0)
        >>> h1 = cell.forward(np.ones((2, 3)))
        >>> h2 = cell.forward(np.ones((2, 3)), h1)
        >>> dx2, dh1 = cell.backward(np.ones((2, 4)))
        >>> dx1, dh0 = cell.backward(dh1)
        >>> dx1.shape, cell.grads["weight_hh"].shape
        ((2, 3), (4, 4))
        """
        if not self._stack:
            raise RuntimeError("backward needs a step run by forward in training mode; "
                               "every forward step can be backpropagated once")
        cache, unbatched = self._stack[-1]
        B = cache.x.shape[1]
        if unbatched:
            dstate = self._batch_state("dstate", dstate)
        ds = self._state("dstate", dstate, B)
        self._stack.pop()
        dx, d0, dw = cell_backward(self.kind, cache, None, ds)
        with self._grad_lock:  # other threads may accumulate too
            for name, g in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), dw):
                if g is not None:
                    if self._device == "cuda":
                        from . import _device

                        _device.add_into(self.grads[name], g)
                    else:
                        self.grads[name] += g
        dx = dx[0]
        if unbatched:
            dx, d0 = dx[0], tuple(d[0] for d in d0)
        return dx, self.cell.pack_state(d0)

    def clear_cache(self):
        """Drop the caches of steps not yet backpropagated.

        Examples
        --------
        >>> import numpy as np, numbarnn
        >>> cell = numbarnn.RNNCell(1, 2, seed=0)
        >>> _ = cell.forward(np.ones((1, 1)))
        >>> cell.clear_cache(); len(cell._stack)
        0
        """
        self._stack.clear()


class RNNCell(RNNCellBase):
    """Elman RNN cell, h' = φ(w_ih x + b_ih + w_hh h + b_hh).

    Parameters
    ----------
    input_size, hidden_size : int
    bias : bool, default True
    nonlinearity : {"tanh", "relu", "sigmoid"}, default "tanh"
    dtype : {numpy.float64, numpy.float32}, default float64
    seed : int, numpy Generator or None
    init : {"pytorch", "keras"} or callable, default "pytorch"

    Examples
    --------
    >>> import numpy as np, numbarnn
    >>> cell = numbarnn.RNNCell(3, 4, nonlinearity="relu", seed=0)
    >>> bool((cell.forward(np.ones((2, 3))) >= 0).all())
    True
    """

    kind = "rnn"

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", *,
                 dtype=np.float64, seed=None, init="pytorch"):
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {sorted(NONLINEARITIES)}, "
                             f"got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self._options = {"nonlinearity": nonlinearity}
        super().__init__(input_size, hidden_size, bias, dtype, seed, init,
                         {"nonlinearity": nonlinearity})


class LSTMCell(RNNCellBase):
    """LSTM cell: (h', c') from x, (h, c) (gates i, f, g, o).

    Parameters
    ----------
    input_size, hidden_size : int
    bias : bool, default True
    dtype : {numpy.float64, numpy.float32}, default float64
    seed : int, numpy Generator or None
    init : {"pytorch", "keras"} or callable, default "pytorch"

    Examples
    --------
    >>> import numpy as np, numbarnn
    >>> cell = numbarnn.LSTMCell(3, 4, seed=0)
    >>> h, c = cell.forward(np.ones((2, 3)))
    >>> h.shape, c.shape
    ((2, 4), (2, 4))
    """

    kind = "lstm"

    def __init__(self, input_size, hidden_size, bias=True, *, dtype=np.float64, seed=None,
                 init="pytorch"):
        super().__init__(input_size, hidden_size, bias, dtype, seed, init)


class GRUCell(RNNCellBase):
    """GRU cell (gates r, z, n; numbarnn's z is PyTorch's 1 − z).

    Parameters
    ----------
    input_size, hidden_size : int
    bias : bool, default True
    reset_after : bool, default False
        True for the cuDNN/PyTorch form.
    dtype : {numpy.float64, numpy.float32}, default float64
    seed : int, numpy Generator or None
    init : {"pytorch", "keras"} or callable, default "pytorch"

    Examples
    --------
    >>> import numpy as np, numbarnn
    >>> cell = numbarnn.GRUCell(3, 4, reset_after=True, seed=0)
    >>> cell.forward(np.ones((2, 3))).shape
    (2, 4)
    """

    kind = "gru"

    def __init__(self, input_size, hidden_size, bias=True, reset_after=False, *,
                 dtype=np.float64, seed=None, init="pytorch"):
        self.reset_after = check_bool("reset_after", reset_after)
        self._options = {"reset_after": self.reset_after}
        super().__init__(input_size, hidden_size, bias, dtype, seed, init,
                         {"reset_after": self.reset_after})
