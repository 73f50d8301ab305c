"""Elman RNN forward and backward through time on the CPU (DESIGN.md §1).

``act`` is the activation code of ``cellmath`` (0 tanh, 1 relu, 2 sigmoid).
``gates`` (Tc, B, H) holds pre-activations during a chunk; the hidden states
themselves are the output ``y``, which is all the backward pass needs.
"""
from ..._jit import kernel
from .cell import activation, activation_grad
from .common import (column_sum, fill_bias, hidden_weight_grad, input_grads,
                     input_projection, matmul_acc, matmul_grad)


@kernel
def _act_row(a, h, H, act):
    for j in range(H):
        h[j] = activation(a[j], act)


@kernel
def rnn_forward(x, w_ih, w_hh, w_hhT, b_ih, b_hh, h0, act, y, h_n, gates):
    """Run the RNN over x (T, B, I), writing y (T, B, H) and h_n (B, H)."""
    T, B = x.shape[0], x.shape[1]
    H = w_hh.shape[1]
    Tc = gates.shape[0]
    for t0 in range(0, T, Tc):
        n = min(Tc, T - t0)
        fill_bias(gates, b_ih, b_hh, n * B, True)
        input_projection(x, t0, n, w_ih, gates)
        for t in range(t0, t0 + n):
            h_prev = h0 if t == 0 else y[t - 1]
            g = gates[t - t0]
            matmul_acc(h_prev, w_hh, w_hhT, g, H, H)
            for b in range(B):
                _act_row(g[b], y[t, b], H, act)
    if T > 0:
        h_n[:] = y[T - 1]


@kernel
def _act_row_backward(h, dh, dy, da, H, act):
    for j in range(H):
        da[j] = (dh[j] + dy[j]) * activation_grad(h[j], act)


@kernel
def rnn_backward(x, w_ih, w_hh, h0, y, act, dy, dh, dgates, dx, dw_ih, dw_hh, db_ih, db_hh):
    """Backward through time; ``dh`` holds dh_n on entry and dh0 on return.

    ``dgates`` (T, B, H) is scratch; dx and the parameter gradients accumulate.
    """
    T, B = x.shape[0], x.shape[1]
    H = w_hh.shape[1]
    for t in range(T - 1, -1, -1):
        for b in range(B):
            _act_row_backward(y[t, b], dh[b], dy[t, b], dgates[t, b], H, act)
        matmul_grad(dgates[t], H, w_hh, H, dh, 0.0)
    input_grads(x, w_ih, dgates, dx, dw_ih)
    hidden_weight_grad(dgates, H, H, h0, y, dw_hh)
    column_sum(dgates, db_ih)
    column_sum(dgates, db_hh)
