"""The functional API: whole-sequence forward and backward passes.

Time-major arrays (``x`` is (T, B, I)), PyTorch's weight layout, every
result a namedtuple (docs/math.md, Conventions). Arguments are validated here, before
any kernel runs; inputs are never modified.

Examples
--------
>>> import numpy as np
>>> from numbarnn import functional as F
>>> rng = np.random.default_rng(0)
>>> x = rng.standard_normal((10, 2, 3))
>>> w_ih, w_hh = rng.standard_normal((12, 3)), rng.standard_normal((12, 4))
>>> y, h_n, cache = F.gru_forward(x, w_ih, w_hh, training=True)
>>> grads = F.gru_backward(cache, dy=np.ones_like(y))
>>> grads.dw_hh.shape
(12, 4)
"""
from .gru import GRUGrads, GRUResult, gru_backward, gru_forward
from .lstm import LSTMGrads, LSTMProjGrads, LSTMResult, lstm_backward, lstm_forward
from .rnn import NONLINEARITIES, RNNGrads, RNNResult, rnn_backward, rnn_forward

__all__ = [
    "rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward",
    "gru_forward", "gru_backward", "RNNResult", "RNNGrads", "LSTMResult", "LSTMGrads",
    "LSTMProjGrads",
    "GRUResult", "GRUGrads", "NONLINEARITIES",
]
