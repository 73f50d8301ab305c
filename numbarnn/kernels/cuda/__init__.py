"""``numba.cuda`` kernels: the GPU twins of ``kernels/cpu`` (DESIGN.md §2).

Same file and function names as the CPU target (``rnn.py``, ``lstm.py``,
``gru.py`` each hold ``*_forward`` / ``*_backward``), compiled from the same
cell math (``cell.py``). Importing anything below this package imports
``numba.cuda``; only ``numbarnn.functional.device`` does, and only when it is
handed device arrays, so ``import numbarnn`` never needs CUDA.
"""
