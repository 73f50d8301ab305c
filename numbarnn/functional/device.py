"""The GPU side of the functional API: validation, allocation and launches.

``rnn_forward`` and the other public functions route here when they are
handed device arrays (anything with ``__cuda_array_interface__``: numba
device arrays, CuPy arrays, PyTorch CUDA tensors; under
``NUMBA_ENABLE_CUDASIM=1`` also the simulator's arrays, which lack it). The
arrays are used where they are, never copied to the host, and every result
is a numba device array. The checks are the CPU's (``checks.py``), with the
same messages; finiteness is checked on the device, by one small kernel per
argument and a single flag copy back to the host (``check_finite=False``
skips it and the synchronisation it costs).

Each pass is the cell's time loop as one kernel launch for the whole
sequence (``kernels/cuda/steps.py``): the fused loop, which also does the
input projection and, in inference, keeps no gates (only y and the last
state), wherever every (batch row, unit) pair gets a thread; otherwise a GEMM
for the input projection of every step and the chunked loop, which keeps
every step's gates (T·B·G·H elements). Backward, dx and the weight
gradients are one GEMM each plus column sums for the biases. All work is
queued on the default stream; results are ready once it has run
(``numba.cuda.synchronize()``, or any copy to the host).

``numba.cuda`` is imported on the first device call only, so
``import numbarnn`` never needs CUDA.
"""
import functools

import numpy as np

from .checks import Cache, check_cache, check_meta, is_device_array


class DeviceCache(Cache):
    """What a training forward pass on the GPU keeps (device arrays); opaque."""


def on_device(**arrays):
    """True when the arguments are device arrays, False when host arrays.

    None arguments are ignored. Raises TypeError when some are on the GPU
    and some on the host: numbarnn never copies between them behind your
    back.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional.device import on_device
    >>> on_device(x=np.zeros((2, 1, 1)), h0=None)
    False
    """
    dev = [n for n, a in arrays.items() if a is not None and is_device_array(a)]
    if not dev:
        return False
    host = [n for n, a in arrays.items() if a is not None and n not in dev]
    if host:
        raise TypeError(f"{', '.join(dev)} on the GPU but {', '.join(host)} on the host: "
                        "pass all arrays on the same side (numba.cuda.to_device / "
                        ".copy_to_host convert)")
    return True


@functools.lru_cache(maxsize=None)
def cuda_modules():
    """numba.cuda and numbarnn's CUDA kernels; a clear error without a GPU."""
    try:
        from numba import cuda
    except ImportError as exc:  # pragma: no cover - numba always ships a CUDA target
        raise RuntimeError("numbarnn's GPU path needs numba's CUDA target: "
                           "pip install 'numbarnn[cuda]'") from exc
    if not cuda.is_available():
        raise RuntimeError("no CUDA GPU is available (numba.cuda.is_available() is False): "
                           "install an NVIDIA driver and numba-cuda, or set "
                           "NUMBA_ENABLE_CUDASIM=1 to run the kernels in numba's simulator")
    from ..kernels.cuda import common, gru, lstm, rnn, steps

    return cuda, common, {"rnn": rnn, "lstm": lstm, "gru": gru, "steps": steps}


def to_device(a):
    """Copy a host array to the GPU (a numba device array).

    Raises RuntimeError when there is no GPU (and no simulator).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional.device import to_device
    >>> d = to_device(np.ones((3, 2)))  # doctest: +SKIP
    >>> d.copy_to_host().sum()  # doctest: +SKIP
    6.0
    """
    cuda = cuda_modules()[0]
    return cuda.to_device(np.ascontiguousarray(a))


# -- validation ---------------------------------------------------------------

