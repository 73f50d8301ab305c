"""Benchmarks of numbarnn against PyTorch and a plain-numpy loop.

The shared engine behind ``bench/`` (pytest-benchmark) and
``python -m numbarnn bench``: case definitions (:mod:`.cases`), the three
contenders (:mod:`.contenders`, :mod:`.numpy_loop`), interleaved timing
(:mod:`.runner`) and the command line (:mod:`.cli`). See ``bench/README.md``.

Examples
--------
>>> from numbarnn.bench import Case, time_case
>>> res = time_case(Case("gru", "float32", "forward", "S2s"), ["numpy"],
...                 rounds=3, pause=0.0)
>>> res["numpy"].median > 0
True
"""

from .cases import (
    CELLS,
    CONTENDERS,
    DTYPES,
    GATES,
    MODES,
    SHAPES,
    SMOKE_SHAPES,
    Case,
    Shape,
    iter_cases,
    make_data,
    resolve_shapes,
)
from .cli import main
from .contenders import Unavailable, check_agreement, make_callable, torch_or_none
from .numpy_loop import numpy_backward, numpy_forward
from .runner import (
    NUMPY_MAX_S, Timing, machine_info, numbarnn_threads, set_threads, time_case, wait_for_idle,
    warm_up,
)

__all__ = [
    "CELLS", "CONTENDERS", "DTYPES", "GATES", "MODES", "NUMPY_MAX_S", "SHAPES",
    "SMOKE_SHAPES", "Case", "Shape", "Timing", "Unavailable", "check_agreement",
    "iter_cases", "machine_info", "main", "make_callable", "make_data", "numbarnn_threads",
    "numpy_backward", "numpy_forward", "resolve_shapes", "set_threads",
    "time_case", "torch_or_none", "wait_for_idle", "warm_up",
]
