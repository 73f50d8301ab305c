"""Multi-layer, optionally bidirectional RNN, LSTM and GRU layers.

Built on the functional API: one call per layer and direction (per time
segment with ``lengths``, see :mod:`numbarnn.nn.sequence`). The reverse
direction runs the functional forward on the time-reversed sequence (each
sequence reversed within its own length), and its outputs are reversed back.

After ``.to("cuda")`` the same passes run on device arrays: the functional
API runs each direction on the GPU, and the reversals, the concatenation of
the directions, dropout and gradient accumulation are the small kernels of
:mod:`numbarnn.nn._device` (imported only then).
"""
import numbers
import warnings

import numpy as np

from . import init as _init
from .base import CellKind, Module, _positive_int, _split_seed, check_bool  # noqa: F401
from ._fast_step import StepPlan
from .masking import MaskPlan, check_mask
from .sequence import Plan, direction_backward, direction_forward, direction_gates


class _Tape:
    """What a training forward pass keeps for ``backward``."""

    def __init__(self, plan, records, masks, in_shapes, batch_first, steps=None,
                 unbatched=False):
        self.plan, self.records, self.masks = plan, records, masks
        self.in_shapes, self.batch_first = in_shapes, batch_first
        self.steps, self.unbatched = steps, unbatched  # a MaskPlan with ``mask``