class _Inputs:
    """Validates device arguments like ``checks.as_array``; finiteness last."""

    def __init__(self, check_finite):
        self.cuda, self.k, _ = cuda_modules()
        self.check_finite = check_finite
        self.to_check = []

    def array(self, name, a, shape, dtype, check_finite=None):
        cuda = self.cuda
        if not hasattr(a, "is_c_contiguous"):  # CuPy, torch, ...: a zero-copy view
            a = cuda.as_cuda_array(a)
        adt = np.dtype(a.dtype)
        check_meta(name, adt, a.shape, shape, dtype)
        if not a.is_c_contiguous():
            out = cuda.device_array(a.shape, adt)
            self.k.launch_1d(self.k.COPY[a.ndim], out.size, a, out)
            a = out
        if (self.check_finite if check_finite is None else check_finite) and a.size:
            self.to_check.append((name, a))
        return a

    def weights(self, x, w_ih, w_hh, b_ih, b_hh, gate_count, cell):
        if x is None:
            raise TypeError("x is required")
        x = self.array("x", x, (None, None, None), None)
        dtype = np.dtype(x.dtype)
        T, B, I = x.shape
        w_hh = self.array("w_hh", w_hh, (None, None), dtype)
        rows, H = w_hh.shape
        if H == 0 or rows != gate_count * H:
            raise ValueError(f"w_hh must have shape ({gate_count}*H, H) for the {cell} "
                             f"({gate_count} gate(s) stacked), got {tuple(w_hh.shape)}")
        w_ih = self.array("w_ih", w_ih, (rows, I), dtype)
        b_ih = None if b_ih is None else self.array("b_ih", b_ih, (rows,), dtype)
        b_hh = None if b_hh is None else self.array("b_hh", b_hh, (rows,), dtype)
        return x, w_ih, w_hh, b_ih, b_hh, (T, B, I, H)

    def state(self, name, s, B, H, dtype):
        if s is None:
            return self.zeros((B, H), dtype)
        return self.array(name, s, (B, H), dtype)

    def zeros(self, shape, dtype):
        a = self.cuda.device_array(shape, dtype)
        self.k.launch_1d(self.k.fill, a.size, a.reshape(-1), np.dtype(dtype).type(0))
        return a

    def finish(self):
        """Reject NaN/Inf before any kernel of the pass runs (one sync)."""
        if not self.to_check:
            return
        flags = self.zeros(len(self.to_check), np.int32)
        for slot, (_, a) in enumerate(self.to_check):
            self.k.launch_1d(self.k.flag_nonfinite, a.size, a.reshape(-1), flags, slot)
        bad = flags.copy_to_host()
        for (name, _), flag in zip(self.to_check, bad):
            if flag:
                raise ValueError(f"{name} contains NaN or Inf (pass check_finite=False to "
                                 "skip this check)")


def _copy(k, cuda, a):
    out = cuda.device_array(a.shape, a.dtype)
    k.launch_1d(k.COPY[a.ndim], out.size, a, out)
    return out


def _project(k, x, w_ih, b_ih, b_hh, with_hh, gates):
    """gates = x @ w_ihᵀ + b_ih (+ b_hh), every step at once."""
    T, B, I = x.shape
    g = gates.reshape(T * B, gates.shape[2])
    k.launch_1d(k.fill_bias, g.size, g, b_ih, b_hh, with_hh)
    k.gemm(x.reshape(T * B, I), w_ih, g, 1.0, trans_b=True)


