"""Closed-loop use of a fitted :class:`~numbarnn.LatentAR`: forecasts and samples.

A mixin so that ``latent.py`` holds construction, fitting and scoring, and
this file the loops that feed the model's own outputs back as inputs.
"""
import numbers

import numpy as np

from . import _latent_data as data_


def _repeat_state(state, B):
    """A batch-1 layer state (or a pair of them) repeated to B rows."""
    if isinstance(state, tuple):
        return tuple(np.repeat(s, B, axis=1) for s in state)
    return np.repeat(state, B, axis=1)


class ClosedLoopMixin:
    """:meth:`forecast` and :meth:`sample` for :class:`~numbarnn.LatentAR`."""

    def _start(self, history):
        if history is None:
            return self._end
        enc, _ = self._series(history, "history")
        if len(enc) != 1:
            raise ValueError("history: expected one series")
        return self._final_state(enc[0])

    def _rollout(self, state, u, steps, B, rng):
        """Run ``steps`` closed-loop steps for B paths from (state, u) of batch 1.

        With ``rng`` each step's draw is fed back (sample paths); without, the
        predictive mean (Gaussian) or the probability vector (categorical).
        Returns (outputs (steps, B, ·) of the readout, draws (steps, B, ·)).
        """
        dtype = self.layer_.dtype
        state = None if state is None else _repeat_state(state, B)
        u = np.repeat(u, B, axis=0).astype(dtype)
        outs, draws = [], []
        eye = np.eye(self.n_features_, dtype=dtype)
        for _ in range(steps):
            y, state = self.layer_.step(u, state)
            o = self.readout_.forward(y).astype(np.float64)
            outs.append(o)
            if self._categorical:
                p = np.exp(data_.log_softmax(o))
                if rng is None:
                    u = p.astype(dtype)
                    continue
                # Inverse-CDF draw per row from numpy uniforms.
                cum = np.cumsum(p, axis=1)
                s = np.minimum((rng.random((B, 1)) > cum).sum(axis=1), self.n_features_ - 1)
                draws.append(s)
                u = eye[s]
            else:
                D = self.n_features_
                z = o[:, :D]
                if rng is not None:
                    z = z + np.exp(0.5 * o[:, D:]) * rng.standard_normal((B, D))
                    draws.append(z)
                u = z.astype(dtype)
        width = self.readout_.out_features
        return np.array(outs).reshape(steps, B, width), draws

    def _check_steps(self, name, n):
        if not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"{name}: expected a non-negative integer, got {n!r}")
        return int(n)

    def forecast(self, steps, history=None, *, n_paths=None, seed=None):
        """Closed-loop forecast: each step's predictive mean is the next input.

        Parameters
        ----------
        steps : int
        history : array_like, optional
            The series to continue; by default the end of the (last) fitted
            series.
        n_paths : int, optional
            Also draw this many sample paths, each feeding back its own
            draws (the spread of possible futures, which the mean path
            does not show).
        seed : int or numpy.random.Generator, optional
            For the sample paths.

        Returns
        -------
        mean : ndarray (steps,) or (steps, D)
            (Gaussian) the mean path; (categorical) ndarray (steps, S) of
            probabilities, feeding back the probability vector (the mean of
            the one-hot input).
        paths : ndarray (n_paths, steps, ...), only with ``n_paths``

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import LatentAR
        >>> x = np.sin(0.3 * np.arange(300.0))
        >>> m = LatentAR("lstm", hidden_size=8, seed=0).fit(x, window=50, epochs=5,
        ...                                                 progress=False)
        >>> mean, paths = m.forecast(20, n_paths=3, seed=0)
        >>> mean.shape, paths.shape
        ((20,), (3, 20))
        """
        self._check_fitted()
        steps = self._check_steps("steps", steps)
        state, u = self._start(history)
        outs, _ = self._rollout(state, u, steps, 1, None)
        if self._categorical:
            mean = np.exp(data_.log_softmax(outs[:, 0]))
        else:
            mean = self._shape(self._unscale(outs[:, 0])[0])
        if n_paths is None:
            return mean
        return mean, self._paths(state, u, steps, n_paths, seed)

    def _paths(self, state, u, steps, n_paths, seed):
        n_paths = self._check_steps("n_paths", n_paths)
        _, draws = self._rollout(state, u, steps, n_paths, np.random.default_rng(seed))
        if self._categorical:
            return np.array(draws, dtype=np.int64).reshape(steps, n_paths).T.copy()
        z = np.array(draws).reshape(steps, n_paths, self.n_features_)
        return self._shape(np.ascontiguousarray((self.mean_ + self.scale_ * z)
                                                .transpose(1, 0, 2)))

    def sample(self, n, seed=None, *, history=None, n_paths=None):
        """Draw a series of ``n`` observations from the model.

        Starts from the start state (or continues ``history``) and feeds
        each draw back. Random numbers come from numpy.

        Parameters
        ----------
        n : int
        seed : int or numpy.random.Generator, optional
        history : array_like, optional
        n_paths : int, optional
            Draw this many independent series at once.

        Returns
        -------
        ndarray (n,) or (n, D) (int64 for categorical), with a leading
        ``n_paths`` axis when it is given.

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import LatentAR
        >>> m = LatentAR("gru", 4, readout="categorical", seed=0).fit(
        ...     [0, 1, 2] * 20, epochs=3, progress=False)
        >>> m.sample(5, seed=0).shape, m.sample(5, seed=0, n_paths=2).shape
        ((5,), (2, 5))
        """
        self._check_fitted()
        n = self._check_steps("n", n)
        if history is None:
            state, u = None, np.zeros((1, self.n_features_), self.layer_.dtype)
        else:
            state, u = self._start(history)
        paths = self._paths(state, u, n, 1 if n_paths is None else n_paths, seed)
        return paths[0] if n_paths is None else paths
