"""Explicit SIMD vectors and atomics for ``@njit`` code, through ``@intrinsic``.

numba has no vector type: LLVM vectorises simple loops, but it did not
vectorise a register-blocked GEMM tile (7.5 GFLOP/s as scalar code against
~120 with explicit vectors, on one AVX-512 core at 2.3 GHz). This module
gives kernels a value type whose LLVM representation is a vector
(``<16 x float>``, ``<8 x double>``: one 512-bit register), so a tile of
accumulators lives in registers across a whole loop, and the operations a
packed GEMM and the cell math need:

``ptr(a)``, ``load(p, i)``, ``store(p, i, x)``
    typed pointers to array data, and scalar access through them;
``vload(p, i)`` / ``vstore(p, i, v)``
    an unaligned vector load/store of ``p[i : i + lanes]`` (no bounds
    check: callers own their indices, as in every kernel);
``vsplat(x)``, ``vzero(p)``
    a scalar in every lane; zeros of the pointer ``p``'s dtype;
``vfma(a, b, c)``
    ``a * b + c`` lane by lane (``llvm.fma``: one rounding);
``+ − × ÷``, unary ``−``, ``min``, ``max``, ``vfloor``, ``vpow2``
    what ``kernels/cellmath.py`` and the vector exponential use, so the
    scalar cell math runs unchanged on a register of 8 or 16 units;
``vsum(v)``, ``vstore_sums(p, i, rows)``
    the sum of a vector's lanes in a fixed tree, and the same sums of 16
    vectors at once (the streaming step's dot products);
``vstore_transposed(p, i, stride, rows)``
    a square block of vectors stored transposed (packing weights).

The width is fixed at 64 bytes, the register of AVX-512. On a machine with
narrower vectors LLVM splits each operation into two or four, which stays
correct.

It also gives the atomics a spin barrier needs (``atomic_add``,
``atomic_load``: sequentially consistent add, acquire load through an int64
pointer), ``spin_pause`` (the x86 ``pause`` hint, a no-op elsewhere) and
``sched_yield`` (``SwitchToThread`` on Windows).
"""
import ctypes
import operator
import os
import platform

from llvmlite import binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, overload, register_model

from ..._jit import inline, kernel

#: Bytes of one vector: one AVX-512 register.
VECTOR_BYTES = 64


class Vector(types.Type):
    """The numba type of a SIMD vector of ``lanes`` values of ``dtype``."""

    def __init__(self, dtype, lanes):
        self.dtype = dtype
        self.lanes = lanes
        super().__init__(name=f"Vector({dtype}x{lanes})")


@register_model(Vector)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        elem = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(elem, fe_type.lanes))


def _vector_of(dtype):
    if dtype not in (types.float32, types.float64):
        return None
    return Vector(dtype, VECTOR_BYTES // (dtype.bitwidth // 8))


def _is_ptr(p, dtypes=(types.float32, types.float64)):
    return isinstance(p, types.CPointer) and p.dtype in dtypes


def _offset(context, builder, p, i, ity):
    return builder.gep(p, [context.cast(builder, i, ity, types.intp)])


@intrinsic
def ptr(typingctx, a):
    """The address of ``a``'s first element as a typed pointer.

    Kernels take pointers once, at their entry, and index them in their hot
    loops: an array passed into an inlined helper or sliced there carries
    reference counting that numba does not always prune, and a refcount call
    inside a register tile spilled every accumulator to the stack (52 → 97
    GFLOP/s on (32×128)·(128×512) float32 once gone). The array must stay
    alive while the pointer is used: an argument of the kernel is (its
    caller holds it), but numba frees a local array right after its last use
    *as an array*, so a kernel that allocates one must pass it to
    :func:`keep_alive` after its last pointer use.
    """
    if not isinstance(a, types.Array):
        return None
    pty = types.CPointer(a.dtype)

    def codegen(context, builder, sig, args):
        return context.make_array(sig.args[0])(context, builder, args[0]).data

    return pty(a), codegen


@intrinsic
def ptr_at(typingctx, address, like):
    """An integer address (``ndarray.ctypes.data``) as a pointer to ``like``'s
    dtype.

    For arrays a caller keeps alive and whose addresses it tabulated once
    (the streaming steps' weights): each array argument of a kernel costs
    ~0.1 µs of dispatch (typing and unboxing), a table of addresses one
    argument for all of them. Nothing checks the address: the caller owns
    that it points at live data of that dtype.
    """
    if not isinstance(address, types.Integer) or not isinstance(like, types.Array):
        return None
    pty = types.CPointer(like.dtype)

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(pty))

    return pty(address, like), codegen


