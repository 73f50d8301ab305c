"""Small helpers shared by the reference cells (not part of the oracle's math)."""
import numpy as np
from scipy.special import expit as sigmoid  # logistic without overflow warnings

__all__ = ["sigmoid", "f64", "state_or_zeros", "bias_or_zeros", "grads_or_zeros"]


def f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def state_or_zeros(s, B, H):
    return np.zeros((B, H)) if s is None else f64(s).copy()


def bias_or_zeros(b, rows):
    return np.zeros(rows) if b is None else f64(b)


def grads_or_zeros(g, shape):
    return np.zeros(shape) if g is None else f64(g)
