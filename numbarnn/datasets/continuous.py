"""Real-valued series: noisy sine, Mackey-Glass, Lorenz, NARMA, ARMA.

Every generator is deterministic given its arguments (random parts take a
``seed``: an int, a ``numpy.random.Generator`` or None) and downloads
nothing.
"""
import numpy as np

from . import _kernels


def _check_n(n, name="n", minimum=0):
    if not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {n!r}")
    return int(n)


def noisy_sine(n, *, period=20.0, amplitude=1.0, noise=0.1, seed=0):
    """``amplitude * sin(2π t / period) + noise * N(0, 1)``, t = 0..n-1.

    Returns
    -------
    ndarray (n,)

    Examples
    --------
    >>> from numbarnn import datasets
    >>> datasets.noisy_sine(4, noise=0.0, period=4.0).round(12)
    array([ 0.,  1.,  0., -1.])
    """
    n = _check_n(n)
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    return amplitude * np.sin(2 * np.pi * t / period) + noise * rng.standard_normal(n)


def mackey_glass(n, *, tau=17.0, a=0.2, b=0.1, power=10, dt=0.1, every=10, x0=1.2,
                 discard=0, seed=None):
    """The Mackey-Glass delay equation, ``dx/dt = a x(t-τ)/(1+x(t-τ)^power) - b x``.

    Integrated with RK4 at step ``dt`` (τ must be a multiple of dt) with a
    buffer of the last τ/dt values; the delayed value at half steps is
    linearly interpolated. One value is kept every ``every`` steps
    (defaults: dt = 0.1, every = 10, so one sample per time unit, the
    usual benchmark sampling), after dropping the first ``discard`` samples.
    With τ = 17 the attractor is chaotic and stays within [0.2, 1.4] (from
    the default start, about 0.42 to 1.32).

    Parameters
    ----------
    n : int
        Samples returned.
    tau, a, b, power : float
        Delay and rate constants (τ=17, a=0.2, b=0.1, n=10 by default).
    dt : float
        RK4 step.
    every : int
        Steps between kept samples.
    x0 : float
        Constant history on [-τ, 0].
    discard : int
        Leading samples dropped (transient).
    seed : int, Generator or None
        None: the constant history ``x0`` (the classic series). Otherwise
        the history is ``x0`` plus U(-0.1, 0.1) noise per grid point, for
        different trajectories.

    Returns
    -------
    ndarray (n,)

    Examples
    --------
    >>> from numbarnn import datasets
    >>> x = datasets.mackey_glass(500)
    >>> x.shape, bool(0.2 < x.min() and x.max() < 1.4)
    ((500,), True)
    """
    n, every, discard = _check_n(n), _check_n(every, "every", 1), _check_n(discard, "discard")
    delay = int(round(tau / dt))
    if delay < 1 or not np.isclose(delay * dt, tau):
        raise ValueError(f"tau: must be a positive multiple of dt={dt}, got {tau}")
    x = np.empty(delay + 1 + (n + discard) * every)
    x[:delay + 1] = x0
    if seed is not None:
        x[:delay + 1] += np.random.default_rng(seed).uniform(-0.1, 0.1, delay + 1)
    _kernels.mackey_glass_rk4(x, delay, float(dt), float(a), float(b), float(power))
    # Sample k is at time k * every * dt, starting from t = 0 (index delay).
    return x[delay + discard * every::every][:n].copy()


def lorenz(n, *, dt=0.01, every=1, sigma=10.0, rho=28.0, beta=8.0 / 3.0,
           x0=(1.0, 1.0, 1.0), seed=None):
    """The Lorenz system, integrated with RK4.

    ``dx = σ(y - x)``, ``dy = x(ρ - z) - y``, ``dz = xy - βz``; row ``i`` is
    the state at time ``i * every * dt`` (row 0 is the start).

    Parameters
    ----------
    n : int
    dt : float
        RK4 step.
    every : int
        Steps between rows.
    sigma, rho, beta : float
    x0 : sequence of 3 floats
    seed : int, Generator or None
        If given, ``x0`` is perturbed by U(-1, 1) per component.

    Returns
    -------
    ndarray (n, 3)

    Examples
    --------
    >>> from numbarnn import datasets
    >>> xyz = datasets.lorenz(2000)
    >>> xyz.shape, bool(abs(xyz[:, 0]).max() < 25)
    ((2000, 3), True)
    """
    n, every = _check_n(n), _check_n(every, "every", 1)
    state = np.array(x0, dtype=np.float64).reshape(3)
    if seed is not None:
        state += np.random.default_rng(seed).uniform(-1.0, 1.0, 3)
    out = np.empty((n, 3))
    if n:
        _kernels.lorenz_rk4(out, state, float(dt), every, float(sigma), float(rho), float(beta))
    return out


def narma(n, *, order=10, seed=0):
    """The NARMA system driven by uniform input (NARMA-10 by default).

    ``y[t+1] = 0.3 y[t] + 0.05 y[t] Σ_{i=0}^{order-1} y[t-i]
    + 1.5 u[t-order+1] u[t] + 0.1``, ``u ~ U(0, 0.5)``, ``y`` starting
    at zero (Atiya & Parlos, 2000). The task: predict ``y`` from ``u``.

    Returns
    -------
    u, y : ndarray (n,)

    Examples
    --------
    >>> from numbarnn import datasets
    >>> u, y = datasets.narma(1000, seed=0)
    >>> u.shape, bool(0 <= y.min() and y.max() < 1.0)
    ((1000,), True)
    """
    n, order = _check_n(n), _check_n(order, "order", 1)
    u = np.random.default_rng(seed).uniform(0.0, 0.5, n)
    y = np.zeros(n)
    _kernels.narma_recursion(u, y, order)
    return u, y


def arma(ar, ma, n, seed=0, *, sigma=1.0, burn=200):
    """An ARMA(p, q) series ``x_t = Σ ar_i x_{t-i} + ε_t + Σ ma_j ε_{t-j}``.

    Coefficients are those of the recursion (lag 1 first), not of the lag
    polynomial (statsmodels' ``arma_generate_sample`` takes ``[1, -ar]``).
    ``ε ~ N(0, sigma²)``; the first ``burn`` values are dropped so the
    series starts near stationarity.

    Returns
    -------
    ndarray (n,)

    Examples
    --------
    >>> from numbarnn import datasets
    >>> x = datasets.arma([0.9], [0.5], n=20000, seed=0)
    >>> theory = (1 + 2 * 0.9 * 0.5 + 0.5 ** 2) / (1 - 0.9 ** 2)  # 11.3
    >>> bool(abs(x.var() / theory - 1) < 0.05)
    True
    """
    n, burn = _check_n(n), _check_n(burn, "burn")
    ar = np.atleast_1d(np.asarray(ar, dtype=np.float64))
    ma = np.atleast_1d(np.asarray(ma, dtype=np.float64))
    if ar.ndim != 1 or ma.ndim != 1:
        raise ValueError(f"ar, ma: expected 1-D coefficient lists, got shapes {ar.shape}, "
                         f"{ma.shape}")
    eps = sigma * np.random.default_rng(seed).standard_normal(n + burn)
    import scipy.signal  # imported here: it costs ~1 s, and only arma needs it

    x = scipy.signal.lfilter(np.r_[1.0, ma], np.r_[1.0, -ar], eps)
    return x[burn:]