@kernel
def address(a):
    """The address of ``a``'s data as an int: ~0.3 µs a call, against ~3 µs
    for ``a.__array_interface__`` or ``a.ctypes.data`` from Python.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.kernels.cpu.simd import address
    >>> a = np.zeros(4)
    >>> address(a) == a.ctypes.data
    True
    """
    return a.ctypes.data


@intrinsic
def keep_alive(typingctx, a):
    """A use of ``a`` that does nothing: numba releases a local array after
    its last use, and a pointer taken from it (:func:`ptr`) does not count."""
    if not isinstance(a, types.Array):
        return None

    def codegen(context, builder, sig, args):
        return context.get_dummy_value()

    return types.void(a), codegen


@intrinsic
def load(typingctx, p, i):
    """``p[i]``, a scalar."""
    if not isinstance(p, types.CPointer) or not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        return builder.load(_offset(context, builder, args[0], args[1], sig.args[1]))

    return p.dtype(p, i), codegen


@intrinsic
def store(typingctx, p, i, x):
    """``p[i] = x``."""
    if not isinstance(p, types.CPointer) or not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        v = context.cast(builder, args[2], sig.args[2], p.dtype)
        builder.store(v, _offset(context, builder, args[0], args[1], sig.args[1]))
        return context.get_dummy_value()

    return types.void(p, i, x), codegen


@intrinsic
def lanes_of(typingctx, p):
    """Values per vector for the pointer ``p``'s dtype (a compile-time constant)."""
    vty = _vector_of(p.dtype) if isinstance(p, types.CPointer) else None
    if vty is None:
        return None

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, vty.lanes)

    return types.intp(p), codegen


@intrinsic
def vload(typingctx, p, i):
    """Load ``p[i : i + lanes]`` as a vector (unaligned)."""
    if not _is_ptr(p) or not isinstance(i, types.Integer):
        return None
    vty = _vector_of(p.dtype)

    def codegen(context, builder, sig, args):
        q = _offset(context, builder, args[0], args[1], sig.args[1])
        vptr = builder.bitcast(q, context.get_value_type(vty).as_pointer())
        return builder.load(vptr, align=p.dtype.bitwidth // 8)

    return vty(p, i), codegen


@intrinsic
def vstore(typingctx, p, i, v):
    """Store the vector ``v`` to ``p[i : i + lanes]``."""
    if not _is_ptr(p) or not isinstance(v, Vector) or v.dtype != p.dtype:
        return None

    def codegen(context, builder, sig, args):
        q = _offset(context, builder, args[0], args[1], sig.args[1])
        vptr = builder.bitcast(q, context.get_value_type(v).as_pointer())
        builder.store(args[2], vptr, align=p.dtype.bitwidth // 8)
        return context.get_dummy_value()

    return types.void(p, i, v), codegen


@intrinsic
def vsplat(typingctx, x):
    """The float ``x`` in every lane."""
    vty = _vector_of(x)
    if vty is None:
        return None

    def codegen(context, builder, sig, args):
        llty = context.get_value_type(vty)
        first = builder.insert_element(ir.Constant(llty, ir.Undefined), args[0],
                                       ir.Constant(ir.IntType(32), 0))
        mask = ir.Constant(ir.VectorType(ir.IntType(32), vty.lanes), [0] * vty.lanes)
        return builder.shuffle_vector(first, ir.Constant(llty, ir.Undefined), mask)

    return vty(x), codegen


@intrinsic
def vzero(typingctx, like):
    """A zero vector of the dtype of the pointer ``like``."""
    if not _is_ptr(like):
        return None
    vty = _vector_of(like.dtype)

    def codegen(context, builder, sig, args):
        llty = context.get_value_type(vty)
        return ir.Constant(llty, [ir.Constant(llty.element, 0.0)] * vty.lanes)

    return vty(like), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    """``a * b + c`` lane by lane, one rounding (``llvm.fma``)."""
    if not (isinstance(a, Vector) and a == b == c):
        return None

    def codegen(context, builder, sig, args):
        llty = context.get_value_type(a)
        fnty = ir.FunctionType(llty, [llty, llty, llty])
        # declared by name: llvmlite's declare_intrinsic does not know vector types
        fn = cgutils.get_or_insert_function(
            builder.module, fnty, f"llvm.fma.v{a.lanes}f{a.dtype.bitwidth}")
        return builder.call(fn, list(args))

    return a(a, b, c), codegen


def _binary(op):
    @intrinsic
    def fn(typingctx, a, b):
        if not (isinstance(a, Vector) and a == b):
            return None

        def codegen(context, builder, sig, args):
            return getattr(builder, op)(args[0], args[1])

        return a(a, b), codegen

    return fn


vadd = _binary("fadd")
_vsub, _vmul, _vdiv = _binary("fsub"), _binary("fmul"), _binary("fdiv")


@intrinsic
def _vneg(typingctx, a):
    if not isinstance(a, Vector):
        return None

    def codegen(context, builder, sig, args):
        return builder.fneg(args[0])

    return a(a), codegen


def _vector_call(name):
    @intrinsic
    def fn(typingctx, a, b):
        if not (isinstance(a, Vector) and a == b):
            return None

        def codegen(context, builder, sig, args):
            llty = context.get_value_type(a)
            f = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(llty, [llty, llty]),
                f"llvm.{name}.v{a.lanes}f{a.dtype.bitwidth}")
            return builder.call(f, list(args))

        return a(a, b), codegen

    return fn


# minimum/maximum (IEEE 754-2019): a NaN operand gives NaN, as numba's
# scalar min/max do, so that NaN in (with check_finite=False) is NaN out
# rather than clamped away by the exponential's range reduction
_vmin, _vmax = _vector_call("minimum"), _vector_call("maximum")


@intrinsic
def vfloor(typingctx, a):
    """Round down, lane by lane (``llvm.floor``)."""
    if not isinstance(a, Vector):
        return None

    def codegen(context, builder, sig, args):
        llty = context.get_value_type(a)
        f = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(llty, [llty]),
            f"llvm.floor.v{a.lanes}f{a.dtype.bitwidth}")
        return builder.call(f, [args[0]])

    return a(a), codegen


