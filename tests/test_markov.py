"""MarkovChain against a naive Python counter, pomegranate, and its own claims.

The oracle below transcribes the math page's Markov section and the smoothing documented in
``numbarnn.models.markov`` with dictionaries and loops, nothing shared with
the kernels.
"""
import itertools
import math
import time
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numbarnn
from numbarnn import MarkovChain, datasets
from numbarnn.models import markov


# -- the naive oracle ---------------------------------------------------------
def naive_counts(seqs, k):
    nxt, kg = Counter(), Counter()
    for s in seqs:
        s = [int(v) for v in s]
        for t in range(k, len(s)):
            nxt[tuple(s[t - k:t + 1])] += 1
        for t in range(len(s) - k + 1):
            if k:
                kg[tuple(s[t:t + k])] += 1
    return nxt, kg


def naive_prob(nxt, ctx, s, S, alpha):
    total = sum(nxt[ctx + (j,)] for j in range(S))
    if total + alpha * S == 0:
        return 1.0 / S
    return (nxt[ctx + (s,)] + alpha) / (total + alpha * S)


def naive_log_likelihood(train, test, k, S, alpha):
    nxt, kg = naive_counts(train, k)
    M = sum(kg.values())
    ll = 0.0
    for s in test:
        s = [int(v) for v in s]
        m = min(k, len(s))
        if m:
            prefix = tuple(s[:m])
            mass = sum(c for g, c in kg.items() if g[:m] == prefix)
            den = M + alpha * S ** k
            p = (mass + alpha * S ** (k - m)) / den if den else S ** -m
            ll += math.log(p) if p > 0 else -math.inf
        for t in range(k, len(s)):
            p = naive_prob(nxt, tuple(s[t - k:t]), s[t], S, alpha)
            ll += math.log(p) if p > 0 else -math.inf
    return ll


def naive_transition(seqs, k, S, alpha):
    nxt, _ = naive_counts(seqs, k)
    P = np.empty((S,) * k + (S,))
    for ctx in itertools.product(range(S), repeat=k):
        for s in range(S):
            P[ctx + (s,)] = naive_prob(nxt, ctx, s, S, alpha)
    return P


def _random_seqs(seed, S, lengths):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, S, n) for n in lengths]


@pytest.fixture
def force_sparse(monkeypatch):
    monkeypatch.setattr(markov, "DENSE_MAX", 0)


# -- fitting and probabilities -----------------------------------------------
@pytest.mark.parametrize("k", [0, 1, 2, 3])
@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_transition_matches_naive(k, alpha):
    seqs = _random_seqs(k, 3, [40, 7, 1, 25])
    m = MarkovChain(order=k, alpha=alpha).fit(seqs, n_states=3)
    assert m.dense_ and m.transition_.shape == (3,) * (k + 1)
    np.testing.assert_allclose(m.transition_, naive_transition(seqs, k, 3, alpha), rtol=1e-14)
    np.testing.assert_allclose(m.transition_.sum(-1), 1.0, rtol=1e-14)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("k", [0, 1, 2, 3])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_log_likelihood_matches_naive(request, sparse, k, alpha):
    if sparse:
        request.getfixturevalue("force_sparse")
    train = _random_seqs(10 + k, 4, [60, 30])
    test = _random_seqs(20 + k, 4, [50, 2, 0, 9])
    m = MarkovChain(order=k, n_states=4, alpha=alpha).fit(train)
    assert m.dense_ is not sparse
    want = naive_log_likelihood(train, test, k, 4, alpha)
    got = m.log_likelihood(test)
    if math.isinf(want):
        assert got == want
    else:
        assert got == pytest.approx(want, rel=1e-12)
    assert m.log_likelihood(train) == pytest.approx(
        naive_log_likelihood(train, train, k, 4, alpha), rel=1e-12)


