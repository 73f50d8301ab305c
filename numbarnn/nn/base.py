"""The parameter-holding base class shared by layers and cells.

A :class:`Module` owns its parameters as plain numpy arrays in an ordered
dict ``params`` and their gradients in a matching dict ``grads``. Arrays are
updated *in place* (``load_state_dict``, initialisers, optimizers), so a
reference taken with :meth:`Module.parameters` stays valid for the life of
the module, until :meth:`Module.to` moves it to the GPU (numba device
arrays) or back.
"""
import numbers
import threading

import numpy as np

from ..functional.cells import CELLS
from ..functional.checks import check_bool, is_device_array  # check_bool: layers import it here
from . import serialize

DEVICES = ("cpu", "cuda")

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_dtype(dtype):
    """``dtype`` as a numpy float32/float64 dtype, or a TypeError.

    Examples
    --------
    >>> from numbarnn.nn.base import as_float_dtype
    >>> as_float_dtype("float32")
    dtype('float32')
    >>> as_float_dtype("floaty")
    Traceback (most recent call last):
    TypeError: dtype must be float32 or float64, got 'floaty'
    """
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        dt = None
    # ``dt in FLOAT_DTYPES`` would compare with ==, and numpy 2 finds
    # np.dtype("f8") == None true: a failed parse must not match anything
    if dtype is None or dt is None or not any(dt == f for f in FLOAT_DTYPES):
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}")
    return dt


def _positive_int(name, v, minimum=1):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _split_seed(seed):
    """Two independent generators (initialisation, dropout) from one seed."""
    if seed is not None and not isinstance(seed, (numbers.Integral, np.random.Generator)):
        raise TypeError(f"seed must be None, an int or a numpy Generator, got {seed!r}")
    init_rng, dropout_rng = np.random.default_rng(seed).spawn(2)
    return init_rng, dropout_rng


class CellKind:
    """What a recurrent layer or cell knows about the cell it runs.

    ``kind`` ("rnn", "lstm" or "gru") names the cell; :attr:`cell` is its
    description in ``functional/cells.py`` (gate and state names, passes,
    state packing) and :attr:`gate_count` its G.

    Examples
    --------
    >>> import numbarnn
    >>> lstm = numbarnn.LSTMCell(2, 3, seed=0)
    >>> lstm.cell.gate_names, lstm.gate_count
    (('i', 'f', 'g', 'o'), 4)
    """

    kind = None

    @property
    def cell(self):
        """The :class:`~numbarnn.functional.cells.Cell` this module runs."""
        return CELLS[self.kind]

    @property
    def gate_count(self):
        """G: the weights are (G·H, ·)."""
        return CELLS[self.kind].gates


