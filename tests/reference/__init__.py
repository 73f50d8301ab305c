"""Plain-numpy oracle for numbarnn: docs/math.md transcribed line by line.

One module per model (``rnn``, ``lstm``, ``gru``), each with ``forward`` over
a whole time-major sequence and a step-by-step ``backward`` (BPTT) written
from the equations, independent of any optimised code. Everything is
computed in float64 whatever the input dtype, so the oracle is more
accurate than the float32 kernels it checks.
"""
from . import gru, lstm, rnn

__all__ = ["gru", "lstm", "rnn"]
