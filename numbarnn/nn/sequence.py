"""One direction of one recurrent layer over a batch of (ragged) sequences.

Everything here works in *sorted* batch order: the layer sorts the batch by
length, descending, once per forward pass, so that the sequences still
running at any time form a prefix ``[:k]`` of the batch. The time axis is
then cut at every distinct length into segments; each segment is one call
of the functional API on ``x[t_a:t_b, :k]``, carrying the state of the
first ``k`` sequences. A sequence that ends at ``t_a`` is simply no longer
updated, so the state array holds its final state at the end; in the
backward pass its final-state gradient sits in the same rows until the
segment that ends at its length picks it up. Gradients are therefore
exactly those of running each sequence alone (PackedSequence semantics).

The state is a tuple: ``(h,)`` for RNN and GRU, ``(h, c)`` for LSTM. The
weights are ``(w_ih, w_hh, b_ih, b_hh)``, and an LSTM's may add its
projection ``w_hr`` (None: no projection) as a fifth entry; with one, h and
y have the projection's size P and c keeps H.
"""
import numpy as np

from ..functional.cells import CELLS

GATE_NAMES = {name: cell.gate_names for name, cell in CELLS.items()}


def cell_forward(kind, opts, x, weights, state, training, check_finite=True):
    """The functional forward of ``kind`` with tuple states: (y, state, cache)."""
    return CELLS[kind].run_forward(x, weights, state, training, opts, check_finite)


def cell_backward(kind, cache, dy, dstate):
    """The functional backward of ``kind``: (dx, dstate0, (dw_ih, dw_hh, db_ih, db_hh)),
    with an LSTM's ``dw_hr`` as a fifth weight gradient (None without a projection)."""
    return CELLS[kind].run_backward(cache, dy, dstate)


def cache_gates(kind, cache):
    """Per-step activations held by a training cache, as a dict of (T, B, H).

    This reads the functional cache's ``y``, ``gates`` (activations, gate
    blocks stacked as in the weights) and ``cs`` (LSTM cell states).
    """
    cell = CELLS[kind]
    T = cache.x.shape[0]  # the buffers keep one step even when T == 0
    if cell.gates == 1:
        return {"h": cache.y[:T]}
    H = cache.gates.shape[2] // cell.gates  # not w_hh's columns: P with a projection
    out = {name: cache.gates[:T, :, j * H:(j + 1) * H]
           for j, name in enumerate(cell.gate_names)}
    if cell.has_cell_state:
        out["c"] = cache.cs[:T]
    return out


class Plan:
    """How a batch is cut into time segments (see the module docstring).

    Parameters
    ----------
    T, B : int
    lengths : ndarray of int, shape (B,), or None
        None: every sequence has length T (one segment, no sorting).

    Attributes
    ----------
    order, inverse : ndarray or None
        ``x[:, order]`` is sorted by length, descending (stable);
        ``sorted[:, inverse]`` undoes it. None when nothing is ragged.
    segments : list of (t_a, t_b, k)
    rev : ndarray (T, B) or None
        In sorted order, the time index that reverses each sequence within
        its own length (padding maps to itself); an involution.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.nn.sequence import Plan
    >>> plan = Plan(5, 3, np.array([2, 5, 4]))
    >>> plan.order.tolist(), plan.segments
    ([1, 2, 0], [(0, 2, 3), (2, 4, 2), (4, 5, 1)])
    """

    def __init__(self, T, B, lengths):
        self.T, self.B = T, B
        if lengths is None or (lengths == T).all():  # nothing ragged: one plain call
            self.order = self.inverse = self.rev = None
            self.segments = [(0, T, B)]
            return
        self.order = np.argsort(-lengths, kind="stable")
        self.inverse = np.argsort(self.order)
        sl = lengths[self.order]
        self.segments = []
        t_a = 0
        for t_b in np.unique(sl[sl > 0]):
            self.segments.append((t_a, int(t_b), int(np.count_nonzero(sl >= t_b))))
            t_a = int(t_b)
        t = np.arange(T)[:, None]
        self.rev = np.where(t < sl, sl - 1 - t, t)

    @property
    def ragged(self):
        return self.order is not None

    def sort(self, a, axis=1):
        """``a`` in sorted batch order (a no-op without lengths)."""
        return a if self.order is None else np.take(a, self.order, axis=axis)

    def unsort(self, a, axis=1):
        """``a`` back in the caller's batch order."""
        return a if self.order is None else np.take(a, self.inverse, axis=axis)

    def reverse(self, a):
        """Each sequence of ``a`` (T, B, F) reversed within its own length."""
        if self.rev is None:
            return a[::-1]
        return np.take_along_axis(a, self.rev[:, :, None], axis=0)


def direction_forward(kind, opts, x, weights, state0, plan, training, check_finite=True):
    """Run one direction over sorted x (T, B, I).

    Returns
    -------
    y : ndarray (T, B, H) (P with a projection)
        Zero past each sequence's length.
    state : tuple of ndarray (B, H)
        Each sequence's state at its last valid step.
    caches : list
        One functional cache per segment (Nones unless ``training``).
    """
    if not plan.ragged:
        y, state, cache = cell_forward(kind, opts, x, weights, state0, training, check_finite)
        return y, state, [cache]
    H = weights[1].shape[1]
    y = np.zeros((plan.T, plan.B, H), x.dtype)
    state = tuple(s.copy() for s in state0)
    caches = []
    for t_a, t_b, k in plan.segments:
        # copies: a cache keeps a reference to its initial state, and
        # ``state`` is overwritten below
        ys, new, cache = cell_forward(kind, opts, x[t_a:t_b, :k], weights,
                                      tuple(s[:k].copy() for s in state), training,
                                      check_finite)
        y[t_a:t_b, :k] = ys
        for s, n in zip(state, new):
            s[:k] = n
        caches.append(cache)
    return y, state, caches


def direction_backward(kind, caches, dy, dstate, plan, x_shape):
    """Backpropagate one direction; the inverse of :func:`direction_forward`.

    Returns ``(dx (T, B, I), dstate0 tuple, weight grads)``; the weight
    grads are None when no step ran (every length zero).
    """
    if not plan.ragged:
        return cell_backward(kind, caches[0], dy, dstate)
    dx = np.zeros(x_shape, dy.dtype)
    dstate = [d.copy() for d in dstate]
    total = None
    for (t_a, t_b, k), cache in zip(reversed(plan.segments), reversed(caches)):
        gx, g0, gw = cell_backward(kind, cache, dy[t_a:t_b, :k], tuple(d[:k] for d in dstate))
        dx[t_a:t_b, :k] = gx
        for d, g in zip(dstate, g0):
            d[:k] = g
        total = gw if total is None else tuple(
            None if a is None else a + b for a, b in zip(total, gw))
    return dx, tuple(dstate), total


def direction_gates(kind, caches, plan, H, dtype):
    """The activations of every step of one direction, (T, B, H) each, zero-padded."""
    if not plan.ragged:
        return {k: v.copy() for k, v in cache_gates(kind, caches[0]).items()}
    names = GATE_NAMES[kind] + (("c",) if CELLS[kind].has_cell_state else ())
    out = {name: np.zeros((plan.T, plan.B, H), dtype) for name in names}
    for (t_a, t_b, k), cache in zip(plan.segments, caches):
        for name, a in cache_gates(kind, cache).items():
            out[name][t_a:t_b, :k] = a
    return out