@intrinsic
def vpow2(typingctx, n, bias, shift):
    """2**n for integral-valued lanes n in the normal range: the exponent
    field built from bits (``(int(n) + bias) << shift``, reinterpreted)."""
    if not isinstance(n, Vector):
        return None

    def codegen(context, builder, sig, args):
        width = n.dtype.bitwidth
        ity = ir.IntType(width)
        ivec = ir.VectorType(ity, n.lanes)

        def splat(v, vty):
            v = context.cast(builder, v, vty, types.int64)
            if width == 32:
                v = builder.trunc(v, ity)
            first = builder.insert_element(ir.Constant(ivec, ir.Undefined), v,
                                           ir.Constant(ir.IntType(32), 0))
            mask = ir.Constant(ir.VectorType(ir.IntType(32), n.lanes), [0] * n.lanes)
            return builder.shuffle_vector(first, ir.Constant(ivec, ir.Undefined), mask)

        i = builder.fptosi(args[0], ivec)
        bits = builder.shl(builder.add(i, splat(args[1], sig.args[1])),
                           splat(args[2], sig.args[2]))
        return builder.bitcast(bits, context.get_value_type(n))

    return n(n, bias, shift), codegen


@intrinsic
def vpositive(typingctx, a):
    """1 in the lanes where a > 0, else 0."""
    if not isinstance(a, Vector):
        return None

    def codegen(context, builder, sig, args):
        llty = context.get_value_type(a)
        zero = ir.Constant(llty, [ir.Constant(llty.element, 0.0)] * a.lanes)
        return builder.uitofp(builder.fcmp_ordered(">", args[0], zero), llty)

    return a(a), codegen


@intrinsic
def vsum(typingctx, a):
    """The sum of the lanes, as a fixed tree of halvings (the same order on
    every call, so results are reproducible)."""
    if not isinstance(a, Vector):
        return None

    def codegen(context, builder, sig, args):
        v = args[0]
        n = a.lanes
        undef = ir.Constant(v.type, ir.Undefined)
        while n > 1:
            half = n // 2
            i32 = ir.IntType(32)
            lo = builder.shuffle_vector(v, undef, ir.Constant(ir.VectorType(i32, half),
                                                              list(range(half))))
            hi = builder.shuffle_vector(v, undef, ir.Constant(ir.VectorType(i32, half),
                                                              list(range(half, n))))
            v = builder.fadd(lo, hi)
            undef = ir.Constant(v.type, ir.Undefined)
            n = half
        return builder.extract_element(v, ir.Constant(ir.IntType(32), 0))

    return a.dtype(a), codegen


