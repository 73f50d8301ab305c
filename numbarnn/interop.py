"""Conversion to and from PyTorch modules and Keras weight arrays.

torch is imported inside these functions only: ``import numbarnn`` never
imports it. Weight layouts (docs/math.md):

* PyTorch: same names, shapes and gate orders as numbarnn, except that
  PyTorch's GRU is numbarnn's ``reset_after=True`` form with z replaced by
  1 − z; the converters negate the z rows (H:2H) of every GRU weight and
  bias (σ(−a) = 1 − σ(a)), so the converted model computes the same
  function bit for bit up to rounding.
* Keras: ``kernel`` (I, G·H) and ``recurrent_kernel`` (H, G·H) are the
  transposes of numbarnn's; LSTM gates i, f, c, o are numbarnn's i, f, g, o;
  GRU gates z, r, h become r, z, n with z negated. Keras has one bias added
  on the input side (numbarnn's ``bias_hh`` is then zero), except the
  ``reset_after=True`` GRU whose bias (2, 3H) holds the input and the
  recurrent bias.
"""
import warnings

import numpy as np

from .functional.cells import CELLS
from .nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .nn.base import as_float_dtype


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is installed where tested
        raise ImportError("numbarnn.interop needs PyTorch for this: pip install torch") from exc
    return torch


def _negate_z(params, H):
    """GRU weights between numbarnn's z and PyTorch's 1 − z (self-inverse)."""
    out = {}
    for name, a in params.items():
        a = np.array(a, copy=True)
        a[H:2 * H] *= -1
        out[name] = a
    return out


