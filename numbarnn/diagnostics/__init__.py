"""Diagnostics for recurrent networks: gradient flow and gradient checks.

:func:`gradient_flow` measures how the gradient of a loss, and the
Jacobian ∂s_T/∂s_t of the state, shrink or grow with the distance T − t
(vanishing and exploding gradients). :func:`check_gradients` compares the
analytic BPTT gradients of a layer or a model with float64 central finite
differences.

Examples
--------
>>> import numpy as np, numbarnn
>>> from numbarnn.diagnostics import check_gradients, gradient_flow
>>> layer = numbarnn.GRU(2, 3, seed=0)
>>> x = np.random.default_rng(0).standard_normal((6, 1, 2))
>>> check_gradients(layer, x).max_rel_error < 1e-6
True
>>> gradient_flow(layer, x).grad_norm.shape
(6,)
"""
from .flow import GradientFlow, gradient_flow
from .gradcheck import GradCheckResult, check_gradients

__all__ = ["GradCheckResult", "GradientFlow", "check_gradients", "gradient_flow"]
