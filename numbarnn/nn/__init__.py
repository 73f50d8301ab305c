"""Layers and cells over the functional API, with PyTorch's interface.

:class:`RNN`, :class:`LSTM`, :class:`GRU` (stacked, bidirectional,
variable-length batches, dropout, streaming) and the single-step cells
:class:`RNNCell`, :class:`LSTMCell`, :class:`GRUCell`. Parameters are plain
numpy arrays named and shaped like PyTorch's; ``backward`` accumulates
exact gradients into ``grads``. :mod:`numbarnn.nn.init` holds the
initialisers; :func:`save` / :func:`load` persist any of them.

Examples
--------
>>> import numpy as np
>>> from numbarnn.nn import LSTM
>>> lstm = LSTM(3, 8, num_layers=2, seed=0)
>>> x = np.random.default_rng(0).standard_normal((20, 4, 3))
>>> y, (h_n, c_n) = lstm.forward(x)
>>> dx = lstm.backward(2 * y)               # d(sum y²)/dy
>>> dx.shape, lstm.grads["weight_hh_l1"].shape
((20, 4, 3), (32, 8))
"""
from . import init
from .base import Module
from .cells import GRUCell, LSTMCell, RNNCell, RNNCellBase
from .layers import GRU, LSTM, RNN
from .recurrent import RNNBase
from .serialize import load, save

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "Module", "RNNBase",
           "RNNCellBase", "init", "save", "load"]
