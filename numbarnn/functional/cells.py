"""One description per cell type: what layers, models and tools ask of a cell.

Code above the functional API asks a :class:`Cell` instead of testing
``kind == "lstm"``: how many gate blocks its weights stack, the names of
those blocks and of its state parts, and which functions run its passes.

Examples
--------
>>> from numbarnn.functional.cells import CELLS
>>> lstm = CELLS["lstm"]
>>> lstm.gates, lstm.gate_names, lstm.states
(4, ('i', 'f', 'g', 'o'), ('h', 'c'))
>>> CELLS["gru"].gates, CELLS["rnn"].states
(3, ('h',))
"""
from dataclasses import dataclass
from typing import Callable

from .gru import gru_backward, gru_forward
from .lstm import lstm_backward, lstm_forward
from .rnn import rnn_backward, rnn_forward


@dataclass(frozen=True)
class Cell:
    """A recurrent cell type.

    Attributes
    ----------
    name : str
        ``"rnn"``, ``"lstm"`` or ``"gru"``.
    gate_names : tuple of str
        The gate blocks stacked (in this order) in ``w_ih``/``w_hh`` rows.
    states : tuple of str
        The parts of the recurrent state: ``("h",)``, or ``("h", "c")``.
    forward, backward : callable
        The functional passes (``numbarnn.functional.<name>_forward`` …).
    """

    name: str
    gate_names: tuple
    states: tuple
    forward: Callable
    backward: Callable

    @property
    def gates(self):
        """G, the number of gate blocks: weights are (G·H, ·)."""
        return len(self.gate_names)

    @property
    def has_cell_state(self):
        """True when the state has a cell part c besides h (the LSTM)."""
        return "c" in self.states

    def pack_state(self, parts):
        """The state as the user sees it: ``h``, or ``(h, c)``."""
        return tuple(parts) if self.has_cell_state else parts[0]

    def unpack_state(self, state):
        """The inverse of :meth:`pack_state`: a tuple of the state's parts."""
        return tuple(state) if self.has_cell_state else (state,)

    def run_forward(self, x, weights, state, training, options, check_finite=True):
        """The functional forward with the state as a tuple of parts.

        ``weights`` is (w_ih, w_hh, b_ih, b_hh) and, for an LSTM, optionally
        its projection w_hr (None: none). Returns ``(y, state parts, cache)``.
        """
        opts = dict(options)
        if len(weights) > 4 and weights[4] is not None:
            opts["w_hr"] = weights[4]
        out = self.forward(x, *weights[:4], *state, training=training,
                           check_finite=check_finite, **opts)
        return out[0], tuple(out[1:-1]), out[-1]

    def run_backward(self, cache, dy, dstate):
        """The functional backward with tuple states: ``(dx, dstate0 parts,
        weight gradients)``, the weight gradients (dw_ih, dw_hh, db_ih,
        db_hh) and, for an LSTM, dw_hr last (None without a projection)."""
        g = self.backward(cache, dy, *dstate)
        n = len(self.states)
        dw = tuple(g[1 + n:])
        if self.has_cell_state and len(dw) == 4:
            dw = dw + (None,)
        return g[0], tuple(g[1:1 + n]), dw


CELLS = {
    "rnn": Cell("rnn", ("h",), ("h",), rnn_forward, rnn_backward),
    "lstm": Cell("lstm", ("i", "f", "g", "o"), ("h", "c"), lstm_forward, lstm_backward),
    "gru": Cell("gru", ("r", "z", "n"), ("h",), gru_forward, gru_backward),
}


def cell(name):
    """The :class:`Cell` called ``name``; ValueError naming the choices otherwise.

    Examples
    --------
    >>> from numbarnn.functional.cells import cell
    >>> cell("gru").gates
    3
    """
    try:
        return CELLS[name]
    except (KeyError, TypeError):
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {name!r}") from None