def _plan(w_hh, B):
    """The time loops' layout for this cell size and batch (``steps.plan_steps``)."""
    GH, H = w_hh.shape
    return cuda_modules()[2]["steps"].plan_steps(GH // H, B, H, np.dtype(w_hh.dtype).itemsize)


def _forward(inp, x, w_ih, w_hh, b_ih, b_hh, with_hh):
    """The input projection: (y, gates, w_hhT, b_hh or zeros), y unwritten.

    ``w_hhT`` and the bias are None when T·B == 0 (no time loop to run).
    """
    cuda, k = inp.cuda, inp.k
    T, B, _ = x.shape
    GH, H = w_hh.shape
    dtype = np.dtype(x.dtype)
    y = cuda.device_array((T, B, H), dtype)
    gates = cuda.device_array((T, B, GH), dtype)
    if not (T and B):
        return y, gates, None, None
    bi = inp.zeros(GH, dtype) if b_ih is None else b_ih
    bh = inp.zeros(GH, dtype) if b_hh is None else b_hh
    _project(k, x, w_ih, bi, bh, with_hh, gates)
    w_hhT = cuda.device_array((H, GH), dtype)
    k.launch_1d(k.transpose_2d, w_hhT.size, w_hh, w_hhT)
    return y, gates, w_hhT, bh


def _time_loop(cell, direction, w_hh, out, state, arrays):
    """Launch ``cell``'s forward or backward driver kernel with its plan.

    ``out``/``state`` are the driver's first two arguments (y and h0
    forward, the array the next phase reads and dh backward).
    """
    mods = cuda_modules()[2]
    plan = _plan(w_hh, state.shape[0])
    kernel = getattr(mods[cell], f"{cell}_{direction}")(np.dtype(w_hh.dtype).name, plan.layout)
    shared = plan.shared_fwd if direction == "forward" else plan.shared_bwd
    mods["steps"].launch(kernel, plan, shared, out, state, arrays)


def _last(inp, seq, first, T):
    """A fresh copy of seq[T − 1], or of ``first`` when T == 0."""
    return _copy(inp.k, inp.cuda, seq[T - 1] if T else first)


_DUMMIES = {}


def _dummy(ndim, dtype):
    """A one-element device array standing in for an absent argument (the
    kernels read it only behind a ``has_…`` flag)."""
    key = (ndim, np.dtype(dtype).name)
    if key not in _DUMMIES:
        _DUMMIES[key] = cuda_modules()[0].device_array((1,) * ndim, dtype)
    return _DUMMIES[key]


def _or_dummy(a, ndim, dtype):
    return (_dummy(ndim, dtype) if a is None else a), a is not None


def _fused(cell, direction, plan, I, H, G, dtype, *args):
    """Launch ``cell``'s fused time loop (``steps.fused_*_kernel``)."""
    mods = cuda_modules()[2]
    steps = mods["steps"]
    counts = steps.register_counts(plan, I, H, G)
    name = np.dtype(dtype).name
    fwd, bwd = steps.fused_shared(plan, I, H, G, np.dtype(dtype).itemsize, counts)
    if direction == "forward":
        kernel, shared = getattr(mods[cell], f"{cell}_forward_fused")(
            name, plan.layout, *counts[:2], steps.x_per_thread(plan, I)), fwd
    else:
        kernel, shared = getattr(mods[cell], f"{cell}_backward_fused")(name, plan.layout,
                                                                       counts[2]), bwd
    cuda_modules()[1].configured(kernel, plan.blocks, plan.threads, shared)(*args, *plan.args())


def _fused_forward_plan(inp, x, w_hh):
    """The plan when the fused forward loop can run (T·B > 0), else None."""
    T, B, I = x.shape
    if not (T and B):
        return None
    plan = _plan(w_hh, B)
    GH, H = w_hh.shape
    fits = cuda_modules()[2]["steps"].fused_fits(plan, I, H, GH // H,
                                                  np.dtype(w_hh.dtype).itemsize)
    return plan if fits else None


def _state_out(inp, first, B, H, dtype):
    """h_n (or c_n) for T == 0: a copy of the initial state, or zeros."""
    return inp.zeros((B, H), dtype) if first is None else _copy(inp.k, inp.cuda, first)


def rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0, act, training, check_finite):
    """Elman RNN forward on the GPU; returns (y, h_n, cache)."""
    inp = _Inputs(check_finite)
    x, w_ih, w_hh, b_ih, b_hh, (T, B, I, H) = inp.weights(x, w_ih, w_hh, b_ih, b_hh, 1, "RNN")
    h0 = None if h0 is None else inp.array("h0", h0, (B, H), x.dtype)
    inp.finish()
    dtype = np.dtype(x.dtype)
    plan = _fused_forward_plan(inp, x, w_hh)
    if plan is not None:
        y = inp.cuda.device_array((T, B, H), dtype)
        h_n = inp.cuda.device_array((B, H), dtype)
        (bi, has_bi), (bh, has_bh) = _or_dummy(b_ih, 1, dtype), _or_dummy(b_hh, 1, dtype)
        h0_, has_h0 = _or_dummy(h0, 2, dtype)
        _fused("rnn", "forward", plan, I, H, 1, dtype, x, w_ih, w_hh, h0_, has_h0, y, h_n,
               (bi, bh, has_bi, has_bh, np.int64(act)))
    else:
        h0z = inp.state("h0", h0, B, H, dtype)
        y, gates, w_hhT, _ = _forward(inp, x, w_ih, w_hh, b_ih, b_hh, True)
        if w_hhT is not None:
            _time_loop("rnn", "forward", w_hh, y, h0z, (gates, w_hhT, np.int64(act)))
        h_n = _last(inp, y, h0z, T)
    cache = None
    if training:
        cache = DeviceCache("rnn", x=x, w_ih=w_ih, w_hh=w_hh, h0=h0, y=y, act=act,
                            has_b_ih=b_ih is not None, has_b_hh=b_hh is not None)
        y = _copy(inp.k, inp.cuda, y)
    return y, h_n, cache


