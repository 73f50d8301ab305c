"""Small GPU helpers for layers and cells moved to the GPU with ``.to("cuda")``.

The recurrences themselves run in the functional API (``numbarnn.functional``
routes device arrays to ``numbarnn/functional/device.py``). What a layer adds
around them is data movement and elementwise arithmetic: time reversal for
the reverse direction, placing each direction's output in its slab of the
concatenated output (and taking it back out in the backward pass), the
batch-first transpose, gradient accumulation, dropout masks and zeros.
Numba device arrays have no arithmetic and no general transpose, so each of
these is one grid-stride ``@cuda.jit`` kernel here.

This module imports ``numba.cuda`` at import time; :mod:`numbarnn.nn.base`
imports it only when a module is moved to the GPU, so that
``import numbarnn`` never needs CUDA.

Every helper returns a fresh C-contiguous numba device array (or writes into
one it is given) and queues its work on the default stream, like the
functional API's kernels, so the order of operations is the order of calls.
"""
import numpy as np
from numba import cuda

# Launch sizes, the grid-stride launcher and the fill/copy kernels are the
# functional API's (kernels/cuda/common.py); importing it also applies the
# numba-cuda compatibility shim before anything compiles.
from ..kernels.cuda.common import copy_2d as _copy_2d  # noqa: E402
from ..kernels.cuda.common import fill as _fill  # noqa: E402
from ..kernels.cuda.common import launch_1d as _launch  # noqa: E402

# Launches go through kernels/cuda/common.configured, which skips numba's
# low-occupancy warning for them alone (numba.config stays as it was).


# -- kernels --------------------------------------------------------------------

@cuda.jit
def _add_into(a, b):
    """a[:] += b[:], for 1-D arrays of one length."""
    for i in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
        a[i] += b[i]


@cuda.jit
def _multiply(a, b, out):
    """out[:] = a[:] * b[:], for 1-D arrays of one length."""
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[i] = a[i] * b[i]


@cuda.jit
def _copy_block(src, dst, src_col, dst_col, width, reverse):
    """dst[t, :, dst_col:dst_col + width] = src[t', :, src_col:src_col + width]
    with t' = T − 1 − t when ``reverse``, else t (T = dst.shape[0]).

    One kernel serves the reversal of a whole (T, B, F) array, the placing of
    a direction's output in its slab of the concatenation, and its split.
    """
    T, B = dst.shape[0], dst.shape[1]
    per_t = B * width
    for i in range(cuda.grid(1), T * per_t, cuda.gridsize(1)):
        t = i // per_t
        r = i - t * per_t
        b = r // width
        j = r - b * width
        ts = T - 1 - t if reverse else t
        dst[t, b, dst_col + j] = src[ts, b, src_col + j]


@cuda.jit
def _swap01(src, dst):
    """dst[i, j, k] = src[j, i, k]: (T, B, F) <-> (B, T, F)."""
    n0, n1, n2 = dst.shape[0], dst.shape[1], dst.shape[2]
    for i in range(cuda.grid(1), n0 * n1 * n2, cuda.gridsize(1)):
        a = i // (n1 * n2)
        r = i - a * (n1 * n2)
        b = r // n2
        k = r - b * n2
        dst[a, b, k] = src[b, a, k]


# -- helpers --------------------------------------------------------------------

def as_numba(a):
    """A numba device array for any device array (CuPy, torch: a zero-copy view)."""
    # numba's own arrays (and the simulator's) have is_c_contiguous;
    # anything else exports __cuda_array_interface__
    return a if hasattr(a, "is_c_contiguous") else cuda.as_cuda_array(a)


def to_device(a):
    """A device copy of the host array ``a``."""
    return cuda.to_device(np.ascontiguousarray(a))


def to_host(a):
    """A numpy copy of the device array ``a``."""
    return as_numba(a).copy_to_host()


def empty(shape, dtype):
    """An uninitialised device array."""
    return cuda.device_array(shape, np.dtype(dtype))


def zeros(shape, dtype):
    """A device array of zeros."""
    a = empty(shape, dtype)
    fill_zero(a)
    return a


def fill_zero(a):
    """Set the contiguous device array ``a`` to zero, in place."""
    flat = a.reshape(a.size)
    _launch(_fill, flat.shape[0], flat, np.dtype(a.dtype).type(0))


def contiguous(a):
    """``a`` (2- or 3-D when strided) if C-contiguous, else a contiguous copy.

    Reshapes and the flat elementwise kernels need contiguous arrays; a
    strided view (``x[:, t]`` of a batch-first array) is copied once.
    """
    if a.is_c_contiguous():
        return a
    out = empty(a.shape, a.dtype)
    if a.ndim == 3:
        _launch(_copy_block, out.size, a, out, 0, 0, a.shape[2], False)
    else:  # parameters and gradients are always contiguous: inputs are 2-D or 3-D
        _launch(_copy_2d, out.size, a, out)
    return out


def copy(a):
    """A fresh contiguous device copy of ``a``.

    States are copied on the way in, as on the CPU: a cache keeps a
    reference to the state it started from, and the caller's array may
    change before the backward pass.
    """
    a = contiguous(a)
    out = empty(a.shape, a.dtype)
    if a.size:
        out.copy_to_device(a)
    return out


def add_into(a, b):
    """``a += b`` in place (contiguous arrays of one shape); returns ``a``."""
    _launch(_add_into, a.size, a.reshape(a.size), contiguous(b).reshape(b.size))
    return a


def multiply(a, b):
    """``a * b`` as a new array (contiguous arrays of one shape)."""
    out = empty(a.shape, a.dtype)
    _launch(_multiply, a.size, contiguous(a).reshape(a.size), contiguous(b).reshape(b.size),
            out.reshape(out.size))
    return out


def reverse_time(a):
    """``a[::-1]`` of a (T, B, F) array, as a new contiguous array."""
    out = empty(a.shape, a.dtype)
    _launch(_copy_block, out.size, a, out, 0, 0, a.shape[2], True)
    return out


def put_block(dst, src, col, reverse=False):
    """``dst[:, :, col:col + W] = src`` (src (T, B, W)), reversed in time if asked.

    Builds the concatenation of the directions of a bidirectional layer,
    the reverse direction's output turned back to forward time.
    """
    _launch(_copy_block, src.shape[0] * src.shape[1] * src.shape[2], src, dst, 0, col,
            src.shape[2], bool(reverse))


def take_block(src, col, width, reverse=False):
    """``src[:, :, col:col + width]`` (reversed in time if asked) as a new array.

    The split of a bidirectional layer's output gradient into its
    directions: the inverse of :func:`put_block`.
    """
    T, B = src.shape[0], src.shape[1]
    out = empty((T, B, width), src.dtype)
    _launch(_copy_block, out.size, src, out, col, 0, width, bool(reverse))
    return out


def swap01(a):
    """The (B, T, F) transpose of a (T, B, F) array (or back), contiguous."""
    out = empty((a.shape[1], a.shape[0], a.shape[2]), a.dtype)
    _launch(_swap01, out.size, a, out)
    return out


def stack(arrays, dtype):
    """Stack equally shaped device arrays along a new first axis (as ``np.stack``)."""
    first = arrays[0]
    out = empty((len(arrays),) + tuple(first.shape), dtype)
    if first.size:
        for i, a in enumerate(arrays):
            out[i].copy_to_device(contiguous(a))
    return out
