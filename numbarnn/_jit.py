"""The one place that decides how CPU kernels are compiled.

Every ``@njit`` in numbarnn goes through :func:`kernel` so that caching,
fast-math and the error model are chosen once (the numba-stats habit).

* ``cache=True``: a fresh process loads compiled kernels from disk.
* ``error_model="numpy"``: under numba's default ("python") model every
  division carries a zero check, and no loop with one vectorises.
* ``fastmath`` limited to fused multiply-add and signless zeros: no
  ``reassoc`` (it would fold the two-constant range reduction of the fast
  exp into one and lose bits) and no ``nnan``/``ninf`` (the stable sigmoid
  clamps its argument and must keep doing so).
* ``nogil=True``: kernels can run in threads (a threaded scheduler scales).
"""
import numba

FASTMATH = {"contract", "nsz"}

JIT_OPTIONS = dict(cache=True, nogil=True, error_model="numpy", fastmath=FASTMATH)


def kernel(fn=None, **overrides):
    """Compile ``fn`` as a CPU kernel with the project's jit options.

    Parameters
    ----------
    fn : callable, optional
        The Python function to compile.
    **overrides
        Options replacing the defaults in :data:`JIT_OPTIONS`.

    Returns
    -------
    numba dispatcher (or a decorator when ``fn`` is None).

    Examples
    --------
    >>> from numbarnn._jit import kernel
    >>> @kernel(cache=False)  # an interactive function has no file to cache beside
    ... def twice(a):
    ...     return 2.0 * a
    >>> twice(1.5)
    3.0
    """
    options = dict(JIT_OPTIONS, **overrides)
    if fn is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(fn)


def inline(fn):
    """Compile a small helper that is inlined into the kernels calling it."""
    return numba.njit(inline="always", **{k: v for k, v in JIT_OPTIONS.items() if k != "cache"})(fn)


def helper(fn):
    """Compile a helper that kernels *call* (numba does not inline it).

    For large helpers used at several call sites: numba's IR-level inlining
    (:func:`inline`) of the step kernels' 4 × 4 dot-product tile at each of
    its call sites took minutes to compile; a called function compiles once
    per signature, and LLVM still inlines it where that pays.

    Examples
    --------
    >>> from numbarnn._jit import helper, kernel
    >>> @helper
    ... def square(a):
    ...     return a * a
    >>> @kernel(cache=False)
    ... def sum_of_squares(a, b):
    ...     return square(a) + square(b)
    >>> sum_of_squares(3.0, 4.0)
    25.0
    """
    return numba.njit(**{k: v for k, v in JIT_OPTIONS.items() if k != "cache"})(fn)
