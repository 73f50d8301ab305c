"""Aligned buffers for the engine, and the pool that lets passes reuse them.

A pass of the CPU engine needs a dozen large buffers (packed weights, the
gate pre-activations of a chunk of steps, the gate gradients, the states it
keeps for training). Freshly allocated, large blocks come from the
operating system as untouched pages, and every page faults on first
write: a fwd+bwd pass of an LSTM over 10 000 steps (B = 1, H = 16,
float32, two threads) took 1 531 page faults and 5.2-5.4 ms a call, and
3.2-3.3 ms without a fault once its buffers came from this pool
(alternating processes). So the engine's buffers come from a pool:

* a buffer is *free* when no array made from it is alive: the pool holds
  the only reference to it (its reference count says so: every view of an
  array keeps the array's owner alive). An array a pass returns, or any
  view of it, keeps its buffer busy for as long as it lives;
* :func:`empty` hands out a free buffer of the same shape and dtype if the
  pool has one, and otherwise a new one, which it keeps if the pool holds
  less than :data:`POOL_BYTES` (making room by dropping the free buffers
  used least recently);
* :func:`release` drops every free buffer, giving the memory back.

The pool is shared by all threads; claiming a buffer takes a lock. It is
off (every buffer new) where CPython runs without the GIL, since reference
counts are then not exact.
"""
import collections
import math
import os
import sys
import threading

import numpy as np

from ..kernels.cpu.simd import address

#: Buffers start on a cache line: a 64-byte vector load that straddles two
#: lines costs two (numpy's allocations are 16-byte aligned; the S3 LSTM
#: forward ran 4.8 ms with aligned buffers and 5.5-7.5 ms without).
ALIGN = 64
#: Smaller buffers are plain ``np.empty`` (neither aligned nor pooled):
#: aligning one costs ~3 µs of Python (np.empty alone ~0.5), and a B = 1
#: pass allocates two dozen buffers; aligning them all made the S1 LSTM
#: float32 fwd+bwd 4% slower.
SMALL_BYTES = 1 << 14
#: Most bytes the pool keeps, free and busy buffers together (a buffer
#: that does not fit is handed out unpooled and freed as usual).
POOL_BYTES = 64 << 20

_lock = threading.Lock()
_pool = collections.OrderedDict()   # (shape, dtype) → [aligned arrays], least recent first
# (shape, dtype) requests known to be below SMALL_BYTES: the next one is a
# plain np.empty at once (0.38 µs, against 1.1 working it out again; 23 of
# a T = 20, B = 1 LSTM fwd+bwd's 26 requests). At most _SMALL_KEYS of them
_small = set()
_SMALL_KEYS = 1 << 12
_held = [0]
_on = getattr(sys, "_is_gil_enabled", lambda: True)()


def _new_lock():
    # after fork(), in the child: the lock may have been held by a parent
    # thread that does not exist there
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock)


def _aligned(shape, dtype, nbytes):
    raw = np.empty(nbytes + ALIGN, np.uint8)
    off = (-address(raw)) % ALIGN
    return raw[off:off + nbytes].view(dtype).reshape(shape)


def _refs(a):
    # references to the block that owns a's memory; _FREE when only a does
    return sys.getrefcount(a.base)


_FREE = _refs(_aligned((1,), np.dtype(np.float64), 8))


def _make_room(nbytes):
    # drop free buffers, least recently used first, until nbytes fit
    for key in list(_pool):
        if _held[0] + nbytes <= POOL_BYTES:
            break
        _drop_free(key, lambda: _held[0] + nbytes > POOL_BYTES)
    return _held[0] + nbytes <= POOL_BYTES


def _drop_free(key, more=lambda: True):
    # drop the free buffers of key while more() (list.remove would compare
    # arrays with ==, so the list is rebuilt)
    keep = []
    for a in _pool[key]:
        if more() and _refs(a) == _FREE:
            _held[0] -= a.base.nbytes
        else:
            keep.append(a)
    if keep:
        _pool[key] = keep
    else:
        del _pool[key]


def empty(shape, dtype):
    """``np.empty`` whose data starts on a 64-byte boundary, reusing a pooled
    buffer when one of this shape and dtype is free; below
    :data:`SMALL_BYTES`, a plain ``np.empty`` (neither aligned nor pooled).

    Like ``np.empty`` the contents are arbitrary: what an earlier pass left
    there.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional.buffers import empty
    >>> a = empty((256, 64), np.float32)
    >>> a.shape, a.ctypes.data % 64
    ((256, 64), 0)
    >>> b = empty((256, 64), np.float32)          # a is alive: another buffer
    >>> bool(np.shares_memory(a, b))
    False
    >>> where = a.ctypes.data
    >>> del a
    >>> empty((256, 64), np.float32).ctypes.data == where    # a's buffer again
    True
    """
    key = (shape, dtype)
    if key in _small:
        return np.empty(shape, dtype)
    if key in _pool:   # only large buffers are pooled: no lock for the small ones
        with _lock:
            for a in _pool.get(key, ()):
                if _refs(a) == _FREE:
                    _pool.move_to_end(key)
                    return a[...]   # a view: the caller may reshape it, the pool's stays
    dtype = np.dtype(dtype)
    dims = shape if isinstance(shape, tuple) else (int(shape),)
    nbytes = math.prod(dims) * dtype.itemsize
    if nbytes < SMALL_BYTES:
        if len(_small) < _SMALL_KEYS:
            _small.add(key)
        return np.empty(dims, dtype)
    a = _aligned(dims, dtype, nbytes)
    if _on:
        with _lock:
            if _make_room(a.base.nbytes):
                # under the caller's (shape, dtype): what the next call looks up
                _pool.setdefault(key, []).append(a)
                _held[0] += a.base.nbytes
    return a[...]


def zeros(shape, dtype):
    """:func:`empty` filled with zeros.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional.buffers import zeros
    >>> float(zeros((64, 64), np.float64).sum())
    0.0
    """
    out = empty(shape, dtype)
    out.fill(0)
    return out


def pooled_bytes():
    """``(held, free)``: the bytes the pool keeps, and how many of them are
    in free buffers.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.functional.buffers import empty, pooled_bytes, release
    >>> release()
    >>> a = empty(1 << 20, np.uint8)
    >>> held, free = pooled_bytes()
    >>> held >= a.nbytes, free
    (True, 0)
    >>> del a
    >>> pooled_bytes()[1] >= 1 << 20
    True
    """
    with _lock:
        free = sum(a.base.nbytes for arrs in _pool.values() for a in arrs if _refs(a) == _FREE)
        return _held[0], free


def release():
    """Drop every free buffer from the pool (busy ones stay until they are free).

    Examples
    --------
    >>> from numbarnn.functional.buffers import pooled_bytes, release
    >>> release()
    >>> pooled_bytes()[1]
    0
    """
    with _lock:
        for key in list(_pool):
            _drop_free(key)
