"""Validation and allocation shared by the functional API.

Kernels have no bounds checks, so every shape, dtype and layout is settled
here, before any kernel runs: an unchecked shape is memory corruption.
"""
import numpy as np

from ..kernels.cpu.finite import all_finite
from . import buffers

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_F32, _F64 = FLOAT_DTYPES

# Inference fills the input projection this many elements at a time, so its
# memory does not grow with T (training keeps every step: that is the cache).
CHUNK_ELEMENTS = 1 << 18


def is_device_array(a):
    """True for a GPU array: ``__cuda_array_interface__`` (numba, CuPy, PyTorch
    CUDA tensors) or the CUDA simulator's arrays, which lack it."""
    if type(a) is np.ndarray:  # the common case, without the getattr that raises below
        return False
    if type(a).__module__.startswith("numba.cuda.simulator"):
        return True
    try:
        getattr(a, "__cuda_array_interface__")
    except AttributeError:
        return False
    except Exception:  # e.g. a CUDA tensor that requires grad refuses to export
        return True
    return True


def check_bool(name, value):
    """``value`` as a Python bool if it is a real boolean, else a TypeError.

    Only ``bool`` and ``numpy.bool_`` pass, as in PyTorch: ``bool("False")``
    is True, so converting would silently invert a flag given as a string.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional.checks import check_bool
    >>> check_bool("batch_first", np.bool_(True))
    True
    >>> check_bool("batch_first", "False")
    Traceback (most recent call last):
    TypeError: batch_first must be a bool (True or False), got str 'False'
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool (True or False), got "
                        f"{type(value).__name__} {value!r}")
    return bool(value)


def check_meta(name, actual_dtype, actual_shape, shape, dtype):
    """Dtype and shape checks shared by host and device arrays.

    ``shape`` holds ints or None (any size); ``dtype`` None accepts float32
    or float64.
    """
    # identity tests first: a B = 1 pass validates a dozen arrays, and the
    # general comparisons and the message text cost ~3 µs an array (~5% of
    # an S1 LSTM float32 fwd+bwd)
    if actual_dtype is not _F32 and actual_dtype is not _F64:
        actual_dtype = np.dtype(actual_dtype)
        if actual_dtype not in FLOAT_DTYPES:
            raise TypeError(f"{name} must be a float32 or float64 array, got dtype "
                            f"{actual_dtype}")
    if dtype is not None and actual_dtype is not dtype and actual_dtype != dtype:
        raise TypeError(f"{name} has dtype {actual_dtype} but x has dtype {dtype}: numbarnn "
                        "never casts silently; convert one of them")
    actual_shape = tuple(actual_shape)
    if len(actual_shape) != len(shape):
        raise ValueError(f"{name} must be {len(shape)}-D with shape {_shape_text(shape)}, "
                         f"got {len(actual_shape)}-D with shape {actual_shape}")
    for s, n in zip(shape, actual_shape):
        if s is not None and s != n:
            raise ValueError(f"{name} must have shape {_shape_text(shape)}, got {actual_shape}")


def _shape_text(shape):
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"


def as_array(name, a, shape, dtype, check_finite):
    """Return ``a`` as a C-contiguous float array of ``shape`` and ``dtype``.

    ``shape`` holds ints or None (any size); ``dtype`` None accepts float32
    or float64. Never modifies ``a``; copies only when it is not already a
    C-contiguous array of the right dtype.
    """
    if is_device_array(a):
        # all-device calls were routed to functional/device.py before this
        raise TypeError(f"{name} is a GPU array ({type(a).__name__}) but the other "
                        "arguments are host arrays: pass all arrays on the same side")
    arr = a if type(a) is np.ndarray else np.asarray(a)
    check_meta(name, arr.dtype, arr.shape, shape, dtype)
    # Copy (if needed) before scanning: a huge broadcast view then fails at
    # once for lack of memory instead of after a scan of every element.
    if not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    if check_finite and arr.size and not all_finite(arr):
        raise ValueError(f"{name} contains NaN or Inf (pass check_finite=False to skip "
                         "this check)")
    return arr


def check_weights(x, w_ih, w_hh, b_ih, b_hh, gate_count, cell, check_finite):
    """Validate x and the weights; return them as arrays plus (T, B, I, H)."""
    x, w_hh = _check_x_w_hh(x, w_hh, check_finite)
    rows, H = w_hh.shape
    if H == 0 or rows != gate_count * H:
        raise ValueError(f"w_hh must have shape ({gate_count}*H, H) for the {cell} "
                         f"({gate_count} gate(s) stacked), got {w_hh.shape}")
    return _check_rest(x, w_ih, w_hh, b_ih, b_hh, H, check_finite)


def check_projected_weights(x, w_ih, w_hh, b_ih, b_hh, w_hr, check_finite):
    """Validate an LSTM with a projection ``w_hr`` (P, H), 0 < P < H.

    Returns x, w_ih, w_hh, b_ih, b_hh, w_hr as arrays plus (T, B, I, H, P);
    w_hh must be (4H, P).
    """
    x, w_hh = _check_x_w_hh(x, w_hh, check_finite)
    rows = w_hh.shape[0]
    if rows == 0 or rows % 4:
        raise ValueError(f"w_hh must have shape (4*H, P) for the LSTM with a projection "
                         f"(4 gates stacked), got {w_hh.shape}")
    H = rows // 4
    w_hr = as_array("w_hr", w_hr, (None, H), x.dtype, check_finite)
    P = w_hr.shape[0]
    if not 0 < P < H:
        # PyTorch: "proj_size has to be smaller than hidden_size"
        raise ValueError(f"w_hr must have shape (P, H) = (P, {H}) with 0 < P < H: the "
                         f"projection size P (PyTorch's proj_size) has to be smaller than "
                         f"the hidden size H, got {w_hr.shape}")
    if w_hh.shape[1] != P:
        raise ValueError(f"w_hh must have shape (4*H, P) = ({rows}, {P}) with the projection "
                         f"w_hr of shape {w_hr.shape}, got {w_hh.shape}")
    out = _check_rest(x, w_ih, w_hh, b_ih, b_hh, H, check_finite)
    return out[:5] + (w_hr, out[5] + (P,))


def _check_x_w_hh(x, w_hh, check_finite):
    if x is None:
        raise TypeError("x is required")
    x = as_array("x", x, (None, None, None), None, check_finite)
    return x, as_array("w_hh", w_hh, (None, None), x.dtype, check_finite)


def _check_rest(x, w_ih, w_hh, b_ih, b_hh, H, check_finite):
    dtype = x.dtype
    T, B, I = x.shape
    rows = w_hh.shape[0]
    w_ih = as_array("w_ih", w_ih, (rows, I), dtype, check_finite)
    b_ih = None if b_ih is None else as_array("b_ih", b_ih, (rows,), dtype, check_finite)
    b_hh = None if b_hh is None else as_array("b_hh", b_hh, (rows,), dtype, check_finite)
    return x, w_ih, w_hh, b_ih, b_hh, (T, B, I, H)


def state(name, s, B, H, dtype, check_finite):
    """An initial state (B, H), zeros when ``s`` is None."""
    if s is None:
        return np.zeros((B, H), dtype=dtype)
    return as_array(name, s, (B, H), dtype, check_finite)


def bias_or_zeros(b, rows, dtype):
    return np.zeros(rows, dtype=dtype) if b is None else b


def work_steps(T, B, width, training):
    """Steps per chunk of the gate buffer: all T when training."""
    if training:
        return max(T, 1)
    return max(1, min(T, CHUNK_ELEMENTS // max(1, B * width)))


def grad_input(name, g, shape, dtype):
    """An incoming gradient (zeros when None), validated like any input."""
    if g is None:
        return buffers.zeros(shape, dtype)
    return as_array(name, g, shape, dtype, check_finite=True)


class Cache:
    """What a training forward pass keeps for its backward pass.

    Treat it as opaque. It holds references to ``x`` and the weights as they
    were passed (after any contiguity copy) and its own copy of the outputs;
    changing ``x`` or the weights in place before the backward pass changes
    the gradients it returns.
    """

    def __init__(self, cell, **arrays):
        self.cell = cell
        self.__dict__.update(arrays)

    def __repr__(self):
        T, B, I = self.x.shape
        w_hr = getattr(self, "w_hr", None)
        sizes = f"H={self.w_hh.shape[1]}" if w_hr is None else \
            f"H={w_hr.shape[1]}, P={w_hr.shape[0]}"
        return f"<numbarnn {self.cell} cache: T={T}, B={B}, I={I}, {sizes}, {self.x.dtype}>"


class EngineCache(Cache):
    """The cache of a CPU engine pass (``functional/engine.py``).

    It keeps the gate activations and states in the engine's packed,
    padded layout (``gates_p``, ``cs_p``, ``hs_p``); ``gates``, ``cs`` and
    ``y`` give them in the weights' gate order, (T, B, G·H) and (T, B, H),
    for readers such as the layers' ``return_gates``.
    """

    def __init__(self, cell, layout, **arrays):
        super().__init__(cell, layout=layout, **arrays)

    @property
    def gates(self):
        from .engine import unpack_columns
        return unpack_columns(self.gates_p, self.layout)

    @property
    def cs(self):
        return self.cs_p[1:, :, :self.layout.H]

    @property
    def y(self):
        """The outputs (T, B, H) ((T, B, P) with a projection): a view of the
        padded states, which a training pass keeps for every step (so the
        caller's y needs no copy)."""
        return self.hs_p[1:, :, :self.w_hh.shape[1]]


def check_cache(cache, cell, fn):
    """Reject anything but the cache of a training forward pass of ``cell``."""
    if cache is None:
        raise ValueError(f"{fn} needs the cache of a forward pass run with training=True; "
                         "got None (forward with training=False keeps no cache)")
    if not isinstance(cache, Cache):
        raise TypeError(f"{fn}: cache must be the cache returned by {cell}_forward(..., "
                        f"training=True), got {type(cache).__name__}")
    if cache.cell != cell:
        raise ValueError(f"{fn}: cache comes from {cache.cell}_forward, not {cell}_forward")


def start_backward(cache, dy, dh_n, cell, fn):
    """Validate the incoming gradients and allocate the outputs: zeros for
    the weight and bias gradients, which the kernels add into, and an
    uninitialised dx, which the first set of weight gradients writes
    (``engine._grads_args``).

    dy and dh_n have the width of the recurrent state (``w_hh``'s columns:
    P for a projected LSTM).
    """
    check_cache(cache, cell, fn)
    x = cache.x
    T, B, _ = x.shape
    H = cache.w_hh.shape[1]
    dtype = x.dtype
    dy = grad_input("dy", dy, (T, B, H), dtype)
    # not copied: the passes copy dh_n into a padded buffer of their own
    dh = grad_input("dh_n", dh_n, (B, H), dtype)
    # C order whatever the weights' order: the kernels add into these, but
    # for dx, which the weight gradients' first set writes whole
    # (engine._grads_args)
    out = dict(dx=buffers.empty(x.shape, dtype), dw_ih=buffers.zeros(cache.w_ih.shape, dtype),
               dw_hh=buffers.zeros(cache.w_hh.shape, dtype),
               db_ih=np.zeros(cache.w_hh.shape[0], dtype),
               db_hh=np.zeros(cache.w_hh.shape[0], dtype))
    return dy, dh, out


def bias_grads(cache, out):
    """The bias gradients, None for a bias the forward pass did not get."""
    return (out["db_ih"] if cache.has_b_ih else None,
            out["db_hh"] if cache.has_b_hh else None)
