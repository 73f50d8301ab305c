"""Pieces every CUDA pass shares: launch sizes, small elementwise kernels,
the register-blocked GEMM that does the input projection (where the time
loop does not do it itself) and the weight gradients over all steps, and
the bias column sums.

A pass has three phases: the input
projection of every step (a GEMM, or inside the fused time loop), the time
loop (one kernel launch for the whole sequence, ``steps.py``), and,
backward, dx and the weight gradients as one GEMM each over all steps plus a
column sum for the biases. Elementwise kernels use grid-stride loops, so any launch size is
correct; launch sizes are chosen by the helpers here (smaller under the
simulator, which runs every thread as a Python thread).
"""
import functools
import math

import numba
import numpy as np
from numba import cuda

from . import compat  # noqa: F401  (before anything compiles)
from .cell import typed

SIMULATOR = bool(numba.config.ENABLE_CUDASIM)
# Threads per block of elementwise kernels, and a cap on their grid (the
# kernels stride over what one launch does not cover).
THREADS = 8 if SIMULATOR else 256
MAX_BLOCKS = 2 if SIMULATOR else 4096
# GEMM: GEMM_THREADS² threads per block, each computing GEMM_REG² values of
# a (GEMM_THREADS·GEMM_REG)² tile of the product; GEMM_TK the depth of a
# staged slice.
GEMM_THREADS = 4 if SIMULATOR else 16
GEMM_REG = 2 if SIMULATOR else 4
GEMM_TK = 4 if SIMULATOR else 16