def lstm_forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0, training, check_finite):
    """LSTM forward on the GPU; returns (y, h_n, c_n, cache)."""
    inp = _Inputs(check_finite)
    x, w_ih, w_hh, b_ih, b_hh, (T, B, I, H) = inp.weights(x, w_ih, w_hh, b_ih, b_hh, 4, "LSTM")
    h0 = None if h0 is None else inp.array("h0", h0, (B, H), x.dtype)
    c0 = None if c0 is None else inp.array("c0", c0, (B, H), x.dtype)
    inp.finish()
    dtype = np.dtype(x.dtype)
    cuda = inp.cuda
    plan = _fused_forward_plan(inp, x, w_hh)
    if plan is not None:
        y = cuda.device_array((T, B, H), dtype)
        h_n, c_n = cuda.device_array((B, H), dtype), cuda.device_array((B, H), dtype)
        # inference keeps no gates or cell states, only y and the last state
        gates = cuda.device_array((T, B, 4 * H), dtype) if training else _dummy(3, dtype)
        cs = cuda.device_array((T, B, H), dtype) if training else _dummy(3, dtype)
        (bi, has_bi), (bh, has_bh) = _or_dummy(b_ih, 1, dtype), _or_dummy(b_hh, 1, dtype)
        (h0_, has_h0), (c0_, has_c0) = _or_dummy(h0, 2, dtype), _or_dummy(c0, 2, dtype)
        _fused("lstm", "forward", plan, I, H, 4, dtype, x, w_ih, w_hh, h0_, has_h0, y, h_n,
               (bi, bh, has_bi, has_bh, c0_, has_c0, gates, cs, c_n, bool(training)))
    else:
        h0z, c0z = inp.state("h0", h0, B, H, dtype), inp.state("c0", c0, B, H, dtype)
        cs = cuda.device_array((T, B, H), dtype)
        y, gates, w_hhT, _ = _forward(inp, x, w_ih, w_hh, b_ih, b_hh, True)
        if w_hhT is not None:
            _time_loop("lstm", "forward", w_hh, y, h0z, (gates, w_hhT, c0z, cs))
        h_n, c_n = _last(inp, y, h0z, T), _last(inp, cs, c0z, T)
    cache = None
    if training:
        cache = DeviceCache("lstm", x=x, w_ih=w_ih, w_hh=w_hh, h0=h0, c0=c0, y=y,
                            gates=gates, cs=cs, has_b_ih=b_ih is not None,
                            has_b_hh=b_hh is not None)
        y = _copy(inp.k, cuda, y)
    return y, h_n, c_n, cache


def gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0, reset_after, training, check_finite):
    """GRU forward on the GPU (either form); returns (y, h_n, cache)."""
    inp = _Inputs(check_finite)
    x, w_ih, w_hh, b_ih, b_hh, (T, B, I, H) = inp.weights(x, w_ih, w_hh, b_ih, b_hh, 3, "GRU")
    h0 = None if h0 is None else inp.array("h0", h0, (B, H), x.dtype)
    inp.finish()
    dtype = np.dtype(x.dtype)
    cuda = inp.cuda
    plan = _fused_forward_plan(inp, x, w_hh) if reset_after else None
    if plan is not None:
        y = cuda.device_array((T, B, H), dtype)
        h_n = cuda.device_array((B, H), dtype)
        gates = cuda.device_array((T, B, 3 * H), dtype) if training else _dummy(3, dtype)
        aux = cuda.device_array((T, B, H), dtype) if training else _dummy(3, dtype)
        (bi, has_bi), (bh, has_bh) = _or_dummy(b_ih, 1, dtype), _or_dummy(b_hh, 1, dtype)
        h0_, has_h0 = _or_dummy(h0, 2, dtype)
        _fused("gru", "forward", plan, I, H, 3, dtype, x, w_ih, w_hh, h0_, has_h0, y, h_n,
               (bi, bh, has_bi, has_bh, gates, aux, bool(training)))
    else:
        h0z = inp.state("h0", h0, B, H, dtype)
        aux = cuda.device_array((T, B, H), dtype)
        # reset-after keeps b_hh out of the input side: b_hn sits inside r ⊙ (·)
        y, gates, w_hhT, bh = _forward(inp, x, w_ih, w_hh, b_ih, b_hh, not reset_after)
        if w_hhT is not None and reset_after:
            _time_loop("gru", "forward", w_hh, y, h0z, (gates, w_hhT, bh, aux))
        elif w_hhT is not None:
            kernel = cuda_modules()[2]["gru"].sequence_forward
            inp.k.configured(kernel, B, inp.k.cell_threads(H))(
                gates, False, w_hhT, bh, h0z, y, aux)
        h_n = _last(inp, y, h0z, T)
    cache = None
    if training:
        cache = DeviceCache("gru", x=x, w_ih=w_ih, w_hh=w_hh, h0=h0, y=y, gates=gates,
                            aux=aux, reset_after=reset_after, has_b_ih=b_ih is not None,
                            has_b_hh=b_hh is not None)
        y = _copy(inp.k, cuda, y)
    return y, h_n, cache


# -- backward -------------------------------------------------------------------

def is_device_cache(cache):
    """True for the cache of a training forward pass that ran on the GPU."""
    return isinstance(cache, DeviceCache)


def _start_backward(cache, dy, dh_n, extra, cell, fn):
    """Validate the incoming gradients; None stays None (no zeros are made)."""
    check_cache(cache, cell, fn)
    named = {"dy": dy, "dh_n": dh_n, **extra}
    host = [n for n, a in named.items() if a is not None and not is_device_array(a)]
    if host:
        raise TypeError(f"{', '.join(host)} on the host but the cache comes from a forward "
                        "pass on the GPU: pass device arrays")
    inp = _Inputs(True)
    T, B, _ = cache.x.shape
    H = cache.w_hh.shape[1]
    dtype = np.dtype(cache.x.dtype)
    out = {}
    for name, g in named.items():
        shape = (T, B, H) if name == "dy" else (B, H)
        out[name] = None if g is None else inp.array(name, g, shape, dtype)
    inp.finish()
    if out["dy"] is None:
        out["dy"] = inp.zeros((T, B, H), dtype)
    return inp, out, (T, B, cache.x.shape[2], H, dtype)


def _empty_backward(inp, cache, g, states):
    """The gradients when T == 0 or B == 0 (no time loop to run): zeros, and
    copies of the incoming state gradients ``states`` (names in g) as dh0 …"""
    dx, dw_ih, dw_hh, db_ih, db_hh = _grads_for_empty(inp, cache)
    B, H = cache.x.shape[1], cache.w_hh.shape[1]
    fresh = [_fresh(inp, g[name], B, H, cache.x.dtype) for name in states]
    return (dx, *fresh, dw_ih, dw_hh, db_ih, db_hh)


def _fresh(inp, g, B, H, dtype):
    """A copy of the state gradient g (zeros for None): the chunked kernels
    update it in place."""
    return inp.zeros((B, H), dtype) if g is None else _copy(inp.k, inp.cuda, g)


