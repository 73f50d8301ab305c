"""MarkovChain with symbols of any type, pandas input, known chains, saving and cloning.

Oracles: the same chain fitted on integer codes made by an independent
mapping (Python's ``sorted``), hand sums of log P for a known chain,
scikit-learn's ``clone``, and bit-equality after a save/load round trip.
"""
import math

import numpy as np
import pytest

from numbarnn import MarkovChain, datasets
from numbarnn.nn import serialize

TEXT = "the quick brown fox jumps over the lazy dog and the dog sleeps"


def _codes(seq, alphabet):
    index = {s: i for i, s in enumerate(alphabet)}
    return np.array([index[s] for s in seq])


@pytest.mark.parametrize("k", [0, 1, 2])
def test_characters_equal_integer_codes(k):
    alphabet = sorted(set(TEXT))
    ints = MarkovChain(order=k, alpha=0.5).fit(_codes(TEXT, alphabet))
    chars = MarkovChain(order=k, alpha=0.5).fit(TEXT)
    assert chars.states_.tolist() == alphabet
    np.testing.assert_array_equal(chars.transition_, ints.transition_)
    held_out = "a lazy fox"
    assert chars.log_likelihood(held_out) == ints.log_likelihood(_codes(held_out, alphabet))
    assert chars.log_likelihood(list(held_out)) == chars.log_likelihood(held_out)
    if k:
        ctx = "th"[:k]
        np.testing.assert_array_equal(chars.predict_proba(ctx),
                                      ints.predict_proba(_codes(ctx, alphabet)))
    np.testing.assert_array_equal(chars.sample(50, seed=2),
                                  np.array(alphabet)[ints.sample(50, seed=2)])


def test_word_symbols_and_explicit_states():
    words = TEXT.split()
    m = MarkovChain(order=1).fit(words)  # a list of str is one sequence of words
    assert m.states_.tolist() == sorted(set(words))
    p = m.predict_proba("the")  # one word of the alphabet, not its characters
    after_the = [w for v, w in zip(words, words[1:]) if v == "the"]
    for w in set(after_the):
        assert p[m.states_.tolist().index(w)] == after_the.count(w) / len(after_the)
    # an explicit alphabet fixes the axis order and admits unseen symbols
    dna = MarkovChain(order=1, states="TGCA", alpha=1.0).fit([list("GATTACA"), list("CAT")])
    assert dna.states_.tolist() == list("TGCA")
    counts = {}
    for s in ("GATTACA", "CAT"):
        for a, b in zip(s, s[1:]):
            counts[a, b] = counts.get((a, b), 0) + 1
    row_a = [counts.get(("A", b), 0) + 1.0 for b in "TGCA"]
    np.testing.assert_allclose(dna.predict_proba("A"), np.array(row_a) / sum(row_a),
                               rtol=1e-15)
    with pytest.raises(ValueError, match="'U' is not in the alphabet"):
        dna.log_likelihood("GAUC")


def test_objects_that_do_not_sort_keep_first_appearance():
    a, b = object(), (1, "x")
    m = MarkovChain(order=1).fit(np.array([a, b, a, b, b], dtype=object))
    assert m.states_.tolist()[0] is a and m.states_.tolist()[1] == b
    np.testing.assert_array_equal(m.transition_, [[0.0, 1.0], [0.5, 0.5]])


def test_big_endian_integers():
    # Issue 10 item 13: numba cannot read big-endian arrays; convert first.
    s = np.random.default_rng(0).integers(0, 3, 500)
    ref = MarkovChain(2).fit(s)
    m = MarkovChain(2).fit(s.astype(">i8"))
    np.testing.assert_array_equal(m.transition_, ref.transition_)
    assert m.log_likelihood(s.astype(">i4")) == ref.log_likelihood(s)
    np.testing.assert_array_equal(m.predict_proba(np.array([1, 2], ">i2")),
                                  ref.predict_proba([1, 2]))


