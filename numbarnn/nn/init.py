"""Parameter initialisers for layers and cells, applied in place.

Each function takes a module (layer or cell) and overwrites the matching
parameters in place, so references held elsewhere stay valid. Random ones
take ``seed`` (an int, a ``numpy.random.Generator`` or None) and draw the
parameters in their order in ``module.params``, so a seed gives the same
weights every time.

Layers and cells pick a scheme with their ``init`` argument: ``"pytorch"``
(the default, :func:`pytorch_`), ``"keras"`` (:func:`keras_`) or a callable
``init(module, rng)``.
"""
import numpy as np


def _is(name, prefix):
    return name == prefix or name.startswith(prefix + "_")


def uniform_(module, bound=None, seed=None):
    """Every parameter ~ U(−bound, bound); bound defaults to 1/√hidden_size.

    With the default bound this is PyTorch's initialisation of
    ``nn.RNN``/``nn.LSTM``/``nn.GRU`` and their cells.

    Examples
    --------
    >>> import numpy as np, numbarnn
    >>> from numbarnn.nn import init
    >>> layer = numbarnn.LSTM(3, 4, seed=0)
    >>> init.uniform_(layer, seed=1)
    >>> bool(max(np.abs(p).max() for p in layer.parameters()) <= 0.5)
    True
    """
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(module.hidden_size) if bound is None else float(bound)
    for p in module.parameters():
        p[...] = rng.uniform(-bound, bound, p.shape)


def orthogonal_recurrent_(module, gain=1.0, seed=None):
    """Each gate block (H, H) of every ``weight_hh`` an orthogonal matrix × gain.

    Per block rather than per matrix so every gate's recurrent map is
    norm-preserving on its own. With an LSTM projection the blocks are
    (H, P), P < H: they get orthonormal columns.

    Examples
    --------
    >>> import numpy as np, numbarnn
    >>> from numbarnn.nn import init
    >>> layer = numbarnn.GRU(3, 4, seed=0)
    >>> init.orthogonal_recurrent_(layer, seed=0)
    >>> w = layer.params["weight_hh_l0"][4:8]     # the z block
    >>> bool(np.allclose(w @ w.T, np.eye(4)))
    True
    """
    rng = np.random.default_rng(seed)
    H = module.hidden_size
    for name, p in module.params.items():
        if not _is(name, "weight_hh"):
            continue
        for j in range(p.shape[0] // H):
            q, r = np.linalg.qr(rng.standard_normal((H, p.shape[1])))
            # the sign fix makes q uniform over the orthogonal group (as torch)
            p[j * H:(j + 1) * H] = gain * q * np.sign(np.diag(r))


def glorot_uniform_input_(module, seed=None):
    """Every ``weight_ih`` ~ U(±√(6 / (fan_in + fan_out))), Keras's default.

    fan_in is the input size and fan_out the stacked gate rows (G·H), as
    Keras computes it on its (I, G·H) kernel.

    Examples
    --------
    >>> import numpy as np, numbarnn
    >>> from numbarnn.nn import init
    >>> layer = numbarnn.LSTM(4, 3, seed=0)
    >>> init.glorot_uniform_input_(layer, seed=0)
    >>> bool(np.abs(layer.params["weight_ih_l0"]).max() <= np.sqrt(6 / (4 + 12)))
    True
    """
    rng = np.random.default_rng(seed)
    for name, p in module.params.items():
        if _is(name, "weight_ih"):
            bound = np.sqrt(6.0 / (p.shape[0] + p.shape[1]))
            p[...] = rng.uniform(-bound, bound, p.shape)


def zeros_bias_(module):
    """Every bias set to zero.

    Examples
    --------
    >>> import numbarnn
    >>> from numbarnn.nn import init
    >>> layer = numbarnn.RNN(2, 3, seed=0)
    >>> init.zeros_bias_(layer)
    >>> float(abs(layer.params["bias_ih_l0"]).sum())
    0.0
    """
    for name, p in module.params.items():
        if _is(name, "bias_ih") or _is(name, "bias_hh"):
            p.fill(0)


def unit_forget_bias_(module):
    """LSTM: forget-gate bias 1 (``bias_ih`` rows H:2H = 1, ``bias_hh`` rows = 0).

    The gate sees b_ih + b_hh, so the pair sums to exactly 1 (Keras's
    ``unit_forget_bias``); the other gates' biases are left alone.

    Raises
    ------
    ValueError
        For a module that is not an LSTM, or one without biases.

    Examples
    --------
    >>> import numbarnn
    >>> from numbarnn.nn import init
    >>> layer = numbarnn.LSTM(2, 3, seed=0)
    >>> init.unit_forget_bias_(layer)
    >>> (layer.params["bias_ih_l0"] + layer.params["bias_hh_l0"])[3:6].tolist()
    [1.0, 1.0, 1.0]
    """
    if "f" not in getattr(getattr(module, "cell", None), "gate_names", ()):
        raise ValueError(f"unit_forget_bias_ needs an LSTM, got a {type(module).__name__}")
    if not module.bias:
        raise ValueError("unit_forget_bias_ needs a module built with bias=True")
    H = module.hidden_size
    for name, p in module.params.items():
        if _is(name, "bias_ih"):
            p[H:2 * H] = 1.0
        elif _is(name, "bias_hh"):
            p[H:2 * H] = 0.0


def pytorch_(module, seed=None):
    """PyTorch's default: every parameter ~ U(±1/√H) (same as :func:`uniform_`).

    Examples
    --------
    >>> import numbarnn
    >>> from numbarnn.nn import init
    >>> a, b = numbarnn.GRU(2, 3, seed=0), numbarnn.GRU(2, 3, seed=1)
    >>> init.pytorch_(a, seed=5); init.pytorch_(b, seed=5)
    >>> bool((a.params["weight_ih_l0"] == b.params["weight_ih_l0"]).all())
    True
    """
    uniform_(module, seed=seed)


def keras_(module, seed=None):
    """Keras's defaults: Glorot-uniform input weights, orthogonal recurrent
    weights (per gate block), zero biases, and a unit forget bias for LSTM.

    Keras has no LSTM projection; a ``weight_hr`` (P, H) gets the Glorot
    uniform bound of a Keras ``Dense`` layer from H to P, √(6 / (H + P)).

    Examples
    --------
    >>> import numbarnn
    >>> from numbarnn.nn import init
    >>> layer = numbarnn.LSTM(2, 3, init="keras", seed=0)
    >>> layer.params["bias_ih_l0"].tolist()[:6]
    [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    """
    rng = np.random.default_rng(seed)
    glorot_uniform_input_(module, seed=rng)
    orthogonal_recurrent_(module, seed=rng)
    for name, p in module.params.items():
        if _is(name, "weight_hr"):
            bound = np.sqrt(6.0 / (p.shape[0] + p.shape[1]))
            p[...] = rng.uniform(-bound, bound, p.shape)
    zeros_bias_(module)
    if "f" in module.cell.gate_names and module.bias:
        unit_forget_bias_(module)


INITIALIZERS = {"pytorch": pytorch_, "keras": keras_}


def apply(module, init, rng):
    """Initialise ``module`` with a scheme name or a callable ``init(module, rng)``."""
    if callable(init):
        init(module, rng)
    elif init in INITIALIZERS:
        INITIALIZERS[init](module, seed=rng)
    else:
        raise ValueError(f"init must be one of {sorted(INITIALIZERS)} or a callable "
                         f"init(module, rng), got {init!r}")