def _weight_grads(inp, cache, aux, split, dg_x, dg_h):
    """dx, dw_ih, dw_hh, db_ih, db_hh from the pre-activation gradients.

    Gate rows below ``split`` multiply h_{t−1} (h0, then y); rows from
    ``split`` on multiply ``aux[t]`` (the reset-before GRU's r ⊙ h_{t−1}).
    """
    cuda, k = inp.cuda, inp.k
    x, w_ih, h0, y = cache.x, cache.w_ih, cache.h0, cache.y
    T, B, I = x.shape
    GH, H = cache.w_hh.shape
    dtype = np.dtype(x.dtype)
    TB = T * B
    gx, gh = dg_x.reshape(TB, GH), dg_h.reshape(TB, GH)
    dx = cuda.device_array((T, B, I), dtype)
    dw_ih = cuda.device_array((GH, I), dtype)
    dw_hh = cuda.device_array((GH, H), dtype)
    db_ih, db_hh = cuda.device_array(GH, dtype), cuda.device_array(GH, dtype)
    k.gemm(gx, w_ih, dx.reshape(TB, I))
    k.gemm(gx, x.reshape(TB, I), dw_ih, trans_a=True)
    if cache.has_b_ih:
        k.launch_1d(k.column_sum, GH, gx, db_ih)
    if cache.has_b_hh:
        k.launch_1d(k.column_sum, GH, gh, db_hh)
    top = dw_hh[:split]
    # h0 None (zeros) adds nothing to the first step's product
    if h0 is not None:
        k.gemm(gh[:B, :split], h0, top, trans_a=True)
    if T > 1:
        k.gemm(gh[B:, :split], y[:T - 1].reshape((T - 1) * B, H), top,
               0.0 if h0 is None else 1.0, trans_a=True)
    elif h0 is None:
        k.launch_1d(k.fill, dw_hh.size, dw_hh.reshape(-1), np.dtype(dtype).type(0))
    if split < GH:
        k.gemm(gh[:, split:], aux.reshape(TB, H), dw_hh[split:], trans_a=True)
    return (dx, dw_ih, dw_hh, db_ih if cache.has_b_ih else None,
            db_hh if cache.has_b_hh else None)


def _grads_for_empty(inp, cache):
    """Zero gradients when T == 0 or B == 0 (no kernel to run)."""
    z = inp.zeros
    dtype = np.dtype(cache.x.dtype)
    GH = cache.w_hh.shape[0]
    return (z(cache.x.shape, dtype), z(cache.w_ih.shape, dtype), z(cache.w_hh.shape, dtype),
            z(GH, dtype) if cache.has_b_ih else None, z(GH, dtype) if cache.has_b_hh else None)