def test_long_sequence_path_matches_short_path():
    # A long sequence is scored by counting its windows, short ones by lookup.
    x, _ = datasets.markov_source(order=2, n_states=3, n=5000, seed=3)
    m = MarkovChain(order=2, alpha=0.1).fit(x)
    chunks = [x[:2]] + [x[i - 2:i + 3] for i in range(2, 5000, 3)]
    whole = m.log_likelihood(x)
    # Score windows of 5 (short path), then remove their re-counted starts.
    parts = sum(m.log_likelihood(c) - m._log_initial(c[:2]) for c in chunks[1:])
    assert whole == pytest.approx(m._log_initial(x[:2]) + parts, rel=1e-12)


def test_sparse_equals_dense(force_sparse, monkeypatch):
    seqs = _random_seqs(5, 5, [300, 40])
    sparse = MarkovChain(order=2, alpha=0.2).fit(seqs)
    monkeypatch.setattr(markov, "DENSE_MAX", 2 ** 24)
    dense = MarkovChain(order=2, alpha=0.2).fit(seqs)
    assert not sparse.dense_ and dense.dense_ and sparse.initial_ is None
    ctx = np.array(list(itertools.product(range(5), repeat=2)))
    np.testing.assert_allclose(sparse.predict_proba(ctx), dense.predict_proba(ctx), rtol=1e-15)
    assert sparse.log_likelihood(seqs) == pytest.approx(dense.log_likelihood(seqs), rel=1e-13)
    np.testing.assert_array_equal(sparse.sample(500, seed=4), dense.sample(500, seed=4))
    seen = set(sparse.transition_)
    assert len(sparse.transition_) == len(seen) == 25
    for c in seen:
        np.testing.assert_allclose(sparse.transition_[c], dense.transition_[c], rtol=1e-15)


def test_sparse_is_chosen_for_large_alphabets():
    x = np.array([0, 70000, 5, 70000, 0, 70000, 5])
    m = MarkovChain(order=1).fit(x)
    assert not m.dense_ and isinstance(m.transition_, markov.SparseTransitions)
    np.testing.assert_allclose(m.predict_proba([70000])[[0, 5]], [1 / 3, 2 / 3])
    assert m.predict_proba([3]).max() == pytest.approx(1 / 70001)  # unseen: uniform
    with pytest.raises(KeyError):
        m.transition_[(3,)]
    assert m.log_likelihood([3, 4, 3]) == -math.inf  # p(x_1 = 3) = 0 without smoothing
    smoothed = MarkovChain(order=1, alpha=0.1).fit(x)
    assert np.isfinite(smoothed.log_likelihood([3, 4, 3]))


def test_windows_do_not_cross_sequences():
    m = MarkovChain(order=1).fit([[0, 0], [1, 1]])
    np.testing.assert_array_equal(m.transition_, [[1.0, 0.0], [0.0, 1.0]])


def test_unseen_context_is_uniform_and_never_nan():
    m = MarkovChain(order=2, n_states=3).fit([0, 1, 0, 1, 0])
    np.testing.assert_array_equal(m.transition_[2, 2], np.full(3, 1 / 3))
    assert not np.isnan(m.transition_).any()
    assert m.log_likelihood([0, 1, 0]) == pytest.approx(math.log(2 / 4))  # p(01)=2/4, then 1
    assert m.log_likelihood([0, 1, 1]) == -math.inf  # a seen context, never followed by 1
    assert np.isfinite(m.log_likelihood([0, 1, 0, 1, 0, 1]))


def test_predict_proba_shapes():
    m = MarkovChain(order=2, alpha=1.0).fit([0, 1, 2, 0, 1, 2], n_states=3)
    assert m.predict_proba([0, 1]).shape == (3,)
    np.testing.assert_array_equal(m.predict_proba([0, 1]), m.transition_[0, 1])
    rows = m.predict_proba([[0, 1], [2, 2]])
    np.testing.assert_array_equal(rows, m.transition_[[0, 2], [1, 2]])
    m0 = MarkovChain(order=0).fit([0, 1, 1])
    np.testing.assert_allclose(m0.predict_proba([]), [1 / 3, 2 / 3])
    with pytest.raises(ValueError, match="context"):
        m.predict_proba([0])
    with pytest.raises(ValueError, match="context"):
        m.predict_proba([0, 5])