def _build(cls, *args, **kw):
    """``cls(*args, **kw)`` without the 'dropout with one layer' warning both
    libraries give: the user already chose that configuration on the source side."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*dropout.*", category=UserWarning)
        return cls(*args, **kw)


def _pairs(torch):
    nn = torch.nn
    return [(nn.LSTM, LSTM), (nn.GRU, GRU), (nn.RNN, RNN),
            (nn.LSTMCell, LSTMCell), (nn.GRUCell, GRUCell), (nn.RNNCell, RNNCell)]


def from_torch(module):
    """A numbarnn layer or cell computing what a PyTorch module computes.

    Parameters
    ----------
    module : torch.nn.RNN, LSTM, GRU, RNNCell, LSTMCell or GRUCell
        Any ``num_layers``, ``bidirectional``, ``bias``, ``batch_first``,
        ``dropout``, ``proj_size``; float32 or float64 parameters (on any
        device: they are copied to the CPU).

    Returns
    -------
    numbarnn.RNN, LSTM, GRU (``reset_after=True``) or the matching cell
        With copies of the parameters and the module's train/eval mode.

    Raises
    ------
    TypeError
        Another module type, or parameters that are not float32/float64.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from numbarnn.interop import from_torch
    >>> tgru = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True).double()
    >>> gru = from_torch(tgru)
    >>> x = np.random.default_rng(0).standard_normal((5, 2, 3))
    >>> with torch.no_grad():
    ...     ty = tgru(torch.from_numpy(x))[0].numpy()
    >>> bool(np.allclose(gru.forward(x)[0], ty, atol=1e-12))
    True
    """
    torch = _torch()
    cls = next((ours for theirs, ours in _pairs(torch) if isinstance(module, theirs)), None)
    if cls is None:
        raise TypeError("from_torch converts torch.nn.RNN, LSTM, GRU, RNNCell, LSTMCell and "
                        f"GRUCell, got {type(module).__name__}")
    params = {n: p.detach().cpu().numpy().copy() for n, p in module.named_parameters()}
    dtype = next(iter(params.values())).dtype
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"from_torch needs float32 or float64 parameters, got {dtype}")
    kw = dict(bias=module.bias, dtype=dtype)
    if cls in (RNN, RNNCell):
        kw["nonlinearity"] = module.nonlinearity
    if cls in (GRU, GRUCell):
        kw["reset_after"] = True
    if cls in (RNN, LSTM, GRU):
        kw.update(num_layers=module.num_layers, batch_first=module.batch_first,
                  dropout=float(module.dropout), bidirectional=module.bidirectional)
        if cls is LSTM:
            kw["proj_size"] = module.proj_size
    layer = _build(cls, module.input_size, module.hidden_size, **kw)
    if cls in (GRU, GRUCell):
        params = _negate_z(params, module.hidden_size)
    layer.load_state_dict(params)
    return layer.train(module.training)


def to_torch(layer):
    """A PyTorch module computing what a numbarnn layer or cell computes.

    Parameters
    ----------
    layer : numbarnn.RNN, LSTM, GRU, RNNCell, LSTMCell or GRUCell

    Returns
    -------
    torch.nn.Module
        ``nn.RNN``/``nn.LSTM``/``nn.GRU`` or the matching cell, in the
        layer's dtype and train/eval mode, with copies of the parameters.

    Raises
    ------
    ValueError
        A GRU with ``reset_after=False`` or a sigmoid RNN: PyTorch has
        neither form.
    TypeError
        Anything else.

    Examples
    --------
    >>> import numpy as np, torch, numbarnn
    >>> from numbarnn.interop import to_torch
    >>> lstm = numbarnn.LSTM(3, 4, num_layers=2, batch_first=True, seed=0)
    >>> tlstm = to_torch(lstm)
    >>> x = np.random.default_rng(0).standard_normal((2, 5, 3))
    >>> with torch.no_grad():
    ...     ty = tlstm(torch.from_numpy(x))[0].numpy()
    >>> bool(np.allclose(lstm.forward(x)[0], ty, atol=1e-12))
    True
    """
    torch = _torch()
    theirs = next((t for t, ours in _pairs(torch) if type(layer) is ours), None)
    if theirs is None:
        raise TypeError("to_torch converts numbarnn.RNN, LSTM, GRU, RNNCell, LSTMCell and "
                        f"GRUCell, got {type(layer).__name__}")
    if isinstance(layer, (GRU, GRUCell)) and not layer.reset_after:
        raise ValueError("to_torch: PyTorch's GRU is the reset_after=True form; this "
                         f"{type(layer).__name__} has reset_after=False, which PyTorch "
                         "cannot compute")
    if isinstance(layer, (RNN, RNNCell)) and layer.nonlinearity == "sigmoid":
        raise ValueError("to_torch: PyTorch's RNN has no sigmoid nonlinearity")
    kw = dict(bias=layer.bias, dtype=torch.float64 if layer.dtype == np.float64
              else torch.float32)
    if isinstance(layer, (RNN, RNNCell)):
        kw["nonlinearity"] = layer.nonlinearity
    if isinstance(layer, (RNN, LSTM, GRU)):
        kw.update(num_layers=layer.num_layers, batch_first=layer.batch_first,
                  dropout=layer.dropout, bidirectional=layer.bidirectional)
    if isinstance(layer, LSTM):
        kw["proj_size"] = layer.proj_size
    module = _build(theirs, layer.input_size, layer.hidden_size, **kw)
    params = layer.params
    if isinstance(layer, (GRU, GRUCell)):
        params = _negate_z(params, layer.hidden_size)
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.from_numpy(np.ascontiguousarray(params[name])))
    return module.train(layer.training)


def keras_arrays(kind, kernel, recurrent_kernel, bias=None, *, reset_after=True):
    """Keras weight arrays in numbarnn's layout: ``(w_ih, w_hh, b_ih, b_hh)``.

    Parameters
    ----------
    kind : {"rnn", "lstm", "gru"}
        Keras ``SimpleRNN``, ``LSTM`` or ``GRU``.
    kernel : array_like, shape (I, G·H)
    recurrent_kernel : array_like, shape (H, G·H)
    bias : array_like, optional
        (G·H,); for a GRU with ``reset_after=True``, (2, 3H) (input and
        recurrent biases). None for ``use_bias=False``.
    reset_after : bool, default True
        The Keras GRU's ``reset_after`` (True is Keras 2.x/3's default);
        numbarnn's GRU takes the same value.

    Returns
    -------
    tuple of ndarray
        ``w_ih`` (G·H, I), ``w_hh`` (G·H, H), ``b_ih``, ``b_hh`` (G·H,) or
        Nones without bias, in the kernel's dtype, for the functional API.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.interop import keras_arrays
    >>> kernel, rec = np.ones((3, 8)), np.ones((2, 8))
    >>> w_ih, w_hh, b_ih, b_hh = keras_arrays("lstm", kernel, rec, np.zeros(8))
    >>> w_ih.shape, w_hh.shape, b_hh.shape
    ((8, 3), (8, 2), (8,))
    """
    if kind not in CELLS:
        raise ValueError(f"kind must be one of {sorted(CELLS)}, got {kind!r}")
    kernel, rec = np.asarray(kernel), np.asarray(recurrent_kernel)
    if kernel.dtype != rec.dtype or kernel.dtype not in (np.float32, np.float64):
        raise TypeError("kernel and recurrent_kernel must both be float32 or both float64, "
                        f"got {kernel.dtype} and {rec.dtype}")
    G = CELLS[kind].gates
    if rec.ndim != 2 or rec.shape[1] != G * rec.shape[0]:
        raise ValueError(f"recurrent_kernel must have shape (H, {G}·H) for a Keras {kind}, "
                         f"got {rec.shape}")
    H = rec.shape[0]
    if kernel.ndim != 2 or kernel.shape[1] != G * H:
        raise ValueError(f"kernel must have shape (I, {G * H}), got {kernel.shape}")
    two = kind == "gru" and reset_after
    b_ih = b_hh = None
    if bias is not None:
        bias = np.asarray(bias)
        want = (2, G * H) if two else (G * H,)
        if bias.shape != want or bias.dtype != kernel.dtype:
            raise ValueError(f"bias must be a {kernel.dtype} array of shape {want} here, got "
                             f"{bias.dtype} {bias.shape}")
        b_ih, b_hh = (bias[0], bias[1]) if two else (bias, np.zeros_like(bias))
    arrays = [kernel.T, rec.T, b_ih, b_hh]
    if kind == "gru":
        # Keras blocks z, r, h -> numbarnn r, z, n; then z -> 1 - z
        perm = np.concatenate([np.arange(H, 2 * H), np.arange(H), np.arange(2 * H, 3 * H)])
        sign = np.ones(3 * H, kernel.dtype)
        sign[H:2 * H] = -1
        arrays = [None if a is None else (a[perm].T * sign).T for a in arrays]
    return tuple(None if a is None else np.ascontiguousarray(a) for a in arrays)


def from_keras_weights(kind, kernel, recurrent_kernel, bias=None, *, reset_after=True,
                       nonlinearity="tanh", batch_first=True):
    """A one-layer numbarnn layer from a Keras layer's ``get_weights()``.

    Keras's recurrent activation must be the logistic sigmoid (the default
    since Keras 2.3; older ``hard_sigmoid`` models compute something else).

    Parameters
    ----------
    kind : {"rnn", "lstm", "gru"}
    kernel, recurrent_kernel, bias
        As for :func:`keras_arrays`.
    reset_after : bool, default True
        The Keras GRU's ``reset_after``.
    nonlinearity : {"tanh", "relu", "sigmoid"}, default "tanh"
        The activation of a ``SimpleRNN``.
    batch_first : bool, default True
        Keras's layout; False for time-major inputs.

    Returns
    -------
    numbarnn.RNN, LSTM or GRU

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.interop import from_keras_weights
    >>> rng = np.random.default_rng(0)
    >>> kernel, rec, bias = rng.normal(size=(3, 12)), rng.normal(size=(4, 12)), np.zeros((2, 12))
    >>> gru = from_keras_weights("gru", kernel, rec, bias)
    >>> gru.reset_after, gru.forward(rng.normal(size=(2, 5, 3)))[0].shape
    (True, (2, 5, 4))
    """
    w_ih, w_hh, b_ih, b_hh = keras_arrays(kind, kernel, recurrent_kernel, bias,
                                          reset_after=reset_after)
    I, H = w_ih.shape[1], w_hh.shape[1]
    kw = dict(bias=b_ih is not None, batch_first=batch_first,
              dtype=as_float_dtype(w_ih.dtype))
    if kind == "rnn":
        layer = RNN(I, H, nonlinearity=nonlinearity, **kw)
    elif kind == "lstm":
        layer = LSTM(I, H, **kw)
    else:
        layer = GRU(I, H, reset_after=reset_after, **kw)
    state = {"weight_ih_l0": w_ih, "weight_hh_l0": w_hh}
    if b_ih is not None:
        state.update(bias_ih_l0=b_ih, bias_hh_l0=b_hh)
    layer.load_state_dict(state)
    return layer
