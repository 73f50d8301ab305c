"""Elman RNN forward and backward through time on the CPU (docs/math.md).

The time loops of a pass, over one share of the batch rows (the input
projection and the weight gradients are in ``common.py``). ``act`` is the
activation code of ``cellmath`` (0 tanh, 1 relu, 2 sigmoid). ``gates``
(Tc, B, H) holds one chunk of pre-activations; the hidden states themselves
are the output ``y``, which is all the backward pass needs.
"""
from ..._jit import kernel
from .cell import activation, activation_grad
from .common import matmul_acc, matmul_grad, share


@kernel
def _act_row(a, h, H, act):
    for j in range(H):
        h[j] = activation(a[j], act)


@kernel
def rnn_forward(gates, t0, n, act, w_hh, w_hhT, h0, y, part, parts):
    """Steps t0 … t0+n−1 for this share of the batch rows, writing y."""
    b0, b1 = share(y.shape[1], part, parts)
    H = w_hh.shape[1]
    for t in range(t0, t0 + n):
        h_prev = (h0 if t == 0 else y[t - 1])[b0:b1]
        g = gates[t - t0][b0:b1]
        matmul_acc(h_prev, w_hh, w_hhT, g, H, H)
        h = y[t][b0:b1]
        for b in range(b1 - b0):
            _act_row(g[b], h[b], H, act)


@kernel
def _act_row_backward(h, dh, dy, da, H, act):
    for j in range(H):
        da[j] = (dh[j] + dy[j]) * activation_grad(h[j], act)


@kernel
def rnn_backward(act, w_hh, y, dy, dh, dgates, part, parts):
    """The time loop of backpropagation for this share of the batch rows.

    ``dh`` (B, H) holds dh_n on entry and dh0 on return; ``dgates`` (T, B, H)
    receives the pre-activation gradients.
    """
    b0, b1 = share(y.shape[1], part, parts)
    T = y.shape[0]
    H = w_hh.shape[1]
    dhs = dh[b0:b1]
    for t in range(T - 1, -1, -1):
        h, d, dyt = y[t][b0:b1], dgates[t][b0:b1], dy[t][b0:b1]
        for b in range(b1 - b0):
            _act_row_backward(h[b], dhs[b], dyt[b], d[b], H, act)
        matmul_grad(d, H, w_hh, H, dhs, 0.0)
