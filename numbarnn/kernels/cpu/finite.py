"""The NaN/Inf scan behind ``check_finite=True``.

``np.isfinite(a).all()`` writes a boolean array as large as ``a`` and reads
it back; this kernel reads ``a`` once, in SIMD vectors, and allocates
nothing (S4 input, float64, 6.5 MB: 0.41 ms → 0.29 ms).
"""
from ..._jit import kernel
from .simd import lanes_of, load, ptr, vload, vsum, vzero


@kernel
def all_finite(a):
    """True when no element of the C-contiguous float array ``a`` is NaN or ±Inf.

    ``x − x`` is 0 for every finite x and NaN otherwise, and a NaN stays NaN
    through the sums (the kernels' fast-math flags allow neither folding
    ``x − x`` to 0 nor assuming no NaN). Four accumulators keep the adds
    from waiting on each other; a block of 4096 values at a time, so that a
    NaN near the front ends the scan early.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.kernels.cpu.finite import all_finite
    >>> all_finite(np.arange(40.0)), all_finite(np.array([1.0, np.inf, 2.0]))
    (True, False)
    """
    flat = a.reshape(a.size)
    n = flat.shape[0]
    p = ptr(flat)
    L = lanes_of(p)
    i = 0
    while i + 4 * L <= n:
        s0 = vzero(p)
        s1 = s0
        s2 = s0
        s3 = s0
        end = min(n - n % (4 * L), i + 4096)
        while i < end:
            v0 = vload(p, i)
            v1 = vload(p, i + L)
            v2 = vload(p, i + 2 * L)
            v3 = vload(p, i + 3 * L)
            s0 = s0 + (v0 - v0)
            s1 = s1 + (v1 - v1)
            s2 = s2 + (v2 - v2)
            s3 = s3 + (v3 - v3)
            i += 4 * L
        if vsum((s0 + s1) + (s2 + s3)) != 0:
            return False
    for j in range(i, n):
        x = load(p, j)
        if x - x != 0:
            return False
    return True
