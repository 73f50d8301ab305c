"""The public layer classes: :class:`RNN`, :class:`LSTM`, :class:`GRU`.

Constructed like PyTorch's (same positional order, same parameter names and
shapes), plus ``dtype``, ``seed`` and ``init``. The machinery is in
:class:`numbarnn.nn.recurrent.RNNBase`.
"""
import numbers

import numpy as np

from ..functional import NONLINEARITIES
from .base import check_bool
from .recurrent import RNNBase

_COMMON_DOC = """
    Parameters
    ----------
    input_size : int
        Features of the input, I.
    hidden_size : int
        Features of the hidden state, H.
    num_layers : int, default 1
        Stacked layers; layer l > 0 reads the D·H (D·P with ``proj_size``)
        outputs of layer l − 1.
    {extra}bias : bool, default True
        Whether the layers have ``bias_ih``/``bias_hh``.
    batch_first : bool, default False
        x and y are (B, T, ·) instead of (T, B, ·). States stay (L·D, B, H).
    dropout : float, default 0
        Dropout probability on the outputs of every layer but the last,
        in training mode only (inverted dropout: kept values are scaled by
        1/(1 − p)). The mask of a forward pass is reused by its backward
        pass; masks are drawn from ``dropout_rng``.
    bidirectional : bool, default False
        Add a reverse direction per layer (D = 2); outputs are concatenated
        as [forward, reverse].
    {tail}dtype : {{numpy.float64, numpy.float32}}, default float64
        The dtype of the parameters, and of every input the layer accepts.
    seed : int, numpy Generator or None
        Seeds the initialisation and the dropout generator.
    init : {{"pytorch", "keras"}} or callable, default "pytorch"
        ``"pytorch"``: every parameter ~ U(±1/√H). ``"keras"``: Glorot input
        weights, orthogonal recurrent blocks, zero biases (unit forget bias
        for LSTM). A callable is called as ``init(layer, rng)``. See
        :mod:`numbarnn.nn.init`.

    Attributes
    ----------
    params, grads : dict of str to ndarray
        ``weight_ih_l{{k}}`` (G·H, I or D·H), ``weight_hh_l{{k}}`` (G·H, H),
        ``bias_ih_l{{k}}``, ``bias_hh_l{{k}}`` (G·H,), with ``_reverse`` for the
        reverse direction, in PyTorch's order. An LSTM with ``proj_size`` P
        adds ``weight_hr_l{{k}}`` (P, H) after the biases, and its H in the
        columns of ``weight_hh`` and of the input of layers k > 0 becomes P.
    dropout_rng : numpy.random.Generator
        Where dropout masks come from; replace it to fix the masks.

    Notes
    -----
    Flags (``bias``, ``batch_first``, ``bidirectional``{flags}) must be real
    booleans (``bool`` or ``numpy.bool_``): anything else is a TypeError,
    as in PyTorch.

    Threads: one layer may be shared by several threads, in training mode
    too. Each thread's ``backward`` uses the record of that thread's own
    last ``forward``, so every thread gets the answer it would get alone
    and the gradients of all threads add up in ``grads``, as in PyTorch.
    Update the parameters (an optimizer step) only between the threads'
    passes. Dropout masks come from the shared ``dropout_rng``, so which
    thread draws which mask depends on timing.
"""


class RNN(RNNBase):
    __doc__ = """Elman RNN layer, h_t = φ(w_ih x_t + b_ih + w_hh h_{{t−1}} + b_hh).
{doc}
    Examples
    --------
    >>> import numpy as np, numbarnn
    >>> rnn = numbarnn.RNN(3, 4, num_layers=2, nonlinearity="relu", seed=0)
    >>> y, h_n = rnn.forward(np.ones((5, 2, 3)))
    >>> y.shape, h_n.shape
    ((5, 2, 4), (2, 2, 4))
    """.format(doc=_COMMON_DOC.format(
        flags="",
        extra="nonlinearity : {\"tanh\", \"relu\", \"sigmoid\"}, default \"tanh\"\n"
              "        φ (PyTorch has no sigmoid RNN).\n    ",
        tail=""))

    kind = "rnn"

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, *, dtype=np.float64,
                 seed=None, init="pytorch"):
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {sorted(NONLINEARITIES)}, "
                             f"got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, seed, init,
                         ({"nonlinearity": nonlinearity}, {}))

    @property
    def _options(self):
        return {"nonlinearity": self.nonlinearity}


