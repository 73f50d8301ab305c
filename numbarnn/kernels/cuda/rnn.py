"""Elman RNN forward and backward through time on the GPU (DESIGN.md §1).

The time loops of a pass, each one kernel launch for the whole sequence
(a launch costs ~20 µs, a step of cuDNN ~0.4 µs). One block per sequence
(batch row ``b = blockIdx.x``); its threads share the hidden units (thread
``tid`` owns units tid, tid + blockDim, …) and meet at ``syncthreads``
between phases, so the previous hidden state every unit reads is complete.
The input projection and the weight gradients are GEMMs (``common.py``).

``gates`` (T, B, H) holds the pre-activations w_ih x + b_ih + b_hh on entry;
``w_hhT`` (H, H) is w_hhᵀ, so that for a fixed k the threads of a warp read
consecutive addresses. ``act`` is the activation code of ``cellmath``.
"""
from numba import cuda

from . import compat  # noqa: F401  (before anything compiles)
from .cell import activation, activation_grad, typed


@cuda.jit
def rnn_forward(gates, act, w_hhT, h0, y):
    """Every step for sequence ``blockIdx.x``, writing y."""
    b = cuda.blockIdx.x
    tid, nt = cuda.threadIdx.x, cuda.blockDim.x
    T, H = y.shape[0], y.shape[2]
    for t in range(T):
        h_prev = h0[b] if t == 0 else y[t - 1, b]
        for j in range(tid, H, nt):
            a = gates[t, b, j]
            for k in range(H):
                a += h_prev[k] * w_hhT[k, j]
            y[t, b, j] = activation(a, act)
        cuda.syncthreads()


@cuda.jit
def rnn_backward(act, w_hh, y, dy, dh, dgates):
    """The time loop of backpropagation for sequence ``blockIdx.x``.

    ``dh`` (B, H) holds dh_n on entry and dh0 on return; ``dgates``
    (T, B, H) receives the pre-activation gradients.
    """
    b = cuda.blockIdx.x
    tid, nt = cuda.threadIdx.x, cuda.blockDim.x
    T, H = y.shape[0], y.shape[2]
    d = dh[b]
    for t in range(T - 1, -1, -1):
        g = dgates[t, b]
        for j in range(tid, H, nt):
            g[j] = (d[j] + dy[t, b, j]) * activation_grad(y[t, b, j], act)
        cuda.syncthreads()
        for k in range(tid, H, nt):
            s = typed(d[k], 0.0)
            for r in range(H):
                s += g[r] * w_hh[r, k]
            d[k] = s
        cuda.syncthreads()
