"""Numba kernels for the generated datasets: the integrators and recurrences
whose per-step Python overhead would dominate (10^5-10^6 steps)."""
import numpy as np

from .._jit import inline, kernel


@inline
def _mg_rate(x, x_delayed, a, b, power):
    return a * x_delayed / (1.0 + x_delayed ** power) - b * x


@kernel
def mackey_glass_rk4(x, delay, dt, a, b, power):
    """RK4 for dx/dt = a x(t-τ) / (1 + x(t-τ)^p) - b x(t) on the grid of ``x``.

    ``x[:delay+1]`` holds the history on ``[-τ, 0]`` (``delay = τ/dt``
    steps); the rest is written. The delayed value at a half step is the
    mean of its two grid neighbours (linear interpolation), the usual
    choice with a history buffer: it keeps RK4 free of any other memory.
    """
    for i in range(delay, x.shape[0] - 1):
        xd0 = x[i - delay]
        xd1 = x[i - delay + 1]
        xdm = 0.5 * (xd0 + xd1)
        xi = x[i]
        k1 = _mg_rate(xi, xd0, a, b, power)
        k2 = _mg_rate(xi + 0.5 * dt * k1, xdm, a, b, power)
        k3 = _mg_rate(xi + 0.5 * dt * k2, xdm, a, b, power)
        k4 = _mg_rate(xi + dt * k3, xd1, a, b, power)
        x[i + 1] = xi + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


@inline
def _lorenz_rate(s, sigma, rho, beta, out):
    out[0] = sigma * (s[1] - s[0])
    out[1] = s[0] * (rho - s[2]) - s[1]
    out[2] = s[0] * s[1] - beta * s[2]


@kernel
def lorenz_rk4(out, state, dt, every, sigma, rho, beta):
    """Fill ``out`` (n, 3) with the state every ``every`` RK4 steps of size dt.

    ``out[0]`` is the start ``state``.
    """
    s = state.copy()
    k1 = np.empty(3)
    k2 = np.empty(3)
    k3 = np.empty(3)
    k4 = np.empty(3)
    tmp = np.empty(3)
    out[0] = s
    for i in range(1, out.shape[0]):
        for _ in range(every):
            _lorenz_rate(s, sigma, rho, beta, k1)
            for d in range(3):
                tmp[d] = s[d] + 0.5 * dt * k1[d]
            _lorenz_rate(tmp, sigma, rho, beta, k2)
            for d in range(3):
                tmp[d] = s[d] + 0.5 * dt * k2[d]
            _lorenz_rate(tmp, sigma, rho, beta, k3)
            for d in range(3):
                tmp[d] = s[d] + dt * k3[d]
            _lorenz_rate(tmp, sigma, rho, beta, k4)
            for d in range(3):
                s[d] += dt / 6.0 * (k1[d] + 2.0 * k2[d] + 2.0 * k3[d] + k4[d])
        out[i] = s


@kernel
def narma_recursion(u, y, order):
    """y[t+1] = 0.3 y[t] + 0.05 y[t] Σ_{i<order} y[t-i] + 1.5 u[t-order+1] u[t] + 0.1."""
    for t in range(order - 1, y.shape[0] - 1):
        acc = 0.0
        for i in range(order):
            acc += y[t - i]
        y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * acc + 1.5 * u[t - order + 1] * u[t] + 0.1


@kernel
def sample_dense_chain(out, u, cum, n_states, order):
    """Continue ``out[:order]`` with rows of the cumulative table ``cum`` (S**k, S)."""
    top = n_states ** order
    code = 0
    for t in range(order):
        code = code * n_states + out[t]
    for t in range(order, out.shape[0]):
        s = np.searchsorted(cum[code], u[t], side="right")
        s = min(s, n_states - 1)
        out[t] = s
        full = code * n_states + s
        code = full - out[t - order] * top
