"""The streaming fast path: one step of an inference layer or cell on the CPU.

A ``step`` (or a cell's ``forward``) in eval mode at B = 1 does a few
thousand multiply-adds; going through the general path (state parsing, the
functional API's validation, a time loop for T = 1) cost ~90 µs for an LSTM
with H = 32. Here a :class:`StepPlan` validates the weights once and keeps
them; each call checks only what can change between calls (the input's and
the state's type, dtype, shape and layout, in a few attribute reads) and
runs one kernel per layer (``kernels/cpu/step.py``; its compiled version,
called without numba's dispatch: see :func:`_compiled`) that also rejects
non-finite inputs; a large step is split over the workers by hidden units
(:data:`SPLIT_STEP_BYTES`). Anything unusual — other dtypes,
non-contiguous arrays, lists, GPU arrays, training mode — takes the
general path, which validates and converts as before. A projected LSTM
(``proj_size``) runs ``step.lstm_proj_step``, never split by units (its
projection reads every unit of m_t).

``check_finite=False`` takes the fast path too (the same kernels, so the
same bits as with the check); only a step whose inputs are not finite goes
on to the general path, which lets NaN and Inf through.

A plan is rebuilt when a parameter array is replaced or the layer's dtype
changes (``Module.to``, ``load_state_dict``, assignment). Weights edited in
place (optimizers do that) are read in place: the kernels see the new
values, which were finite-checked when the plan was made, not since.
"""
import operator

import numba
import numpy as np

from ..functional import workers
from ..functional.cells import CELLS
from ..functional.rnn import NONLINEARITIES
from ..functional.schedule import get_num_threads
from ..kernels.cpu import step as _k
from ..kernels.cpu.simd import VECTOR_BYTES


#: Largest batch the fast path takes. Its kernels read each weight row once
#: per call, in place, for blocks of 4 batch rows (on the calling thread
#: when these numbers were taken; see :data:`SPLIT_STEP_BYTES`); the
#: general path packs the weights every call and splits the work over the
#: workers. Two threads, eval mode, one step: the fast path was 1.5-3x
#: faster at B = 16 and 32 (S3 LSTM float32: 118 µs against 381; S5, B =
#: 16, H = 512: 771 against 2317) and faster or level at B = 64 (S4 LSTM
#: float32 745 µs against 1320; GRU float64 1.65 ms against 1.62). Larger
#: batches were not measured; they keep the threaded general path.
STEP_MAX_BATCH = 64

#: A step whose batch rows times the first layer's weight bytes reach this
#: is split by hidden units over the workers (``functional/workers.py``):
#: each part computes every gate row of its units for the whole batch, and
#: their cell update, so the parts share nothing but the inputs, and each
#: reads only its units' weights (in place, as one part would). Every value
#: is the same however the units are split. Two threads against one, eval
#: mode, in one process: LSTM float32 B = 64, I = 128, H = 256 (S4; 1.5 MB
#: of weights) 0.65-0.73x the time, B = 16, H = 512 (S5) 0.55x; Elman RNN
#: float32 S4 (0.4 MB) 0.70-0.77x; LSTM float64 at S3 (B = 32, H = 128,
#: 0.65 MB) 0.81x, float32 there (0.33 MB) 0.80-0.96x and the GRU 1.01-1.12x,
#: where a step takes ~100 µs and the hand-off to a worker 20-60 µs. Not the
#: reset-before GRU, whose candidate reads r ⊙ h of every unit.
SPLIT_STEP_BYTES = 1 << 24


def _first(fn, args, out):
    # the calling thread's part, whose kernel checks the inputs: keep its answer
    out[0] = fn(*args)


