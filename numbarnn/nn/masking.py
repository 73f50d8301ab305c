"""Keras-style step masks for the layers, reduced to ragged batches.

With ``forward(x, mask=m)`` a masked step (``m[t, b]`` False) leaves the
state of sequence b unchanged and its output repeats the previous output
(zeros before the first valid step), as in Keras. The state of sequence b
therefore evolves exactly as if the layer ran over its valid steps alone,
in order: the *compressed* sequence ``x[m[:, b], b]``. A layer's forward
pass with a mask is thus its ragged forward pass (``lengths`` = the number
of valid steps) over the compressed batch, whose outputs are then spread
back over time:

* forward direction: the output at t is the compressed output of the last
  valid step at or before t (zero if there is none);
* reverse direction (Keras runs it on the time-reversed sequence and mask,
  so its "previous" step is the next one in forward time): the output at t
  is that of the first valid step at or after t (zero if there is none).

Stacked layers see the same mask (Keras propagates it), so the compressed
outputs of one layer are exactly the compressed inputs of the next. The
backward pass is the adjoint of these gathers: output gradients are summed
into the valid step each output copies, and input gradients land on the
valid steps (zero on masked ones).
"""
import numpy as np


def check_mask(mask, T, B, batch_first, unbatched):
    """``mask`` as a time-major (T, B) bool array, or a TypeError/ValueError."""
    m = np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"mask must be a boolean array (True: a valid step), got dtype "
                        f"{m.dtype}")
    if unbatched:
        want = (T,)
    else:
        want = (B, T) if batch_first else (T, B)
    if m.shape != want:
        axes = "(T,)" if unbatched else "(B, T)" if batch_first else "(T, B)"
        raise ValueError(f"mask must have shape {axes} = {want}, matching x's leading "
                         f"axes, got {m.shape}")
    if unbatched:
        return m[:, None]
    return m.T if batch_first else m


class MaskPlan:
    """The gathers between a masked (T, B) batch and its compressed form.

    Parameters
    ----------
    mask : ndarray of bool, shape (T, B), time-major

    Attributes
    ----------
    lengths : ndarray of int64, shape (B,)
        Valid steps per sequence: the lengths of the compressed batch.
    order : ndarray (T, B)
        ``order[k, b]`` is the time of sequence b's k-th valid step
        (for k < lengths[b]; masked times after that).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.nn.masking import MaskPlan
    >>> plan = MaskPlan(np.array([[True], [False], [True], [False]]))
    >>> plan.lengths.tolist(), plan.order[:, 0].tolist()
    ([2], [0, 2, 1, 3])
    >>> y = plan.expand(np.array([[[1.0]], [[2.0]], [[0.0]], [[0.0]]]), 1, 1)
    >>> y[:, 0, 0].tolist()
    [1.0, 1.0, 2.0, 2.0]
    """

    def __init__(self, mask):
        T, B = mask.shape
        self.T, self.B = T, B
        # a stable sort of "masked" puts the valid steps first, in time order
        self.order = np.argsort(~mask, axis=0, kind="stable")
        self.lengths = mask.sum(axis=0).astype(np.int64)
        before = np.cumsum(mask, axis=0)
        self.fwd = before - 1                      # last valid step ≤ t, -1: none
        self.rev = before - mask                   # first valid step ≥ t, lengths: none
        self.cols = np.broadcast_to(np.arange(B), (T, B))

    def compress(self, x):
        """x (T, B, F) → the valid steps first (the rest is masked input)."""
        return np.take_along_axis(x, self.order[:, :, None], axis=0)

    def uncompress(self, dxc):
        """The adjoint of :meth:`compress` for gradients that are zero past
        each compressed length: back to the valid steps, zeros elsewhere."""
        dx = np.empty_like(dxc)
        np.put_along_axis(dx, self.order[:, :, None], dxc, axis=0)
        return dx

    def _maps(self, D):
        maps = [(self.fwd, self.fwd >= 0)]
        if D == 2:
            maps.append((self.rev, self.rev < self.lengths))
        return maps

    def expand(self, yc, D, R):
        """Compressed outputs (T, B, D·R) → outputs over time (masked steps
        repeat the previous output of their direction)."""
        y = np.zeros(yc.shape, yc.dtype)
        for d, (idx, ok) in enumerate(self._maps(D)):
            block = slice(d * R, (d + 1) * R)
            k = np.where(ok, idx, 0)
            vals = np.take_along_axis(yc[:, :, block], k[:, :, None], axis=0)
            y[:, :, block] = np.where(ok[:, :, None], vals, 0)
        return y

    def reduce(self, dy, D, R):
        """The adjoint of :meth:`expand`: each output's gradient summed into
        the valid step it copies."""
        dyc = np.zeros(dy.shape, dy.dtype)
        for d, (idx, ok) in enumerate(self._maps(D)):
            block = slice(d * R, (d + 1) * R)
            target = dyc[:, :, block]
            np.add.at(target, (idx[ok], self.cols[ok]), dy[:, :, block][ok])
        return dyc