def test_initial_distribution_is_kgram_frequency():
    x = [0, 1, 1, 1, 0]
    m = MarkovChain(order=2).fit(x)
    np.testing.assert_allclose(m.initial_, [[0, 0.25], [0.25, 0.5]])
    assert m.initial_.sum() == pytest.approx(1.0)


# -- sampling and stationarity -----------------------------------------------
def test_sample_recovers_transitions():
    x, P = datasets.markov_source(order=2, n_states=3, n=2000, seed=1)
    m = MarkovChain(order=2, alpha=0.5).fit(x)
    y = m.sample(300_000, seed=2)
    assert y.shape == (300_000,) and y.dtype == np.int64
    np.testing.assert_allclose(MarkovChain(order=2).fit(y).transition_, m.transition_,
                               atol=0.01)
    np.testing.assert_array_equal(y, m.sample(300_000, seed=np.random.default_rng(2)))


def test_sample_short_and_order_zero():
    m = MarkovChain(order=3).fit([0, 1, 2, 3, 0, 1, 2, 3])
    assert m.sample(0, seed=0).shape == (0,)
    assert m.sample(2, seed=0).shape == (2,)
    assert list(m.sample(9, seed=0)) in ([0, 1, 2, 3, 0, 1, 2, 3, 0], [1, 2, 3, 0, 1, 2, 3, 0, 1],
                                         [2, 3, 0, 1, 2, 3, 0, 1, 2], [3, 0, 1, 2, 3, 0, 1, 2, 3])
    freq = np.bincount(MarkovChain(order=0).fit([0, 1, 1, 1]).sample(40_000, seed=1)) / 40_000
    np.testing.assert_allclose(freq, [0.25, 0.75], atol=0.01)


def test_sample_never_draws_impossible_symbols():
    m = MarkovChain(order=1).fit([0, 2, 0, 2, 1, 2])  # 0->2 always, 2->{0,1}, 1->2
    y = m.sample(20_000, seed=0)
    pairs = set(zip(y[:-1].tolist(), y[1:].tolist()))
    assert pairs <= {(0, 2), (2, 0), (2, 1), (1, 2)}


def test_stationary_distribution():
    x, _ = datasets.markov_source(order=1, n_states=4, n=5000, seed=0)
    m = MarkovChain(order=1, alpha=0.1).fit(x)
    pi = m.stationary_distribution()
    np.testing.assert_allclose(pi @ m.transition_, pi, atol=1e-14)
    assert pi.sum() == pytest.approx(1.0) and (pi >= 0).all()
    freq = np.bincount(m.sample(400_000, seed=3), minlength=4) / 400_000
    np.testing.assert_allclose(freq, pi, atol=0.01)
    with pytest.raises(ValueError, match="order"):
        MarkovChain(order=2).fit(x).stationary_distribution()
    # reducible: one distribution per recurrent class (tests/test_markov_stationary.py)
    np.testing.assert_array_equal(
        MarkovChain(order=1).fit([[0, 0, 0], [1, 1, 1]]).stationary_distribution(), np.eye(2))


# -- model size and selection --------------------------------------------------
def test_information_criteria_pick_the_true_order():
    x, _ = datasets.markov_source(order=2, n_states=3, n=20_000, seed=5)
    train, test = x[:15_000], x[15_000:]
    bic = {k: MarkovChain(order=k, alpha=0.01).fit(train).bic(test) for k in range(4)}
    assert min(bic, key=bic.get) == 2
    m = MarkovChain(order=2).fit(train)
    assert m.n_params == 9 * 2 + 8
    assert m.aic(test) == pytest.approx(-2 * m.log_likelihood(test) + 2 * 26)
    assert m.bic([test]) == pytest.approx(-2 * m.log_likelihood(test) + np.log(5000) * 26)


