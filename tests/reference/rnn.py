"""Elman RNN (G=1):  h_t = φ(w_ih x_t + b_ih + w_hh h_{t-1} + b_hh)."""
import numpy as np

from ._common import bias_or_zeros, f64, grads_or_zeros, sigmoid, state_or_zeros

# φ and its derivative written in terms of the pre-activation a and output h.
PHI = {
    "tanh": (np.tanh, lambda a, h: 1.0 - h * h),
    "relu": (lambda a: np.maximum(a, 0.0), lambda a, h: (a > 0).astype(np.float64)),
    "sigmoid": (sigmoid, lambda a, h: h * (1.0 - h)),
}


def _run(x, w_ih, w_hh, b_ih, b_hh, h0, nonlinearity):
    x, w_ih, w_hh = f64(x), f64(w_ih), f64(w_hh)
    T, B, _ = x.shape
    H = w_hh.shape[1]
    b_ih, b_hh = bias_or_zeros(b_ih, H), bias_or_zeros(b_hh, H)
    phi = PHI[nonlinearity][0]
    hs = [state_or_zeros(h0, B, H)]  # hs[t] is h_{t-1} for step t
    pre = []
    for t in range(T):
        a = x[t] @ w_ih.T + b_ih + hs[-1] @ w_hh.T + b_hh
        pre.append(a)
        hs.append(phi(a))
    return x, w_ih, w_hh, hs, pre


def forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, nonlinearity="tanh"):
    """Return (y (T,B,H), h_n (B,H)) in float64."""
    _, _, w_hh, hs, _ = _run(x, w_ih, w_hh, b_ih, b_hh, h0, nonlinearity)
    y = np.array(hs[1:]).reshape(len(hs) - 1, hs[0].shape[0], w_hh.shape[1])
    return y, hs[-1]


def backward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, dy=None, dh_n=None,
             nonlinearity="tanh"):
    """Gradients of L = sum(dy*y) + sum(dh_n*h_n).

    Returns (dx, dh0, dw_ih, dw_hh, db_ih, db_hh); a bias gradient is None
    when that bias is None.
    """
    x, w_ih, w_hh, hs, pre = _run(x, w_ih, w_hh, b_ih, b_hh, h0, nonlinearity)
    T, B, _ = x.shape
    H = w_hh.shape[1]
    dphi = PHI[nonlinearity][1]
    dy = grads_or_zeros(dy, (T, B, H))
    dh = grads_or_zeros(dh_n, (B, H)).copy()
    dx = np.zeros_like(x)
    dw_ih, dw_hh, db = np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros(H)
    for t in reversed(range(T)):
        dh = dh + dy[t]                      # h_t feeds y_t and step t+1
        da = dh * dphi(pre[t], hs[t + 1])    # through φ
        dx[t] = da @ w_ih
        dw_ih += da.T @ x[t]
        dw_hh += da.T @ hs[t]
        db += da.sum(axis=0)
        dh = da @ w_hh                       # into h_{t-1}
    return (dx, dh, dw_ih, dw_hh,
            None if b_ih is None else db.copy(),
            None if b_hh is None else db.copy())
