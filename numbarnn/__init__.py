"""numbarnn: fast, exact sequence models for time series, on Numba.

The functional API (``numbarnn.functional``) runs Elman RNN, LSTM and GRU
layers over whole sequences with exact backpropagation through time.

Examples
--------
>>> import numbarnn
>>> from numbarnn import functional
>>> callable(functional.lstm_forward)
True
"""
__version__ = "0.1.0"

from . import functional  # noqa: E402,F401

__all__ = ["functional", "__version__"]