def _fused_backward_plan(cache):
    """The plan when the fused backward loop can run, else None."""
    T, B, I = cache.x.shape
    GH, H = cache.w_hh.shape
    plan = _plan(cache.w_hh, B)
    steps = cuda_modules()[2]["steps"]
    itemsize = np.dtype(cache.x.dtype).itemsize
    shared = steps.fused_shared(plan, I, H, GH // H, itemsize,
                                steps.register_counts(plan, I, H, GH // H))[1]
    fits = steps.FORCE_FUSED is not False and plan.chunks == 1 and shared <= 48 * 1024
    return plan if fits else None


def rnn_backward(cache, dy, dh_n):
    """BPTT on the GPU for :func:`rnn_forward`; (dx, dh0, dw_ih, dw_hh, db_ih, db_hh)."""
    inp, g, (T, B, I, H, dtype) = _start_backward(cache, dy, dh_n, {}, "rnn",
                                                  "rnn_backward")
    if not (T and B):
        return _empty_backward(inp, cache, g, ("dh_n",))
    dgates = inp.cuda.device_array_like(cache.y)
    plan = _fused_backward_plan(cache)
    if plan is not None:
        dh = inp.cuda.device_array((B, H), dtype)
        dh_n, has_dh_n = _or_dummy(g["dh_n"], 2, dtype)
        _fused("rnn", "backward", plan, I, H, 1, dtype, cache.w_hh, dgates, dh,
               (cache.y, g["dy"], dh_n, has_dh_n, dgates, np.int64(cache.act)))
    else:
        dh = _fresh(inp, g["dh_n"], B, H, dtype)
        _time_loop("rnn", "backward", cache.w_hh, dgates, dh,
                   (cache.w_hh, cache.y, g["dy"], dgates, np.int64(cache.act)))
    dx, dw_ih, dw_hh, db_ih, db_hh = _weight_grads(inp, cache, None, H, dgates, dgates)
    return dx, dh, dw_ih, dw_hh, db_ih, db_hh


def lstm_backward(cache, dy, dh_n, dc_n):
    """BPTT on the GPU for :func:`lstm_forward`; (dx, dh0, dc0, dw_ih, …)."""
    inp, g, (T, B, I, H, dtype) = _start_backward(cache, dy, dh_n, {"dc_n": dc_n}, "lstm",
                                                  "lstm_backward")
    if not (T and B):
        return _empty_backward(inp, cache, g, ("dh_n", "dc_n"))
    cuda = inp.cuda
    dgates = cuda.device_array_like(cache.gates)
    plan = _fused_backward_plan(cache)
    if plan is not None:
        dh, dc = cuda.device_array((B, H), dtype), cuda.device_array((B, H), dtype)
        c0, has_c0 = _or_dummy(cache.c0, 2, dtype)
        (dh_n, has_dh_n), (dc_n, has_dc_n) = (_or_dummy(g["dh_n"], 2, dtype),
                                              _or_dummy(g["dc_n"], 2, dtype))
        _fused("lstm", "backward", plan, I, H, 4, dtype, cache.w_hh, dgates, dh,
               (c0, has_c0, cache.gates, cache.cs, g["dy"], dh_n, has_dh_n, dc_n, has_dc_n,
                dgates, dc))
    else:
        dh, dc = _fresh(inp, g["dh_n"], B, H, dtype), _fresh(inp, g["dc_n"], B, H, dtype)
        c0 = inp.state("c0", cache.c0, B, H, dtype)
        _time_loop("lstm", "backward", cache.w_hh, dgates, dh,
                   (cache.w_hh, c0, cache.gates, cache.cs, g["dy"], dc, dgates))
    dx, dw_ih, dw_hh, db_ih, db_hh = _weight_grads(inp, cache, None, 4 * H, dgates, dgates)
    return dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh


def gru_backward(cache, dy, dh_n):
    """BPTT on the GPU for :func:`gru_forward`; (dx, dh0, dw_ih, dw_hh, db_ih, db_hh)."""
    inp, g, (T, B, I, H, dtype) = _start_backward(cache, dy, dh_n, {}, "gru",
                                                  "gru_backward")
    if not (T and B):
        return _empty_backward(inp, cache, g, ("dh_n",))
    cuda = inp.cuda
    dgates = cuda.device_array_like(cache.gates)
    dgh = cuda.device_array_like(cache.gates) if cache.reset_after else dgates
    plan = _fused_backward_plan(cache) if cache.reset_after else None
    if plan is not None:
        dh = cuda.device_array((B, H), dtype)
        h0, has_h0 = _or_dummy(cache.h0, 2, dtype)
        dh_n, has_dh_n = _or_dummy(g["dh_n"], 2, dtype)
        _fused("gru", "backward", plan, I, H, 3, dtype, cache.w_hh, dgh, dh,
               (h0, has_h0, cache.y, cache.gates, cache.aux, g["dy"], dh_n, has_dh_n,
                dgates, dgh))
    else:
        dh = _fresh(inp, g["dh_n"], B, H, dtype)
        h0 = inp.state("h0", cache.h0, B, H, dtype)
        dh_prev = inp.zeros((B, H), dtype)
        if cache.reset_after:
            _time_loop("gru", "backward", cache.w_hh, dgh, dh,
                       (cache.w_hh, h0, cache.y, cache.gates, cache.aux, g["dy"], dh_prev,
                        dgates, dgh))
        else:
            kernel = cuda_modules()[2]["gru"].sequence_backward
            inp.k.configured(kernel, B, inp.k.cell_threads(H))(
                False, cache.w_hh, h0, cache.y, cache.gates, cache.aux, g["dy"], dh, dh_prev,
                dgates, dgh)
    # reset-before: the candidate rows of w_hh multiply r ⊙ h_{t−1} (aux)
    split = 3 * H if cache.reset_after else 2 * H
    dx, dw_ih, dw_hh, db_ih, db_hh = _weight_grads(inp, cache, cache.aux, split, dgates, dgh)
    return dx, dh, dw_ih, dw_hh, db_ih, db_hh
