"""Sequence models with likelihoods on one scale: Markov chains and AR/VAR.

Every model has ``fit`` (returning self), fitted attributes ending in
``_``, and ``log_likelihood(data)`` in natural log, summed, so models can
be compared on the same data (docs/math.md, Conventions).

Examples
--------
>>> from numbarnn.models import AutoRegressive, MarkovChain
>>> MarkovChain(order=1).fit([0, 1, 0, 1]).transition_.shape
(2, 2)
"""
from .autoregressive import AutoRegressive
from ._sequences import SparseTransitions
from .latent import LatentAR
from .markov import MarkovChain

__all__ = ["AutoRegressive", "LatentAR", "MarkovChain", "SparseTransitions"]
