"""Real-valued series: noisy sine, Mackey-Glass, Lorenz, NARMA, ARMA.

Every generator is deterministic given its arguments (random parts take a
``seed``: an int, a ``numpy.random.Generator`` or None) and downloads
nothing. None returns non-finite data: parameters are checked up front
where a rule is known (an explosive AR part, a non-positive step), and a
result that diverged anyway raises ValueError saying why.
"""
import numpy as np

from . import _kernels


def _check_n(n, name="n", minimum=0):
    if not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {n!r}")
    return int(n)


def _check_real(value, name, *, positive=False, nonnegative=False, nonzero=False):
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(
            value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a real number, got {value!r}")
    if not np.isfinite(value) or (positive and value <= 0) or (nonnegative and value < 0) \
            or (nonzero and value == 0):
        want = (" > 0" if positive else " >= 0" if nonnegative else " != 0" if nonzero else "")
        raise ValueError(f"{name}: expected a finite number{want}, got {value!r}")
    return float(value)


def _diverged(out, what, why):
    """ValueError naming the first step where ``out`` is non-finite, or None."""
    bad = np.flatnonzero(~np.isfinite(out.reshape(out.shape[0], -1)).all(axis=1))
    if bad.size:
        raise ValueError(f"{what}: the result is not finite from sample {bad[0]} on; {why}")


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
    period = _check_real(period, "period", nonzero=True)
    amplitude, noise = _check_real(amplitude, "amplitude"), _check_real(noise, "noise")
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
    dt, tau = _check_real(dt, "dt", positive=True), _check_real(tau, "tau", positive=True)
    a, b, power = _check_real(a, "a"), _check_real(b, "b"), _check_real(power, "power")
    x0 = _check_real(x0, "x0")
    delay = int(round(tau / dt))
    if delay < 1 or not np.isclose(delay * dt, tau):
        raise ValueError(f"tau: must be a positive multiple of dt={dt}, got {tau}")
    x = np.empty(delay + 1 + (n + discard) * every)
    x[:delay + 1] = x0
    if seed is not None:
        x[:delay + 1] += np.random.default_rng(seed).uniform(-0.1, 0.1, delay + 1)
    _kernels.mackey_glass_rk4(x, delay, float(dt), float(a), float(b), float(power))
    # Sample k is at time k * every * dt, starting from t = 0 (index delay).
    out = x[delay + discard * every::every][:n].copy()
    _diverged(out, "mackey_glass", f"the RK4 integration diverged (dt={dt}, x0={x0}); "
              "use a smaller dt or a non-negative history")
    return out


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

    Raises
    ------
    ValueError
        For a step too large for RK4 (the integration diverges: with the
        default parameters, from about ``dt = 0.1`` on); accurate series
        need ``dt`` of about 0.01.

    Examples
    --------
    >>> from numbarnn import datasets
    >>> xyz = datasets.lorenz(2000)
    >>> xyz.shape, bool(abs(xyz[:, 0]).max() < 25)
    ((2000, 3), True)
    """
    n, every = _check_n(n), _check_n(every, "every", 1)
    dt = _check_real(dt, "dt", positive=True)
    sigma, rho, beta = (_check_real(v, name) for v, name in
                        ((sigma, "sigma"), (rho, "rho"), (beta, "beta")))
    state = np.array(x0, dtype=np.float64).reshape(3)
    if not np.isfinite(state).all():
        raise ValueError(f"x0: expected 3 finite numbers, got {x0!r}")
    if seed is not None:
        state += np.random.default_rng(seed).uniform(-1.0, 1.0, 3)
    out = np.empty((n, 3))
    if n:
        _kernels.lorenz_rk4(out, state, dt, every, sigma, rho, beta)
    _diverged(out, "lorenz", f"the RK4 integration diverged: dt={dt} is too large a step "
              "for these parameters (about 0.01 is accurate for the defaults)")
    return out


def narma(n, *, order=10, seed=0):
    """The NARMA system driven by uniform input (NARMA-10 by default).

    ``y[t+1] = 0.3 y[t] + 0.05 y[t] Σ_{i=0}^{order-1} y[t-i]
    + 1.5 u[t-order+1] u[t] + 0.1``, ``u ~ U(0, 0.5)``, ``y`` starting
    at zero (Atiya & Parlos, 2000). The task: predict ``y`` from ``u``.

    Returns
    -------
    u, y : ndarray (n,)

    Raises
    ------
    ValueError
        When the recurrence diverges, which it does, through its quadratic
        term, once ``y`` leaves ``[0, 10)``: for every seed from
        ``order = 12`` on (hence refused up front from order 15), for some
        seeds at order 11. NARMA-10 stays within about [0, 1.1].

    Examples
    --------
    >>> from numbarnn import datasets
    >>> u, y = datasets.narma(1000, seed=0)
    >>> u.shape, bool(0 <= y.min() and y.max() < 1.0)
    ((1000,), True)
    """
    n, order = _check_n(n), _check_n(order, "order", 1)
    if order >= 15:
        raise ValueError(f"order: NARMA of order {order} diverges for every seed (its "
                         "quadratic term explodes from order 12 on, with u ~ U(0, 0.5)); "
                         "use order <= 10")
    u = np.random.default_rng(seed).uniform(0.0, 0.5, n)
    y = np.zeros(n)
    _kernels.narma_recursion(u, y, order)
    with np.errstate(invalid="ignore"):
        out = np.flatnonzero(~((y >= 0) & (y < 10)))
    if out.size:
        raise ValueError(f"narma: the order-{order} recurrence diverged at sample {out[0]} "
                         f"for this seed (y = {y[out[0]]!r}, outside [0, 10)); NARMA is "
                         "reliably stable up to order 10")
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

    Raises
    ------
    ValueError
        For an explosive AR part (a root of ``1 - Σ ar_i z^i`` inside the
        unit circle: the series grows geometrically and soon overflows),
        non-finite coefficients, or a negative ``sigma``. A unit root (a
        random walk) is allowed.

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
    if not (np.isfinite(ar).all() and np.isfinite(ma).all()):
        raise ValueError(f"ar, ma: expected finite coefficients, got {ar!r}, {ma!r}")
    sigma = _check_real(sigma, "sigma", nonnegative=True)
    lag = np.trim_zeros(np.r_[1.0, -ar], "b")
    if lag.size > 1:
        roots = np.roots(lag[::-1])  # of 1 - ar_1 z - ... - ar_p z^p
        if np.abs(roots).min() < 1 - 1e-9:
            raise ValueError(f"ar: the AR part is explosive (a root of 1 - Σ ar_i z^i has "
                             f"modulus {np.abs(roots).min():.4g} < 1), so the series grows "
                             "without bound; use coefficients whose roots lie outside the "
                             "unit circle")
    eps = sigma * np.random.default_rng(seed).standard_normal(n + burn)
    import scipy.signal  # imported here: it costs ~1 s, and only arma needs it

    x = scipy.signal.lfilter(np.r_[1.0, ma], np.r_[1.0, -ar], eps)[burn:]
    _diverged(x, "arma", "the series overflowed")
    return x