@intrinsic
def vstore_sums(typingctx, p, i, rows):
    """Store the lane sums of 16 vectors to ``p[i : i + 16]``.

    ``rows`` is a tuple of 16 vectors; ``p[i + r]`` becomes ``vsum(rows[r])``
    bit for bit: the same tree of halvings, done for all 16 at once by
    folding pairs of vectors (two shuffles and an add put the halved sums of
    two vectors into one): 8 + 4 + 2 + 1 folds for float32 instead of 16
    reductions of four levels each.
    """
    if not (_is_ptr(p) and isinstance(i, types.Integer) and isinstance(rows, types.UniTuple)
            and rows.count == 16 and isinstance(rows.dtype, Vector)
            and rows.dtype.dtype == p.dtype):
        return None
    vty = rows.dtype
    n = vty.lanes

    def codegen(context, builder, sig, args):
        i32 = ir.IntType(32)
        vs = [builder.extract_value(args[2], r) for r in range(16)]
        seg = n    # each vector holds n // seg rows' partial sums, seg lanes each
        while seg > 1:
            half = seg // 2
            lo, hi = [], []
            for side in (0, n):
                for q in range(n // seg):
                    lo += [side + q * seg + j for j in range(half)]
                    hi += [side + q * seg + half + j for j in range(half)]
            lo_m = ir.Constant(ir.VectorType(i32, n), lo)
            hi_m = ir.Constant(ir.VectorType(i32, n), hi)
            vs = [builder.fadd(builder.shuffle_vector(a, b, lo_m),
                               builder.shuffle_vector(a, b, hi_m))
                  for a, b in zip(vs[0::2], vs[1::2])]
            seg = half
        for q, v in enumerate(vs):
            j = builder.add(context.cast(builder, args[1], sig.args[1], types.intp),
                            ir.Constant(context.get_value_type(types.intp), q * n))
            vptr = builder.bitcast(builder.gep(args[0], [j]),
                                   context.get_value_type(vty).as_pointer())
            builder.store(v, vptr, align=p.dtype.bitwidth // 8)
        return context.get_dummy_value()

    return types.void(p, i, rows), codegen


@intrinsic
def vstore_transposed(typingctx, p, i, stride, rows):
    """Store the transpose of a square block: ``p[i + k·stride + r] =
    rows[r][k]`` for r, k < lanes.

    ``rows`` is a tuple of ``lanes`` vectors (16 float32 or 8 float64): row
    r of a block read along k. The transpose is log2(lanes) rounds of
    two-vector shuffles (each swaps the off-diagonal sub-blocks of one
    size), 64 shuffles for 16 × 16 float32, then one vector store per k.
    """
    if not (_is_ptr(p) and isinstance(i, types.Integer) and isinstance(stride, types.Integer)
            and isinstance(rows, types.UniTuple) and isinstance(rows.dtype, Vector)
            and rows.dtype.dtype == p.dtype and rows.count == rows.dtype.lanes):
        return None
    vty = rows.dtype
    n = vty.lanes

    def codegen(context, builder, sig, args):
        i32 = ir.IntType(32)
        v = [builder.extract_value(args[3], r) for r in range(n)]
        s = 1
        while s < n:
            # rows a = v[r], b = v[r + s] for r with bit s clear: a keeps its
            # lanes with bit s clear and takes b's from s lanes lower; b
            # takes a's lanes with bit s set, from s lanes higher, and keeps
            # its own with bit s set
            lo = [j if not j & s else n + j - s for j in range(n)]
            hi = [j + s if not j & s else n + j for j in range(n)]
            lo_m = ir.Constant(ir.VectorType(i32, n), lo)
            hi_m = ir.Constant(ir.VectorType(i32, n), hi)
            for r in range(n):
                if r & s:
                    continue
                a, b = v[r], v[r + s]
                v[r] = builder.shuffle_vector(a, b, lo_m)
                v[r + s] = builder.shuffle_vector(a, b, hi_m)
            s *= 2
        intp = context.get_value_type(types.intp)
        base = context.cast(builder, args[1], sig.args[1], types.intp)
        step = context.cast(builder, args[2], sig.args[2], types.intp)
        for k in range(n):
            j = builder.add(base, builder.mul(step, ir.Constant(intp, k)))
            vptr = builder.bitcast(builder.gep(args[0], [j]),
                                   context.get_value_type(vty).as_pointer())
            builder.store(v[k], vptr, align=p.dtype.bitwidth // 8)
        return context.get_dummy_value()

    return types.void(p, i, stride, rows), codegen


def _vector_pair(fn):
    def ov(a, b):
        if isinstance(a, Vector) and a == b:
            return lambda a, b: fn(a, b)
        return None
    return ov


for _op, _fn in ((operator.add, vadd), (operator.sub, _vsub), (operator.mul, _vmul),
                 (operator.truediv, _vdiv), (min, _vmin), (max, _vmax)):
    overload(_op)(_vector_pair(_fn))


@overload(operator.neg)
def _ov_neg(a):
    if isinstance(a, Vector):
        return lambda a: _vneg(a)
    return None


# --- atomics and waiting ------------------------------------------------------

@intrinsic
def atomic_add(typingctx, a, i, v):
    """``a[i] += v`` on an int64 pointer, atomically (sequentially consistent);
    returns the old value."""
    if not _is_ptr(a, (types.int64,)):
        return None

    def codegen(context, builder, sig, args):
        q = _offset(context, builder, args[0], args[1], sig.args[1])
        val = context.cast(builder, args[2], sig.args[2], types.int64)
        return builder.atomic_rmw("add", q, val, "seq_cst")

    return types.int64(a, i, v), codegen


@intrinsic
def atomic_load(typingctx, a, i):
    """``a[i]`` read with acquire ordering (sees every write made before the
    matching atomic add of another thread)."""
    if not _is_ptr(a, (types.int64,)):
        return None

    def codegen(context, builder, sig, args):
        q = _offset(context, builder, args[0], args[1], sig.args[1])
        return builder.load_atomic(q, "acquire", 8)

    return types.int64(a, i), codegen


_X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")


@intrinsic
def spin_pause(typingctx):
    """The ``pause`` hint inside a spin loop (x86; nothing elsewhere)."""

    def codegen(context, builder, sig, args):
        if _X86:
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
            builder.call(fn, [])
        return context.get_dummy_value()

    return types.void(), codegen


# Windows' C library has no sched_yield; its equivalent is kernel32's
# SwitchToThread, whose address the JIT is given so that the name links
# whatever the JIT's own symbol search covers. (Not tried on Windows: the
# project machines run Linux.)
if os.name == "nt":
    _YIELD = "SwitchToThread"
    llvm.add_symbol(_YIELD, ctypes.cast(ctypes.windll.kernel32.SwitchToThread,
                                        ctypes.c_void_p).value)
else:
    _YIELD = "sched_yield"


@intrinsic
def sched_yield(typingctx):
    """Give the core away (libc ``sched_yield``; ``SwitchToThread`` on
    Windows), resolved by name when linked, so kernels stay cacheable. A
    waiting thread calls it after spinning a while, so that a busy
    machine's scheduler can run the thread it waits for."""

    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(32), []), _YIELD)
        builder.call(fn, [])
        return context.get_dummy_value()

    return types.void(), codegen


# Spins between yields: a step of the smallest threaded shape takes a few µs,
# so a partner that is running arrives within ~10^3 pauses (~40 ns each); one
# that is not running needs the scheduler.
_SPINS_BEFORE_YIELD = 2000


@inline
def barrier_wait(counter, parties, generation):
    """Meet the other ``parties - 1`` threads; ``generation`` counts from 1.

    ``counter`` (an int64 pointer) is shared by the parties of one call:
    element 0 only grows, and generation g is complete when it reaches
    g·parties, so no reset is needed between steps. Element 1 is an abort
    flag: once it is set (a part failed), nobody waits any more.
    """
    atomic_add(counter, 0, 1)
    wait_until(counter, 0, generation * parties)


@inline
def wait_until(counter, i, target):
    """Wait until ``counter[i]`` (an int64 pointer) reaches ``target``; False
    if the abort flag ``counter[1]`` was set instead (a part failed)."""
    spins = 0
    while atomic_load(counter, i) < target:
        if atomic_load(counter, 1) != 0:
            return False
        spin_pause()
        spins += 1
        if spins >= _SPINS_BEFORE_YIELD:
            sched_yield()
            spins = 0
    return True


@inline
def publish(counter, i, done, published, every, last):
    """Progress for a thread that follows this one: add ``done − published``
    to ``counter[i]`` when ``every`` > 0 and ``done`` is a multiple of it
    (or ``last``); returns the count published so far."""
    if every > 0 and (done % every == 0 or last):
        atomic_add(counter, i, done - published)
        return done
    return published
