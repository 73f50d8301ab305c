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
from .functional.schedule import get_num_threads, set_num_threads  # noqa: E402

__all__ = ["functional", "get_num_threads", "set_num_threads", "__version__"]

from .nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell  # noqa: E402

__all__ += ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"]

from . import datasets  # noqa: E402
from .models import AutoRegressive, MarkovChain  # noqa: E402

__all__ += ["AutoRegressive", "MarkovChain", "datasets"]

from .models import LatentAR  # noqa: E402

__all__ += ["LatentAR"]

from . import diagnostics  # noqa: E402

__all__ += ["diagnostics"]
