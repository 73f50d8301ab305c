"""A linear readout layer, ``y = x W^T + b``, over the last axis."""
import math

import numpy as np

from ._saving import Saveable

__all__ = ["Linear"]


class Linear(Saveable):
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

    It saves and loads like a layer (:func:`numbarnn.nn.save`, :meth:`save`,
    :meth:`load`), through :meth:`get_config` and :meth:`state_dict`:

    >>> import os, tempfile, numbarnn
    >>> path = os.path.join(tempfile.mkdtemp(), "readout.npz")
    >>> numbarnn.nn.save(lin, path)
    >>> bool(np.array_equal(numbarnn.nn.load(path).params["weight"], lin.params["weight"]))
    True
    """

    def __init__(self, in_features, out_features, bias=True, *, dtype=np.float64, seed=None):
        given = dtype
        try:
            # None is refused rather than read as numpy's float64 default
            dtype = np.dtype(dtype) if dtype is not None else None
        except TypeError:
            dtype = None
        if dtype is None or dtype.name not in ("float32", "float64"):
            raise TypeError(f"dtype must be float32 or float64, got {given!r}")
        dtype = np.dtype(dtype.name)  # native byte order
        for name, n in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
                raise TypeError(f"{name} must be an int, got {type(n).__name__} {n!r}")
            if n < 1:
                raise ValueError(f"{name} must be a positive int, got {n!r}")
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be a bool, got {type(bias).__name__} {bias!r}")
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

    def get_config(self):
        """The constructor arguments, as saved with the layer.

        ``seed`` is not among them: the saved weights replace the
        initialisation.

        Returns
        -------
        dict

        Examples
        --------
        >>> from numbarnn.train import Linear
        >>> Linear(3, 2, bias=False, seed=0).get_config()
        {'in_features': 3, 'out_features': 2, 'bias': False, 'dtype': 'float64'}
        """
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": "bias" in self.params, "dtype": self.dtype.name}

    def state_dict(self):
        """A copy of every parameter, keyed ``"weight"`` (and ``"bias"``).

        Returns
        -------
        dict of str to ndarray

        Examples
        --------
        >>> from numbarnn.train import Linear
        >>> {k: v.shape for k, v in Linear(3, 2, seed=0).state_dict().items()}
        {'weight': (2, 3), 'bias': (2,)}
        """
        return {k: v.copy() for k, v in self.params.items()}

    def load_state_dict(self, state_dict):
        """Copy parameters in from ``state_dict`` (all or nothing).

        Every name, shape and dtype is checked before anything is copied;
        arrays are copied into the existing parameters, so optimizers that
        hold them stay valid.

        Parameters
        ----------
        state_dict : mapping of str to ndarray
            Exactly the keys of ``params``, with their shapes and dtype.

        Raises
        ------
        ValueError
            Missing or unexpected keys, or a shape that does not fit.
        TypeError
            A dtype other than the layer's (nothing is cast silently).

        Examples
        --------
        >>> from numbarnn.train import Linear
        >>> a, b = Linear(3, 2, seed=0), Linear(3, 2, seed=1)
        >>> b.load_state_dict(a.state_dict())
        >>> bool((a.params["weight"] == b.params["weight"]).all())
        True
        """
        keys, want = set(state_dict), set(self.params)
        if keys != want:
            raise ValueError(f"state_dict must have the keys {sorted(want)}, got "
                             f"{sorted(keys)}")
        arrays = {}
        for k, p in self.params.items():
            a = state_dict[k]
            if not isinstance(a, np.ndarray):
                raise TypeError(f"state_dict[{k!r}] must be a numpy array, got "
                                f"{type(a).__name__}")
            if a.dtype != p.dtype:
                raise TypeError(f"state_dict[{k!r}] has dtype {a.dtype}, the layer "
                                f"{p.dtype}")
            if a.shape != p.shape:
                raise ValueError(f"state_dict[{k!r}] must have shape {p.shape}, got {a.shape}")
            arrays[k] = a
        for k, a in arrays.items():
            self.params[k][...] = a

    def __repr__(self):
        return (f"Linear(in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={'bias' in self.params}, dtype={self.dtype.name})")
