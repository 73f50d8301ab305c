"""Compatibility shims for the CUDA target, applied before any kernel compiles.

numba-cuda 0.30.4 registers its ``np.vstack`` implementation a second time
for ``np.row_stack`` when ``numpy >= 2.0`` (``numba/cuda/np/arrayobj.py``:
``overload(np.row_stack)(impl_np_vstack)``). NumPy 2.5 removed
``row_stack`` (deprecated since 2.0 as an alias of ``vstack``), so that line
raises ``AttributeError`` when the CUDA target first initialises, which is
when the first kernel compiles: no kernel compiles at all.

The shim is scoped as narrowly as it can be: only when numba-cuda is the
CUDA target in use and NumPy lacks ``row_stack``, it lends NumPy the alias
(``vstack``, which ``row_stack`` always was) for the moment it takes to
import that module, then removes it again, so NumPy's namespace looks as it
did before and code that tests for ``row_stack`` still sees it missing. The
overload registered under the borrowed name is keyed on ``np.vstack``
itself, which numba-cuda already implements, so nothing else changes.
Remove this module once numba-cuda no longer references ``row_stack``.
"""
import importlib

import numpy as np

_ARRAYOBJ = "numba.cuda.np.arrayobj"  # exists in numba-cuda, not in numba's built-in target


def _uses_numba_cuda():
    from numba import cuda

    return getattr(cuda, "implementation", "") == "NVIDIA"


def apply():
    """Make the CUDA target importable and compilable on this NumPy.

    Idempotent and cheap; returns True when the shim was needed.

    Examples
    --------
    >>> from numbarnn.kernels.cuda import compat  # doctest: +SKIP
    >>> compat.apply() in (True, False)  # doctest: +SKIP
    True
    """
    if hasattr(np, "row_stack") or not _uses_numba_cuda():
        return False
    import sys

    if _ARRAYOBJ in sys.modules:
        return False
    np.row_stack = np.vstack
    try:
        importlib.import_module(_ARRAYOBJ)
    finally:
        del np.row_stack
    return True


apply()
