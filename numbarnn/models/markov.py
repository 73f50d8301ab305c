"""Markov chains of order k over a finite alphabet, fitted by counting.

``p(x_1..x_T) = p(x_1..x_k) Π_{t>k} p(x_t | x_{t-k..t-1})`` (docs/math.md).
Counting runs in numba kernels (:mod:`._kernels`); everything else is
numpy over the count tables.
"""
import numpy as np
import scipy.linalg

from . import _kernels
from ._sequences import SparseTransitions, _as_sequences, _check_range

#: Largest S**(k+1) stored as a dense transition array (128 MiB of float64).
DENSE_MAX = 2 ** 24


class MarkovChain:
    """Markov chain of order ``k`` over the symbols ``0..S-1``.

    Parameters
    ----------
    order : int, default 1
        Number of previous symbols the next one depends on (0: i.i.d.).
    n_states : int, optional
        Alphabet size ``S``; by default one more than the largest symbol
        seen by :meth:`fit` (``fit(..., n_states=)`` overrides both).
    alpha : float, default 0.0
        Additive (Lidstone) smoothing: ``p(s | c) = (n(c, s) + alpha) /
        (n(c) + alpha*S)``. With ``alpha == 0`` a context never seen in
        training predicts the uniform distribution (never NaN), and a seen
        context never followed by ``s`` gives ``p = 0`` (log-likelihood
        ``-inf``).

    Attributes
    ----------
    n_states_ : int
    transition_ : ndarray of shape ``(S,)*k + (S,)`` or :class:`SparseTransitions`
        ``transition_[c_1, ..., c_k, s] = p(x_t = s | x_{t-k..t-1} = c)``.
        Dense while ``S**(k+1) <= DENSE_MAX`` (2**24); beyond that a mapping
        over the contexts seen in training, since a dense table would be
        mostly smoothing mass and too large to hold.
    initial_ : ndarray of shape ``(S,)*k`` or None
        ``p(x_1..x_k)``: the frequency of each k-gram among *all* k-windows
        of the training data, with the same smoothing (``(m(g) + alpha) /
        (M + alpha*S**k)``, uniform when nothing was counted). The windows
        are all used because there is only one start per sequence; for a
        stationary source this estimates the k-gram marginal. None when
        sparse (use :meth:`log_likelihood`).
    dense_ : bool
        Whether ``transition_`` is a dense array.
    n_symbols_ : int
        Symbols seen in training.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn import MarkovChain
    >>> x = np.array([0, 1, 0, 1, 1, 0, 1, 0])
    >>> m = MarkovChain(order=1).fit(x)
    >>> m.transition_
    array([[0.  , 1.  ],
           [0.75, 0.25]])
    >>> round(m.log_likelihood(x), 4)
    -2.9425
    """

    def __init__(self, order=1, n_states=None, alpha=0.0):
        self.order = order
        self.n_states = n_states
        self.alpha = alpha

    # -- fitting -----------------------------------------------------------
    def fit(self, seq, n_states=None):
        """Count the (k+1)-grams of one integer sequence or a list of them.

        Parameters
        ----------
        seq : array_like of int, or list of them
            Symbols in ``[0, S)``; windows never cross sequence boundaries.
        n_states : int, optional
            Alphabet size, overriding the constructor's.

        Returns
        -------
        self

        Examples
        --------
        >>> from numbarnn import MarkovChain
        >>> MarkovChain(order=2).fit([[0, 1, 2, 0], [2, 1, 0]]).n_states_
        3
        """
        k, alpha = self.order, self.alpha
        if not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"order: expected a non-negative integer, got {k!r}")
        if not np.isfinite(alpha) or alpha < 0:
            raise ValueError(f"alpha: expected a finite number >= 0, got {alpha!r}")
        seqs = _as_sequences(seq)
        if not any(s.size > k for s in seqs):
            raise ValueError(f"seq: need at least one sequence longer than order={k}")
        S = n_states if n_states is not None else self.n_states
        if S is None:
            S = int(max(s.max() for s in seqs if s.size)) + 1
        if not isinstance(S, (int, np.integer)) or S < 1:
            raise ValueError(f"n_states: expected a positive integer, got {S!r}")
        S = int(S)
        if (k + 1) * np.log2(S) >= 62:
            raise ValueError(f"n_states**(order+1) = {S}**{k + 1} overflows the int64 "
                             "window codes")
        _check_range(seqs, S)
        # Validated copies: fit never rewrites the constructor's parameters.
        self.n_states_, self._k, self._alpha = S, int(k), float(alpha)
        self.dense_ = S ** (k + 1) <= DENSE_MAX
        self.n_symbols_ = int(sum(s.size for s in seqs))
        if self.dense_:
            counts = np.zeros(S ** (k + 1), np.int64)
            kcounts = np.zeros(S ** k, np.int64)
            for s in seqs:
                _kernels.count_windows(s, S, k, counts, kcounts)
            # Sparse views of the dense tables: sampling uses one code path.
            self._codes = np.flatnonzero(counts)
            self._counts = counts[self._codes]
            self._dense_counts = counts.reshape((S,) * k + (S,))
            totals = self._dense_counts.reshape(S ** k, S).sum(axis=1)
            self._ctx_codes = np.flatnonzero(totals)
            self._ctx_totals = totals[self._ctx_codes]
            self._kcodes = np.flatnonzero(kcounts)
            self._kcounts = kcounts[self._kcodes]
        else:
            self._codes, self._counts = self._unique_windows(seqs, k + 1)
            self._ctx_codes, start = np.unique(self._codes // S, return_index=True)
            self._ctx_totals = np.add.reduceat(self._counts, start)
            self._kcodes, self._kcounts = self._unique_windows(seqs, k)
        self._ktotal = int(self._kcounts.sum())
        if self.dense_:
            rows = self._dense_counts.reshape(S ** k, S) + self._alpha
            den = totals + self._alpha * S
            with np.errstate(invalid="ignore", divide="ignore"):
                rows = np.where(den[:, None] > 0, rows / den[:, None], 1.0 / S)
            self.transition_ = rows.reshape((S,) * k + (S,))
            with np.errstate(divide="ignore"):  # p = 0 is a legitimate -inf
                self._log_transition = np.log(self.transition_).ravel()
            den = self._ktotal + self._alpha * S ** k
            init = (kcounts + self._alpha) / den if den > 0 else np.full(S ** k, float(S) ** -k)
            self.initial_ = init.reshape((S,) * k)
        else:
            self.transition_ = SparseTransitions(self)
            self.initial_ = None
        return self

    def _unique_windows(self, seqs, width):
        if width == 0:  # order 0: the empty context, as the dense path leaves it
            return np.zeros(1, np.int64), np.zeros(1, np.int64)
        parts = []
        for s in seqs:
            if s.size >= width:
                out = np.empty(s.size - width + 1, np.int64)
                _kernels.window_codes(s, self.n_states_, width, out)
                parts.append(out)
        return np.unique(np.concatenate(parts), return_counts=True)

    # -- probabilities -----------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "n_states_"):
            raise RuntimeError("this MarkovChain is not fitted yet; call fit first")

    def _encode_contexts(self, contexts):
        S, k = self.n_states_, self._k
        c = np.asarray(contexts)
        if c.ndim != 2 or c.shape[1] != k:
            raise ValueError(f"context: expected {k} symbols (or an (m, {k}) array), "
                             f"got shape {np.shape(contexts)}")
        if c.size and c.dtype.kind not in "iub":
            raise TypeError(f"context: expected integer symbols, got dtype {c.dtype}")
        _check_range([c.ravel()], S, "context")
        return (c.astype(np.int64) @ (S ** np.arange(k - 1, -1, -1, dtype=np.int64))
                if k else np.zeros(c.shape[0], np.int64))

    def _rows(self, ctx):
        """Smoothed probability rows (m, S) for encoded contexts ``ctx``."""
        S, alpha = self.n_states_, self._alpha
        j = np.minimum(np.searchsorted(self._ctx_codes, ctx), self._ctx_codes.size - 1)
        totals = np.where(self._ctx_codes[j] == ctx, self._ctx_totals[j], 0).astype(float)
        full = ctx[:, None] * S + np.arange(S)
        i = np.minimum(np.searchsorted(self._codes, full), self._codes.size - 1)
        n = np.where(self._codes[i] == full, self._counts[i], 0).astype(float)
        den = totals[:, None] + alpha * S
        with np.errstate(invalid="ignore"):
            return np.where(den > 0, (n + alpha) / den, 1.0 / S)

    def predict_proba(self, context):
        """Distribution of the next symbol after ``context``.

        Parameters
        ----------
        context : array_like of int, shape (k,) or (m, k)
            The last k symbols, oldest first (``()`` for order 0).

        Returns
        -------
        ndarray of shape (S,) or (m, S)

        Examples
        --------
        >>> from numbarnn import MarkovChain
        >>> m = MarkovChain(order=1, alpha=1.0).fit([0, 1, 1, 1, 0])
        >>> m.predict_proba([1])
        array([0.4, 0.6])
        """
        self._check_fitted()
        c = np.asarray(context)
        single = c.ndim == 1
        rows = self._rows(self._encode_contexts(c.reshape(1, -1) if single else c))
        return rows[0] if single else rows

    def _log_initial(self, prefix):
        # log p(x_1..x_m), m <= k: the smoothed mass of the k-grams that start
        # with the prefix, a contiguous code range [lo, hi).
        S, k, m = self.n_states_, self._k, prefix.size
        if m == 0:
            return 0.0
        lo = int(prefix.astype(np.int64) @ S ** np.arange(m - 1, -1, -1, dtype=np.int64))
        lo, hi = lo * S ** (k - m), (lo + 1) * S ** (k - m)
        a, b = np.searchsorted(self._kcodes, [lo, hi])
        den = self._ktotal + self._alpha * float(S) ** k
        if den == 0:
            return -m * np.log(S)
        with np.errstate(divide="ignore"):
            return float(np.log((self._kcounts[a:b].sum() + self._alpha * float(S) ** (k - m))
                                / den))

    def log_likelihood(self, seq):
        """Natural-log likelihood, summed over one sequence or a list of them.

        ``log p(x_1..x_k) + Σ_{t>k} log p(x_t | x_{t-k..t-1})``, the first
        term from :attr:`initial_` (for a sequence shorter than k, the
        probability of its prefix).

        Parameters
        ----------
        seq : array_like of int, or list of them

        Returns
        -------
        float

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import MarkovChain
        >>> m = MarkovChain(order=0).fit([0, 0, 1, 1])
        >>> bool(np.isclose(m.log_likelihood([0, 1, 1]), 3 * np.log(0.5)))
        True
        """
        self._check_fitted()
        seqs = _as_sequences(seq)
        _check_range(seqs, self.n_states_)
        S, k = self.n_states_, self._k
        total = 0.0
        for s in seqs:
            total += self._log_initial(s[:k])
            if s.size <= k:
                continue
            if self.dense_ and s.size - k >= self._log_transition.size:
                # Long sequence: count its windows, then one dot product.
                counts = np.zeros(S ** (k + 1), np.int64)
                _kernels.count_windows(s, S, k, counts, np.zeros(S ** k, np.int64))
                nz = np.flatnonzero(counts)  # skips 0 * log(0) = NaN
                total += float(counts[nz] @ self._log_transition[nz])
            elif self.dense_:
                codes = np.empty(s.size - k, np.int64)
                _kernels.window_codes(s, S, k + 1, codes)
                total += float(self._log_transition[codes].sum())
            else:
                codes = np.empty(s.size - k, np.int64)
                _kernels.window_codes(s, S, k + 1, codes)
                total += _kernels.sparse_log_likelihood(
                    codes, self._codes, self._counts, self._ctx_codes, self._ctx_totals,
                    S, self._alpha)
        return total

    # -- model size and information criteria --------------------------------
    @property
    def n_params(self):
        """Free parameters: ``S**k (S-1)`` transitions + ``S**k - 1`` initial.

        Every context counts, seen or not (the model defines them all).

        Examples
        --------
        >>> from numbarnn import MarkovChain
        >>> MarkovChain(order=2).fit([0, 1, 2, 1, 0]).n_params
        26
        """
        self._check_fitted()
        S, k = self.n_states_, self._k
        return S ** k * (S - 1) + S ** k - 1

    def aic(self, seq):
        """Akaike information criterion ``-2 log L + 2 n_params`` on ``seq``.

        Examples
        --------
        >>> from numbarnn import MarkovChain
        >>> x = [0, 1] * 50
        >>> m0, m1 = MarkovChain(order=0).fit(x), MarkovChain(order=1).fit(x)
        >>> bool(m1.aic(x) < m0.aic(x))
        True
        """
        return -2.0 * self.log_likelihood(seq) + 2.0 * self.n_params

    def bic(self, seq):
        """Bayesian information criterion ``-2 log L + ln(n) n_params``.

        ``n`` is the number of symbols in ``seq`` (all sequences together).

        Examples
        --------
        >>> from numbarnn import MarkovChain
        >>> x = [0, 1] * 50
        >>> bool(MarkovChain(order=1).fit(x).bic(x) < MarkovChain(order=0).fit(x).bic(x))
        True
        """
        n = sum(s.size for s in _as_sequences(seq))
        return -2.0 * self.log_likelihood(seq) + np.log(n) * self.n_params

    # -- sampling and stationarity --------------------------------------------
    def sample(self, n, seed=None):
        """Draw a sequence of ``n`` symbols from the fitted chain.

        The first k symbols come from :attr:`initial_`, the rest from the
        transitions. Uniforms are drawn with numpy and passed to the kernel.

        Parameters
        ----------
        n : int
        seed : int, numpy.random.Generator or None

        Returns
        -------
        ndarray of int64, shape (n,)

        Examples
        --------
        >>> from numbarnn import MarkovChain
        >>> m = MarkovChain(order=1).fit([0, 1, 2] * 10)
        >>> m.sample(7, seed=0)
        array([0, 1, 2, 0, 1, 2, 0])
        """
        self._check_fitted()
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n: expected a non-negative integer, got {n!r}")
        rng = np.random.default_rng(seed)
        S, k, alpha = self.n_states_, self._k, self._alpha
        u0 = rng.random(2)
        out = np.zeros(n, np.int64)
        den = self._ktotal + alpha * float(S) ** k
        if den == 0 or u0[0] * den >= self._ktotal:  # the smoothing (or uniform) part
            code = min(int(u0[1] * float(S) ** k), S ** k - 1)
        else:
            cum = np.cumsum(self._kcounts)
            code = self._kcodes[min(np.searchsorted(cum, u0[1] * self._ktotal, "right"),
                                    cum.size - 1)]
        start = np.array(np.unravel_index(code, (S,) * k), np.int64).reshape(k)
        out[:min(k, n)] = start[:n]
        if n > k:
            _kernels.sample_chain(out, rng.random((n, 2)), k, S, alpha, self._codes,
                                  self._counts, self._ctx_codes, self._ctx_totals)
        return out

    def stationary_distribution(self):
        """Stationary distribution π (π P = π) of an order-1 chain.

        Solved as the eigenvector of ``P.T`` for the eigenvalue 1
        (``scipy.linalg.eig``). For order 0 it is the symbol distribution.

        Returns
        -------
        ndarray of shape (S,)

        Raises
        ------
        ValueError
            For order > 1, a sparse chain, or a reducible chain whose
            stationary distribution is not unique.

        Examples
        --------
        >>> from numbarnn import MarkovChain
        >>> m = MarkovChain(order=1).fit([0, 1, 1, 0, 1, 1, 0])
        >>> m.stationary_distribution().round(4)
        array([0.3333, 0.6667])
        """
        self._check_fitted()
        if self._k == 0:
            return self.transition_.copy()
        if self._k != 1 or not self.dense_:
            raise ValueError(f"stationary_distribution: needs a dense order-1 chain, got "
                             f"order={self._k}, dense={self.dense_}")
        w, v = scipy.linalg.eig(self.transition_.T)
        one = np.flatnonzero(np.abs(w - 1.0) < 1e-9)
        if one.size != 1:
            raise ValueError("stationary_distribution: the chain is reducible "
                             f"({one.size} eigenvalues equal 1); π is not unique")
        pi = np.abs(v[:, one[0]].real)
        return pi / pi.sum()