class Module:
    """Base class: named parameters, gradients, train/eval mode, persistence.

    Subclasses call :meth:`_add_param` in their constructor and record their
    constructor arguments in ``self._config`` (what :meth:`save` writes and
    :meth:`load` uses to rebuild the module).

    Threads: one module may be shared by several threads, in training mode
    too. What a forward pass keeps for ``backward`` belongs to the thread
    that ran it, so each thread's ``backward`` answers for its own
    ``forward``, exactly as if the threads had run one after another, and
    their gradients add up in ``grads`` (as in PyTorch). Keep the updates
    (optimizer steps, :meth:`zero_grad`, :meth:`load_state_dict`, :meth:`to`)
    out of the threads' forward/backward windows: a parameter changed in the
    middle of another thread's pass changes that pass, as it would in
    PyTorch.

    Attributes
    ----------
    params : dict of str to ndarray
        The parameters, in PyTorch's order and with PyTorch's names.
    grads : dict of str to ndarray
        Gradients accumulated by ``backward`` until :meth:`zero_grad`.
    training : bool
        True after construction and :meth:`train`, False after :meth:`eval`.
    device : {"cpu", "cuda"}
        Where the parameters live; see :meth:`to`.

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
        self._device = "cpu"
        self._init_thread_state()

    @classmethod
    def _declared_params(cls, config):
        """``({name: shape}, dtype)`` of the parameters ``cls(**config)`` would
        hold, validating ``config`` as the constructor does but allocating
        nothing: :func:`numbarnn.nn.load` checks a file's arrays against it
        before reading them."""
        obj = cls.__new__(cls)
        obj._dry_run = {}
        cls.__init__(obj, **config)
        return obj._dry_run, obj.dtype

    # -- threads --------------------------------------------------------------
    def _init_thread_state(self):
        # What a forward pass keeps for backward lives in thread-local
        # storage, so threads sharing one module each backpropagate their own
        # forward pass; the lock makes the accumulation into ``grads`` atomic.
        self._local = threading.local()
        self._grad_lock = threading.Lock()

    def __getstate__(self):
        # copies and pickles start with no pending forward passes
        state = self.__dict__.copy()
        state.pop("_local", None)
        state.pop("_grad_lock", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._init_thread_state()

    def _add_param(self, name, shape):
        dry = getattr(self, "_dry_run", None)
        if dry is not None:  # _declared_params: record the shape, allocate nothing
            dry[name] = tuple(int(n) for n in shape)
            return
        self.params[name] = np.zeros(shape, self.dtype)
        self.grads[name] = np.zeros(shape, self.dtype)

    # -- device -------------------------------------------------------------
    @property
    def device(self):
        """Where the parameters live: ``"cpu"`` (numpy) or ``"cuda"`` (numba device arrays)."""
        return self._device

    def to(self, device):
        """Move the parameters and gradients to ``device``; return self.

        On ``"cuda"`` every parameter and gradient is a numba device array
        (``numba.cuda.to_device`` of the host array), ``forward`` and
        ``backward`` take and return device arrays and gradients accumulate
        on the GPU; ``"cpu"`` copies everything back into numpy arrays.
        Values are copied bit for bit both ways. Moving to the device the
        module is already on does nothing. The ``params`` and ``grads``
        dicts stay the same objects, but their arrays are new: take
        references (:meth:`parameters`, an optimizer's) after moving. Caches
        of forward passes not yet backpropagated are dropped.

        On the GPU, layers support stacking, bidirection, ``batch_first``
        and dropout (masks are drawn on the host from ``dropout_rng``, so a
        seeded layer drops the same units on either device). CPU-only, and
        a ``NotImplementedError`` on the GPU: ``lengths`` (ragged batches),
        ``return_gates`` and an LSTM's ``proj_size``.

        Parameters
        ----------
        device : {"cpu", "cuda"}

        Returns
        -------
        Module
            ``self``, as in PyTorch, so that ``layer = numbarnn.LSTM(...).to("cuda")``.

        Raises
        ------
        ValueError
            ``device`` is not ``"cpu"`` or ``"cuda"``.
        RuntimeError
            ``"cuda"`` without a CUDA GPU (and without numba's simulator,
            ``NUMBA_ENABLE_CUDASIM=1``).
        NotImplementedError
            ``"cuda"`` for an LSTM with ``proj_size`` (the projection runs on
            the CPU only).

        Examples
        --------
        >>> import numpy as np, numbarnn
        >>> gru = numbarnn.GRU(3, 4, seed=0)
        >>> gru.to("cpu") is gru, gru.device
        (True, 'cpu')
        >>> gru = gru.to("cuda")  # doctest: +SKIP
        >>> from numba import cuda  # doctest: +SKIP
        >>> y, h_n = gru.forward(cuda.to_device(np.ones((5, 2, 3))))  # doctest: +SKIP
        >>> y.copy_to_host().shape  # doctest: +SKIP
        (5, 2, 4)
        """
        if not isinstance(device, str) or device not in DEVICES:
            raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
        if device == self._device:
            return self
        if device == "cuda":
            self._check_movable()
            from ..functional.device import cuda_modules

            cuda_modules()  # the clear RuntimeError when there is no GPU
            from . import _device

            move = _device.to_device
        else:
            move = _to_host
        # into the same dicts: references to params/grads themselves stay valid
        for d in (self.params, self.grads):
            for name, a in d.items():
                d[name] = move(a)
        self._device = device
        self._drop_caches()
        return self

    def _check_movable(self):
        """Raise NotImplementedError when the module cannot run on the GPU."""

    def _drop_caches(self):
        """Forget forward passes kept for backward, in every thread (their
        arrays are on the old device)."""
        self._local = threading.local()

    def _placed(self, name, a):
        """``a`` on the module's side: a numpy array on the CPU, a numba device
        array on the GPU; a TypeError for an array on the other side."""
        on_gpu = is_device_array(a)
        cls = type(self).__name__
        if self._device == "cuda":
            if not on_gpu:
                raise TypeError(f"{name} is a host array ({type(a).__name__}) but the {cls} "
                                "is on the GPU: pass device arrays (numba.cuda.to_device(...)) "
                                "or move the module back with .to('cpu')")
            from . import _device

            return _device.as_numba(a)
        if on_gpu:
            raise TypeError(f"{name} is a GPU array ({type(a).__name__}) but the {cls} is on "
                            "the CPU: move the module with .to('cuda') or copy the array to "
                            "the host (.copy_to_host())")
        return np.asarray(a)

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
        if self._device == "cuda":
            from . import _device

            for g in self.grads.values():
                _device.fill_zero(g)
            return
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
        self.training = check_bool("mode", mode)
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

        Always numpy arrays: a module on the GPU copies its parameters to
        the host.

        Returns
        -------
        dict of str to ndarray

        Examples
        --------
        >>> import numbarnn
        >>> list(numbarnn.RNN(2, 3, seed=0).state_dict())
        ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']
        """
        if self._device == "cuda":
            return {name: _to_host(p) for name, p in self.params.items()}
        return {name: p.copy() for name, p in self.params.items()}

    def load_state_dict(self, state_dict):
        """Copy parameters in from ``state_dict`` (all or nothing).

        Every name, shape and dtype is checked before anything is copied,
        so a failed load leaves the module unchanged. Arrays are copied into
        the existing parameters, so references held elsewhere stay valid;
        on a module on the GPU they are copied to the device.

        Parameters
        ----------
        state_dict : mapping of str to array_like
            Exactly the names of ``params``, with the same shapes and dtype
            (host or device arrays, whatever the module's device).

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
            a = state_dict[name]
            a = _to_host(a) if is_device_array(a) else np.asarray(a)
            if a.shape != p.shape:
                raise ValueError(f"state_dict[{name!r}] has shape {a.shape}, "
                                 f"expected {p.shape}")
            if a.dtype != p.dtype:
                raise TypeError(f"state_dict[{name!r}] has dtype {a.dtype}, expected "
                                f"{p.dtype}: convert it first (numbarnn never casts silently)")
            arrays[name] = a
        for name, a in arrays.items():
            if self._device == "cuda":
                self.params[name].copy_to_device(np.ascontiguousarray(a))
            else:
                np.copyto(self.params[name], a)

    def save(self, path):
        """Write the module to ``path`` (``.npz``), atomically.

        See :func:`numbarnn.nn.save` for the format. A module on the GPU is
        written from a host copy of its parameters (and loads on the CPU).

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


def _to_host(a):
    """A numpy copy of a device array."""
    from . import _device

    return _device.to_host(a)
