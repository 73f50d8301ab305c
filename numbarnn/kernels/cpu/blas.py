"""Row-major GEMM callable from ``@njit`` code without allocating.

``np.dot`` inside a kernel allocates its result on every call, and a
per-time-step allocation costs more than the product at small sizes. numba
links its own BLAS shim, ``numba_xxgemm`` (scipy's cython BLAS underneath),
into every module; we declare and call it directly. The symbol is resolved
when the module is linked, so kernels using it stay cacheable (a ctypes
function pointer would bake a process-specific address into the cache).
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ..._jit import inline

_ll_char = ir.IntType(8)
_ll_voidp = ir.IntType(8).as_pointer()


@intrinsic
def _xxgemm(typingctx, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Column-major ``c = alpha * op(a) @ op(b) + beta * c`` (Fortran BLAS)."""
    dtype = c.dtype
    if not isinstance(c, types.Array) or dtype not in (types.float32, types.float64):
        return None
    sig = types.void(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, signature, args):
        (ta, tb, m_, n_, k_, al, a_, lda_, b_, ldb_, be, c_, ldc_) = args
        intp = context.get_value_type(types.intp)
        fnty = ir.FunctionType(ir.IntType(32), [
            _ll_char, _ll_char, _ll_char, intp, intp, intp,
            _ll_voidp, _ll_voidp, intp, _ll_voidp, intp, _ll_voidp, _ll_voidp, intp])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")

        def data(aty, val):
            arr = context.make_array(aty)(context, builder, val)
            return builder.bitcast(arr.data, _ll_voidp)

        def slot(val, ty):
            v = context.cast(builder, val, ty, dtype)
            return builder.bitcast(cgutils.alloca_once_value(builder, v), _ll_voidp)

        kind = ir.Constant(_ll_char, ord("s" if dtype == types.float32 else "d"))
        cast_i = lambda v, ty: context.cast(builder, v, ty, types.intp)  # noqa: E731
        sg = signature.args
        builder.call(fn, [
            kind,
            builder.trunc(cast_i(ta, sg[0]), _ll_char), builder.trunc(cast_i(tb, sg[1]), _ll_char),
            cast_i(m_, sg[2]), cast_i(n_, sg[3]), cast_i(k_, sg[4]),
            slot(al, sg[5]), data(sg[6], a_), cast_i(lda_, sg[7]),
            data(sg[8], b_), cast_i(ldb_, sg[9]), slot(be, sg[10]),
            data(sg[11], c_), cast_i(ldc_, sg[12])])
        return context.get_dummy_value()

    return sig, codegen


_N = ord("n")
_T = ord("t")


@inline
def gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Row-major ``c[:m, :n] = alpha * op(a) @ op(b) + beta * c``.

    ``a``, ``b``, ``c`` are C-contiguous arrays (any ndim; their data pointer
    is the first element), ``op(a)`` is (m, k), ``op(b)`` is (k, n), and the
    leading dimensions are row strides in elements. A row-major matrix is the
    transpose of the column-major one with the same memory, so
    ``C^T = op(B)^T op(A)^T`` is one column-major call with the operands
    swapped and the transpose flags unchanged.
    """
    if m == 0 or n == 0:
        return
    ta = _T if trans_a else _N
    tb = _T if trans_b else _N
    _xxgemm(tb, ta, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc)
