"""``kernels/cellmath.py`` compiled for the GPU.

The same source as the CPU's ``kernels/cpu/cell.py`` compiles, rebuilt by
the same :func:`~numbarnn.kernels.cellmath.compile_cell_math` over a
namespace in which calls resolve to ``cuda.jit(device=True)`` versions; the
cell equations are not repeated here.

The GPU primitives:

``exp_``
    ``math.exp`` (libdevice's ``exp``/``expf``, accurate to an ulp or two)
    with its argument clamped to the float64 finite range, as on the CPU.
    In float32 the clamp is wider than ``expf``'s range, so ``exp_`` may
    return inf; the cell math only ever forms ``1 / (1 + e)`` and
    ``2 / (1 + e) − 1`` from it, which give the exact limits 0 and −1 for an
    infinite ``e``, never NaN. A float32-specific bound would need a second
    compiled copy of every function for one dtype.
``typed``
    ``type(like)(v)``: the constant in ``like``'s float type, so float32
    arithmetic never promotes to float64 (float64 is 2–64× slower on most
    GPUs). numba's CUDA target types ``type(x)`` as the number class of
    ``x``; the simulator runs it as plain Python on NumPy scalars.

No ``fastmath``: it would swap ``expf`` for the approximate ``__expf`` and
break the 1e-12 float64 agreement with the CPU.
"""
import math

from numba import cuda

from . import compat  # noqa: F401  (before anything compiles)
from ..cellmath import compile_cell_math


def _exp(a):
    return math.exp(min(max(a, typed(a, -708.0)), typed(a, 709.0)))


def _typed(like, v):
    return type(like)(v)


typed = cuda.jit(device=True)(_typed)
exp_ = cuda.jit(device=True)(_exp)

_compiled = compile_cell_math(lambda f: cuda.jit(device=True)(f), {"exp_": exp_, "typed": typed})
# Kernels import these by name (numba resolves module globals, not attributes).
globals().update(_compiled)
__all__ = sorted(_compiled) + ["exp_", "typed"]
