"""The parameter-holding base class shared by layers and cells.

A :class:`Module` owns its parameters as plain numpy arrays in an ordered
dict ``params`` and their gradients in a matching dict ``grads``. Arrays are
updated *in place* (``load_state_dict``, initialisers, optimizers), so a
reference taken with :meth:`Module.parameters` stays valid for the life of
the module.
"""
import numpy as np

from . import serialize

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_dtype(dtype):
    """``dtype`` as a numpy float32/float64 dtype, or a TypeError."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}")
    return dt


class Module:
    """Base class: named parameters, gradients, train/eval mode, persistence.

    Subclasses call :meth:`_add_param` in their constructor and record their
    constructor arguments in ``self._config`` (what :meth:`save` writes and
    :meth:`load` uses to rebuild the module).

    Attributes
    ----------
    params : dict of str to ndarray
        The parameters, in PyTorch's order and with PyTorch's names.
    grads : dict of str to ndarray
        Gradients accumulated by ``backward`` until :meth:`zero_grad`.
    training : bool
        True after construction and :meth:`train`, False after :meth:`eval`.

    Examples
    --------
    >>> import numbarnn
    >>> layer = numbarnn.GRU(3, 4, seed=0)
    >>> [name for name, _ in layer.named_parameters()]
    ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']
    >>> layer.eval().training
    False
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # load() rebuilds a module from the class name written in the file.
        serialize.register(cls)

    def __init__(self, dtype):
        self.dtype = as_float_dtype(dtype)
        self.params = {}
        self.grads = {}
        self.training = True
        self._config = {}

    def _add_param(self, name, shape):
        self.params[name] = np.zeros(shape, self.dtype)
        self.grads[name] = np.zeros(shape, self.dtype)

    # -- parameters ---------------------------------------------------------
    def parameters(self):
        """The parameter arrays, in order (live references, not copies).

        Returns
        -------
        list of ndarray

        Examples
        --------
        >>> import numbarnn
        >>> sum(p.size for p in numbarnn.LSTM(2, 3, seed=0).parameters())
        84
        """
        return list(self.params.values())

    def named_parameters(self):
        """``(name, array)`` pairs, in order (live references).

        Returns
        -------
        list of (str, ndarray)

        Examples
        --------
        >>> import numbarnn
        >>> [(n, p.shape) for n, p in numbarnn.RNN(2, 3, bias=False, seed=0).named_parameters()]
        [('weight_ih_l0', (3, 2)), ('weight_hh_l0', (3, 3))]
        """
        return list(self.params.items())

    def zero_grad(self):
        """Set every gradient to zero (in place).

        Examples
        --------
        >>> import numpy as np, numbarnn
        >>> layer = numbarnn.RNN(2, 3, seed=0)
        >>> y, h = layer.forward(np.ones((4, 1, 2)))
        >>> _ = layer.backward(np.ones_like(y))
        >>> layer.zero_grad()
        >>> all(not g.any() for g in layer.grads.values())
        True
        """
        for g in self.grads.values():
            g.fill(0)

    def train(self, mode=True):
        """Switch training mode on (or off with ``mode=False``); return self.

        In training mode forward passes keep what ``backward`` needs and
        dropout is applied.

        Examples
        --------
        >>> import numbarnn
        >>> numbarnn.LSTM(2, 3, seed=0).eval().train().training
        True
        """
        self.training = bool(mode)
        return self

    def eval(self):
        """Switch to evaluation mode (no caches, no dropout); return self.

        Examples
        --------
        >>> import numbarnn
        >>> numbarnn.LSTM(2, 3, seed=0).eval().training
        False
        """
        return self.train(False)

    # -- persistence --------------------------------------------------------
    def get_config(self):
        """The constructor arguments, as a JSON-compatible dict.

        Examples
        --------
        >>> import numbarnn
        >>> numbarnn.GRU(2, 3, reset_after=True, seed=0).get_config()["reset_after"]
        True
        """
        return dict(self._config)

    def state_dict(self):
        """A copy of every parameter, keyed by name, in order.

        Returns
        -------
        dict of str to ndarray

        Examples
        --------
        >>> import numbarnn
        >>> list(numbarnn.RNN(2, 3, seed=0).state_dict())
        ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']
        """
        return {name: p.copy() for name, p in self.params.items()}

    def load_state_dict(self, state_dict):
        """Copy parameters in from ``state_dict`` (all or nothing).

        Every name, shape and dtype is checked before anything is copied,
        so a failed load leaves the module unchanged. Arrays are copied into
        the existing parameters, so references held elsewhere stay valid.

        Parameters
        ----------
        state_dict : mapping of str to array_like
            Exactly the names of ``params``, with the same shapes and dtype.

        Raises
        ------
        ValueError
            Missing or unexpected names, or a shape that does not fit.
        TypeError
            A dtype other than the module's (numbarnn never casts silently).

        Examples
        --------
        >>> import numbarnn
        >>> a, b = numbarnn.LSTM(2, 3, seed=0), numbarnn.LSTM(2, 3, seed=1)
        >>> b.load_state_dict(a.state_dict())
        >>> bool((a.params["weight_hh_l0"] == b.params["weight_hh_l0"]).all())
        True
        """
        missing = [n for n in self.params if n not in state_dict]
        unexpected = [n for n in state_dict if n not in self.params]
        if missing or unexpected:
            raise ValueError(f"state_dict does not fit this {type(self).__name__}: "
                             f"missing {missing}, unexpected {unexpected}")
        arrays = {}
        for name, p in self.params.items():
            a = np.asarray(state_dict[name])
            if a.shape != p.shape:
                raise ValueError(f"state_dict[{name!r}] has shape {a.shape}, "
                                 f"expected {p.shape}")
            if a.dtype != p.dtype:
                raise TypeError(f"state_dict[{name!r}] has dtype {a.dtype}, expected "
                                f"{p.dtype}: convert it first (numbarnn never casts silently)")
            arrays[name] = a
        for name, a in arrays.items():
            np.copyto(self.params[name], a)

    def save(self, path):
        """Write the module to ``path`` (``.npz``), atomically.

        See :func:`numbarnn.nn.save` for the format.

        Examples
        --------
        >>> import os, tempfile, numbarnn
        >>> path = os.path.join(tempfile.mkdtemp(), "gru.npz")
        >>> numbarnn.GRU(2, 3, seed=0).save(path)
        >>> type(numbarnn.GRU.load(path)).__name__
        'GRU'
        """
        serialize.save(self, path)

    @classmethod
    def load(cls, path):
        """Read a module written by :meth:`save`; it must be of this class.

        Raises
        ------
        ValueError
            A truncated, corrupt or foreign file, or one holding another class.

        Examples
        --------
        >>> import os, tempfile, numbarnn
        >>> path = os.path.join(tempfile.mkdtemp(), "lstm.npz")
        >>> numbarnn.LSTM(2, 3, num_layers=2, seed=0).save(path)
        >>> numbarnn.LSTM.load(path).num_layers
        2
        """
        return serialize.load(path, expected=cls)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._config.items())
        return f"{type(self).__name__}({args})"
