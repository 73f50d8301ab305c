"""LSTM (G=4, gate order i, f, g, o), optionally with a projection.

    i = σ(W_i[h, x] + b_i)   f = σ(W_f[h, x] + b_f)
    g = tanh(W_g[h, x] + b_g) o = σ(W_o[h, x] + b_o)
    c_t = f ⊙ c_{t-1} + i ⊙ g      m_t = o ⊙ tanh(c_t)
    h_t = m_t                       (no projection)
    h_t = w_hr m_t                  (PyTorch's proj_size P < H: w_hr (P, H), no
                                     bias; w_hh is (4H, P), y_t = h_t has P)
"""
import numpy as np

from ._common import bias_or_zeros, f64, grads_or_zeros, sigmoid, state_or_zeros


def _run(x, w_ih, w_hh, w_hr, b_ih, b_hh, h0, c0):
    x, w_ih, w_hh = f64(x), f64(w_ih), f64(w_hh)
    w_hr = None if w_hr is None else f64(w_hr)
    T, B, _ = x.shape
    H = w_hh.shape[0] // 4
    P = H if w_hr is None else w_hr.shape[0]
    b = bias_or_zeros(b_ih, 4 * H) + bias_or_zeros(b_hh, 4 * H)
    hs, cs, ms = [state_or_zeros(h0, B, P)], [state_or_zeros(c0, B, H)], []
    gates = []
    for t in range(T):
        a = x[t] @ w_ih.T + hs[-1] @ w_hh.T + b
        i = sigmoid(a[:, 0 * H:1 * H])
        f = sigmoid(a[:, 1 * H:2 * H])
        g = np.tanh(a[:, 2 * H:3 * H])
        o = sigmoid(a[:, 3 * H:4 * H])
        c = f * cs[-1] + i * g
        m = o * np.tanh(c)
        h = m if w_hr is None else m @ w_hr.T
        gates.append((i, f, g, o))
        ms.append(m)
        hs.append(h)
        cs.append(c)
    return x, w_ih, w_hh, w_hr, hs, cs, ms, gates


def _forward(x, w_ih, w_hh, w_hr, b_ih, b_hh, h0, c0):
    x, _, _, _, hs, cs, _, _ = _run(x, w_ih, w_hh, w_hr, b_ih, b_hh, h0, c0)
    y = np.array(hs[1:]).reshape(x.shape[0], x.shape[1], hs[0].shape[1])
    return y, hs[-1], cs[-1]


def _backward(x, w_ih, w_hh, w_hr, b_ih, b_hh, h0, c0, dy, dh_n, dc_n):
    x, w_ih, w_hh, w_hr, hs, cs, ms, gates = _run(x, w_ih, w_hh, w_hr, b_ih, b_hh, h0, c0)
    T, B, _ = x.shape
    H = w_hh.shape[0] // 4
    P = hs[0].shape[1]
    dy = grads_or_zeros(dy, (T, B, P))
    dh = grads_or_zeros(dh_n, (B, P)).copy()
    dc = grads_or_zeros(dc_n, (B, H)).copy()
    dx = np.zeros_like(x)
    dw_ih, dw_hh, db = np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros(4 * H)
    dw_hr = None if w_hr is None else np.zeros_like(w_hr)
    for t in reversed(range(T)):
        i, f, g, o = gates[t]
        c_prev, c = cs[t], cs[t + 1]
        dh = dh + dy[t]
        if w_hr is None:
            dm = dh
        else:
            dw_hr += dh.T @ ms[t]             # h = w_hr m
            dm = dh @ w_hr
        tc = np.tanh(c)
        do = dm * tc                          # m = o ⊙ tanh(c)
        dc = dc + dm * o * (1.0 - tc * tc)
        di = dc * g                           # c = f ⊙ c_prev + i ⊙ g
        dg = dc * i
        df = dc * c_prev
        dc = dc * f                           # into c_{t-1}
        da = np.concatenate([di * i * (1.0 - i),
                             df * f * (1.0 - f),
                             dg * (1.0 - g * g),
                             do * o * (1.0 - o)], axis=1)
        dx[t] = da @ w_ih
        dw_ih += da.T @ x[t]
        dw_hh += da.T @ hs[t]
        db += da.sum(axis=0)
        dh = da @ w_hh                        # into h_{t-1}
    grads = (dx, dh, dc, dw_ih, dw_hh,
             None if b_ih is None else db.copy(),
             None if b_hh is None else db.copy())
    return grads if w_hr is None else grads + (dw_hr,)


def forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None):
    """Return (y (T,B,H), h_n (B,H), c_n (B,H)) in float64."""
    return _forward(x, w_ih, w_hh, None, b_ih, b_hh, h0, c0)


def backward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None,
             dy=None, dh_n=None, dc_n=None):
    """Gradients of L = sum(dy*y) + sum(dh_n*h_n) + sum(dc_n*c_n).

    Returns (dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh).
    """
    return _backward(x, w_ih, w_hh, None, b_ih, b_hh, h0, c0, dy, dh_n, dc_n)


def forward_proj(x, w_ih, w_hh, w_hr, b_ih=None, b_hh=None, h0=None, c0=None):
    """With a projection: return (y (T,B,P), h_n (B,P), c_n (B,H)) in float64."""
    return _forward(x, w_ih, w_hh, w_hr, b_ih, b_hh, h0, c0)


def backward_proj(x, w_ih, w_hh, w_hr, b_ih=None, b_hh=None, h0=None, c0=None,
                  dy=None, dh_n=None, dc_n=None):
    """With a projection: gradients of the same L.

    Returns (dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr).
    """
    return _backward(x, w_ih, w_hh, w_hr, b_ih, b_hh, h0, c0, dy, dh_n, dc_n)
