"""``numba.cuda`` kernels: the GPU twins of ``kernels/cpu`` (docs/math.md, Layering).

Same cell file names as the CPU target (``rnn.py``, ``lstm.py``, ``gru.py``:
each cell's per-step forward and backward code), compiled from the same cell
math (``cell.py``); ``steps.py`` holds the time loops that run those steps
(one kernel launch per pass) and how they are laid out on the GPU,
``common.py`` the GEMM and elementwise kernels. Importing anything below this
package imports
``numba.cuda``; only ``numbarnn.functional.device`` does, and only when it is
handed device arrays, so ``import numbarnn`` never needs CUDA.
"""