# -- pomegranate cross-check -------------------------------------------------
def test_matches_pomegranate():
    pytest.importorskip("pomegranate")
    torch = pytest.importorskip("torch")
    from pomegranate.markov_chain import MarkovChain as PgMarkovChain

    x, _ = datasets.markov_source(order=2, n_states=3, n=3000, seed=7)
    theirs = PgMarkovChain(k=2).fit(torch.tensor(x.reshape(1, -1, 1)))
    ours = MarkovChain(order=2).fit(x)
    np.testing.assert_allclose(ours.transition_,
                               theirs.distributions[-1].probs[0].numpy(), rtol=1e-6)


# -- speed ----------------------------------------------------------------------
@pytest.mark.slow
def test_fit_ten_million_symbols_well_under_a_second():
    x = np.random.default_rng(0).integers(0, 4, 10_000_000)
    MarkovChain(order=3).fit(x[:100])  # compile / load from cache
    t0 = time.perf_counter()
    MarkovChain(order=3).fit(x)
    assert time.perf_counter() - t0 < 1.0


# -- validation -------------------------------------------------------------------
def test_bad_inputs():
    with pytest.raises(TypeError, match="integer"):
        MarkovChain().fit(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        MarkovChain(n_states=2).fit([0, 1, 2])
    with pytest.raises(ValueError, match="symbols"):
        MarkovChain().fit([0, -1, 1])
    with pytest.raises(ValueError, match="1-D"):
        MarkovChain().fit(np.zeros((3, 2), int))
    with pytest.raises(ValueError, match="longer than order"):
        MarkovChain(order=3).fit([0, 1, 2])
    with pytest.raises(ValueError, match="order"):
        MarkovChain(order=-1).fit([0, 1])
    with pytest.raises(ValueError, match="alpha"):
        MarkovChain(alpha=-1.0).fit([0, 1])
    with pytest.raises(ValueError, match="no sequences"):
        MarkovChain().fit([])
    with pytest.raises(RuntimeError, match="not fitted"):
        MarkovChain().log_likelihood([0, 1])
    m = MarkovChain().fit([0, 1, 0])
    with pytest.raises(ValueError, match="seq"):
        m.log_likelihood([0, 2])
    with pytest.raises(ValueError, match="n:"):
        m.sample(-1)


def test_inputs_are_not_modified_and_dtypes_agree():
    x = np.random.default_rng(0).integers(0, 5, 500)
    before = x.copy()
    ref = MarkovChain(order=2).fit(x)
    np.testing.assert_array_equal(x, before)
    for dtype in (np.uint8, np.int16, np.int32):
        m = MarkovChain(order=2).fit(x.astype(dtype))
        np.testing.assert_array_equal(m.transition_, ref.transition_)
        assert m.log_likelihood(x.astype(dtype)) == ref.log_likelihood(x)
    strided = np.repeat(x, 2)[::2]
    assert MarkovChain(order=2).fit(strided).log_likelihood(strided) == ref.log_likelihood(x)


@settings(max_examples=40, deadline=None)
@given(k=st.integers(0, 3), S=st.integers(1, 4), alpha=st.sampled_from([0.0, 0.25, 1.0]),
       seqs=st.lists(st.lists(st.integers(0, 3), max_size=12), min_size=1, max_size=3))
def test_hypothesis_against_naive(k, S, alpha, seqs):
    seqs = [[v % S for v in s] for s in seqs]
    if not any(len(s) > k for s in seqs):
        with pytest.raises(ValueError):
            MarkovChain(order=k, n_states=S, alpha=alpha).fit(seqs)
        return
    m = MarkovChain(order=k, n_states=S, alpha=alpha).fit(seqs)
    np.testing.assert_allclose(m.transition_, naive_transition(seqs, k, S, alpha), rtol=1e-14)
    want = naive_log_likelihood(seqs, seqs, k, S, alpha)
    assert m.log_likelihood(seqs) == pytest.approx(want, rel=1e-12)


def test_exported_from_package():
    assert numbarnn.MarkovChain is MarkovChain and "MarkovChain" in numbarnn.__all__