class StepPlan:
    """Validated weights of a unidirectional CPU layer or cell.

    ``names`` lists, per layer, the parameter names of (w_ih, w_hh, b_ih,
    b_hh) (None for an absent bias) in ``module.params``; ``projections``,
    for an LSTM with ``proj_size``, the names of each layer's w_hr.
    """

    def __init__(self, module, names, kind, options, projections=None):
        params = module.params
        self.dtype = module.dtype
        self.kind = kind
        layers = []
        for layer in names:
            w = [None if n is None else params[n] for n in layer]
            for n, a in zip(layer, w):
                if a is not None and not np.isfinite(a).all():
                    raise ValueError(f"{n} contains NaN or Inf")
            zeros = np.zeros(w[1].shape[0], self.dtype)
            layers.append(tuple(zeros if a is None else a for a in w))
        # the kernels read the module's own arrays (so in-place edits are seen):
        # one that is not C-contiguous or of another dtype sends every step to
        # the general path, which validates and converts it
        self.usable = all(a.dtype == self.dtype and a.flags.c_contiguous
                          for layer in layers for a in layer)
        self.layers = layers
        # the units H (c's width) and the width of h: P with a projection
        self.H = layers[0][1].shape[0] // len(CELLS[kind].gate_names)
        self.proj = None
        if projections:
            self.proj = [params[n] for n in projections]
            for n, a in zip(projections, self.proj):
                if not np.isfinite(a).all():
                    raise ValueError(f"{n} contains NaN or Inf")
            self.usable = self.usable and all(a.dtype == self.dtype and a.flags.c_contiguous
                                              for a in self.proj)
        self.width = self.proj[0].shape[0] if self.proj else self.H
        # the kernels' weight argument: addresses of the arrays above, which
        # this plan keeps alive (a plan is replaced, never edited)
        self.table = _k.weight_table(layers, 0, self.H) if self.usable else None
        # a projected LSTM's kernel also takes the addresses of the w_hr
        self.proj_table = (np.array([a.ctypes.data for a in self.proj], np.int64)
                           if self.proj and self.usable else None)
        # every parameter array the module holds, compared by identity on
        # each call (four dict look-ups by name took 0.8 µs)
        self.held = tuple(params.values())
        self.n_held = len(self.held)
        self.I = layers[0][0].shape[1]
        self.n_parts = len(CELLS[kind].states)
        self.act = NONLINEARITIES[options.get("nonlinearity", "tanh")]
        self.reset_after = bool(options.get("reset_after", False))
        # the kernel and its option argument, GRU and RNN
        self.kernel = (_k.gru_step, self.reset_after) if kind == "gru" else (_k.rnn_step, self.act)
        self.lanes = VECTOR_BYTES // np.dtype(self.dtype).itemsize
        self.part_tables = {}
        # the smallest batch whose steps are split by units (never for the
        # reset-before GRU: see SPLIT_STEP_BYTES)
        nbytes = sum(a.nbytes for a in layers[0][:2])
        self.split_rows = (-(-SPLIT_STEP_BYTES // nbytes)
                           if (kind != "gru" or self.reset_after) and not self.proj
                           else STEP_MAX_BATCH + 1)
        # the state this plan returned last and its (L, B, H) parts: a state
        # passed back is recognised by identity and needs no checks
        self.last = (None, None)
        # the kernels' compiled functions, called without numba's dispatch
        # (see _compiled): for layer 0 (x is (B, I)) and the layers above
        # (their input is the (L, B, H) output of the step)
        self.calls = _compiled(self) if self.usable else (None, None)
        # what run reads on every call, in one attribute (~25 ns a look-up)
        self.fixed = (self.dtype, (self.I,), self.H, self.width, len(layers),
                      self.n_parts == 2, self.table)

    def current(self, module):
        """True while the module holds the arrays (and dtype) this plan was made from."""
        dtype, params = module.dtype, module.params
        # identity, not ==: arrays compare element-wise. 0.3 µs; the ids as
        # a tuple compared to a stored one took 0.6
        return ((dtype is self.dtype or dtype == self.dtype) and len(params) == self.n_held
                and all(map(operator.is_, params.values(), self.held)))

    def run(self, x, state, layered=True, strict=True):
        """One step from x (B, I) and ``state`` as the module takes it.

        ``layered``: states are (L, B, H) arrays (a layer's ``step``); else
        (B, H) (a cell's ``forward``). Returns ``(h_top, new_state)``, or None
        when the inputs need the general path. Non-finite values in x or the
        state raise ValueError with ``strict`` (``check_finite=True``);
        without it they return None too, and the general path, which lets
        them through, computes the step (the kernels stop at the check).
        """
        dtype, tail, H, R, n_layers, lstm, table = self.fixed
        if table is None:   # weights the kernels cannot read in place
            return None
        # x.shape[1:] == (I,) also says x is 2-D; the flags: C-contiguous
        # and aligned, as the compiled kernels take them
        if (type(x) is not _ndarray or (x.dtype is not dtype and x.dtype != dtype)
                or x.shape[1:] != tail or x.flags.num & _C_ALIGNED != _C_ALIGNED):
            return None
        B = x.shape[0]
        if B > STEP_MAX_BATCH:
            return None
        # h is (n_layers, B, R), c (n_layers, B, H): R is P with a projection
        shape = (n_layers, B, R) if layered else (B, R)
        cshape = (n_layers, B, H) if layered else (B, H)
        last = self.last
        if state is None:
            h = _zeros(shape, dtype)
            c = _zeros(cshape, dtype) if lstm else None
        elif state is last[0]:
            # this plan's own output (the usual streaming loop): known valid
            h, c = last[1]
        else:
            if lstm:
                if type(state) is not tuple or len(state) != 2:
                    return None
                h, c = state
                if not _fits(c, dtype, cshape):
                    return None
            else:
                h, c = state, None
            if not _fits(h, dtype, shape):
                return None
        if not layered:   # a cell: the kernels take (L, B, H) with L = 1
            shape = cshape = (1, B, H)
            h = h.reshape(shape)
            c = None if c is None else c.reshape(shape)
        # outputs per call: several threads may step one layer at once
        h_new = _empty(shape, dtype)
        # every layer of a step split by units when the first is large enough
        split = B >= self.split_rows
        first, upper = self.calls
        if self.proj_table is not None:
            c_new = _empty(cshape, dtype)
            m = _empty((B, H), dtype)
            ptable = self.proj_table
            bad = first(x, 0, 0, h, c, table, ptable, m, h_new, c_new)
            layer = 0
            while not bad and layer + 1 < n_layers:
                layer += 1
                bad = upper(h_new, (layer - 1) * B * R, layer, h, c, table, ptable, m, h_new,
                            c_new)
            full = new = (h_new, c_new)
        elif lstm:
            c_new = _empty(shape, dtype)
            bad = self._split(_k.lstm_step, (x, 0, 0, h, c), (h_new, c_new)) if split else \
                first(x, 0, 0, h, c, table, h_new, c_new)
            layer = 0
            while not bad and layer + 1 < n_layers:
                layer += 1
                args = (h_new, (layer - 1) * B * H, layer, h, c)
                bad = self._split(_k.lstm_step, args, (h_new, c_new)) if split else \
                    upper(*args, table, h_new, c_new)
            full = (h_new, c_new)
            new = full if layered else (h_new[0], c_new[0])
        else:
            kernel, option = self.kernel
            inp, xo, call = x, 0, first
            for layer in range(n_layers):
                bad = self._split(kernel, (inp, xo, layer, h), (option, h_new)) if split else \
                    call(inp, xo, layer, h, table, option, h_new)
                if bad:
                    break
                inp, xo, call = h_new, layer * B * H, upper
            full = (h_new, None)
            new = h_new if layered else h_new[0]
        if bad:
            if not strict:
                return None
            _refuse(bad, layer)
        self.last = (new, full)
        return h_new[-1], new

    def _split(self, kernel, head, tail):
        """One layer's kernel ``kernel(*head, table, *tail)`` split by units
        over the workers (see :data:`SPLIT_STEP_BYTES`); returns its count of
        non-finite inputs."""
        parts = min(get_num_threads(), -(-self.H // self.lanes) // 2)
        if parts < 2:
            return kernel(*head, self.fixed[-1], *tail)
        out = [0]

        def part(p, n, counter):
            args = (*head, self._tables(n)[p], *tail)
            return (_first, (kernel, args, out)) if p == 0 else (kernel, args)

        workers.run_parts(parts, part)
        return out[0]

    def _tables(self, n):
        """Weight tables of the n parts of a split step (made once per n)."""
        tables = self.part_tables.get(n)
        if tables is None:
            H, L = self.H, self.lanes
            blocks = -(-H // L)
            bounds = [blocks * p // n * L for p in range(n)] + [H]
            tables = self.part_tables[n] = [_k.weight_table(self.layers, u0, u1)
                                            for u0, u1 in zip(bounds, bounds[1:])]
        return tables


_empty, _zeros, _ndarray = np.empty, np.zeros, np.ndarray

#: numpy's C_CONTIGUOUS and ALIGNED flag bits (``ndarray.flags.num``): one
#: attribute read for both
_C_ALIGNED = 0x0001 | 0x0100


def _fits(a, dtype, shape):
    # dtype identity first: numpy's builtin dtypes are singletons, and == on
    # two dtypes costs ~0.1 µs
    return (type(a) is _ndarray and (a.dtype is dtype or a.dtype == dtype)
            and a.shape == shape and a.flags.num & _C_ALIGNED == _C_ALIGNED)


def _compiled(plan):
    """The compiled step kernel of ``plan`` for layer 0 and for the layers
    above (None for a one-layer plan), called directly.

    numba's dispatcher works out the type of every argument on each call to
    pick a compiled version (~0.25 µs of a ~4 µs B = 1 LSTM step, eight
    arguments). ``run`` has already checked what those types depend on
    (dtype, number of dimensions, C order, alignment), so the version is
    known once here: compiled, or loaded from numba's cache, for writable
    C-contiguous arrays of the plan's dtype. The versions only read x and
    the state, so a read-only one is passed as it is.
    """
    dt = plan.dtype
    x, s = np.zeros((1, plan.I), dt), np.zeros((1, 1, plan.H), dt)
    if plan.proj_table is not None:
        kernel, tail = _k.lstm_proj_step, (s, s, plan.table, plan.proj_table, s[0], s, s)
    elif plan.n_parts == 2:   # h and c
        kernel, tail = _k.lstm_step, (s, s, plan.table, s, s)
    else:
        kernel, tail = plan.kernel[0], (s, plan.table, plan.kernel[1], s)

    def version(inp):
        return kernel.compile(tuple(numba.typeof(a) for a in (inp, 0, 0, *tail)))

    return version(x), version(s) if len(plan.layers) > 1 else None


def _refuse(bad, layer):
    raise ValueError(f"x_t or the state contains NaN or Inf ({bad} values, layer {layer})")
