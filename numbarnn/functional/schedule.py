"""How many threads a pass may use: :func:`set_num_threads` and
:func:`get_num_threads`, a setting shared by every thread of the process.

The passes themselves run on the engine's workers
(``functional/engine.py``, ``functional/workers.py``), which read the
setting once per call. Nothing here changes any library's thread count
(BLAS, OpenMP): the engine calls no BLAS.
"""
import numbers
import os
import threading

import numpy as np

# set_num_threads caps its argument at this many threads per usable core:
# beyond it, threads only add switching cost (100000 once spawned ~900
# threads for one call).
THREADS_PER_CORE = 4

_lock = threading.Lock()
# "threads": the setting (None: the default, the usable cores)
_state = {"threads": None}


def _forget_lock():
    # after fork(), in the child: the lock may have been held by a parent
    # thread that does not exist there
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_lock)


def _default_threads():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def max_threads():
    """The most threads :func:`set_num_threads` allows: 4 per usable core.

    Examples
    --------
    >>> from numbarnn.functional.schedule import max_threads
    >>> max_threads() >= 4
    True
    """
    return THREADS_PER_CORE * _default_threads()


def get_num_threads():
    """The number of threads a pass may use (default: the usable cores).

    Examples
    --------
    >>> import numbarnn
    >>> numbarnn.get_num_threads() >= 1
    True
    """
    return _state["threads"] or _default_threads()


def set_num_threads(n):
    """Set the number of threads a pass may use; returns the previous value.

    The setting is shared by all threads of the process; passes already
    running keep the share count they started with.

    Parameters
    ----------
    n : int
        An integer (Python or numpy, not a bool) of at least 1. Values above
        4 threads per usable core (``numbarnn.functional.schedule.max_threads()``)
        are reduced to that cap: more threads than that only add switching
        cost. Work is split over the batch, so a batch of B sequences uses
        at most B threads.

    Returns
    -------
    int
        The previous setting.

    Raises
    ------
    TypeError
        If ``n`` is not an integer (floats, strings and booleans included).
    ValueError
        If ``n`` is less than 1.

    Examples
    --------
    >>> import numbarnn
    >>> old = numbarnn.set_num_threads(1)
    >>> numbarnn.get_num_threads()
    1
    >>> from numbarnn.functional.schedule import max_threads
    >>> _ = numbarnn.set_num_threads(10 ** 6)   # capped
    >>> numbarnn.get_num_threads() == max_threads()
    True
    >>> _ = numbarnn.set_num_threads(old)
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an integer (int or numpy integer), got {type(n).__name__} "
                        f"{n!r}")
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    n = min(n, max_threads())
    with _lock:
        old = get_num_threads()
        _state["threads"] = n
    return old
