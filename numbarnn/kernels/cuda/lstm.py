"""LSTM forward and backward through time on the GPU (DESIGN.md §1).

One kernel launch per pass, one block per sequence, threads sharing the
hidden units (see ``rnn.py``). A thread owns all four gate rows of its
units (j, H + j, 2H + j, 3H + j), so the cell update needs no exchange
between threads; ``syncthreads`` separates the steps. Buffers, all owned by
the caller:

``gates`` (T, B, 4H)
    pre-activations in (from the input-projection GEMM), activations
    (i, f, g, o) out: the training cache.
``cs`` (T, B, H)
    cell states.
"""
from numba import cuda

from . import compat  # noqa: F401  (before anything compiles)
from .cell import lstm_cell, lstm_cell_backward, typed


@cuda.jit
def lstm_forward(gates, w_hhT, h0, c0, y, cs):
    """Every step for sequence ``blockIdx.x``, writing y and cs.

    ``w_hhT`` (H, 4H) is w_hhᵀ: for a fixed k, a warp reads consecutive
    addresses.
    """
    b = cuda.blockIdx.x
    tid, nt = cuda.threadIdx.x, cuda.blockDim.x
    T, H = y.shape[0], y.shape[2]
    for t in range(T):
        h_prev = h0[b] if t == 0 else y[t - 1, b]
        c_prev = c0[b] if t == 0 else cs[t - 1, b]
        g = gates[t, b]
        for j in range(tid, H, nt):
            ai, af, ag, ao = g[j], g[H + j], g[2 * H + j], g[3 * H + j]
            for k in range(H):
                hk = h_prev[k]
                w = w_hhT[k]
                ai += hk * w[j]
                af += hk * w[H + j]
                ag += hk * w[2 * H + j]
                ao += hk * w[3 * H + j]
            i, f, n, o, c, h = lstm_cell(ai, af, ag, ao, c_prev[j])
            g[j] = i
            g[H + j] = f
            g[2 * H + j] = n
            g[3 * H + j] = o
            cs[t, b, j] = c
            y[t, b, j] = h
        cuda.syncthreads()


@cuda.jit
def lstm_backward(w_hh, c0, y, gates, cs, dy, dh, dc, dgates):
    """The time loop of backpropagation for sequence ``blockIdx.x``.

    ``dh`` and ``dc`` (B, H) hold dh_n and dc_n on entry and dh0 and dc0 on
    return; ``dgates`` (T, B, 4H) receives the pre-activation gradients that
    the weight-gradient GEMMs consume.
    """
    b = cuda.blockIdx.x
    tid, nt = cuda.threadIdx.x, cuda.blockDim.x
    T, H = y.shape[0], y.shape[2]
    d, dcb = dh[b], dc[b]
    for t in range(T - 1, -1, -1):
        c_prev = c0[b] if t == 0 else cs[t - 1, b]
        g, dg = gates[t, b], dgates[t, b]
        for j in range(tid, H, nt):
            dai, daf, dag, dao, dcp = lstm_cell_backward(
                g[j], g[H + j], g[2 * H + j], g[3 * H + j], cs[t, b, j], c_prev[j],
                d[j] + dy[t, b, j], dcb[j])
            dg[j] = dai
            dg[H + j] = daf
            dg[2 * H + j] = dag
            dg[3 * H + j] = dao
            dcb[j] = dcp
        cuda.syncthreads()
        # dh_{t−1} = dgates_t @ w_hh: needs every unit's four gradients
        for k in range(tid, H, nt):
            s = typed(d[k], 0.0)
            for r in range(4 * H):
                s += dg[r] * w_hh[r, k]
            d[k] = s
        cuda.syncthreads()