class RNNBase(CellKind, Module):
    """The shared machinery of :class:`RNN`, :class:`LSTM` and :class:`GRU`.

    Not used directly; see those classes for the arguments.

    Examples
    --------
    >>> import numbarnn
    >>> from numbarnn.nn import RNNBase
    >>> isinstance(numbarnn.GRU(2, 3, seed=0), RNNBase)
    True
    """

    proj_size = 0    # P > 0: an LSTM whose hidden state is projected to P

    def __init__(self, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                 bidirectional, dtype, seed, init, extra=({}, {})):
        super().__init__(dtype)
        self.input_size = _positive_int("input_size", input_size)
        self.hidden_size = _positive_int("hidden_size", hidden_size)
        self.num_layers = _positive_int("num_layers", num_layers)
        self.bias = check_bool("bias", bias)
        self.batch_first = check_bool("batch_first", batch_first)
        self.bidirectional = check_bool("bidirectional", bidirectional)
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) \
                or not 0 <= dropout <= 1:
            raise ValueError(f"dropout must be a number in [0, 1], got {dropout!r}")
        self.dropout = float(dropout)
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn("dropout acts between recurrent layers only (not after the last), "
                          f"so dropout={self.dropout} has no effect with num_layers=1",
                          UserWarning, stacklevel=3)
        head, tail = extra
        self._config = dict(input_size=self.input_size, hidden_size=self.hidden_size,
                            num_layers=self.num_layers, **head, bias=self.bias,
                            batch_first=self.batch_first, dropout=self.dropout,
                            bidirectional=self.bidirectional, **tail, dtype=self.dtype.name,
                            seed=int(seed) if isinstance(seed, numbers.Integral) else None,
                            init=init if isinstance(init, str) else None)
        init_rng, self.dropout_rng = _split_seed(seed)
        G, H, D = self.gate_count, self.hidden_size, self.num_directions
        R = self._out_size
        for layer in range(self.num_layers):
            width = self.input_size if layer == 0 else D * R
            for d in range(D):
                s = self._suffix(layer, d)
                self._add_param("weight_ih" + s, (G * H, width))
                self._add_param("weight_hh" + s, (G * H, R))
                if self.bias:
                    self._add_param("bias_ih" + s, (G * H,))
                    self._add_param("bias_hh" + s, (G * H,))
                if self.proj_size:  # PyTorch's order: after the biases
                    self._add_param("weight_hr" + s, (self.proj_size, H))
        _init.apply(self, "pytorch" if init is None else init, init_rng)

    @property
    def _tape(self):
        """The calling thread's record of its last training forward pass."""
        return getattr(self._local, "tape", None)

    @_tape.setter
    def _tape(self, tape):
        self._local.tape = tape

    @property
    def num_directions(self):
        """2 when bidirectional, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def _out_size(self):
        """The size of h and of each direction's output: P, or H without a projection."""
        return self.proj_size or self.hidden_size

    @property
    def _options(self):
        return {}

    @staticmethod
    def _suffix(layer, direction):
        return f"_l{layer}" + ("_reverse" if direction else "")

    def _weights(self, layer, direction):
        s = self._suffix(layer, direction)
        p = self.params
        return (p["weight_ih" + s], p["weight_hh" + s], p.get("bias_ih" + s),
                p.get("bias_hh" + s), p.get("weight_hr" + s))

    def _check_movable(self):
        if self.proj_size:
            raise NotImplementedError(f"{type(self).__name__} with proj_size={self.proj_size}: "
                                      "the projection runs on the CPU only; keep the layer "
                                      "on the CPU")

    # -- argument checks ----------------------------------------------------
    def _check_array(self, name, a, shape):
        a = self._placed(name, a)
        if np.dtype(a.dtype) != self.dtype:
            raise TypeError(f"{name} has dtype {a.dtype} but the layer is {self.dtype}: "
                            "convert it (numbarnn never casts silently) or build the layer "
                            "with another dtype")
        if a.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, a.shape)):
            want = "(" + ", ".join(str(s) if s is not None else "?" for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {a.shape}")
        return a

    def _check_lengths(self, lengths, T, B):
        if lengths is None:
            return None
        arr = np.asarray(lengths)
        if arr.size == 0 and arr.dtype.kind == "f":
            arr = arr.astype(np.int64)  # np.asarray([]) is float64: an empty batch's lengths
        if arr.dtype.kind not in "iu":
            raise TypeError(f"lengths must be integers, got dtype {arr.dtype}")
        if arr.shape != (B,):
            raise ValueError(f"lengths must have shape (B,) = ({B},), got {arr.shape}")
        if B and (arr.min() < 0 or arr.max() > T):
            raise ValueError(f"lengths must lie in [0, T] = [0, {T}], got min {arr.min()} "
                             f"and max {arr.max()}")
        return arr.astype(np.int64)

    def _state_parts(self, name, state):
        """(("h", "c"), (h, c)) for an LSTM, (("h",), (h,)) otherwise; None
        parts for an absent state, a TypeError for an LSTM state that is not
        a pair."""
        parts = self.cell.states
        if state is None:
            return parts, (None,) * len(parts)
        if self.kind != "lstm":
            return parts, (state,)
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError(f"{name} of an LSTM must be a pair (h, c), got "
                            f"{type(state).__name__}")
        return parts, tuple(state)

    def _check_state(self, name, state, B, plan):
        """A list over (layer, direction) of state tuples (B, ·), sorted copies:
        h is (B, P) with a projection, c (B, H). An absent part is None
        unless the batch is ragged: the functional API's own zeros, which it
        does not scan for NaN (two arrays made and scanned here cost ~5 µs of
        a ~300 µs T = 20, B = 1 LSTM forward + backward)."""
        n = self.num_layers * self.num_directions
        parts, state = self._state_parts(name, state)
        widths = (self._out_size, self.hidden_size)
        arrays = []
        for part, s, H in zip(parts, state, widths):
            if s is None:
                arrays.append(np.zeros((n, B, H), self.dtype) if plan.ragged else None)
            else:
                a = self._check_array(f"{name} ({part})", s, (n, B, H))
                arrays.append(plan.sort(a).copy() if plan.ragged else a.copy())
        return [tuple(None if a is None else a[i] for a in arrays) for i in range(n)]

    def _device_state(self, name, state, B):
        """Like :meth:`_check_state` for a layer on the GPU (no ragged batches):
        per (layer, direction) a tuple of fresh (B, ·) device copies, or of
        Nones where the state is absent (the functional API's zeros)."""
        from . import _device

        n = self.num_layers * self.num_directions
        parts, state = self._state_parts(name, state)
        rows = []
        for part, s in zip(parts, state):
            if s is None:
                rows.append([None] * n)
            else:
                a = self._check_array(f"{name} ({part})", s, (n, B, self.hidden_size))
                # copies: a cache keeps a reference to the state it started from
                rows.append([_device.copy(a[i]) for i in range(n)])
        return [tuple(r[i] for r in rows) for i in range(n)]

    def _pack_device_state(self, per_direction):
        from . import _device

        stacked = [_device.stack([s[j] for s in per_direction], self.dtype)
                   for j in range(len(per_direction[0]))]
        return self.cell.pack_state(stacked)

    def _pack_state(self, per_direction, plan):
        # the parts are fresh arrays of the functional API's (or of the
        # ragged path's): one (layer, direction) needs an axis, not a copy
        if len(per_direction) == 1:
            stacked = [plan.unsort(s[None]) for s in per_direction[0]]
        else:
            stacked = [plan.unsort(np.stack([s[j] for s in per_direction]))
                       for j in range(len(per_direction[0]))]
        return self.cell.pack_state(stacked)

    def _dropout_mask(self, shape, plan):
        keep = self.dropout_rng.random(shape) >= self.dropout
        scale = 0.0 if self.dropout >= 1 else 1.0 / (1.0 - self.dropout)
        return plan.sort((keep * scale).astype(self.dtype))

    # -- forward and backward ----------------------------------------------
    def forward(self, x, state=None, *, lengths=None, mask=None, return_gates=False,
                keep_cache=None, check_finite=True):
        """Run the layer over a batch of sequences.

        Parameters
        ----------
        x : ndarray, shape (T, B, I), or (B, T, I) with ``batch_first``
            In the layer's dtype. Unbatched input (T, I) (PyTorch's
            no-batch-dimension mode, whatever ``batch_first``) runs one
            sequence: ``state``, y, the final state, and ``backward``'s
            arguments and results then have no batch axis either
            (y (T, D·H), h (L·D, H)).
        state : ndarray (L·D, B, H) or, for LSTM, a pair (h_0, c_0), optional
            Initial states, PyTorch's layout (row ``l·D + d`` for layer l,
            direction d); None means zeros. With ``proj_size`` P, h_0 is
            (L·D, B, P) and c_0 (L·D, B, H).
        lengths : array_like of int, shape (B,), optional
            Valid steps of each sequence (0 ≤ length ≤ T), PyTorch's packed
            sequences. Outputs past a sequence's length are zero, its final
            state is the one at its last valid step (the reverse direction
            starts there), and gradients equal those of running it alone.
        mask : array_like of bool, shape (T, B), optional
            Keras's step mask over x's two leading axes ((B, T) with
            ``batch_first``, (T,) unbatched): True marks a valid step. A masked step keeps
            every layer's state and repeats the previous output (zeros before
            a sequence's first valid step); masked steps may sit anywhere,
            not only at the end. The reverse direction runs over the whole
            time-reversed sequence and mask, as Keras's ``Bidirectional``:
            its masked steps repeat the output of the next valid step. The
            final state is the one after the last valid step (the first for
            the reverse direction). Masked inputs get zero gradient.
            Not together with ``lengths`` (a ValueError: their padding
            differs) nor ``return_gates``.
        return_gates : bool, default False
            Also return every activation per step (see Returns).
        keep_cache : bool, optional
            Keep what :meth:`backward` needs. Default: in training mode yes,
            after :meth:`eval` no (inference then uses memory that does not
            grow with T); pass True to backpropagate in eval mode.
        check_finite : bool, default True
            Reject NaN or Inf in x, the state and the weights, as the
            functional API does; False skips those scans.

        Returns
        -------
        y : ndarray, shape (T, B, D·H) (or (B, T, D·H)); D·P with ``proj_size``
        state : ndarray (L·D, B, H), or a pair (h_n, c_n) for LSTM (h_n
            (L·D, B, P) with ``proj_size``)
        gates : dict, only with ``return_gates``
            ``gates["l0"]``, ``gates["l0_reverse"]``, … each a dict of arrays
            (T, B, H) laid out like ``y``: LSTM ``i, f, g, o`` and cell
            states ``c`` (size H also with ``proj_size``); GRU ``r, z, n``
            (numbarnn's z: PyTorch's is 1 − z); RNN ``h``. Zero past each
            sequence's length.

        Examples
        --------
        >>> import numpy as np, numbarnn
        >>> lstm = numbarnn.LSTM(3, 5, num_layers=2, bidirectional=True, seed=0)
        >>> x = np.random.default_rng(0).standard_normal((7, 4, 3))
        >>> y, (h_n, c_n) = lstm.forward(x, lengths=[7, 5, 7, 2])
        >>> y.shape, h_n.shape, bool((y[5:, 1] == 0).all())
        ((7, 4, 10), (4, 4, 5), True)
        >>> mask = np.ones((7, 4), bool); mask[2, 0] = False  # a hole in sequence 0
        >>> y, _ = lstm.forward(x, mask=mask)
        >>> bool((y[2, 0, :5] == y[1, 0, :5]).all())  # the forward half repeats
        True
        >>> y, (h_n, c_n) = lstm.forward(x[:, 0])      # unbatched: (T, I)
        >>> y.shape, h_n.shape
        ((7, 10), (4, 5))

        After ``.to("cuda")``, x, state and the results are device arrays
        (see :meth:`numbarnn.nn.Module.to`); ``lengths`` and
        ``return_gates`` then raise NotImplementedError.
        """
        return_gates = check_bool("return_gates", return_gates)
        check_finite = check_bool("check_finite", check_finite)
        unbatched = getattr(x, "ndim", None) == 2
        if self._device == "cuda":
            if mask is not None or unbatched:
                raise NotImplementedError("mask and unbatched input are supported on the CPU "
                                          "only: run the layer on the CPU (.to('cpu'))")
            return self._forward_device(x, state, lengths, return_gates, keep_cache,
                                        check_finite)
        if unbatched:  # PyTorch's no-batch-dimension mode: a batch of one
            if lengths is not None:
                raise ValueError("lengths needs batched input (T, B, I); unbatched input "
                                 "(T, I) is one sequence of length T")
            x = self._check_array("x", x, (None, self.input_size))
            x = x[None] if self.batch_first else x[:, None]
            state = self._batch_state("state", state)
        x = self._check_array("x", x, (None, None, self.input_size))
        xt = x.transpose(1, 0, 2) if self.batch_first else x
        T, B = xt.shape[:2]
        steps = None
        if mask is not None:
            if lengths is not None:
                raise ValueError("give mask or lengths, not both: lengths pads with zeros "
                                 "(PyTorch), mask repeats the previous output (Keras)")
            if return_gates:
                raise ValueError("return_gates cannot be combined with mask")
            steps = MaskPlan(check_mask(mask, T, B, self.batch_first, unbatched))
            xt, lengths = steps.compress(xt), steps.lengths
        plan = Plan(T, B, self._check_lengths(lengths, T, B))
        state0 = self._check_state("state", state, B, plan)
        keep = self.training if keep_cache is None else check_bool("keep_cache", keep_cache)
        training = keep or return_gates
        D, H, R = self.num_directions, self.hidden_size, self._out_size
        inp = plan.sort(xt)
        records, masks, finals, in_shapes, gates = [], [], [], [], {}
        for layer in range(self.num_layers):
            in_shapes.append(inp.shape)
            outs = []
            for d in range(D):
                xin = plan.reverse(inp) if d else inp
                y_d, s_d, caches = direction_forward(
                    self.kind, self._options, xin, self._weights(layer, d),
                    state0[layer * D + d], plan, training, check_finite)
                outs.append(plan.reverse(y_d) if d else y_d)
                finals.append(s_d)
                records.append(caches)
                if return_gates:
                    g = direction_gates(self.kind, caches, plan, H, self.dtype)
                    gates[self._suffix(layer, d)[1:]] = {
                        k: self._layout(plan.reverse(v) if d else v, plan) for k, v in g.items()}
            out = outs[0] if D == 1 else np.concatenate(outs, axis=2)
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                mask = self._dropout_mask((T, B, D * R), plan)
                out = out * mask
                masks.append(mask)
            inp = out
        self._tape = _Tape(plan, records, masks, in_shapes, self.batch_first, steps,
                           unbatched) if keep else None
        y = plan.unsort(inp)
        if steps is not None:
            y = steps.expand(y, D, R)
        y = np.ascontiguousarray(y.transpose(1, 0, 2)) if self.batch_first else y
        state_n = self._pack_state(finals, plan)
        if unbatched:
            y, state_n = self._unbatch(y), self._unbatch_state(state_n)
            gates = {k: {n: self._unbatch(a) for n, a in g.items()} for k, g in gates.items()}
        return (y, state_n, gates) if return_gates else (y, state_n)

    # -- unbatched input ----------------------------------------------------
    def _batch_state(self, name, state):
        """An unbatched state ((L·D, H), or a pair) with a batch axis of one."""
        if state is None:
            return None
        parts, values = self._state_parts(name, state)
        n = self.num_layers * self.num_directions
        out = tuple(None if v is None else
                    self._check_array(f"{name} ({part})", v, (n, width))[:, None]
                    for part, v, width in zip(parts, values,
                                              (self._out_size, self.hidden_size)))
        return self.cell.pack_state(out)

    def _unbatch(self, a):
        return a[0] if self.batch_first else a[:, 0]

    @staticmethod
    def _unbatch_state(state):
        return tuple(s[:, 0] for s in state) if isinstance(state, tuple) else state[:, 0]

    def _forward_device(self, x, state, lengths, return_gates, keep_cache, check_finite=True):
        """:meth:`forward` on the GPU: the same passes on device arrays."""
        from . import _device

        if lengths is not None:
            raise NotImplementedError("lengths (ragged batches) are supported on the CPU only: "
                                      "pad the sequences to one length, or run the layer on "
                                      "the CPU (.to('cpu'))")
        if return_gates:
            raise NotImplementedError("return_gates is supported on the CPU only: run the "
                                      "layer on the CPU (.to('cpu')) to inspect the gates")
        x = self._check_array("x", x, (None, None, self.input_size))
        xt = _device.swap01(x) if self.batch_first else x
        T, B = xt.shape[:2]
        plan = Plan(T, B, None)
        state0 = self._device_state("state", state, B)
        keep = self.training if keep_cache is None else check_bool("keep_cache", keep_cache)
        D, R = self.num_directions, self._out_size
        inp = xt
        records, masks, finals, in_shapes = [], [], [], []
        for layer in range(self.num_layers):
            in_shapes.append(tuple(inp.shape))
            out = _device.empty((T, B, D * R), self.dtype) if D > 1 else None
            for d in range(D):
                xin = _device.reverse_time(inp) if d else inp
                y_d, s_d, caches = direction_forward(
                    self.kind, self._options, xin, self._weights(layer, d),
                    state0[layer * D + d], plan, keep, check_finite)
                if D == 1:
                    out = y_d
                else:  # [forward, reverse], the reverse one back in forward time
                    _device.put_block(out, y_d, d * R, reverse=d)
                finals.append(s_d)
                records.append(caches)
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                # drawn on the host from the same generator as on the CPU, so a
                # seeded layer drops the same units on either device
                mask = _device.to_device(self._dropout_mask((T, B, D * R), plan))
                out = _device.multiply(out, mask)
                masks.append(mask)
            inp = out
        self._tape = _Tape(plan, records, masks, in_shapes, self.batch_first) if keep else None
        y = _device.swap01(inp) if self.batch_first else inp
        return y, self._pack_device_state(finals)

    def _layout(self, a, plan):
        """Sorted time-major ``a`` in the caller's batch order and layout."""
        a = plan.unsort(a)
        return np.ascontiguousarray(a.transpose(1, 0, 2)) if self.batch_first else a

    __call__ = forward

    def backward(self, dy, dstate=None, *, return_dstate=False, retain_cache=False):
        """Backpropagate through the last forward pass; accumulate into ``grads``.

        Parameters
        ----------
        dy : ndarray, shape of y, or None
            Gradient of the loss with respect to y (None: zeros). Entries
            past a sequence's length are ignored.
        dstate : like ``state``, optional
            Gradient with respect to the final state (None: zeros; for LSTM
            a pair whose entries may be None).
        return_dstate : bool, default False
            Also return the gradient with respect to the initial state
            (what truncated BPTT carries into the previous chunk).
        retain_cache : bool, default False
            Keep the forward pass's cache for another backward pass; by
            default it is freed, as PyTorch frees its graph.

        Returns
        -------
        dx : ndarray, shape of x
        dstate0 : like ``state``, only with ``return_dstate``

        Raises
        ------
        RuntimeError
            No forward pass kept a cache (eval mode without ``keep_cache``,
            or the cache was freed by an earlier backward).

        Examples
        --------
        >>> import numpy as np, numbarnn
        >>> gru = numbarnn.GRU(3, 4, seed=0)
        >>> x = np.ones((5, 2, 3))
        >>> y, h_n = gru.forward(x)
        >>> dx = gru.backward(np.ones_like(y))
        >>> dx.shape, gru.grads["weight_hh_l0"].shape
        ((5, 2, 3), (12, 4))

        After ``.to("cuda")``, dy, dstate and the results are device arrays
        and the gradients accumulate on the GPU.
        """
        return_dstate = check_bool("return_dstate", return_dstate)
        retain_cache = check_bool("retain_cache", retain_cache)
        tape = self._tape
        if tape is None:
            raise RuntimeError("backward needs a forward pass that kept its cache: call "
                               "forward in training mode (or with keep_cache=True) first; "
                               "a backward pass frees the cache unless retain_cache=True")
        if self._device == "cuda":
            return self._backward_device(tape, dy, dstate, return_dstate, retain_cache)
        plan, D, H = tape.plan, self.num_directions, self._out_size
        y_shape = (plan.T, plan.B, D * H)
        if tape.unbatched:
            if dy is not None:
                dy = self._check_array("dy", dy, (plan.T, D * H))
                dy = dy[None] if tape.batch_first else dy[:, None]
            dstate = self._batch_state("dstate", dstate)
        if dy is None:
            g = np.zeros(y_shape, self.dtype)
        else:
            want = (plan.B, plan.T, D * H) if tape.batch_first else y_shape
            dy = self._check_array("dy", dy, want)
            g = dy.transpose(1, 0, 2) if tape.batch_first else dy
            g = plan.sort(g if tape.steps is None else tape.steps.reduce(g, D, H))
        dstate = self._check_state("dstate", dstate, plan.B, plan)
        dstate0 = [None] * len(dstate)
        for layer in reversed(range(self.num_layers)):
            dx = None
            for d in range(D):
                i = layer * D + d
                dy_d = g[:, :, d * H:(d + 1) * H]
                dx_d, dstate0[i], dw = direction_backward(
                    self.kind, tape.records[i], plan.reverse(dy_d) if d else dy_d,
                    dstate[i], plan, tape.in_shapes[layer])
                dx_d = plan.reverse(dx_d) if d else dx_d
                dx = dx_d if dx is None else dx + dx_d
                if dw is not None:
                    s = self._suffix(layer, d)
                    with self._grad_lock:  # other threads may accumulate too
                        for name, gw in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh",
                                             "weight_hr"), dw):
                            if gw is not None:
                                self.grads[name + s] += gw
            # the input of this layer was the previous layer's output × mask
            g = dx * tape.masks[layer - 1] if layer > 0 and tape.masks else dx
        if not retain_cache:
            self._tape = None
        dx = plan.unsort(g)
        if tape.steps is not None:
            dx = tape.steps.uncompress(dx)
        dx = np.ascontiguousarray(dx.transpose(1, 0, 2)) if tape.batch_first else dx
        dstate0 = self._pack_state(dstate0, plan)
        if tape.unbatched:
            dx, dstate0 = self._unbatch(dx), self._unbatch_state(dstate0)
        return (dx, dstate0) if return_dstate else dx

    def _backward_device(self, tape, dy, dstate, return_dstate, retain_cache):
        """:meth:`backward` on the GPU: the same passes on device arrays."""
        from . import _device

        plan, D, R = tape.plan, self.num_directions, self._out_size
        T, B = plan.T, plan.B
        if dy is None:
            g = _device.zeros((T, B, D * R), self.dtype)
        else:
            want = (B, T, D * R) if tape.batch_first else (T, B, D * R)
            dy = self._check_array("dy", dy, want)
            g = _device.swap01(dy) if tape.batch_first else dy
        dstate = self._device_state("dstate", dstate, B)
        dstate0 = [None] * len(dstate)
        for layer in reversed(range(self.num_layers)):
            dx = None
            for d in range(D):
                i = layer * D + d
                # each direction's slab of dy, the reverse one in its own time order
                dy_d = g if D == 1 else _device.take_block(g, d * R, R, reverse=d)
                dx_d, dstate0[i], dw = direction_backward(
                    self.kind, tape.records[i], dy_d, dstate[i], plan, tape.in_shapes[layer])
                dx_d = _device.reverse_time(dx_d) if d else dx_d
                # dx_d is a fresh array of the functional API's: safe to add into
                dx = dx_d if dx is None else _device.add_into(dx, dx_d)
                s = self._suffix(layer, d)
                with self._grad_lock:
                    for name, gw in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), dw):
                        if gw is not None:
                            _device.add_into(self.grads[name + s], gw)
            # the input of this layer was the previous layer's output × mask
            g = _device.multiply(dx, tape.masks[layer - 1]) if layer > 0 and tape.masks else dx
        if not retain_cache:
            self._tape = None
        dx = _device.swap01(g) if tape.batch_first else g
        return (dx, self._pack_device_state(dstate0)) if return_dstate else dx

    def _new_step_plan(self):
        # eval-mode streaming on the CPU (nn/_fast_step.py); None where it
        # does not apply. A move to the GPU replaces the parameter arrays, so
        # the plan's check (StepPlan.current) sends the next step here again
        if self._device != "cpu" or self.bidirectional:
            self._step_plan = None
            return None
        names = [tuple(n + self._suffix(layer, 0) if n + self._suffix(layer, 0) in
                       self.params else None
                       for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
                 for layer in range(self.num_layers)]
        projections = ["weight_hr" + self._suffix(layer, 0)
                       for layer in range(self.num_layers)] if self.proj_size else None
        plan = self._step_plan = StepPlan(self, names, self.kind, self._options, projections)
        return plan

    def step(self, x_t, state=None, *, check_finite=True):
        """Advance one time step: the streaming form of :meth:`forward`.

        Feeding the returned state back in, step by step (or chunk by
        chunk with :meth:`forward`), gives the same outputs as one call
        over the whole sequence. In training mode the step's cache is kept,
        as for any forward pass.

        Parameters
        ----------
        x_t : ndarray, shape (B, I), or (I,) unbatched
        state : like ``forward``'s, optional
        check_finite : bool, default True
            As in :meth:`forward`. In eval mode on the CPU a step takes a
            fast path: the weights are validated once (again only when a
            parameter array is replaced or the dtype changes; values edited
            in place are read as they are), x_t and the state are checked
            for NaN/Inf inside the kernel, and one step of a one-layer
            float32 LSTM with H = 32 costs a few microseconds. With
            ``check_finite=False`` the same path gives the same values; a
            step whose inputs are not finite is recomputed on the general
            path, which lets NaN and Inf through to the outputs.

        Returns
        -------
        y_t : ndarray, shape (B, H) (B, P with ``proj_size``; (H,) unbatched)
        state : the new state

        Raises
        ------
        ValueError
            For a bidirectional layer (its reverse direction reads the future).

        Examples
        --------
        >>> import numpy as np, numbarnn
        >>> lstm = numbarnn.LSTM(2, 3, num_layers=2, seed=0).eval()
        >>> x = np.random.default_rng(0).standard_normal((6, 1, 2))
        >>> state = None
        >>> for t in range(6):
        ...     y_t, state = lstm.step(x[t], state)
        >>> bool(np.allclose(y_t, lstm.forward(x)[0][-1]))
        True
        """
        if (check_finite is True or check_finite is False) and not self.training:
            # the fast path, written out here: every call frame is ~0.1 µs of a
            # ~5 µs step. plan.run returns None for inputs it does not take
            # (and, without check_finite, for non-finite ones: see plan.run)
            plan = self.__dict__.get("_step_plan")
            if plan is None or not plan.current(self):
                plan = self._new_step_plan()
            if plan is not None:
                out = plan.run(x_t, state, strict=check_finite)
                if out is not None:
                    return out
        if self.bidirectional:
            raise ValueError("step needs a unidirectional layer: the reverse direction "
                             "of a bidirectional layer reads the future")
        if getattr(x_t, "ndim", None) == 1 and self._device == "cpu":  # unbatched (I,)
            x_t = self._check_array("x_t", x_t, (self.input_size,))
            y, state = self.forward(x_t[None], state, check_finite=check_finite)
            return y[0], state
        x_t = self._check_array("x_t", x_t, (None, self.input_size))
        if self._device == "cuda":  # device arrays have reshape, not None-indexing
            from . import _device

            B = x_t.shape[0]
            x_t = _device.contiguous(x_t)
            y, state = self.forward(x_t.reshape((B, 1, self.input_size) if self.batch_first
                                                else (1, B, self.input_size)), state,
                                    check_finite=check_finite)
            return y.reshape(B, y.shape[2]), state
        y, state = self.forward(x_t[:, None] if self.batch_first else x_t[None], state,
                                check_finite=check_finite)
        return (y[:, 0] if self.batch_first else y[0]), state
