"""numbarnn: fast, exact sequence models for time series, on Numba.

- ``numbarnn.functional``: Elman RNN, LSTM and GRU over whole sequences with
  exact backpropagation through time (CPU kernels; GPU arrays run on CUDA).
- ``RNN``, ``LSTM``, ``GRU`` and their cells: PyTorch-like layers.
- ``numbarnn.train``: losses, optimizers, truncated BPTT, ``fit``.
- ``save(obj, path)`` / ``load(path)``: any layer, cell or model, to and
  from one verified ``.npz`` file; ``load`` returns whatever was saved.
- ``MarkovChain``, ``AutoRegressive``, ``LatentAR``: models whose
  ``log_likelihood`` share one scale; ``numbarnn.datasets``,
  ``numbarnn.diagnostics``.

Everything but the functional API is imported on first use, so that
``import numbarnn`` stays cheap.

Examples
--------
>>> import numbarnn
>>> from numbarnn import functional
>>> callable(functional.lstm_forward), numbarnn.LSTM.__name__
(True, 'LSTM')
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "gru.npz")
>>> numbarnn.save(numbarnn.GRU(2, 3, seed=0), path)
>>> type(numbarnn.load(path)).__name__
'GRU'
"""
import importlib

__version__ = "0.1.0"

from . import functional  # noqa: E402,F401
from .functional.schedule import get_num_threads, set_num_threads  # noqa: E402

# name -> module that defines it (submodules map to themselves)
_LAZY = {
    "RNN": "numbarnn.nn", "LSTM": "numbarnn.nn", "GRU": "numbarnn.nn",
    "RNNCell": "numbarnn.nn", "LSTMCell": "numbarnn.nn", "GRUCell": "numbarnn.nn",
    "MarkovChain": "numbarnn.models", "AutoRegressive": "numbarnn.models",
    "LatentAR": "numbarnn.models",
    "save": "numbarnn.nn.serialize", "load": "numbarnn.nn.serialize",
    "nn": None, "train": None, "models": None, "datasets": None, "diagnostics": None,
    "interop": None, "parallel": None,
}

__all__ = ["functional", "get_num_threads", "set_num_threads", "__version__", *_LAZY]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'numbarnn' has no attribute {name!r}")
    module = _LAZY[name]
    value = (importlib.import_module(f"numbarnn.{name}") if module is None
             else getattr(importlib.import_module(module), name))
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