def blocks_for(n, threads=THREADS):
    """Blocks for a grid-stride launch over ``n`` items."""
    return max(1, min(MAX_BLOCKS, (n + threads - 1) // threads))


def cell_threads(H):
    """Threads per block of the per-sequence time loops (the reset-before
    GRU): one per hidden unit, capped (a thread then owns units tid,
    tid + blockDim, …)."""
    return max(1, min(H, THREADS if SIMULATOR else 256))


def configured(kernel, griddim, blockdim, sharedmem=0):
    """``kernel[griddim, blockdim, 0, sharedmem]``, without numba's
    low-occupancy warning.

    Launches are sized to the work (one block for a small state), which
    numba flags as low occupancy. The check lives in numba's
    launch-configuration object, so calling the dispatcher's ``call``
    directly skips it for our launches only; setting
    ``numba.config.CUDA_LOW_OCCUPANCY_WARNINGS`` would silence the user's
    own kernels too, and ``warnings.catch_warnings`` is not thread-safe.
    The simulator never warns.
    """
    call = getattr(kernel, "call", None)
    if SIMULATOR or call is None:
        return kernel[griddim, blockdim, 0, sharedmem]
    from numba.cuda.errors import normalize_kernel_dimensions

    griddim, blockdim = normalize_kernel_dimensions(griddim, blockdim)
    return lambda *args: call(args, griddim, blockdim, 0, sharedmem)


def launch_1d(kernel, n, *args):
    """Launch a grid-stride ``kernel(*args)`` over ``n`` items (none when n == 0)."""
    if n:
        configured(kernel, blocks_for(n), THREADS)(*args)


@cuda.jit
def fill(a, v):
    """a[:] = v for a 1-D array."""
    for i in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
        a[i] = v


@cuda.jit
def copy_1d(src, dst):
    for i in range(cuda.grid(1), dst.shape[0], cuda.gridsize(1)):
        dst[i] = src[i]


@cuda.jit
def copy_2d(src, dst):
    n1 = dst.shape[1]
    for i in range(cuda.grid(1), dst.shape[0] * n1, cuda.gridsize(1)):
        dst[i // n1, i % n1] = src[i // n1, i % n1]


@cuda.jit
def copy_3d(src, dst):
    n1, n2 = dst.shape[1], dst.shape[2]
    for i in range(cuda.grid(1), dst.shape[0] * n1 * n2, cuda.gridsize(1)):
        a, r = i // (n1 * n2), i % (n1 * n2)
        dst[a, r // n2, r % n2] = src[a, r // n2, r % n2]


COPY = {1: copy_1d, 2: copy_2d, 3: copy_3d}


@cuda.jit
def flag_nonfinite(a, flags, slot):
    """flags[slot] = 1 if the 1-D array ``a`` holds a NaN or an Inf."""
    for i in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
        if not math.isfinite(a[i]):
            flags[slot] = 1


@cuda.jit
def fill_bias(g, b_ih, b_hh, with_hh):
    """g[r, :] = b_ih (+ b_hh) for every row of the (rows, G·H) matrix ``g``."""
    GH = g.shape[1]
    for i in range(cuda.grid(1), g.shape[0] * GH, cuda.gridsize(1)):
        j = i % GH
        v = b_ih[j]
        if with_hh:
            v += b_hh[j]
        g[i // GH, j] = v


@cuda.jit
def column_sum(g, out):
    """out[j] = Σ_r g[r, j], one thread per column (coalesced across j)."""
    for j in range(cuda.grid(1), g.shape[1], cuda.gridsize(1)):
        acc = typed(out[j], 0.0)
        for r in range(g.shape[0]):
            acc += g[r, j]
        out[j] = acc


@cuda.jit
def transpose_2d(src, dst):
    """dst = srcᵀ (a numba device array's ``.T`` is a copy by a kernel too)."""
    n1 = dst.shape[1]
    for i in range(cuda.grid(1), dst.shape[0] * n1, cuda.gridsize(1)):
        dst[i // n1, i % n1] = src[i % n1, i // n1]


@functools.lru_cache(maxsize=None)
def _gemm_kernel(dtype, trans_a, trans_b):
    elem = numba.from_dtype(np.dtype(dtype))
    tx_n, reg, tk = GEMM_THREADS, GEMM_REG, GEMM_TK
    bm = tx_n * reg  # block tile edge (rows of C, and columns)
    nthreads = tx_n * tx_n

    @cuda.jit
    def gemm_tiled(a, b, c, beta):
        # c = op(a) @ op(b) + beta·c with op(a) (M, K), op(b) (K, N), op a
        # transpose when trans_a / trans_b (compile-time constants), any
        # strides; beta == 0 never reads c (it may hold garbage). A block
        # computes a bm × bm tile of c, each thread reg × reg values held in
        # registers, so every value staged in shared memory is used reg
        # times per load. A thread's rows and columns are interleaved (row
        # ty + tx_n·i), so a warp's shared loads and global stores hit
        # neighbouring addresses.
        sa = cuda.shared.array((tk, bm), elem)
        sb = cuda.shared.array((tk, bm), elem)
        acc = cuda.local.array((reg, reg), elem)
        af = cuda.local.array(reg, elem)
        bf = cuda.local.array(reg, elem)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tid = ty * tx_n + tx
        m0 = cuda.blockIdx.y * bm
        n0 = cuda.blockIdx.x * bm
        M, N = c.shape[0], c.shape[1]
        K = a.shape[0] if trans_a else a.shape[1]
        zero = typed(beta, 0.0)
        for i in range(reg):
            for j in range(reg):
                acc[i, j] = zero
        for k0 in range(0, K, tk):
            for e in range(tid, bm * tk, nthreads):
                # coalesced: neighbouring threads read along the stored rows
                if trans_a:
                    mm, kk = e % bm, e // bm
                    m, k = m0 + mm, k0 + kk
                    sa[kk, mm] = a[k, m] if m < M and k < K else zero
                else:
                    mm, kk = e // tk, e % tk
                    m, k = m0 + mm, k0 + kk
                    sa[kk, mm] = a[m, k] if m < M and k < K else zero
                if trans_b:
                    nn, kk = e // tk, e % tk
                    n, k = n0 + nn, k0 + kk
                    sb[kk, nn] = b[n, k] if n < N and k < K else zero
                else:
                    nn, kk = e % bm, e // bm
                    n, k = n0 + nn, k0 + kk
                    sb[kk, nn] = b[k, n] if n < N and k < K else zero
            cuda.syncthreads()
            for kk in range(tk):
                for i in range(reg):
                    af[i] = sa[kk, ty + tx_n * i]
                for j in range(reg):
                    bf[j] = sb[kk, tx + tx_n * j]
                for i in range(reg):
                    for j in range(reg):
                        acc[i, j] += af[i] * bf[j]
            cuda.syncthreads()
        for i in range(reg):
            row = m0 + ty + tx_n * i
            for j in range(reg):
                col = n0 + tx + tx_n * j
                if row < M and col < N:
                    if beta == zero:
                        c[row, col] = acc[i, j]
                    else:
                        c[row, col] = acc[i, j] + beta * c[row, col]

    return gemm_tiled


def gemm(a, b, c, beta=0.0, trans_a=False, trans_b=False):
    """c = op(a) @ op(b) + beta·c on the device, for 2-D device arrays.

    ``op`` transposes when its flag is set: pass the stored array, never a
    numba ``.T`` (a copy made by a kernel). Views with any strides work.
    Shapes are the caller's to check; an empty product with beta == 0
    writes zeros. Launches asynchronously on the default stream.
    """
    M, N = c.shape
    if M == 0 or N == 0:
        return
    kernel = _gemm_kernel(np.dtype(c.dtype), bool(trans_a), bool(trans_b))
    edge = GEMM_THREADS * GEMM_REG
    grid = ((N + edge - 1) // edge, (M + edge - 1) // edge)
    configured(kernel, grid, (GEMM_THREADS, GEMM_THREADS))(a, b, c, np.dtype(c.dtype).type(beta))
