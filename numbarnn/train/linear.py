"""A linear readout layer, ``y = x W^T + b``, over the last axis."""
import math

import numpy as np

__all__ = ["Linear"]


class Linear:
    """Affine map of the last axis, the usual readout on top of a recurrent layer.

    Follows the module protocol of the training kit: ``params`` and
    ``grads`` (dicts keyed ``"weight"``, ``"bias"``), ``forward`` saving what
    ``backward`` needs, ``backward`` *accumulating* into ``grads`` until
    :meth:`zero_grad`.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool, default True
    dtype : {numpy.float64, numpy.float32}
    seed : int or numpy.random.Generator, optional
        Initialisation is PyTorch's default for ``nn.Linear``: weight and bias
        drawn from U(-1/√in, 1/√in).

    Attributes
    ----------
    params : dict
        ``weight`` (out_features, in_features) and ``bias`` (out_features,).
    grads : dict
        Same keys and shapes.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.train import Linear
    >>> lin = Linear(4, 2, seed=0)
    >>> h = np.ones((10, 3, 4))                     # (T, B, H) from a recurrent layer
    >>> y = lin.forward(h)
    >>> dh = lin.backward(np.ones_like(y))
    >>> y.shape, dh.shape, lin.grads["bias"].tolist()
    ((10, 3, 2), (10, 3, 4), [30.0, 30.0])
    """

    def __init__(self, in_features, out_features, bias=True, *, dtype=np.float64, seed=None):
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        for name, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"{name} must be a positive int, got {n!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        rng = np.random.default_rng(seed)
        # PyTorch: kaiming_uniform_(a=√5) on the weight reduces to U(±1/√fan_in),
        # and the bias uses the same bound.
        bound = 1.0 / math.sqrt(self.in_features)
        self.params = {"weight": rng.uniform(-bound, bound, (self.out_features,
                                                             self.in_features)).astype(dtype)}
        if bias:
            self.params["bias"] = rng.uniform(-bound, bound, self.out_features).astype(dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._x = None

    @property
    def dtype(self):
        return self.params["weight"].dtype

    def forward(self, x):
        """Apply the layer to ``x`` of shape (..., in_features).

        Parameters
        ----------
        x : ndarray, shape (..., in_features)

        Returns
        -------
        ndarray, shape (..., out_features)

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn.train import Linear
        >>> Linear(3, 1, seed=0).forward(np.zeros((5, 3))).shape
        (5, 1)
        """
        x = np.asarray(x)
        if x.dtype != self.dtype:
            raise TypeError(f"x has dtype {x.dtype} but the layer has dtype {self.dtype}")
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape (..., {self.in_features}), got {x.shape}")
        self._x = x
        y = x @ self.params["weight"].T
        if "bias" in self.params:
            y += self.params["bias"]
        return y

    __call__ = forward

    def backward(self, dy):
        """Accumulate the parameter gradients; return d loss / d x.

        Parameters
        ----------
        dy : ndarray, shape (..., out_features)
            Gradient with respect to the output of the last :meth:`forward`.

        Returns
        -------
        ndarray, shape (..., in_features)

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn.train import Linear
        >>> lin = Linear(3, 1, seed=0)
        >>> _ = lin.forward(np.ones((2, 3)))
        >>> lin.backward(np.ones((2, 1))).shape, lin.grads["weight"].tolist()
        ((2, 3), [[2.0, 2.0, 2.0]])
        """
        if self._x is None:
            raise RuntimeError("backward called before forward")
        x = self._x
        dy = np.asarray(dy)
        if dy.dtype != self.dtype:
            raise TypeError(f"dy has dtype {dy.dtype} but the layer has dtype {self.dtype}")
        if dy.shape != x.shape[:-1] + (self.out_features,):
            raise ValueError(f"dy must have shape {x.shape[:-1] + (self.out_features,)}, "
                             f"got {dy.shape}")
        x2 = x.reshape(-1, self.in_features)
        dy2 = dy.reshape(-1, self.out_features)
        self.grads["weight"] += dy2.T @ x2
        if "bias" in self.grads:
            self.grads["bias"] += dy2.sum(axis=0)
        return dy @ self.params["weight"]

    def zero_grad(self):
        """Set every gradient to zero (they accumulate across backward calls).

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn.train import Linear
        >>> lin = Linear(2, 1, seed=0)
        >>> lin.grads["weight"] += 1.0
        >>> lin.zero_grad(); lin.grads["weight"].tolist()
        [[0.0, 0.0]]
        """
        for g in self.grads.values():
            g[...] = 0

    def __repr__(self):
        return (f"Linear(in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={'bias' in self.params}, dtype={self.dtype.name})")
