"""Markov chains of order k over a finite alphabet, fitted by counting.

``p(x_1..x_T) = p(x_1..x_k) Π_{t>k} p(x_t | x_{t-k..t-1})`` (the
"Markov chains" section of the math page, ``docs/math.md``). Counting runs
in numba kernels (:mod:`._kernels`); everything else is numpy over the
count tables. Symbols of any hashable type map to integer codes through the
fitted alphabet ``states_`` (:mod:`._sequences`).
"""
import numpy as np

from . import _kernels, _markov_io, _stationary
from ._base import ModelBase
from ._sequences import (SparseTransitions, _as_sequences, _check_range, _nonzero,
                         _symbols_to_codes, alphabet_of, check_params, check_states, encode)

#: Largest S**(k+1) stored as a dense transition array (128 MiB of float64).
DENSE_MAX = 2 ** 24


class MarkovChain(ModelBase):
    """Markov chain of order ``k`` over a finite alphabet.

    Symbols are integers ``0..S-1`` by default; symbols of any other
    hashable type (characters, strings, objects) go through an alphabet
    ``states_``, as scikit-learn's ``classes_``: given as ``states=``, or
    the sorted distinct symbols seen by :meth:`fit`. Tables are indexed by
    the position of a symbol in ``states_`` (for integer data without
    ``states``, the symbol itself).

    Parameters
    ----------
    order : int, default 1
        Number of previous symbols the next one depends on (0: i.i.d.).
    n_states : int, optional
        Alphabet size ``S``; by default one more than the largest integer
        symbol seen by :meth:`fit` (``fit(..., n_states=)`` overrides both),
        or the size of the alphabet.
    alpha : float, default 0.0
        Additive (Lidstone) smoothing: ``p(s | c) = (n(c, s) + alpha) /
        (n(c) + alpha*S)``. With ``alpha == 0`` a context never seen in
        training predicts the uniform distribution (never NaN), and a seen
        context never followed by ``s`` gives ``p = 0`` (log-likelihood
        ``-inf``).
    states : sequence of hashable, optional
        The alphabet, in the order of the table axes (for instance
        ``"ACGT"`` or ``["rain", "sun"]``). Symbols outside it are an
        error. By default integer data use ``0..S-1`` and other data the
        sorted distinct symbols of the training data (in order of first
        appearance when they do not sort).

    Attributes
    ----------
    states_ : ndarray of shape (S,)
        The alphabet: code ``i`` (an index of :attr:`transition_`) stands
        for the symbol ``states_[i]``.
    n_states_ : int
    transition_ : ndarray of shape ``(S,)*k + (S,)`` or :class:`SparseTransitions`
        ``transition_[c_1, ..., c_k, s] = p(x_t = s | x_{t-k..t-1} = c)``
        (codes). Dense while ``S**(k+1) <= DENSE_MAX`` (2**24); beyond that
        a mapping over the contexts seen in training, since a dense table
        would be mostly smoothing mass and too large to hold.
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
        Symbols seen in training (0 for :meth:`from_transition`).

    Notes
    -----
    Input: one sequence (an array, a list of symbols, a pandas Series, or a
    ``str``, read as its characters) or a list of sequences. A list whose
    first item is a list, tuple, array or Series holds several sequences;
    otherwise it is one sequence, so ``["to", "be"]`` is two word symbols.

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

    Characters, through the fitted alphabet:

    >>> m = MarkovChain(order=1).fit("abracadabra")
    >>> m.states_
    array(['a', 'b', 'c', 'd', 'r'], dtype='<U1')
    >>> m.predict_proba("a").round(2)
    array([0.  , 0.5 , 0.25, 0.25, 0.  ])
    >>> str(m.sample(4, seed=1)[0]) in "abcdr"
    True
    """

    def __init__(self, order=1, n_states=None, alpha=0.0, states=None):
        check_params(order, n_states, alpha, states)
        self.order = order
        self.n_states = n_states
        self.alpha = alpha
        self.states = states

    # -- the alphabet --------------------------------------------------------
    def _to_codes(self, seqs, name="seq"):
        """Sequences of symbols -> int arrays of codes, for a fitted chain."""
        return _symbols_to_codes(seqs, self.states_, self._identity, name)

    def _decode(self, codes):
        return codes if self._identity else self.states_[codes]

    @staticmethod
    def _choose_alphabet(seqs, S, states):
        """``(states_, identity)`` for ``fit``: given, ``0..S-1`` for integers, or seen."""
        if states is not None:
            alphabet, identity = states, False
        elif all(s.dtype.kind in "iub" for s in seqs if s.size):
            if S is None:
                S = int(max((int(s.max()) for s in seqs if s.size), default=0)) + 1
            alphabet, identity = np.arange(S), True
        else:
            alphabet, identity = alphabet_of(seqs), False
        if S is not None and S != alphabet.size:
            raise ValueError(f"n_states: {S} does not match the alphabet of "
                             f"{alphabet.size} symbols; give every symbol as states=")
        return alphabet, identity

    # -- fitting -----------------------------------------------------------
    def fit(self, seq, n_states=None):
        """Count the (k+1)-grams of one sequence or a list of them.

        Parameters
        ----------
        seq : sequence of symbols, or list of them
            Integers in ``[0, S)``, or symbols of any hashable type (see
            ``states``); a pandas Series works as its values. Windows
            never cross sequence boundaries.
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
        >>> MarkovChain().fit(["rain", "sun", "sun", "rain"]).states_.tolist()
        ['rain', 'sun']
        """
        states = check_params(self.order, self.n_states, self.alpha, self.states)
        if n_states is not None:
            check_params(self.order, n_states, self.alpha, None)
        k, alpha = int(self.order), float(self.alpha)
        seqs = _as_sequences(seq, symbols=True)
        if not any(s.size > k for s in seqs):
            raise ValueError(f"seq: need at least one sequence longer than order={k}")
        S = n_states if n_states is not None else self.n_states
        S = None if S is None else int(S)
        if S is not None and (k + 1) * np.log2(S) >= 62:
            raise ValueError(f"n_states**(order+1) = {S}**{k + 1} overflows the int64 "
                             "window codes")
        alphabet, identity = self._choose_alphabet(seqs, S, states)
        S = int(alphabet.size)
        if (k + 1) * np.log2(S) >= 62:
            raise ValueError(f"n_states**(order+1) = {S}**{k + 1} overflows the int64 "
                             "window codes")
        seqs = _symbols_to_codes(seqs, alphabet, identity)
        # Everything is checked: only now does the chain change (a failed fit
        # leaves a fitted chain as it was). Validated copies: fit never
        # rewrites the constructor's parameters.
        self.states_, self._identity, self._symbol_index = alphabet, identity, None
        self.n_states_, self._k, self._alpha = S, k, alpha
        self.dense_ = S ** (k + 1) <= DENSE_MAX
        self.n_symbols_ = int(sum(s.size for s in seqs))
        if self.dense_:
            counts = np.zeros(S ** (k + 1), np.int64)
            kcounts = np.zeros(S ** k, np.int64)
            for s in seqs:
                _kernels.count_windows(s, S, k, counts, kcounts)
            # Sparse views of the dense tables: sampling uses one code path.
            self._codes, self._counts = _nonzero(counts)
            totals = counts.reshape(S ** k, S).sum(axis=1)
            self._ctx_codes, self._ctx_totals = _nonzero(totals)
            self._kcodes, self._kcounts = _nonzero(kcounts)
        else:
            self._codes, self._counts = self._unique_windows(seqs, k + 1)
            self._ctx_codes, start = np.unique(self._codes // S, return_index=True)
            self._ctx_totals = np.add.reduceat(self._counts, start)
            self._kcodes, self._kcounts = self._unique_windows(seqs, k)
        self._ktotal = int(self._kcounts.sum())
        self._build_tables()
        return self

    def _build_tables(self):
        """``transition_``, ``initial_`` and the log table from the counts."""
        S, k, alpha = self.n_states_, self._k, self._alpha
        if not self.dense_:
            self.transition_ = SparseTransitions(self)
            self.initial_ = None
            return
        counts = np.zeros(S ** (k + 1), self._counts.dtype)
        counts[self._codes] = self._counts
        totals = np.zeros(S ** k, self._ctx_totals.dtype)
        totals[self._ctx_codes] = self._ctx_totals
        rows = counts.reshape(S ** k, S) + alpha
        den = totals + alpha * S
        with np.errstate(invalid="ignore", divide="ignore"):
            rows = np.where(den[:, None] > 0, rows / den[:, None], 1.0 / S)
        self.transition_ = rows.reshape((S,) * k + (S,))
        with np.errstate(divide="ignore"):  # p = 0 is a legitimate -inf
            self._log_transition = np.log(self.transition_).ravel()
        kcounts = np.zeros(S ** k, self._kcounts.dtype)
        kcounts[self._kcodes] = self._kcounts
        den = self._ktotal + alpha * S ** k
        init = (kcounts + alpha) / den if den > 0 else np.full(S ** k, float(S) ** -k)
        self.initial_ = init.reshape((S,) * k)

    @classmethod
    def from_transition(cls, P, order=1, states=None, *, initial=None):
        """A chain with known transition probabilities (nothing is fitted).

        Parameters
        ----------
        P : array_like of shape ``(S,)*order + (S,)``
            ``P[c_1, ..., c_k, s] = p(x_t = s | context c)``; finite,
            non-negative, every row summing to 1 (within 1e-9; rows are
            then divided by their sums).
        order : int, default 1
        states : sequence of hashable, optional
            The symbols of the axes (default ``0..S-1``).
        initial : array_like of shape ``(S,)*order``, optional
            ``p(x_1..x_k)``; uniform by default.

        Returns
        -------
        MarkovChain
            With ``alpha=0``, dense tables, and every method of a fitted
            chain.

        Examples
        --------
        >>> from numbarnn import MarkovChain
        >>> m = MarkovChain.from_transition([[0.9, 0.1], [0.5, 0.5]], states=["sun", "rain"])
        >>> m.stationary_distribution().round(4)
        array([0.8333, 0.1667])
        >>> m.predict_proba(["rain"])
        array([0.5, 0.5])
        """
        return _markov_io.from_transition(cls, P, order, states, initial)

    def state_dict(self):
        """The fitted state as arrays (what :meth:`save` writes).

        Count tables as int64 (float64 for :meth:`from_transition`) arrays,
        other facts, the alphabet included, as a 0-d string of JSON; an
        unfitted chain gives ``{}``.

        Examples
        --------
        >>> from numbarnn import MarkovChain
        >>> m = MarkovChain().fit("abab")
        >>> m2 = MarkovChain().load_state_dict(m.state_dict())
        >>> m2.states_.tolist(), m2.log_likelihood("ab") == m.log_likelihood("ab")
        (['a', 'b'], True)
        """
        return _markov_io.state_dict(self)

    def load_state_dict(self, arrays):
        """Restore a fitted state written by :meth:`state_dict`; returns self.

        Raises ValueError when the arrays do not describe a valid chain
        (nothing is changed then).

        Examples
        --------
        >>> from numbarnn import MarkovChain
        >>> state = MarkovChain(order=2).fit([0, 1, 2, 0, 1, 2]).state_dict()
        >>> MarkovChain(order=2).load_state_dict(state).predict_proba([0, 1])
        array([0., 0., 1.])
        """
        _markov_io.load_state_dict(self, arrays)
        return self

    def get_config(self):
        """The constructor arguments in JSON-safe types (as saved).

        Examples
        --------
        >>> import numpy as np
        >>> from numbarnn import MarkovChain
        >>> MarkovChain(order=np.int64(2), states=np.array(["a", "b"])).get_config()
        {'order': 2, 'n_states': None, 'alpha': 0.0, 'states': ['a', 'b']}
        """
        return {"order": int(self.order),
                "n_states": None if self.n_states is None else int(self.n_states),
                "alpha": float(self.alpha),
                "states": None if self.states is None else
                _markov_io.json_states(check_states(self.states))[0]}

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

    def _context_array(self, context):
        """A context as given (k symbols, or (m, k)) -> numpy array of symbols."""
        if isinstance(context, str):
            # one word symbol when it is one, else the text's characters
            if not self._identity and self._k == 1 and context in self._index():
                return np.array([context], object)
            return np.array(list(context), object)
        c = np.asarray(context) if self._identity else np.asarray(context, object)
        return c.astype(c.dtype.newbyteorder("=")) if c.dtype.kind in "iub" else c

    def _index(self):
        if getattr(self, "_symbol_index", None) is None:
            self._symbol_index = {v: i for i, v in enumerate(self.states_.tolist())}
        return self._symbol_index

    def _encode_contexts(self, contexts):
        S, k = self.n_states_, self._k
        c = np.asarray(contexts)
        if c.ndim != 2 or c.shape[1] != k:
            raise ValueError(f"context: expected {k} symbols (or an (m, {k}) array), "
                             f"got shape {np.shape(contexts)}")
        if self._identity:
            if c.size and c.dtype.kind not in "iub":
                raise TypeError(f"context: expected integer symbols, got dtype {c.dtype}")
            _check_range([c.ravel()], S, "context")
        else:
            c = encode([c.ravel()], self.states_, "context")[0].reshape(c.shape)
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
        context : array_like of symbols, shape (k,) or (m, k)
            The last k symbols, oldest first (``()`` for order 0); a ``str``
            is its characters (or, for order 1, one symbol of the alphabet).

        Returns
        -------
        ndarray of shape (S,) or (m, S)
            Probabilities in the order of :attr:`states_`.

        Examples
        --------
        >>> from numbarnn import MarkovChain
        >>> m = MarkovChain(order=1, alpha=1.0).fit([0, 1, 1, 1, 0])
        >>> m.predict_proba([1])
        array([0.4, 0.6])
        """
        self._check_fitted()
        c = self._context_array(context)
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
        seq : sequence of symbols, or list of them

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
        seqs = self._to_codes(_as_sequences(seq, symbols=True))
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
        n = sum(s.size for s in _as_sequences(seq, symbols=True))
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
        ndarray of shape (n,)
            int64 codes for the integer alphabet, else symbols of
            :attr:`states_`.

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
        return self._decode(out)

    def stationary_distribution(self):
        """Stationary distribution(s) π (π P = π) of an order-1 chain.

        The structure comes from the transition graph, not from
        eigenvalues: the recurrent classes are the closed communication
        classes (strongly connected components with no edge leaving them),
        and on each the distribution is found by GTH elimination
        (subtraction-free, accurate even for slowly mixing chains). For
        order 0 it is the symbol distribution.

        Returns
        -------
        ndarray of shape (S,) or (m, S)
            1-D when the chain has one recurrent class (the stationary
            distribution is unique). With ``m > 1`` recurrent classes, one
            row per class, each supported on its class (classes ordered by
            their first state in :attr:`states_`); every stationary
            distribution is a convex combination of the rows.

        Raises
        ------
        ValueError
            For order > 1 or a sparse chain.

        Examples
        --------
        >>> from numbarnn import MarkovChain
        >>> m = MarkovChain(order=1).fit([0, 1, 1, 0, 1, 1, 0])
        >>> m.stationary_distribution().round(4)
        array([0.3333, 0.6667])

        Two absorbing states, two stationary distributions:

        >>> MarkovChain(order=1).fit([[0, 0, 0], [1, 2, 2]]).stationary_distribution()
        array([[1., 0., 0.],
               [0., 0., 1.]])
        """
        self._check_fitted()
        if self._k == 0:
            return self.transition_.copy()
        if self._k != 1 or not self.dense_:
            raise ValueError(f"stationary_distribution: needs a dense order-1 chain, got "
                             f"order={self._k}, dense={self.dense_}")
        pi = _stationary.stationary_distributions(self.transition_)
        return pi[0] if pi.shape[0] == 1 else pi