def test_pandas_series_in():
    pd = pytest.importorskip("pandas")
    x, _ = datasets.markov_source(order=1, n_states=3, n=400, seed=1)
    idx = pd.date_range("2020-01-01", periods=400, freq="D")
    ref = MarkovChain(order=1).fit(x)
    m = MarkovChain(order=1).fit(pd.Series(x, index=idx, name="weather"))
    np.testing.assert_array_equal(m.transition_, ref.transition_)
    assert m.log_likelihood(pd.Series(x[:50])) == ref.log_likelihood(x[:50])
    two = MarkovChain(order=1).fit([pd.Series(x[:200]), pd.Series(x[200:])])
    np.testing.assert_array_equal(two.transition_, MarkovChain(order=1).fit(
        [x[:200], x[200:]]).transition_)
    labels = np.array(["rain", "sun", "fog"])[x]
    for s in (pd.Series(labels), pd.Series(labels, dtype="category"),
              pd.DataFrame({"w": labels})):
        ms = MarkovChain(order=1).fit(s)
        assert ms.states_.tolist() == ["fog", "rain", "sun"]
        assert ms.log_likelihood(labels) == pytest.approx(
            MarkovChain(order=1).fit(_codes(labels, ["fog", "rain", "sun"])).log_likelihood(
                _codes(labels, ["fog", "rain", "sun"])), rel=1e-15)
    with pytest.raises(ValueError, match="one column"):
        MarkovChain().fit(pd.DataFrame({"a": x, "b": x}))
    for s in (pd.Series([0, 1, None, 1], dtype="Int64"), pd.Series(["a", None, "b"])):
        with pytest.raises(ValueError, match="missing value"):
            MarkovChain().fit(s)
    m = MarkovChain().fit(pd.Series([0, 1, 1, 0, 2], dtype="Int64"))  # nullable ints
    np.testing.assert_array_equal(m.transition_, ref.__class__().fit([0, 1, 1, 0, 2]).transition_)


