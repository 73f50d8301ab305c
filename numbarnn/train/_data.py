"""The data side of training: the layout of a series, minibatches, loaders.

A recurrent layer reads ``(T, B, I)`` arrays, or ``(B, T, I)`` when it was
built with ``batch_first=True``; targets follow the same layout. Training
must slice minibatches along the batch axis and truncated-BPTT chunks along
the time axis of *that* layout, so every slice here takes the layout.
"""
import numpy as np

from ._core import all_finite


def batch_first(model):
    """The layout the model reads: its ``batch_first`` flag (False when absent)."""
    flag = getattr(model, "batch_first", False)
    if not isinstance(flag, (bool, np.bool_)):
        raise TypeError(f"the model's batch_first must be a bool, got "
                        f"{type(flag).__name__} {flag!r}")
    return bool(flag)


def axes(bf):
    """``(time_axis, batch_axis)`` for the layout."""
    return (1, 0) if bf else (0, 1)


def check_series(x, target, bf, target_name="target", finite=True):
    """``x`` and ``target`` as arrays of the layout (with finite targets if ``finite``)."""
    layout = "(B, T, I) (the model is batch_first)" if bf else "(T, B, I)"
    x = np.asarray(x)
    if x.ndim != 3:
        kind = "batch-first" if bf else "time-major"
        raise ValueError(f"x must be {kind} with shape {layout}, got shape {x.shape}")
    target = np.asarray(target)
    lead = "(B, T)" if bf else "(T, B)"
    if target.ndim < 2 or target.shape[:2] != x.shape[:2]:
        raise ValueError(f"{target_name} must start with the {lead} = {x.shape[:2]} of x, "
                         f"got shape {target.shape}")
    if finite:
        check_targets(target, target_name)
    return x, target


def check_targets(target, name):
    """Refuse NaN/Inf targets, which would only show up later as a NaN gradient."""
    if not all_finite(target):
        raise ValueError(f"{name} (the targets) contains NaN or Inf: targets must be finite "
                         "(give missing ones any finite value and weight 0 through the "
                         "loss's weights=)")


def take(a, idx, axis):
    """``a`` restricted to the indices (or slice) ``idx`` along ``axis``."""
    return a[idx] if axis == 0 else a[:, idx]


def batch_indices(B, batch_size, rng):
    """Sorted index arrays of the shuffled minibatches; ``[None]`` for one full batch."""
    if batch_size is None or batch_size >= B:
        return [None]
    order = rng.permutation(B)
    return [np.sort(order[i:i + batch_size]) for i in range(0, B, batch_size)]


def is_pair_of_arrays(obj):
    """True for ``(x, y)`` given as two arrays rather than a loader of pairs."""
    return (isinstance(obj, (tuple, list)) and len(obj) == 2
            and all(hasattr(o, "shape") for o in obj))


class Loader:
    """``(x, y)`` minibatches from an iterable, once per epoch.

    ``data`` is re-iterable (a list, a DataLoader), a one-shot iterator
    (a generator: one epoch only), or a callable returning a fresh iterable
    for each epoch.
    """

    def __init__(self, data, epochs, name="x", finite=True):
        self.name, self.finite = name, finite
        if callable(data) and not hasattr(data, "__iter__"):
            self.factory = data
            return
        try:
            first = iter(data)
        except TypeError:
            raise TypeError(f"{name} must be an array (with y given) or an iterable of "
                            f"(x, y) minibatches, got {type(data).__name__}") from None
        if first is data and epochs > 1:
            raise ValueError(f"{name} is a one-shot iterator (a generator?) but epochs="
                             f"{epochs}: it would be empty from the second epoch on; pass a "
                             "list, a re-iterable loader, or a function returning a fresh "
                             "iterator")
        self.factory = None
        self.data, self._first = data, first

    def epoch(self, bf):
        """The checked ``(x, y)`` pairs of one epoch."""
        if self.factory is not None:
            source = iter(self.factory())
        elif self._first is not None:
            source, self._first = self._first, None
        else:
            source = iter(self.data)
        count = 0
        for i, item in enumerate(source):
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise TypeError(f"{self.name} must yield (x, y) pairs; item {i} is "
                                f"{type(item).__name__}")
            count += 1
            yield check_series(item[0], item[1], bf, f"y of minibatch {i}", self.finite)
        if count == 0:
            raise ValueError(f"{self.name} yielded no minibatches")
