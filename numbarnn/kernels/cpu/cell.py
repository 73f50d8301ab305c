"""``kernels/cellmath.py`` compiled for the CPU.

The cell math is compiled here rather than decorated where it is written so
that the CUDA target can compile the same source with its own primitives.
Each function is rebuilt over a namespace in which its calls resolve to the
CPU-compiled versions, then jitted lazily with ``inline="always"``.

The CPU primitives: a branch-free exponential (numba has no SVML here, so
``math.exp`` is a scalar libm call that stops the gate loops vectorising)
and ``typed`` (a constant in the argument's float type).
"""
import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from .. import cellmath
from ..cellmath import compile_cell_math
from ..._jit import FASTMATH
from .simd import Vector, vfloor, vpositive, vpow2, vsplat


@intrinsic
def _bits_to_float(typingctx, bits, like):
    """Reinterpret an int64 (int32) as float64 (float32)."""
    width = {types.float64: 64, types.float32: 32}.get(like)
    if width is None or not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        ival = context.cast(builder, args[0], sig.args[0], types.int64)
        if width == 32:
            ival = builder.trunc(ival, ir.IntType(32))
        return builder.bitcast(ival, context.get_value_type(like))

    return like(bits, like), codegen


def fast_exp(a):
    """exp(a) with the argument clamped to the finite range of a's type."""
    return cellmath.exp_(a)


def typed(like, v):
    return type(like)(v)


def _floor(x):
    return math.floor(x)


@overload(_floor, jit_options={"fastmath": FASTMATH, "error_model": "numpy"})
def _ov_floor(x):
    """Round down, in x's own type: a float for scalars, lanes for vectors."""
    if isinstance(x, Vector):
        return lambda x: vfloor(x)
    fty = np.float64 if x == types.float64 else np.float32
    return lambda x: fty(math.floor(x))


def _pow2(n, bias, shift):
    return 2.0 ** n


@overload(_pow2, jit_options={"fastmath": FASTMATH, "error_model": "numpy"})
def _ov_pow2(n, bias, shift):
    """2**n for integral n in the normal range, from the exponent bits."""
    if isinstance(n, Vector):
        return lambda n, bias, shift: vpow2(n, bias, shift)
    itype = np.int64 if n == types.float64 else np.int32
    return lambda n, bias, shift: _bits_to_float(itype(itype(n) + bias) << shift, n)


def _exp_impl(fty):
    # Cody–Waite reduction a = n ln2 + r, |r| ≤ ln2/2, then a Taylor
    # polynomial for e^r (degree 13 for float64, 7 for float32: truncation
    # error below half an ulp), and 2^n built from the exponent bits. One
    # source for scalars and SIMD vectors: ``typed`` gives each constant in
    # a's type (a splat for vectors), min/max/_floor/_pow2 work on both.
    if fty is np.float64:
        lo, hi, bias, shift, degree = -708.0, 709.0, 1023, 52, 13
        ln2_hi, ln2_lo = 6.93147180369123816490e-01, 1.90821492927058770002e-10
    else:
        lo, hi, bias, shift, degree = -87.0, 88.0, 127, 23, 7
        ln2_hi, ln2_lo = 0.693359375, -2.12194440e-4
    coeffs = tuple(float(fty(1.0 / math.factorial(k))) for k in range(degree, -1, -1))
    lo, hi, log2e = float(fty(lo)), float(fty(hi)), float(fty(1.4426950408889634))
    ln2_hi, ln2_lo = float(fty(ln2_hi)), float(fty(ln2_lo))

    head, tail = coeffs[0], coeffs[1:]

    def impl(a):
        x = min(max(a, typed(a, lo)), typed(a, hi))
        nf = _floor(x * typed(a, log2e) + typed(a, 0.5))
        r = (x - nf * typed(a, ln2_hi)) - nf * typed(a, ln2_lo)
        p = typed(a, head)
        # a plain loop over a constant tuple, which LLVM unrolls. With
        # literal_unroll, the 13 float64 terms became a jump table inside the
        # loop: the scalar float64 exponential took 26 ns and did not
        # vectorise (float32, 7 terms, 0.9 ns)
        for k in tail:
            p = p * r + typed(a, k)
        return p * _pow2(nf, bias, shift)

    return impl


@overload(fast_exp, jit_options={"fastmath": FASTMATH, "error_model": "numpy"})
def _ov_fast_exp(a):
    dtype = a.dtype if isinstance(a, Vector) else a
    if dtype == types.float64:
        return _exp_impl(np.float64)
    if dtype == types.float32:
        return _exp_impl(np.float32)
    return None


def positive(y):
    return cellmath.positive(y)


@overload(positive, jit_options={"fastmath": FASTMATH, "error_model": "numpy"})
def _ov_positive(y):
    if isinstance(y, Vector):
        return lambda y: vpositive(y)
    if isinstance(y, types.Float):
        fty = np.float32 if y == types.float32 else np.float64
        zero, one = fty(0.0), fty(1.0)
        return lambda y: one if y > zero else zero
    return None


@overload(typed)
def _ov_typed(like, v):
    if isinstance(like, Vector):
        target = like.dtype

        def vimpl(like, v):
            return vsplat(target(v))

        return vimpl
    target = like

    def impl(like, v):
        return target(v)

    return impl


_compiled = compile_cell_math(
    lambda f: numba.njit(inline="always", fastmath=FASTMATH, error_model="numpy")(f),
    {"exp_": fast_exp, "typed": typed, "positive": positive},
)
# Kernels import these by name (numba resolves module globals, not attributes).
globals().update(_compiled)
__all__ = sorted(_compiled) + ["fast_exp", "typed", "positive"]