class LSTM(RNNBase):
    __doc__ = """Long short-term memory layer (gates i, f, g, o; docs/math.md).
{doc}
    Examples
    --------
    >>> import numpy as np, numbarnn
    >>> lstm = numbarnn.LSTM(3, 4, bidirectional=True, batch_first=True, seed=0)
    >>> y, (h_n, c_n) = lstm.forward(np.ones((2, 5, 3)))
    >>> y.shape, h_n.shape, c_n.shape
    ((2, 5, 8), (2, 2, 4), (2, 2, 4))
    >>> proj = numbarnn.LSTM(3, 4, proj_size=2, seed=0)
    >>> y, (h_n, c_n) = proj.forward(np.ones((5, 2, 3)))
    >>> y.shape, h_n.shape, c_n.shape, proj.params["weight_hr_l0"].shape
    ((5, 2, 2), (1, 2, 2), (1, 2, 4), (2, 4))
    """.format(doc=_COMMON_DOC.format(
        flags="",
        extra="",
        tail="proj_size : int, default 0\n        If > 0 (and < hidden_size), "
             "PyTorch's projection: h_t = w_hr (o_t ⊙ tanh(c_t)),\n"
             "        with ``weight_hr_l{k}`` (P, H); y and h_n then have P "
             "features, c_n keeps H.\n    "))

    kind = "lstm"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, *, dtype=np.float64,
                 seed=None, init="pytorch"):
        if isinstance(proj_size, (bool, np.bool_)) or not isinstance(proj_size, numbers.Integral) \
                or proj_size < 0:
            # PyTorch: "proj_size should be a positive integer or zero to disable projections"
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             f"projections, got {proj_size!r}")
        if proj_size > 0 and isinstance(hidden_size, numbers.Integral) \
                and proj_size >= hidden_size:
            raise ValueError(f"proj_size has to be smaller than hidden_size, got "
                             f"proj_size={proj_size} and hidden_size={hidden_size}")
        self.proj_size = int(proj_size)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, seed, init, ({}, {"proj_size": self.proj_size}))


class GRU(RNNBase):
    __doc__ = """Gated recurrent unit layer (gates r, z, n; docs/math.md).

    numbarnn's update is h_t = (1 − z) h_{{t−1}} + z n_t: its z is PyTorch's
    and Keras's 1 − z. :func:`numbarnn.interop.from_torch` converts.
{doc}
    Examples
    --------
    >>> import numpy as np, numbarnn
    >>> gru = numbarnn.GRU(3, 4, num_layers=3, reset_after=True, seed=0)
    >>> y, h_n = gru.forward(np.ones((5, 2, 3)))
    >>> y.shape, h_n.shape
    ((5, 2, 4), (3, 2, 4))
    """.format(doc=_COMMON_DOC.format(
        flags=", ``reset_after``",
        extra="",
        tail="reset_after : bool, default False\n        False: the reset gate "
             "scales h before the candidate's recurrent product. True: the\n"
             "        cuDNN/PyTorch form, r ⊙ (w_hn h + b_hn).\n    "))

    kind = "gru"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, reset_after=False, *, dtype=np.float64,
                 seed=None, init="pytorch"):
        self.reset_after = check_bool("reset_after", reset_after)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, seed, init,
                         ({}, {"reset_after": self.reset_after}))

    @property
    def _options(self):
        return {"reset_after": self.reset_after}