def test_from_transition_known_chain():
    P = np.array([[0.9, 0.1], [0.4, 0.6]])
    m = MarkovChain.from_transition(P, order=1, states=["sun", "rain"])
    seq = ["sun", "sun", "rain", "rain", "sun"]
    want = math.log(0.5) + math.log(0.9) + math.log(0.1) + math.log(0.6) + math.log(0.4)
    assert m.log_likelihood(seq) == pytest.approx(want, rel=1e-15)
    y = m.sample(100_000, seed=0)
    assert set(y.tolist()) == {"sun", "rain"}
    pairs = np.array([[np.sum((y[:-1] == a) & (y[1:] == b)) for b in ("sun", "rain")]
                      for a in ("sun", "rain")], float)
    np.testing.assert_allclose(pairs / pairs.sum(axis=1, keepdims=True), P, atol=0.01)
    # order 2 with a given initial distribution
    P2 = datasets.markov_source(order=2, n_states=3, n=10, seed=0)[1]
    init = np.full((3, 3), 1 / 9)
    m2 = MarkovChain.from_transition(P2, order=2, initial=init)
    s = [0, 2, 1, 1, 0]
    want = math.log(1 / 9) + sum(math.log(P2[s[t - 2], s[t - 1], s[t]]) for t in range(2, 5))
    assert m2.log_likelihood(s) == pytest.approx(want, rel=1e-14)
    with pytest.raises(ValueError, match="sum to 1"):
        MarkovChain.from_transition([[0.5, 0.4], [0.5, 0.5]])
    with pytest.raises(ValueError, match="shape"):
        MarkovChain.from_transition(np.eye(3), order=2)
    with pytest.raises(ValueError, match="non-negative"):
        MarkovChain.from_transition([[1.5, -0.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match="states"):
        MarkovChain.from_transition(np.eye(2), states="abc")


@pytest.mark.parametrize("kind", ["int", "chars", "objects-int", "known", "sparse", "unfitted"])
def test_save_load_round_trips_exactly(tmp_path, kind, monkeypatch):
    from numbarnn.models import markov
    x, P = datasets.markov_source(order=2, n_states=4, n=2000, seed=0)
    letters = np.array(list("acgt"))[x]
    if kind == "int":
        m, data = MarkovChain(order=2, alpha=0.3).fit(x), x
    elif kind == "chars":
        m, data = MarkovChain(order=2, alpha=0.3, states="tgca").fit(letters), letters
    elif kind == "objects-int":
        m, data = MarkovChain(order=1).fit(letters.tolist()), letters
    elif kind == "known":
        m, data = MarkovChain.from_transition(P, order=2, states=[10, 20, 30, 40]), \
            np.array([10, 20, 30, 40])[x]
    elif kind == "sparse":
        monkeypatch.setattr(markov, "DENSE_MAX", 0)
        m, data = MarkovChain(order=2, alpha=0.5).fit(x), x
    else:
        m, data = MarkovChain(order=3, n_states=5, alpha=0.25), None
    path = tmp_path / "chain.npz"
    m.save(path)
    back = MarkovChain.load(path)
    assert type(serialize.load(path)) is MarkovChain
    assert back.get_params() == {**m.get_params(), "states": back.states}
    if data is None:
        assert not hasattr(back, "n_states_")
        return
    np.testing.assert_array_equal(back.states_, m.states_)
    assert back.states_.dtype == m.states_.dtype
    if m.dense_:
        np.testing.assert_array_equal(back.transition_, m.transition_)
        np.testing.assert_array_equal(back.initial_, m.initial_)
    else:
        assert dict(back.transition_).keys() == dict(m.transition_).keys()
    assert back.log_likelihood(data[:300]) == m.log_likelihood(data[:300])
    np.testing.assert_array_equal(back.sample(200, seed=5), m.sample(200, seed=5))


def test_state_dict_rejects_bad_arrays_and_unsaveable_alphabets():
    m = MarkovChain(order=1).fit([0, 1, 1, 0])
    sd = m.state_dict()
    with pytest.raises(ValueError, match="expected arrays"):
        MarkovChain().load_state_dict({k: v for k, v in sd.items() if k != "codes"})
    bad = dict(sd, codes=sd["codes"][::-1].copy())
    with pytest.raises(ValueError, match="sorted"):
        MarkovChain().load_state_dict(bad)
    with pytest.raises(ValueError, match="counts"):
        MarkovChain().load_state_dict(dict(sd, counts=-sd["counts"]))
    import json
    meta = json.loads(str(sd["meta"][()]))
    huge = dict(sd, meta=np.array(json.dumps({**meta, "n_states": 2 ** 15})))
    with pytest.raises(ValueError, match="dense table"):  # 2**30 floats never allocated
        MarkovChain().load_state_dict(huge)
    with pytest.raises(TypeError, match="str, int, float or bool"):
        MarkovChain().fit(np.array([object(), object()], dtype=object)).state_dict()


def test_sklearn_clone_and_params():
    base = pytest.importorskip("sklearn.base")
    m = MarkovChain(order=2, n_states=4, alpha=0.5, states=list("acgt"))
    c = base.clone(m)
    assert c is not m and c.get_params() == m.get_params()
    fitted = MarkovChain(order=1).fit("abcab")
    assert not hasattr(base.clone(fitted), "states_")
    assert MarkovChain().set_params(order=3, alpha=1.0).get_params() == {
        "order": 3, "n_states": None, "alpha": 1.0, "states": None}


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"n_states": "3"}, TypeError, "n_states"),
    ({"n_states": 2.0}, TypeError, "n_states"),
    ({"n_states": True}, TypeError, "n_states"),
    ({"n_states": 0}, ValueError, "n_states"),
    ({"alpha": "0.5"}, TypeError, "alpha"),
    ({"alpha": True}, TypeError, "alpha"),
    ({"alpha": float("nan")}, ValueError, "alpha"),
    ({"alpha": -0.1}, ValueError, "alpha"),
    ({"order": 1.0}, TypeError, "order"),
    ({"order": True}, TypeError, "order"),
    ({"order": -1}, ValueError, "order"),
    ({"states": "aba"}, ValueError, "distinct"),
    ({"states": [[1], [2]]}, ValueError, "states"),
    ({"states": [1.0, float("nan")]}, ValueError, "NaN"),
    ({"states": "ab", "n_states": 3}, ValueError, "n_states"),
])
def test_parameters_are_validated(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        MarkovChain(**kwargs)
    m = MarkovChain().set_params(**kwargs)  # set_params defers to fit, as scikit-learn
    with pytest.raises(exc, match=match):
        m.fit([0, 1, 0, 1])


def test_integer_alphabet_that_is_not_0_to_s():
    years = [1990, 2000, 1990, 2010, 2000, 1990]
    m = MarkovChain(order=1, states=[2010, 2000, 1990]).fit(years)
    ref = MarkovChain(order=1).fit(_codes(years, [2010, 2000, 1990]))
    np.testing.assert_array_equal(m.transition_, ref.transition_)
    assert m.sample(5, seed=0).tolist() == [[2010, 2000, 1990][c] for c in ref.sample(5, seed=0)]
    with pytest.raises(ValueError, match="1995 is not in the alphabet"):
        m.log_likelihood([1990, 1995])


def test_symbol_errors():
    with pytest.raises(TypeError, match="integer"):
        MarkovChain().fit([0.0, 1.0])
    with pytest.raises(ValueError, match="n_states"):
        MarkovChain(n_states=5).fit("abab")  # 2 symbols seen, no alphabet given
    m = MarkovChain().fit("abab")
    with pytest.raises(ValueError, match="not in the alphabet"):
        m.predict_proba("z")
    with pytest.raises(ValueError, match="not in the alphabet"):
        m.log_likelihood([0, 1])
    with pytest.raises(TypeError, match="integer"):
        MarkovChain().fit([0, 1]).log_likelihood("ab")


def test_failed_refit_leaves_the_chain_as_it_was():
    m = MarkovChain(order=1).fit("abcab")
    before = m.state_dict()
    for bad in ([0, 1, 0], [["a", "b"], [1.5, 2.5]]):
        with pytest.raises((TypeError, ValueError)):
            m.set_params(states="xyz").fit(bad) if bad == [0, 1, 0] else \
                m.set_params(states=None).fit(bad)
    after = m.state_dict()
    assert after.keys() == before.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])
    assert m.states_.tolist() == list("abc")
