"""What is benchmarked: shapes, cells, dtypes, modes and their input data.

Both the pytest-benchmark suite in ``bench/`` and ``python -m numbarnn bench``
build their cases from here, so a group name such as
``"lstm-float32-fwdbwd-S3"`` means the same arrays in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = [
    "CELLS",
    "CONTENDERS",
    "DTYPES",
    "GATES",
    "MODES",
    "SHAPES",
    "SMOKE_SHAPES",
    "Case",
    "Shape",
    "iter_cases",
    "make_data",
    "resolve_shapes",
]


class Shape(NamedTuple):
    """Problem size: sequence length, batch, input features, hidden units."""

    T: int
    B: int
    I: int  # noqa: E741 - the paper-style name reads better than a long one
    H: int


#: The benchmark shapes. S1/S6 are long single sequences (per-step overhead
#: dominates), S2-S5 grow towards GEMM-bound work.
SHAPES = {
    "S1": Shape(1000, 1, 1, 32),
    "S2": Shape(200, 8, 8, 64),
    "S3": Shape(100, 32, 32, 128),
    "S4": Shape(100, 64, 128, 256),
    "S5": Shape(50, 16, 256, 512),
    "S6": Shape(10000, 1, 1, 16),
}

#: S1, S2 and S6 with shorter sequences, for smoke runs and ``--quick``. They
#: carry their own names so a smoke timing is never mistaken for a full one.
SMOKE_SHAPES = {
    "S1s": Shape(100, 1, 1, 32),
    "S2s": Shape(50, 8, 8, 64),
    "S6s": Shape(1000, 1, 1, 16),
}

CELLS = ("rnn", "lstm", "gru")
DTYPES = ("float32", "float64")
MODES = ("forward", "fwdbwd", "step")
CONTENDERS = ("numbarnn", "torch", "numpy")

#: Gate count G: weights are (G*H, I) and (G*H, H).
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


@dataclass(frozen=True)
class Case:
    """One benchmark row: a cell, a dtype, a mode and a named shape.

    Parameters
    ----------
    cell : {"rnn", "lstm", "gru"}
        ``rnn`` is the tanh Elman RNN; ``gru`` uses ``reset_after=True``
        (the PyTorch/cuDNN form) so the torch comparison is like for like.
    dtype : {"float32", "float64"}
    mode : {"forward", "fwdbwd", "step"}
        ``forward`` is inference (``training=False``); ``fwdbwd`` is a
        training forward followed by backpropagation of a fixed ``dy``;
        ``step`` is one streaming step of an inference layer
        (``LSTM.step`` against torch's ``LSTMCell`` under ``no_grad``) on the
        shape's batch, ignoring T.
    shape : str
        A key of :data:`SHAPES` or :data:`SMOKE_SHAPES`.

    Examples
    --------
    >>> from numbarnn.bench import Case
    >>> case = Case("lstm", "float32", "fwdbwd", "S3")
    >>> case.group, case.dims
    ('lstm-float32-fwdbwd-S3', Shape(T=100, B=32, I=32, H=128))
    """

    cell: str
    dtype: str
    mode: str
    shape: str

    def __post_init__(self):
        for value, allowed, what in (
            (self.cell, CELLS, "cell"),
            (self.dtype, DTYPES, "dtype"),
            (self.mode, MODES, "mode"),
            (self.shape, (*SHAPES, *SMOKE_SHAPES), "shape"),
        ):
            if value not in allowed:
                raise ValueError(f"{what} must be one of {allowed}, got {value!r}")

    @property
    def dims(self) -> Shape:
        """The (T, B, I, H) of this case."""
        return SHAPES.get(self.shape) or SMOKE_SHAPES[self.shape]

    @property
    def recurrent_flops(self) -> int:
        """Floating-point operations of the recurrent products h·W_hhᵀ.

        2·B·G·H² per step and product: one product a step forward, three
        with backpropagation (the forward one, dh·W_hh and dW_hh), one for
        a single ``step``. The input projections and the gate math are left
        out, so GFLOP/s from this understate the work done.

        Examples
        --------
        >>> from numbarnn.bench import Case
        >>> Case("lstm", "float32", "forward", "S3").recurrent_flops
        419430400
        """
        T, B, I, H = self.dims
        per_step = 2 * B * GATES[self.cell] * H * H
        return per_step * {"forward": T, "fwdbwd": 3 * T, "step": 1}[self.mode]

    @property
    def group(self) -> str:
        """pytest-benchmark group name, e.g. ``"gru-float64-forward-S2"``."""
        return f"{self.cell}-{self.dtype}-{self.mode}-{self.shape}"


def resolve_shapes(spec: str) -> list[str]:
    """Turn ``"all"``, ``"smoke"`` or a comma list of names into shape names.

    Parameters
    ----------
    spec : str
        ``"all"`` (S1-S6), ``"smoke"`` (S1s, S2s, S6s) or e.g. ``"S1,S3"``.

    Returns
    -------
    list of str

    Examples
    --------
    >>> from numbarnn.bench import resolve_shapes
    >>> resolve_shapes("smoke")
    ['S1s', 'S2s', 'S6s']
    """
    spec = spec.strip()
    if spec == "all":
        return list(SHAPES)
    if spec == "smoke":
        return list(SMOKE_SHAPES)
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in SHAPES and n not in SMOKE_SHAPES]
    if unknown or not names:
        raise ValueError(
            f"unknown shape(s) {unknown or spec!r}; use 'all', 'smoke' or names "
            f"from {[*SHAPES, *SMOKE_SHAPES]}"
        )
    return names


def iter_cases(cells=CELLS, dtypes=DTYPES, modes=MODES, shapes=tuple(SHAPES)):
    """All :class:`Case` objects of a selection, shape-major within a cell.

    Examples
    --------
    >>> from numbarnn.bench import iter_cases
    >>> [c.group for c in iter_cases(["rnn"], ["float32"], ["forward"], ["S1", "S2"])]
    ['rnn-float32-forward-S1', 'rnn-float32-forward-S2']
    """
    for cell in cells:
        for dtype in dtypes:
            for mode in modes:
                for shape in shapes:
                    yield Case(cell, dtype, mode, shape)


def make_data(case: Case, seed: int = 0) -> dict:
    """Random inputs for a case, as numpy arrays of the case's dtype.

    Weights are drawn like PyTorch's default init, U(-1/sqrt(H), 1/sqrt(H)),
    so activations stay in the range where every contender's math is
    exercised (no saturation shortcut makes one look faster).

    Parameters
    ----------
    case : Case
    seed : int, optional

    Returns
    -------
    dict
        Keys ``x`` (T, B, I), ``w_ih``, ``w_hh``, ``b_ih``, ``b_hh``, ``h0``
        (B, H), ``dy`` (T, B, H), and ``c0`` for LSTM.

    Examples
    --------
    >>> from numbarnn.bench import Case, make_data
    >>> d = make_data(Case("gru", "float64", "forward", "S2s"))
    >>> d["w_hh"].shape, d["x"].dtype
    ((192, 64), dtype('float64'))
    """
    T, B, I, H = case.dims
    GH = GATES[case.cell] * H
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(H)

    def uniform(*shape):
        return rng.uniform(-bound, bound, size=shape).astype(case.dtype)

    def normal(*shape, scale=1.0):
        return (scale * rng.standard_normal(shape)).astype(case.dtype)

    data = {
        "x": normal(T, B, I),
        "w_ih": uniform(GH, I),
        "w_hh": uniform(GH, H),
        "b_ih": uniform(GH),
        "b_hh": uniform(GH),
        "h0": normal(B, H, scale=0.1),
        "dy": normal(T, B, H),
    }
    if case.cell == "lstm":
        data["c0"] = normal(B, H, scale=0.1)
    return data
