"""GRU (G=3, gate order r, z, n) with numbarnn's update rule.

    r = σ(W_r[h, x] + b_r)    z = σ(W_z[h, x] + b_z)
    reset_after=False: n = tanh(w_in x + b_in + w_hn (r ⊙ h_{t-1}) + b_hn)
    reset_after=True:  n = tanh(w_in x + b_in + r ⊙ (w_hn h_{t-1} + b_hn))
    h_t = (1 - z) ⊙ h_{t-1} + z ⊙ n

numbarnn's z is PyTorch's 1 - z (docs/math.md).
"""
import numpy as np

from ._common import bias_or_zeros, f64, grads_or_zeros, sigmoid, state_or_zeros


def _split(v, H):
    return v[..., 0:H], v[..., H:2 * H], v[..., 2 * H:3 * H]


def _run(x, w_ih, w_hh, b_ih, b_hh, h0, reset_after):
    x, w_ih, w_hh = f64(x), f64(w_ih), f64(w_hh)
    T, B, _ = x.shape
    H = w_hh.shape[1]
    w_hr, w_hz, w_hn = _split(w_hh.T, H)          # columns of w_hh.T
    b_ir, b_iz, b_in = _split(bias_or_zeros(b_ih, 3 * H), H)
    b_hr, b_hz, b_hn = _split(bias_or_zeros(b_hh, 3 * H), H)
    hs, steps = [state_or_zeros(h0, B, H)], []
    for t in range(T):
        h = hs[-1]
        a_ir, a_iz, a_in = _split(x[t] @ w_ih.T, H)
        r = sigmoid(a_ir + b_ir + h @ w_hr + b_hr)
        z = sigmoid(a_iz + b_iz + h @ w_hz + b_hz)
        if reset_after:
            hn = h @ w_hn + b_hn
            n = np.tanh(a_in + b_in + r * hn)
        else:
            hn = None
            n = np.tanh(a_in + b_in + (r * h) @ w_hn + b_hn)
        hs.append((1.0 - z) * h + z * n)
        steps.append((r, z, n, hn))
    return x, w_ih, w_hh, hs, steps


def forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, reset_after=False):
    """Return (y (T,B,H), h_n (B,H)) in float64."""
    x, _, w_hh, hs, _ = _run(x, w_ih, w_hh, b_ih, b_hh, h0, reset_after)
    y = np.array(hs[1:]).reshape(x.shape[0], x.shape[1], w_hh.shape[1])
    return y, hs[-1]


def backward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, dy=None, dh_n=None,
             reset_after=False):
    """Gradients of L = sum(dy*y) + sum(dh_n*h_n).

    Returns (dx, dh0, dw_ih, dw_hh, db_ih, db_hh).
    """
    x, w_ih, w_hh, hs, steps = _run(x, w_ih, w_hh, b_ih, b_hh, h0, reset_after)
    T, B, _ = x.shape
    H = w_hh.shape[1]
    w_hr, w_hz, w_hn = w_hh[:H], w_hh[H:2 * H], w_hh[2 * H:]  # row blocks (H, H)
    dy = grads_or_zeros(dy, (T, B, H))
    dh = grads_or_zeros(dh_n, (B, H)).copy()
    dx = np.zeros_like(x)
    dw_ih, dw_hh = np.zeros_like(w_ih), np.zeros_like(w_hh)
    db_i, db_h = np.zeros(3 * H), np.zeros(3 * H)
    for t in reversed(range(T)):
        r, z, n, hn = steps[t]
        h = hs[t]
        dh = dh + dy[t]
        # h_t = (1 - z) h + z n
        dz = dh * (n - h)
        dn = dh * z
        dh_prev = dh * (1.0 - z)
        da_n = dn * (1.0 - n * n)                 # through tanh
        if reset_after:
            dhn = da_n * r                        # gradient of w_hn h + b_hn
            dr = da_n * hn
            dh_prev += dhn @ w_hn
            dw_hh[2 * H:] += dhn.T @ h
            db_h[2 * H:] += dhn.sum(axis=0)
        else:
            drh = da_n @ w_hn                     # gradient of r ⊙ h
            dr = drh * h
            dh_prev += drh * r
            dw_hh[2 * H:] += da_n.T @ (r * h)
            db_h[2 * H:] += da_n.sum(axis=0)
        da_r = dr * r * (1.0 - r)
        da_z = dz * z * (1.0 - z)
        dh_prev += da_r @ w_hr + da_z @ w_hz
        dw_hh[:H] += da_r.T @ h
        dw_hh[H:2 * H] += da_z.T @ h
        db_h[:2 * H] += np.concatenate([da_r, da_z], axis=1).sum(axis=0)
        da_i = np.concatenate([da_r, da_z, da_n], axis=1)
        dx[t] = da_i @ w_ih
        dw_ih += da_i.T @ x[t]
        db_i += da_i.sum(axis=0)
        dh = dh_prev
    return (dx, dh, dw_ih, dw_hh,
            None if b_ih is None else db_i,
            None if b_hh is None else db_h)
